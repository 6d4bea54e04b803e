/** Helpers shared by the Redis session store, the Redis event store and the bus between replicas. */
import { redactUrl } from '../config.js';
import { ConfigError, LifecycleError, StoreUnavailableError } from '../errors.js';
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

/** Close a client this package created: gracefully (the replies still due) within `waitMs`, then by force. */
export async function closeClient(client: RedisClientLike, waitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (client.isReady && client.close) await Promise.race([client.close(), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  } catch {
    // Forced below.
  } finally {
    clearTimeout(timer);
  }
  try {
    if (client.isOpen) client.destroy();
  } catch {
    // Already closed.
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

/** What a {@link RedisLink} needs: the client, how long a call may wait, and the words its store's messages use. */
export interface RedisLinkOptions {
  client: RedisClientLike;
  /** For messages and logs: already without credentials. */
  url: string;
  log: Logger;
  /** How long a call may wait for Redis before it rejects with a {@link StoreUnavailableError}. */
  timeoutMs: number;
  /** The store, in messages: 'session store' gives "the Redis session store for … is closed". */
  store: string;
  /** What an outage costs, for the warn lines: 'sessions are unavailable' gives "…: sessions are unavailable until it is back". */
  outage: string;
  /** What getting Redis back restores, for the info line, if it should say: "Redis at … is back: <back>". */
  back?: string;
}

/**
 * One store's use of a Redis client: the state of the connection (logged once per outage), bounded commands
 * whose failures all become a {@link StoreUnavailableError}, and closing. Each store has its own, so that
 * stores sharing one client (`openRedis`) keep their own messages and close independently.
 */
export class RedisLink {
  private readonly client: RedisClientLike;
  private readonly url: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly words: Pick<RedisLinkOptions, 'store' | 'outage' | 'back'>;
  private state: 'connecting' | 'up' | 'down' | 'closed' = 'connecting';
  private lastError: Error | undefined;
  private closing: Promise<void> | undefined;
  private readonly recoveries = new Set<() => void>();

  private readonly onError = (error: Error) => {
    this.lastError = error;
    this.debug(oneLine(error));
    // The client emits an error per failed reconnection: only the first of an outage is worth a warning.
    if (this.state === 'up' && !this.client.isReady) {
      this.state = 'down';
      this.log.warn(`Redis at ${this.url} is unreachable (${oneLine(error)}): ${this.words.outage} until it is back; reconnecting`);
    }
  };

  private readonly onReady = () => {
    const back = this.state === 'down';
    if (back) this.log.info(`Redis at ${this.url} is back${this.words.back ? `: ${this.words.back}` : ''}`);
    if (this.state !== 'closed') this.state = 'up';
    if (back) for (const listener of this.recoveries) listener();
  };

  /** Listens to the client (so no `error` goes unhandled) and connects it if it is not open. */
  constructor({ client, url, log, timeoutMs, ...words }: RedisLinkOptions) {
    this.client = client;
    this.url = url;
    this.log = log;
    this.timeoutMs = timeoutMs;
    this.words = words;
    client.on('error', this.onError);
    client.on('ready', this.onReady);
    if (client.isReady) this.state = 'up';
    // The first connection is retried by the client's reconnect strategy; until then calls fail fast.
    else if (!client.isOpen) client.connect().catch((error: Error) => this.debug(`connect: ${oneLine(error)}`));
  }

  /** True while the connection to Redis is up and the link is not closed. */
  get available(): boolean {
    return this.state !== 'closed' && this.client.isReady;
  }

  /** Wait until the client is connected, at most `timeoutMs`. @returns whether it is */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.available) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(value);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(this.available), timeoutMs);
      this.client.on('ready', onReady);
    });
  }

  /**
   * For a store's `connect`: wait up to `waitMs` for the first connection; without one, warn (once: the
   * outage has begun) and go on, as the client keeps reconnecting.
   */
  async firstConnection(waitMs: number): Promise<void> {
    if (await this.ready(waitMs)) return;
    this.state = 'down';
    const reason = this.lastError ? ` (${oneLine(this.lastError)})` : '';
    this.log.warn(`Redis at ${this.url} did not answer${reason}: ${this.words.outage} until it does; reconnecting`);
  }

  /** Call `listener` each time Redis is reachable again after an outage. @returns how to stop */
  onRecovered(listener: () => void): () => void {
    this.recoveries.add(listener);
    return () => this.recoveries.delete(listener);
  }

  /** One command, as {@link commands}. */
  async command(args: string[]): Promise<unknown> {
    return (await this.commands([args]))[0];
  }

  /**
   * Commands sent together (pipelined on the one connection, so in order), bounded as one.
   * @throws LifecycleError once closed; StoreUnavailableError for every failure, naming Redis and the reason
   */
  async commands(list: string[][]): Promise<unknown[]> {
    if (this.state === 'closed') throw new LifecycleError('CLOSED', `the Redis ${this.words.store} for ${this.url} is closed`);
    const pending: Promise<unknown>[] = [];
    try {
      for (const args of list) pending.push(this.client.sendCommand(args));
      return await this.bounded(Promise.all(pending));
    } catch (error) {
      throw this.unavailable(list[0]![0]!, error);
    } finally {
      for (const p of pending) p.catch(() => undefined);
    }
  }

  /**
   * Stop listening to the client and, if `owned` (the store created it), close it: gracefully within
   * `timeoutMs`, then by force. Later calls return the first one's promise.
   */
  close(owned: boolean): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      if (owned) await closeClient(this.client, this.timeoutMs);
      this.client.off('error', this.onError);
      this.client.off('ready', this.onReady);
    })();
    return this.closing;
  }

  private unavailable(command: string, error: unknown): StoreUnavailableError {
    if (error instanceof StoreUnavailableError) return error;
    if (isErrorReply(error)) return new StoreUnavailableError(`Redis at ${this.url} answered ${command} with an error: ${oneLine(error)}`, { cause: error });
    // Offline or closed: the last connection error says why better than "The client is offline".
    const reason = !this.client.isReady && this.lastError ? this.lastError : error;
    return new StoreUnavailableError(`Redis at ${this.url} is unreachable (${oneLine(reason)})`, { cause: error });
  }

  private async bounded<T>(pending: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`Redis at ${this.url} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([pending, timeout]);
    } finally {
      clearTimeout(timer);
      // The reply may still come (or fail) after the deadline; nobody waits for it any more.
      pending.catch(() => undefined);
    }
  }

  /** Client errors are for debugging: losing and getting back Redis are what the warn and info lines say. */
  private debug(message: string): void {
    this.log.debug(`redis ${this.words.store}: ${this.url}: ${message}`);
  }
}
