import { pino, destination, type Logger } from 'pino';

/** Structured logs on stderr: stdout may be the frame link (--ipc stdio). */
export function createLogger(name: string): Logger {
  return pino({ name, level: process.env.WAYDESK_LOG_LEVEL ?? 'info' }, destination(2));
}
export type { Logger };
