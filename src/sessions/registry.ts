import type { Transport } from '../jsonrpc.js';
import type { StreamableTransport } from '../sdk.js';
import type { SessionTransport } from './session.js';
import type { SseServerTransport } from './sse-transport.js';
import type { StoredSession } from './store.js';

/** When a session was last used, and how many of its streams are open: an idle session has none. */
export interface Activity {
  last: number;
  streams: number;
  /** When a store with a TTL last heard that the session is in use. */
  stored?: number;
  /** What the store keeps of the session, to save it again should the store lose it. */
  kept?: StoredSession;
}

/** A live session: its id, which HTTP route it came in on, its transport, and its activity. */
export type LiveSession = (
  | { readonly kind: 'streamable'; readonly transport: SessionTransport<StreamableTransport> }
  | { readonly kind: 'sse'; readonly transport: SessionTransport<SseServerTransport> }
  | { readonly kind: 'ws'; readonly transport: SessionTransport<Transport> }
) & {
  readonly id: string;
  readonly activity: Activity;
  /** Which bearer token opened the session (its index), when tokens are required: only it may use the session. */
  readonly principal?: string;
};

/** Live sessions by id. Transports remove themselves when they close. */
export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly waiters = new Map<string, Set<(session: LiveSession) => void>>();

  /** Number of live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** Register a session; its transport's close removes it again. */
  add(session: LiveSession): void {
    this.sessions.set(session.id, session);
    for (const wake of this.waiters.get(session.id) ?? []) wake(session);
    this.waiters.delete(session.id);
  }

  /** The session with this id once it is added, or undefined if that takes longer than `timeoutMs`. */
  waitFor(id: string, timeoutMs: number): Promise<LiveSession | undefined> {
    const live = this.sessions.get(id);
    if (live) return Promise.resolve(live);
    return new Promise((resolve) => {
      const waiters = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, waiters);
      const wake = (session: LiveSession | undefined) => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.waiters.get(id) === waiters) this.waiters.delete(id);
        resolve(session);
      };
      const timer = setTimeout(() => wake(undefined), timeoutMs);
      timer.unref();
      waiters.add(wake);
    });
  }

  /** Every live session. */
  all(): LiveSession[] {
    return [...this.sessions.values()];
  }

  /** The live session with this id, if any. */
  get(id: string): LiveSession | undefined {
    return this.sessions.get(id);
  }

  /** Forget a session (idempotent). */
  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** Sessions with no open stream and no request for `ttlMs`. */
  idle(ttlMs: number, now = Date.now()): LiveSession[] {
    return [...this.sessions.values()].filter((s) => s.activity.streams === 0 && now - s.activity.last > ttlMs);
  }

  /** Close every session's transport, which ends its streams; resolves when all have closed. */
  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map((s) => s.transport.close()));
  }
}
