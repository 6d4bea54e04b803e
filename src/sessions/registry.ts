import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** A live session: its id, which HTTP transport it came in on, and that SDK transport. */
export type LiveSession =
  | { readonly id: string; readonly kind: 'streamable'; readonly transport: StreamableHTTPServerTransport }
  | { readonly id: string; readonly kind: 'sse'; readonly transport: SSEServerTransport };

/** The kinds of session: Streamable HTTP (`/mcp`) or legacy SSE (`/sse`). */
export type SessionKind = LiveSession['kind'];

/** Live sessions by id. Transports remove themselves when they close. */
export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();

  /** Number of live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** Register a session; its transport's close removes it again. */
  add(session: LiveSession): void {
    this.sessions.set(session.id, session);
  }

  /** The live session with this id, if any. */
  get(id: string): LiveSession | undefined {
    return this.sessions.get(id);
  }

  /** Forget a session (idempotent). */
  delete(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }

  /** Close every session's transport, which ends its streams; resolves when all have closed. */
  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map((s) => s.transport.close()));
  }
}
