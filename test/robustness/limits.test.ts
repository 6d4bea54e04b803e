import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { INIT, STREAM_HEADERS, connectClient, lowLevelServer, startHttp, waitFor } from '../helpers.js';

/** Read a stream's text until `pattern` shows up (or the deadline passes). */
async function readUntil(res: Response, pattern: RegExp, timeoutMs = 5000): Promise<string> {
  const reader = res.body!.getReader();
  const deadline = Date.now() + timeoutMs;
  let text = '';
  try {
    while (!pattern.test(text)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in ${JSON.stringify(text)}`);
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
  } finally {
    await reader.cancel();
  }
  return text;
}

describe('bounded resources', () => {
  it('answers a new session beyond MCP_MAX_SESSIONS with 503 and Retry-After, on both transports', async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer(), env: { MCP_MAX_SESSIONS: '2' } });
    const clients: Client[] = [];
    try {
      clients.push(await connectClient(url, 'streamable'), await connectClient(url, 'sse'));
      const full = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      expect(full.status).toBe(503);
      expect(full.headers.get('retry-after')).toBe('5');
      expect(await full.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('MCP_MAX_SESSIONS') } });
      expect((await fetch(`${url}/sse`)).status).toBe(503);
      // A slot frees up when a session ends.
      await clients.pop()!.close();
      await waitFor(() => manager.sessionCount === 1, 'the SSE session to end');
      clients.push(await connectClient(url, 'streamable'));
      expect(manager.sessionCount).toBe(2);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await manager.close();
    }
  });

  it('closes sessions idle past MCP_SESSION_TTL, but not one with an open stream', async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer(), env: { MCP_SESSION_TTL: '1' } });
    const client = await connectClient(url, 'streamable'); // keeps its GET stream open
    try {
      const abandoned = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      const id = abandoned.headers.get('mcp-session-id')!;
      await abandoned.text();
      expect(manager.sessionCount).toBe(2);
      await waitFor(() => manager.sessionCount === 1, 'the abandoned session to expire');
      const gone = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...STREAM_HEADERS, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
      expect(gone.status).toBe(404);
      expect((await client.ping()) ?? {}).toEqual({});
    } finally {
      await client.close();
      await manager.close();
    }
  });

  it.each([
    ['legacy SSE', '/sse'],
    ['Streamable HTTP GET', '/mcp'],
  ])('sends keep-alive comments on an idle %s stream (MCP_SSE_KEEPALIVE)', async (_name, path) => {
    const { manager, url } = await startHttp({ server: lowLevelServer(), env: { MCP_SSE_KEEPALIVE: '1' } });
    try {
      let headers: Record<string, string> = { accept: 'text/event-stream' };
      if (path === '/mcp') {
        const init = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
        headers = { ...headers, 'mcp-session-id': init.headers.get('mcp-session-id')! };
        await init.text();
      }
      const stream = await fetch(`${url}${path}`, { headers });
      expect(stream.status).toBe(200);
      expect(await readUntil(stream, /^: keepalive$/m)).toMatch(/: keepalive/);
    } finally {
      await manager.close();
    }
  });

  it('sets request and header timeouts on the HTTP server', async () => {
    const { listenOn } = await import('../../src/http/listen.js');
    const [server] = await listenOn((_req, res) => res.end(), '127.0.0.1', 0, { level: 'error', error() {}, warn() {}, info() {}, debug() {} });
    try {
      expect(server!.headersTimeout).toBe(10_000);
      expect(server!.requestTimeout).toBe(30_000);
    } finally {
      await new Promise((resolve) => server!.close(resolve));
    }
  });
});
