import type { Logger } from '../log.js';

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

interface PubSubClient {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener?: (message: string) => void): Promise<unknown>;
  duplicate(): PubSubClient;
  destroy(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * Redis pub/sub between replicas (node-redis): one connection publishes, a second one subscribes, as
 * Redis requires. Both reconnect by themselves; a publish while Redis is down rejects at once.
 */
export async function connectRedisBus(url: string, log: Logger): Promise<ReplicaBus> {
  const redis = await import('redis');
  const publisher = redis.createClient({
    url,
    // A publish while Redis is down fails at once (the message is for now or never).
    disableOfflineQueue: true,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) },
  }) as unknown as PubSubClient;
  // Subscriptions wait for the connection instead: made while Redis is down, they take effect once it is up.
  const subscriber = redis.createClient({
    url,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) },
  }) as unknown as PubSubClient;
  for (const client of [publisher, subscriber]) {
    client.on('error', (error: Error) => log.debug(`redis bus: ${error.message}`));
    // node-redis keeps trying to connect until it does; nothing waits on that here.
    client.connect().catch((error: Error) => log.debug(`redis bus: ${error.message}`));
  }
  return {
    publish: (channel, payload) => publisher.publish(channel, JSON.stringify(payload)),
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
      publisher.destroy();
      subscriber.destroy();
    },
  };
}
