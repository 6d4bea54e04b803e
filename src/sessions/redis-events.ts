import { redactUrl } from '../config.js';
import { ConfigError, StoreUnavailableError } from '../errors.js';
import type { JSONRPCMessage } from '../jsonrpc.js';
import type { EventId, EventStore, StreamId } from '../sdk.js';
import type { Logger } from '../log.js';
import { RedisLink, SILENT, createRedisClient, isErrorReply, oneLine, stripUndefined, type RedisClientLike } from './redis-common.js';

/** How to build a {@link RedisEventStore} around a client. */
export interface RedisEventStoreOptions {
  /**
   * The client; it may be the one of a `RedisSessionStore`. The store connects it if it is not open, and
   * listens to its `error` events. `close()` closes it only if the store created it ({@link RedisEventStore.connect}).
   * Create it with `disableOfflineQueue: true`, or a call made while Redis is down waits out the whole timeout.
   */
  client: RedisClientLike;
  /**
   * Retention in time, in milliseconds: a session's events are dropped `ttlMs` after its last event (each
   * event restarts the key's TTL). The session TTL is the natural value.
   */
  ttlMs: number;
  /** Retention in count: about this many latest events are kept per session (`XADD MAXLEN ~`, so a few more). @default 1000 */
  maxEvents?: number;
  /** Prefix of every key: a session's events live at `${prefix}events:${sessionId}` ({@link RedisEventStore.forSession}). @default 'mcp:' */
  prefix?: string;
  /** How long a call may wait for Redis before it rejects with a {@link StoreUnavailableError}. @default 1000 */
  timeoutMs?: number;
  /** For messages and logs; credentials are removed. @default 'redis://' */
  url?: string;
  /** Client errors go to `debug`; losing Redis to `warn` (once per outage), getting it back to `info`. @default silent */
  log?: Logger;
}

/** Options of {@link RedisEventStore.connect}: those of the store, less the client it creates. */
export type RedisEventStoreConnectOptions = Omit<RedisEventStoreOptions, 'client' | 'url'> & {
  /** How long `connect` waits for the first connection before it resolves anyway. @default 1000 */
  connectWaitMs?: number;
};

export const DEFAULT_REDIS_EVENT_STORE_OPTIONS = Object.freeze({ prefix: 'mcp:', timeoutMs: 1000, url: 'redis://', connectWaitMs: 1000, maxEvents: 1000 });

/**
 * A `Last-Event-ID` that cannot be resumed from: garbled, naming no stream there ever was, or naming an
 * event that is no longer stored while later ones are (more than `maxEvents` came after it: some are lost).
 * The SDK answers such a resume with an HTTP error (400 when `getStreamIdForEventId` refuses it).
 */
export class UnknownEventError extends Error {
  override readonly name = 'UnknownEventError';
  constructor(
    readonly eventId: string,
    readonly reason: 'garbled' | 'unknown' | 'gone',
  ) {
    const why = { garbled: 'is not an event id of this store', unknown: 'names no stream of this session', gone: 'is no longer stored (more events than the store keeps came after it)' }[reason];
    super(`Last-Event-ID ${JSON.stringify(eventId.length > 80 ? `${eventId.slice(0, 80)}…` : eventId)} ${why}`);
  }
}

/** Entries read per XRANGE while replaying. */
const BATCH = 100;
/** The longest stream id an event id may carry (it comes back in a header; keys stay small). */
const MAX_STREAM_ID = 200;
const ENTRY_ID = /^(\d{1,20})-(\d{1,20})$/;
/** The fields of each entry: the message as JSON, and the SDK stream it belongs to. */
const FIELD = 'm';
const STREAM_FIELD = 's';

/** Where a `Last-Event-ID` leads: the entries to send are those after `after`, or the whole stream when it is undefined. */
type Located = { state: 'resume'; streamId: StreamId; after: string | undefined } | { state: 'refused'; error: UnknownEventError };

