/** Helpers shared by the Redis session store, the Redis event store and the bus between replicas. */
import { redactUrl } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The part of a node-redis client (the `redis` package, 5 or 6) that this package uses. Structural, so that
 * this package's types never need `redis` installed, and a client you created yourself fits as it is.
 */
export interface RedisClientLike {
  /** True from `connect()` until the client is closed, reconnecting included. */
  readonly isOpen: boolean;
  /** True while a connection is up and ready for commands. */
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  /** Graceful: waits for the replies still due (node-redis 5+). */
  close?(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** A new client with the same settings (node-redis): the bus subscribes on one, as Redis requires. */
  duplicate?(overrides?: Record<string, unknown>): unknown;
}

/**
 * Load the `redis` package and create a client for `url`, not yet connected: commands sent while Redis is
 * down fail at once (no offline queue), and it reconnects by itself, backing off up to 1 s.
 * @throws ConfigError when the package is not installed or node-redis refuses the URL (credentials never shown)
 */
export async function createRedisClient(url: string, setting = 'MCP_REDIS_URL'): Promise<RedisClientLike> {
  const redis = await import('redis').catch((error: Error) => {
    throw ConfigError.of('INVALID_OPTION', setting, `${setting} is set but the redis package could not be loaded (${oneLine(error)}): npm install redis`, error);
  });
  try {
    return redis.createClient({
      url,
      // A command sent while Redis is down fails at once instead of waiting for a connection.
      disableOfflineQueue: true,
      // RESP2 works with every Redis server and proxy; these commands' replies are the same in RESP3.
      RESP: 2,
      socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) },
    }) as unknown as RedisClientLike;
  } catch (error) {
    // node-redis parses the URL here (a database that is not a number, say).
    throw ConfigError.of('INVALID_OPTION', setting, `${setting}=${redactUrl(url)} is not usable: ${oneLine(error)}`, error);
  }
}

/** The logger used when none is given: says nothing. */
export const SILENT: Logger = { level: 'error', error() {}, warn() {}, info() {}, debug() {} };

/** node-redis's `ErrorReply` (and its subclasses): Redis answered, with an error such as WRONGTYPE or NOAUTH. */
export function isErrorReply(error: unknown): boolean {
  for (let proto = error === null || typeof error !== 'object' ? null : Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === 'ErrorReply') return true;
  }
  return false;
}

/** The first line of an error's message (its name when the message is empty), for a log line or an error message. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  return message.split('\n')[0]!;
}

/** The options without their undefined entries, so that spreading them over the defaults keeps the defaults. */
export function stripUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
