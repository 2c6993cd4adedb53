/**
 * Sizes every part enforces: the wire, the compositor link, the native core and codec (which
 * get them from their TypeScript wrappers), and the decoders. One place, so they cannot drift.
 */

/** Smallest output a terminal may ask for. */
export const MIN_OUTPUT = { width: 64, height: 64 } as const;
/** Largest output: 8K UHD. */
export const MAX_OUTPUT = { width: 7680, height: 4320 } as const;
