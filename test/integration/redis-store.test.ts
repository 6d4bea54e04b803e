/**
 * RedisSessionStore against a real redis-server (test/redis.ts starts one on a free loopback port):
 * the round trip, expiry, touch, and what a caller sees while Redis is down, hung, and back.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { LifecycleError, StoreUnavailableError, type StoredSession } from '../../src/index.js';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { startRedis, startRedisWithClient, stopRedisWithClient, type RawRedisClient, type RedisServer } from '../redis.js';
import { recordingLogger, timed, waitFor } from '../helpers.js';

function session(id = randomUUID()): StoredSession {
  return {
    id,
    kind: 'streamable',
    protocolVersion: '2025-06-18',
    initializeParams: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
    createdAt: Date.now(),
  };
}

let redis: RedisServer;
/** A plain client to look at keys directly. */
let raw: RawRedisClient;
const stores: RedisSessionStore[] = [];

async function newStore(options: Partial<Parameters<typeof RedisSessionStore.connect>[1]> = {}): Promise<RedisSessionStore> {
  const store = await RedisSessionStore.connect(redis.url, { ttlMs: 60_000, prefix: `t${stores.length}:`, ...options });
  stores.push(store);
  return store;
}

beforeAll(async () => void ({ redis, raw } = await startRedisWithClient()), 20_000);
afterAll(() => stopRedisWithClient({ redis, raw }, stores));

