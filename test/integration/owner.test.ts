/**
 * The session owner at its edges: sessions that fail or vanish while being opened leave nothing behind,
 * the session cap holds whatever headers a client sends, and a restored session keeps its token.
 */
import WebSocket from 'ws';
import { MemorySessionStore, type StoredSession } from '../../src/index.js';
import { highLevelServer, startHttp, waitFor } from '../helpers.js';

const stored = (id: string, principal?: string): StoredSession => ({
  id,
  kind: 'sse',
  protocolVersion: '2025-06-18',
  initializeParams: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'stored', version: '1' } },
  createdAt: Date.now(),
  ...(principal !== undefined ? { principal } : {}),
});

/** Open a raw WebSocket with the `mcp` subprotocol; resolves with the close code once it closes. */
function socketClosed(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`, 'mcp');
    socket.once('close', (code) => resolve(code));
    socket.once('error', reject);
  });
}

/** A GET /sse, resolving with its status and the session id of its endpoint event (when there is one). */
async function openSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; id?: string; close: () => void }> {
  const controller = new AbortController();
  const res = await fetch(`${url}/sse`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (res.status !== 200) return { status: res.status, close: () => controller.abort() };
  const reader = res.body!.getReader();
  let text = '';
  while (!/sessionId=([^\s&]+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  return { status: 200, id: /sessionId=([^\s&]+)/.exec(text)![1], close: () => controller.abort() };
}

describe('the session owner', () => {
  it('a WebSocket whose server fails to start leaves no session behind (the cap stays free)', async () => {
    let built = 0;
    const { manager, url } = await startHttp({
      maxSessions: 2,
      server: () => {
        built++;
        // The first build is the start-up probe; the next two fail, as a broken factory would.
        if (built === 2 || built === 3) throw new Error('cannot build');
        return highLevelServer();
      },
    });
    try {
      expect(await socketClosed(url)).toBe(1011);
      expect(await socketClosed(url)).toBe(1011);
      expect(manager.stats.sessions).toBe(0);
      const ok = new WebSocket(`${url.replace('http', 'ws')}/ws`, 'mcp');
      await new Promise((resolve, reject) => ok.once('open', resolve).once('error', reject));
      await waitFor(() => manager.stats.sessions === 1, 'the working socket to count as a session');
      ok.close();
      await waitFor(() => manager.stats.sessions === 0, 'the closed socket to end its session');
    } finally {
      await manager.close();
    }
  });

  it('a legacy SSE client that leaves while its session is restored leaves no session behind', async () => {
    const store = new MemorySessionStore();
    await store.set(stored('gone-soon'));
    let built = 0;
    let release: () => void = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    const lines: string[] = [];
    const keep = (line: string) => void lines.push(line);
    const { manager, url } = await startHttp({
      devMode: true,
      sessionStore: store,
      logger: { level: 'info', error: keep, warn: keep, info: keep, debug: keep },
      server: async () => {
        // The restore's server is slow to build: the client is gone before it is connected.
        if (++built === 2) await slow;
        return highLevelServer();
      },
    });
    try {
      const controller = new AbortController();
      const opened = fetch(`${url}/sse`, { headers: { accept: 'text/event-stream', 'last-event-id': 'gone-soon' }, signal: controller.signal }).catch(() => undefined);
      await waitFor(() => built === 2, 'the restore to begin');
      controller.abort();
      await opened;
      release();
      await waitFor(() => lines.some((l) => l.includes('gone-soon') && /restored/.test(l)), 'the restore to end');
      expect(manager.stats.sessions).toBe(0);
      expect(await store.get('gone-soon')).toBeUndefined();
    } finally {
      release();
      await manager.close();
    }
  });

  it('MCP_MAX_SESSIONS holds for legacy SSE whatever Last-Event-ID says (dev mode)', async () => {
    const { manager, url } = await startHttp({ devMode: true, sessionStore: new MemorySessionStore(), maxSessions: 1, server: highLevelServer() });
    try {
      const first = await openSse(url);
      expect(first.status).toBe(200);
      const second = await openSse(url, { 'last-event-id': 'not-a-stored-session' });
      expect(second.status).toBe(503);
      first.close();
    } finally {
      await manager.close();
    }
  });

  it('a stored legacy SSE session is restored only for the token that opened it', async () => {
    const store = new MemorySessionStore();
    await store.set(stored('owned-by-a', '0'));
    const { manager, url } = await startHttp({ devMode: true, sessionStore: store, authToken: 'token-a-123,token-b-456', server: highLevelServer() });
    try {
      const asB = await openSse(url, { authorization: 'Bearer token-b-456', 'last-event-id': 'owned-by-a' });
      expect(asB.status).toBe(200);
      expect(asB.id).not.toBe('owned-by-a');
      asB.close();
      const asA = await openSse(url, { authorization: 'Bearer token-a-123', 'last-event-id': 'owned-by-a' });
      expect(asA.id).toBe('owned-by-a');
      asA.close();
    } finally {
      await manager.close();
    }
  });
});
