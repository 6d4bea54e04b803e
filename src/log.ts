/** Log levels, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A leveled logger. Everything goes to stderr: in stdio mode stdout belongs to protocol frames. */
export interface Logger {
  readonly level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/**
 * Where a logger writes: anything with a `write(text)` method, such as `process.stderr`. Structural, so
 * the public types do not need `@types/node`.
 */
export interface LogStream {
  write(chunk: string): unknown;
}

/**
 * Create a logger writing `[mcp-http-transport] level: message` lines to `stream`.
 * @param level messages below this level are dropped
 * @param stream defaults to `process.stderr`
 */
export function createLogger(level: LogLevel, stream: LogStream = process.stderr): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const at = (l: LogLevel) =>
    LOG_LEVELS.indexOf(l) <= rank
      ? (message: string) => void stream.write(`[mcp-http-transport] ${l}: ${message}\n`)
      : () => {};
  return { level, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
