import { redactUrl } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { RedisLink, SILENT, createRedisClient, stripUndefined, type RedisClientLike } from './redis-common.js';
import type { SessionStore, StoredSession } from './store.js';

export type { RedisClientLike } from './redis-common.js';

/** How to build a {@link RedisSessionStore} around a client. */
export interface RedisSessionStoreOptions {
  /**
   * The client. The store connects it if it is not open, and listens to its `error` events (so none goes
   * unhandled). `close()` closes it only if the store created it ({@link RedisSessionStore.connect}).
   * Create it with `disableOfflineQueue: true`, or a call made while Redis is down waits out the whole timeout.
   */
  client: RedisClientLike;
  /** How long a session's key lives after its last `set` or `touch`, in milliseconds: the idle session TTL. */
  ttlMs: number;
  /** Prefix of every key: a session lives at `${prefix}session:${id}`. @default 'mcp:' */
  prefix?: string;
  /** How long a call may wait for Redis before it rejects with a {@link StoreUnavailableError}. @default 1000 */
  timeoutMs?: number;
  /** For messages and logs; credentials are removed. @default 'redis://' (the client's URL is not known) */
  url?: string;
  /** Client errors go to `debug`; losing Redis to `warn` (once per outage), getting it back to `info`. @default silent */
  log?: Logger;
}

/** Options of {@link RedisSessionStore.connect}: those of the store, less the client it creates. */
export type RedisSessionStoreConnectOptions = Omit<RedisSessionStoreOptions, 'client' | 'url'> & {
  /** How long `connect` waits for the first connection before it resolves anyway. @default 1000 */
  connectWaitMs?: number;
};

/** The defaults, merged once in the constructor. */
export const DEFAULT_REDIS_STORE_OPTIONS = Object.freeze({ prefix: 'mcp:', timeoutMs: 1000, url: 'redis://', connectWaitMs: 1000 });

/** Keys fetched per SCAN step and per MGET. */
const BATCH = 200;

/**
 * Sessions in Redis, shared by every replica: one JSON string per session at `${prefix}session:${id}`,
 * expiring `ttlMs` after its last `set` or `touch`. Every call is bounded: when Redis does not answer
 * within `timeoutMs` (down, reconnecting, hung), it rejects with a {@link StoreUnavailableError}. The
 * client reconnects by itself, and calls work again as soon as Redis is back.
 */
export class RedisSessionStore implements SessionStore {
  readonly prefix: string;
  readonly ttlMs: number;
  readonly timeoutMs: number;
  /** The Redis URL, without credentials. */
  readonly url: string;
  private readonly link: RedisLink;
  /** Whether the store created the client, and so closes it. */
  private owned = false;

  /** @throws ConfigError when `ttlMs`, `timeoutMs` or `prefix` is not usable, naming it */
  constructor(options: RedisSessionStoreOptions) {
    const { client, ttlMs, prefix, timeoutMs, url, log } = { ...DEFAULT_REDIS_STORE_OPTIONS, ...stripUndefined(options) };
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw ConfigError.of('INVALID_OPTION', 'ttlMs', `ttlMs=${ttlMs} must be a positive whole number of milliseconds`);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw ConfigError.of('INVALID_OPTION', 'timeoutMs', `timeoutMs=${timeoutMs} must be a positive whole number of milliseconds`);
    if (typeof prefix !== 'string') throw ConfigError.of('INVALID_OPTION', 'prefix', `prefix=${String(prefix)} must be a string`);
    this.ttlMs = ttlMs;
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
    this.url = redactUrl(url);
    this.link = new RedisLink({ client, url: this.url, log: log ?? SILENT, timeoutMs, store: 'session store', outage: 'sessions are unavailable' });
  }

  /**
   * Load the `redis` package, create a client for `url` and a store around it. Waits up to
   * `connectWaitMs` for the first connection and resolves either way: while Redis is unreachable, calls
   * reject with {@link StoreUnavailableError} and the client keeps reconnecting (a `warn` says so).
   * @param url `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS
   * @throws ConfigError when the `redis` package is not installed, or an option is bad
   */
  static async connect(url: string, options: RedisSessionStoreConnectOptions): Promise<RedisSessionStore> {
    const client = await createRedisClient(url);
    const store = new RedisSessionStore({ ...options, client, url });
    store.owned = true;
    await store.link.firstConnection(options.connectWaitMs ?? DEFAULT_REDIS_STORE_OPTIONS.connectWaitMs);
    return store;
  }

  /** True while the connection to Redis is up. */
  get available(): boolean {
    return this.link.available;
  }

  /** Wait until the client is connected, at most `timeoutMs`. @returns whether it is */
  ready(timeoutMs = this.timeoutMs): Promise<boolean> {
    return this.link.ready(timeoutMs);
  }

  /**
   * Call `listener` each time Redis is reachable again after an outage: it may have come back empty (no
   * persistence, a failover), so those who hold sessions save them again. @returns how to stop
   */
  onRecovered(listener: () => void): () => void {
    return this.link.onRecovered(listener);
  }

  async get(id: string): Promise<StoredSession | undefined> {
    return parse(await this.link.command(['GET', this.key(id)]));
  }

  async set(session: StoredSession): Promise<void> {
    await this.link.command(['SET', this.key(session.id), JSON.stringify(session), 'PX', String(this.ttlMs)]);
  }

  async delete(id: string): Promise<void> {
    await this.link.command(['DEL', this.key(id)]);
  }

  /**
   * Restart a session's TTL (a session in use must not expire). A session that is not stored stays absent.
   * @returns false when Redis does not have it (lost with a Redis restart, say)
   */
  async touch(id: string): Promise<boolean> {
    return Number(await this.link.command(['PEXPIRE', this.key(id), String(this.ttlMs)])) === 1;
  }

  /** Every stored session, found with SCAN (never KEYS, which blocks Redis), each call bounded. */
  async list(): Promise<StoredSession[]> {
    const match = `${escapeGlob(this.prefix)}session:*`;
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const reply = await this.link.command(['SCAN', cursor, 'MATCH', match, 'COUNT', String(BATCH)]);
      const [next, batch] = reply as [string, string[]];
      cursor = String(next);
      for (const key of batch) keys.add(String(key));
    } while (cursor !== '0');
    const all = [...keys];
    const sessions: StoredSession[] = [];
    for (let i = 0; i < all.length; i += BATCH) {
      // A key that expired since SCAN comes back null and is skipped.
      const values = (await this.link.command(['MGET', ...all.slice(i, i + BATCH)])) as unknown[];
      for (const value of values) {
        const session = parse(value);
        if (session) sessions.push(session);
      }
    }
    return sessions;
  }

  /**
   * Stop listening to the client and, if the store created it, close it: gracefully within `timeoutMs`,
   * then by force. Safe to call more than once; later calls reject with a `LifecycleError`.
   */
  close(): Promise<void> {
    return this.link.close(this.owned);
  }

  private key(id: string): string {
    return `${this.prefix}session:${id}`;
  }
}

function parse(value: unknown): StoredSession | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const s = JSON.parse(value) as StoredSession;
    // A value written by something else is no session: treat it as absent rather than restore garbage.
    return typeof s?.id === 'string' && (s.kind === 'streamable' || s.kind === 'sse') && typeof s.initializeParams === 'object' && s.initializeParams !== null ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Escape SCAN's glob characters, so that a prefix such as `app[1]:` matches itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
