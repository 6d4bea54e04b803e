import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { InitializeParams } from '../jsonrpc.js';

/**
 * The kinds of session: Streamable HTTP (`/mcp`) or legacy SSE (`/sse`). Declared here, apart from the
 * registry, so that the public types never reach the SDK's Node-typed HTTP transports.
 */
export type SessionKind = 'streamable' | 'sse';

/** What is kept of a session so that a new server process can restore it. No tokens, no messages. */
export interface StoredSession {
  id: string;
  kind: SessionKind;
  /** The protocol version negotiated at initialize. */
  protocolVersion: string;
  /** The client's `initialize` params (protocol version, capabilities, client info), replayed on restore. */
  initializeParams: InitializeParams;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Which of the configured bearer tokens opened it (an index, never the token). */
  principal?: string;
}

/**
 * Where sessions are persisted across restarts. Every method is async so that a shared store
 * (Redis, say) can implement it; implementations must tolerate concurrent calls.
 */
export interface SessionStore {
  get(id: string): Promise<StoredSession | undefined>;
  set(session: StoredSession): Promise<void>;
  delete(id: string): Promise<void>;
  list(): Promise<StoredSession[]>;
  /**
   * Keep a session that is in use from expiring (stores with a TTL, such as Redis).
   * @returns false when the store does not have it (then it is saved again)
   */
  touch?(id: string): Promise<boolean>;
  /** For a shared store that can be lost and come back (Redis): call `listener` when it is back. @returns how to stop */
  onRecovered?(listener: () => void): () => void;
}

/** Sessions in memory: they survive a manager restart inside one process, not a process restart. */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, StoredSession>();
  async get(id: string) {
    return this.sessions.get(id);
  }
  async set(session: StoredSession) {
    this.sessions.set(session.id, session);
  }
  async delete(id: string) {
    this.sessions.delete(id);
  }
  async list() {
    return [...this.sessions.values()];
  }
}

/**
 * Sessions in one JSON file, rewritten atomically (temp file + rename) with mode 0600, so a
 * process killed mid-write leaves the previous file whole. Writes are serialised within a process.
 */
export class FileSessionStore implements SessionStore {
  private loading: Promise<Map<string, StoredSession>> | undefined;
  private writing: Promise<void> = Promise.resolve();

  /** @param path the JSON file; its directory is created if needed */
  constructor(readonly path: string) {}

  async get(id: string) {
    return (await this.load()).get(id);
  }

  async set(session: StoredSession) {
    (await this.load()).set(session.id, session);
    await this.flush();
  }

  async delete(id: string) {
    if ((await this.load()).delete(id)) await this.flush();
  }

  async list() {
    return [...(await this.load()).values()];
  }

  /** One shared read, so that concurrent calls continue in the order they were made. */
  private load(): Promise<Map<string, StoredSession>> {
    this.loading ??= readFile(this.path, 'utf8')
      .then((text) => {
        const parsed: unknown = JSON.parse(text);
        return new Map((Array.isArray(parsed) ? parsed.filter(isStoredSession) : []).map((s) => [s.id, s]));
      })
      // Missing, unreadable or corrupt: start empty. A bad file must not stop the server from starting.
      .catch(() => new Map<string, StoredSession>());
    return this.loading;
  }

  private async flush(): Promise<void> {
    const snapshot = JSON.stringify([...(await this.load()).values()]);
    // One failed write must not fail every later one.
    this.writing = this.writing.catch(() => undefined).then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const temp = `${this.path}.${process.pid}.tmp`;
      await writeFile(temp, snapshot, { mode: 0o600 });
      await rename(temp, this.path);
    });
    return this.writing;
  }
}

function isStoredSession(value: unknown): value is StoredSession {
  const s = value as StoredSession;
  return typeof s?.id === 'string' && (s.kind === 'streamable' || s.kind === 'sse') && typeof s.initializeParams === 'object' && s.initializeParams !== null;
}