/**
 * Resumability across replicas: the SDK's `EventStore` on Redis, so that a client's `Last-Event-ID` works on
 * any replica. One Redis stream per session holds the events of all its SDK streams (its GET stream and one
 * per POST), each entry naming its SDK stream: `XADD ... MAXLEN ~ maxEvents`, and the key expires `ttlMs`
 * after the last event, so retention is bounded per session in count and time, and Redis holds one key per
 * session however many requests it makes. An event id is `${streamId}|${redisEntryId}`, so a replay reads
 * that SDK stream's entries from just after that one.
 *
 * The SDK names every session's standalone GET stream `_GET_stream`, so the store is scoped per session:
 * each session's transport gets {@link forSession}`(sessionId)`.
 *
 * A `Last-Event-ID` resumes when its event is still stored. It also resumes when its whole stream expired
 * (nothing stored there for `ttlMs`, as on a quiet GET stream): nothing kept is after it, or, when the stream
 * has started afresh since (Redis 7+ tells), all of the new one is; a client away longer than `ttlMs` after
 * a stream's last event misses those events. Otherwise (garbled, never a stream of this session, or trimmed
 * by `maxEvents` while later events remain) `getStreamIdForEventId` answers undefined (the SDK: 400) and
 * `replayEventsAfter` rejects with {@link UnknownEventError}. Every call is bounded: when Redis does not
 * answer within `timeoutMs`, it rejects with a {@link StoreUnavailableError}; the client reconnects by itself.
 */
export class RedisEventStore {
  readonly prefix: string;
  readonly ttlMs: number;
  readonly maxEvents: number;
  readonly timeoutMs: number;
  /** The Redis URL, without credentials. */
  readonly url: string;
  private readonly link: RedisLink;
  private readonly log: Logger;
  /** Whether the store created the client, and so closes it. */
  private owned = false;

  /** @throws ConfigError when `ttlMs`, `maxEvents`, `timeoutMs` or `prefix` is not usable, naming it */
  constructor(options: RedisEventStoreOptions) {
    const { client, ttlMs, maxEvents, prefix, timeoutMs, url, log } = { ...DEFAULT_REDIS_EVENT_STORE_OPTIONS, ...stripUndefined(options) };
    for (const [name, value] of [['ttlMs', ttlMs], ['maxEvents', maxEvents], ['timeoutMs', timeoutMs]] as const) {
      if (!Number.isSafeInteger(value) || value <= 0) throw ConfigError.of('INVALID_OPTION', name, `${name}=${value} must be a positive whole number${name === 'maxEvents' ? '' : ' of milliseconds'}`);
    }
    if (typeof prefix !== 'string') throw ConfigError.of('INVALID_OPTION', 'prefix', `prefix=${String(prefix)} must be a string`);
    this.ttlMs = ttlMs;
    this.maxEvents = maxEvents;
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
    this.url = redactUrl(url);
    this.log = log ?? SILENT;
    this.link = new RedisLink({ client, url: this.url, log: this.log, timeoutMs, store: 'event store', outage: 'streams cannot be resumed', back: 'streams can be resumed again' });
  }

