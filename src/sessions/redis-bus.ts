import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RedisClientLike } from './redis-common.js';

/** What replicas tell each other. Channels are named by the owner; payloads are JSON. */
export interface ReplicaBus {
  /** Send `payload` on `channel`. @returns how many replicas listen there (0: nobody holds it) */
  publish(channel: string, payload: unknown): Promise<number>;
  /** Listen on `channel`. @returns how to stop */
  subscribe(channel: string, listener: (payload: unknown) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** How long `subscribe` waits for Redis to confirm before it returns anyway. */
const SUBSCRIBE_WAIT_MS = 1000;

/** The subscribing connection: node-redis's pub/sub API. */
interface Subscriber {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener?: (message: string) => void): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * Redis pub/sub between replicas (node-redis). Publishing uses `client`, the connection the stores use (so
 * a publish while Redis is down fails at once); subscribing needs a connection of its own, as Redis
 * requires: a duplicate of `client` with an offline queue, so that subscriptions made while Redis is down
 * take effect once it is up. Both reconnect by themselves. `close()` closes the duplicate only.
 * @throws ConfigError when `client` cannot be duplicated (not a node-redis client)
 */
export function redisBus(client: RedisClientLike, log: Logger): ReplicaBus {
  if (typeof client.duplicate !== 'function') {
    throw ConfigError.of('INVALID_OPTION', 'redis', 'the redis option must be a node-redis client (createClient() of the redis package): it has no duplicate() for the pub/sub connection');
  }
  const subscriber = client.duplicate({ disableOfflineQueue: false }) as Subscriber;
  subscriber.on('error', (error: Error) => log.debug(`redis bus: ${error.message}`));
  // node-redis keeps trying to connect until it does; nothing waits on that here.
  subscriber.connect().catch((error: Error) => log.debug(`redis bus: ${error.message}`));
  return {
    publish: async (channel, payload) => Number(await client.sendCommand(['PUBLISH', channel, JSON.stringify(payload)])),
    async subscribe(channel, listener) {
      const onMessage = (message: string) => {
        try {
          listener(JSON.parse(message));
        } catch (error) {
          log.debug(`redis bus: ${channel}: ${(error as Error).message}`);
        }
      };
      const subscribed = subscriber.subscribe(channel, onMessage).catch((error: Error) => log.debug(`redis bus: cannot listen on ${channel}: ${error.message}`));
      // Listening before anything is sent here, when Redis is up; when it is down, the subscription waits for it.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([subscribed, new Promise((resolve) => (timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS)))]);
      clearTimeout(timer);
      return async () => {
        await subscribed;
        await subscriber.unsubscribe(channel, onMessage).catch(() => undefined);
      };
    },
    async close() {
      subscriber.destroy();
    },
  };
}
