import { destination, pino, type Logger } from 'pino';

export function createLogger(name: string): Logger {
  return pino({ name, level: process.env.WAYDESK_LOG_LEVEL ?? 'info' }, destination(2));
}
export type { Logger };