describe('RedisSessionStore', () => {
  it('sets, gets, lists and deletes sessions under its prefix', async () => {
    const store = await newStore({ prefix: 'app[1]:' });
    const other = await newStore({ prefix: 'app1:' });
    const a = session();
    const b = { ...session(), kind: 'sse' as const, principal: '0' };
    await store.set(a);
    await store.set(b);
    await other.set(session());
    expect(await store.get(a.id)).toEqual(a);
    expect(await store.get('nope')).toBeUndefined();
    expect(await raw.get(`app[1]:session:${a.id}`)).toBe(JSON.stringify(a));
    expect((await store.list()).sort((x, y) => x.id.localeCompare(y.id))).toEqual([a, b].sort((x, y) => x.id.localeCompare(y.id)));
    await store.delete(a.id);
    await store.delete('never-there');
    expect(await store.get(a.id)).toBeUndefined();
    expect(await store.list()).toEqual([b]);
    expect(await other.list()).toHaveLength(1);
  });

  it('lists many sessions (several SCAN steps and MGET batches), skipping values that are not sessions', async () => {
    const store = await newStore();
    const all = Array.from({ length: 450 }, () => session());
    await Promise.all(all.map((s) => store.set(s)));
    await raw.set(`${store.prefix}session:garbage`, 'not json');
    await raw.set(`${store.prefix}session:other`, JSON.stringify({ id: 'other' }));
    const listed = await store.list();
    expect(listed).toHaveLength(450);
    expect(new Set(listed.map((s) => s.id))).toEqual(new Set(all.map((s) => s.id)));
    expect(await store.get('garbage')).toBeUndefined();
  });

  it('stores each session with its TTL, and Redis expires it', async () => {
    const store = await newStore({ ttlMs: 300 });
    const s = session();
    await store.set(s);
    const pttl = await raw.pTTL(`${store.prefix}session:${s.id}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(300);
    await waitFor(async () => (await store.get(s.id)) === undefined, 'the session to expire', 5000);
    expect(await store.list()).toEqual([]);
  });

  it('touch restarts the TTL of a stored session, and creates nothing for an absent one', async () => {
    const store = await newStore({ ttlMs: 60_000 });
    const s = session();
    await store.set(s);
    const key = `${store.prefix}session:${s.id}`;
    await raw.pExpire(key, 5000);
    await store.touch(s.id);
    expect(await raw.pTTL(key)).toBeGreaterThan(55_000);
    await store.touch('absent');
    expect(await raw.exists(`${store.prefix}session:absent`)).toBe(0);
  });

  it('works around a client created by the caller, and leaves that client open on close', async () => {
    const client = createClient({ url: redis.url, disableOfflineQueue: true });
    const store = new RedisSessionStore({ client, ttlMs: 60_000, prefix: 'own:' });
    expect(await store.ready()).toBe(true);
    const s = session();
    await store.set(s);
    expect(await store.get(s.id)).toEqual(s);
    await store.close();
    await store.close();
    expect(client.isReady).toBe(true);
    await expect(store.get(s.id)).rejects.toBeInstanceOf(LifecycleError);
    client.destroy();
  });

  it('rejects a bad ttlMs naming it', () => {
    const client = createClient({ url: redis.url });
    expect(() => new RedisSessionStore({ client, ttlMs: 0 })).toThrow('ttlMs=0 must be a positive whole number');
  });
});

describe('RedisSessionStore while Redis is down, hung, and back', () => {
  it('rejects at once with StoreUnavailableError while Redis is stopped, and works again once it is back, by itself', async () => {
    const log = recordingLogger();
    const store = await newStore({ log });
    const s = session();
    await store.set(s);
    await redis.stop();
    await waitFor(() => !store.available, 'the client to notice', 5000);
    for (const call of [() => store.get(s.id), () => store.set(session()), () => store.touch(s.id), () => store.delete(s.id), () => store.list()]) {
      const { ms, error } = await timed(call);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(1500);
      const e = error as StoreUnavailableError;
      expect(e.code).toBe('STORE_UNAVAILABLE');
      expect(e.message).toMatch(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} is unreachable \\(.+\\)$`));
    }
    expect(log.lines.filter((l) => l.startsWith('warn:'))).toEqual([expect.stringContaining(`Redis at ${redis.url} is unreachable`)]);

    await redis.restart();
    // The same store, no new client: the reconnect strategy retries at least every second.
    await waitFor(() => store.get(s.id).then(() => true, () => false), 'calls to work again', 5000);
    expect(await store.get(s.id)).toBeUndefined(); // the restarted server kept nothing (no persistence)
    await store.set(s);
    expect(await store.get(s.id)).toEqual(s);
    expect(log.lines).toContain(`info: Redis at ${redis.url} is back`);
  }, 20_000);

  it('rejects within the timeout while Redis is hung (connection open, nothing answers), then recovers', async () => {
    const store = await newStore();
    const s = session();
    await store.set(s);
    redis.pause();
    try {
      const { ms, error } = await timed(() => store.get(s.id));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toBe(`Redis at ${redis.url} did not answer within 1000 ms`);
      expect(ms).toBeGreaterThanOrEqual(950);
      expect(ms).toBeLessThan(1500);
    } finally {
      redis.resume();
    }
    expect(await store.get(s.id)).toEqual(s);
  }, 20_000);

  it('connect resolves when Redis is unreachable, says so once, and the store works when Redis starts', async () => {
    const other = await startRedis();
    await other.stop();
    const log = recordingLogger();
    const { ms, error } = await timed(async () => stores.push(await RedisSessionStore.connect(other.url, { ttlMs: 60_000, log, connectWaitMs: 300 })));
    expect(error).toBeUndefined();
    expect(ms).toBeLessThan(1000);
    const store = stores.at(-1)!;
    expect(store.available).toBe(false);
    expect(log.lines.filter((l) => l.startsWith('warn:'))).toEqual([expect.stringMatching(new RegExp(`^warn: Redis at ${other.url} did not answer \\(.*ECONNREFUSED.*\\)`))]);
    await expect(store.list()).rejects.toBeInstanceOf(StoreUnavailableError);
    await other.restart();
    try {
      await waitFor(() => store.list().then(() => true, () => false), 'the store to connect', 5000);
      expect(log.lines).toContain(`info: Redis at ${other.url} is back`);
    } finally {
      await store.close();
      await other.stop();
    }
  }, 20_000);

  it('never shows the password of the URL', async () => {
    const other = await startRedis();
    await other.stop();
    const url = `redis://:s3cret@127.0.0.1:${other.port}`;
    const log = recordingLogger();
    const store = await RedisSessionStore.connect(url, { ttlMs: 1000, log, connectWaitMs: 100 });
    stores.push(store);
    const { error } = await timed(() => store.get('x'));
    expect(store.url).toBe(`redis://127.0.0.1:${other.port}`);
    expect((error as Error).message).not.toContain('s3cret');
    expect(log.lines.join('\n')).not.toContain('s3cret');
    await store.close();
  });
});
