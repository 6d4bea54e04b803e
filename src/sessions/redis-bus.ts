import type { Logger } from '../log.js';

/** What replicas tell each other. Channels are named by the owner; payloads are JSON. */
export interface ReplicaBus {
  /** Send `payload` on `channel`. @returns how many replicas listen there (0: nobody holds it) */
  publish(channel: string, payload: unknown): Promise<number>;
  /** Listen on `channel`. @returns how to stop */
  subscribe(channel: string, listener: (payload: unknown) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

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
    disableOfflineQueue: true,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) },
  }) as unknown as PubSubClient;
  const subscriber = publisher.duplicate();
  for (const client of [publisher, subscriber]) client.on('error', (error: Error) => log.debug(`redis bus: ${error.message}`));
  await Promise.all([publisher.connect(), subscriber.connect()]).catch((error: Error) => log.warn(`redis bus: ${error.message}; reconnecting`));
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
      await subscriber.subscribe(channel, onMessage);
      return async () => {
        await subscriber.unsubscribe(channel, onMessage).catch(() => undefined);
      };
    },
    async close() {
      publisher.destroy();
      subscriber.destroy();
    },
  };
}
