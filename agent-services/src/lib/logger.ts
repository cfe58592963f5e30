/** What a module needs of a logger to report a failure it recovers from (pino satisfies it). */
export interface WarnLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}