  /**
   * Load the `redis` package, create a client for `url` and a store around it. Waits up to `connectWaitMs`
   * for the first connection and resolves either way (calls reject with {@link StoreUnavailableError} until
   * Redis answers; a `warn` says so).
   * @throws ConfigError when the `redis` package is not installed, the URL is not usable, or an option is bad
   */
  static async connect(url: string, options: RedisEventStoreConnectOptions): Promise<RedisEventStore> {
    const client = await createRedisClient(url);
    let store: RedisEventStore;
    try {
      store = new RedisEventStore({ ...options, client, url });
    } catch (error) {
      client.destroy();
      throw error;
    }
    store.owned = true;
    await store.link.firstConnection(options.connectWaitMs ?? DEFAULT_REDIS_EVENT_STORE_OPTIONS.connectWaitMs);
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
   * The event store of one session, for its transport's `eventStore` option: all its SDK streams share the
   * key `${prefix}events:${sessionId}`, so sessions never see each other's events (each has a `_GET_stream`),
   * and a `Last-Event-ID` only ever reads the session it was sent to. `storeEvent` appends (trimmed to about
   * `maxEvents`) and restarts the key's TTL; `getStreamIdForEventId` asks Redis, since an id is only good
   * while its event is kept (undefined: the SDK answers 400); `replayEventsAfter` sends, in order, the
   * stream's events after the cursor, never the SDK's priming events (`{}`), and rejects with
   * {@link UnknownEventError} when the cursor cannot be resumed from.
   */
  forSession(sessionId: string): EventStore {
    if (typeof sessionId !== 'string' || sessionId === '') throw new TypeError('RedisEventStore.forSession: sessionId must be a non-empty string');
    const key = this.key(sessionId);
    return {
      storeEvent: (streamId, message) => this.store(key, streamId, message),
      getStreamIdForEventId: (eventId) => this.streamIdOf(key, eventId),
      replayEventsAfter: (lastEventId, { send }) => this.replay(key, lastEventId, send),
    };
  }

  /** Drop the events of a session that ended (they would expire `ttlMs` later anyway): its cursors cannot be resumed from any more. */
  async forget(sessionId: string): Promise<void> {
    await this.link.command(['UNLINK', this.key(sessionId)]);
  }

  /** Stop listening to the client and, if the store created it, close it. Later calls reject with a `LifecycleError`. */
  close(): Promise<void> {
    return this.link.close(this.owned);
  }

  private key(sessionId: string): string {
    return `${this.prefix}events:${sessionId}`;
  }

  private async store(key: string, streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    if (typeof streamId !== 'string' || streamId === '' || streamId.includes('|') || streamId.length > MAX_STREAM_ID) {
      throw new TypeError(`RedisEventStore: stream id ${JSON.stringify(streamId)} must be a non-empty string without '|', at most ${MAX_STREAM_ID} characters`);
    }
    // Sent together on the one connection, so PEXPIRE reaches Redis after the XADD that creates the key.
    const [entryId] = await this.link.commands([
      ['XADD', key, 'MAXLEN', '~', String(this.maxEvents), '*', STREAM_FIELD, streamId, FIELD, JSON.stringify(message)],
      ['PEXPIRE', key, String(this.ttlMs)],
    ]);
    return `${streamId}|${String(entryId)}`;
  }

  private async streamIdOf(key: string, eventId: EventId): Promise<StreamId | undefined> {
    const located = await this.locate(key, eventId);
    return located.state === 'resume' ? located.streamId : undefined;
  }

  private async replay(key: string, lastEventId: EventId, send: (eventId: EventId, message: JSONRPCMessage) => Promise<void>): Promise<StreamId> {
    const located = await this.locate(key, lastEventId);
    if (located.state === 'refused') throw located.error;
    const { streamId } = located;
    for (let after = located.after; ; ) {
      const entries = (await this.link.command(['XRANGE', key, after === undefined ? '-' : nextEntryId(after), '+', 'COUNT', String(BATCH)])) as unknown[];
      for (const entry of entries) {
        const [id, fields] = entry as [unknown, unknown[]];
        after = String(id);
        const message = fieldOf(fields, STREAM_FIELD) === streamId ? this.message(key, after, fields) : undefined;
        if (message) await send(`${streamId}|${after}`, message);
      }
      if (entries.length < BATCH) return streamId;
    }
  }

  /**
   * Where `eventId` leads, or why it cannot be resumed from. Each event restarts its stream's TTL, so a stream
   * expires no sooner than `ttlMs` after any of its events: a cursor whose stream is gone (or was started over
   * since) is at least that old, else it names a stream that never was.
   */
  private async locate(key: string, eventId: EventId): Promise<Located> {
    const refuse = (reason: UnknownEventError['reason']): Located => ({ state: 'refused', error: new UnknownEventError(String(eventId), reason) });
    if (typeof eventId !== 'string') return refuse('garbled');
    const cut = eventId.lastIndexOf('|');
    const streamId = cut > 0 ? eventId.slice(0, cut) : '';
    const entryId = eventId.slice(cut + 1);
    const cursor = parseEntryId(entryId);
    if (!streamId || streamId.length > MAX_STREAM_ID || !cursor) return refuse('garbled');
    const [entries, exists] = await this.link.commands([
      ['XRANGE', key, entryId, entryId],
      ['EXISTS', key],
    ]);
    const [entry] = entries as [unknown, unknown[]][];
    // The cursor's entry, but of another SDK stream: a made-up id.
    if (entry) return fieldOf(entry[1], STREAM_FIELD) === streamId ? { state: 'resume', streamId, after: entryId } : refuse('unknown');
    const oldEnough = (ms: bigint) => cursor[0] + BigInt(this.ttlMs) <= ms;
    // No stream: expired as a whole (so nothing kept is after the cursor), or never there.
    if (Number(exists) === 0) return oldEnough(BigInt(Date.now())) ? { state: 'resume', streamId, after: entryId } : refuse('unknown');
    // A stream without the cursor's entry: trimmed away (events after it are lost), or the cursor's stream
    // expired and this one started afresh after it: Redis 7's XINFO tells, as nothing ever left this one.
    const info = await this.link.command(['XINFO', 'STREAM', key]).catch((error: unknown) => {
      if (error instanceof StoreUnavailableError && isErrorReply(error.cause)) return undefined;
      throw error;
    });
    const first = parseEntryId(String((infoField(info, 'first-entry') as unknown[] | null | undefined)?.[0]));
    const added = infoField(info, 'entries-added');
    if (first && added !== undefined && Number(added) === Number(infoField(info, 'length')) && compareEntryIds(cursor, first) < 0 && oldEnough(first[0])) {
      return { state: 'resume', streamId, after: undefined };
    }
    return refuse('gone');
  }

  /** The message of one entry, or undefined for a priming event or an entry this store did not write. */
  private message(key: string, entryId: string, fields: unknown[]): JSONRPCMessage | undefined {
    const json = fieldOf(fields, FIELD);
    try {
      if (json === undefined) throw new Error(`no ${FIELD} field`);
      const message = JSON.parse(json) as unknown;
      if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new Error('not an object');
      // The SDK's priming event ({}) only gives a client its first cursor; it is no message to send again.
      return Object.keys(message).length === 0 ? undefined : (message as JSONRPCMessage);
    } catch (error) {
      this.log.debug(`redis event store: skipped entry ${entryId} of ${key}: ${oneLine(error)}`);
      return undefined;
    }
  }
}

/** A field of a stream entry (a flat list of names and values), as a string; undefined when it has none. */
function fieldOf(fields: unknown, name: string): string | undefined {
  if (!Array.isArray(fields)) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (String(fields[i]) === name) return String(fields[i + 1]);
  return undefined;
}

/** A Redis stream entry id, `ms-seq`, as numbers; undefined when it is not one. */
function parseEntryId(id: string): [bigint, bigint] | undefined {
  const parsed = ENTRY_ID.exec(id);
  if (!parsed) return undefined;
  const ms = BigInt(parsed[1]!);
  const seq = BigInt(parsed[2]!);
  return ms < 2n ** 64n && seq < 2n ** 64n ? [ms, seq] : undefined;
}

function compareEntryIds(a: [bigint, bigint], b: [bigint, bigint]): number {
  return a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

/** A field of an XINFO STREAM reply: a flat list of names and values (RESP2), or a map (RESP3). */
function infoField(reply: unknown, name: string): unknown {
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) if (String(reply[i]) === name) return reply[i + 1];
    return undefined;
  }
  if (reply instanceof Map) return reply.get(name);
  return reply !== null && typeof reply === 'object' ? (reply as Record<string, unknown>)[name] : undefined;
}

/** The smallest entry id after `id` (XRANGE's exclusive `(` needs Redis 6.2; this works on every version with streams). */
function nextEntryId(id: string): string {
  const [ms, seq] = id.split('-') as [string, string];
  const next = BigInt(seq) + 1n;
  return next < 2n ** 64n ? `${ms}-${next}` : `${BigInt(ms) + 1n}-0`;
}
