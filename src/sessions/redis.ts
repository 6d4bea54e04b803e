import type { Logger } from '../log.js';
import { redisBus, type ReplicaBus } from './redis-bus.js';
import { closeClient, createRedisClient, type RedisClientLike } from './redis-common.js';
import { RedisEventStore } from './redis-events.js';
import { RedisSessionStore } from './redis-store.js';

/** What replicas share on Redis: the sessions, the streams' events, and the bus between them. */
export interface Replication {
  store: RedisSessionStore;
  events: RedisEventStore;
  bus: ReplicaBus;
  /** Close the bus's connection, and the client if it was created here from a URL (yours stays open). */
  close(): Promise<void>;
}

/** How long start-up waits for Redis before it goes on (requests get 503 until Redis answers). */
const CONNECT_WAIT_MS = 1000;

/**
 * Sessions, events and the bus on one Redis connection (plus the bus's subscribing one): from a URL
 * (`MCP_REDIS_URL`), or from a node-redis client of yours (the `redis` option), which is connected if it is
 * not yet and is left open at close. Start-up waits at most a second for Redis and goes on either way.
 * @throws ConfigError when the `redis` package is missing, or the URL or client is not usable
 */
export async function openRedis(source: string | RedisClientLike, { ttlMs, log }: { ttlMs: number; log: Logger }): Promise<Replication> {
  const owned = typeof source === 'string';
  const client = owned ? await createRedisClient(source) : source;
  const url = owned ? source : undefined;
  const bus = redisBus(client, log);
  const store = new RedisSessionStore({ client, ttlMs, log, url });
  const events = new RedisEventStore({ client, ttlMs, url });
  if (!(await store.ready(CONNECT_WAIT_MS))) log.warn(`Redis at ${store.url} did not answer: sessions are unavailable until it does; reconnecting`);
  return {
    store,
    events,
    bus,
    async close() {
      await Promise.all([bus.close(), store.close(), events.close()]);
      if (owned) await closeClient(client, CONNECT_WAIT_MS);
    },
  };
}
