import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from '../log.js';
import type { SessionRegistry } from '../sessions/registry.js';
import type { SessionStore } from '../sessions/store.js';

/** What the HTTP routes share: the live sessions, how to reach the user's server, and dev-mode state. */
export interface SessionContext {
  readonly registry: SessionRegistry;
  /** Connect a new session transport to the user's server (shared through the multiplexer, or built by the factory). */
  connect(transport: Transport): Promise<void>;
  /** Persisted sessions, set in dev mode: sessions are saved on initialize and restored after a restart. */
  readonly store: SessionStore | undefined;
  /** True once shutdown has begun: closing transports then keeps their stored sessions for the next process. */
  readonly closing: boolean;
  /** Called when a session ends on its own (client DELETE or disconnect): forget it, here and in the store. */
  forget(id: string | undefined): void;
  readonly log: Logger;
  /** Most live sessions; a new one beyond gets 503. */
  readonly maxSessions: number;
  /** Keep-alive comment interval on SSE streams, in ms (0: none). */
  readonly keepAliveMs: number;
}
