/**
 * Both protocol eras on one manager: SDK v2 servers (factories and instances) and SDK v1 servers,
 * with real v1 and v2 clients on the same port at once, over Streamable HTTP, SSE, WebSocket and stdio.
 */
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioClientV2 } from '@modelcontextprotocol/client/stdio';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioClientV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import WebSocket from 'ws';
import { z } from 'zod';
import { connectClient, FIXTURE, highLevelServer, NODE_TS_ARGS, ROOT, startHttp, textOf, waitFor } from '../helpers.js';

const MODERN = '2026-07-28';
/** The per-request envelope a 2026-07-28 request carries. */
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };

/**
 * Node 20 has no global WebSocket, which the SDK's WebSocketClientTransport uses: `ws`'s fits, set to
 * dispatch one message per task as browsers do (see ws.test.ts).
 */
class BrowserLikeWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[], options: WebSocket.ClientOptions = {}) {
    super(url, protocols, { allowSynchronousEvents: false, ...options });
  }
}
const globals = globalThis as { WebSocket?: unknown };
const hadWebSocket = globals.WebSocket;
beforeAll(() => void (globals.WebSocket = BrowserLikeWebSocket));
afterAll(() => void (globals.WebSocket = hadWebSocket));

/** An SDK v2 server: `echo`, and `count` which reports progress before it answers. */
function v2Server(): McpServerV2 {
  const server = new McpServerV2({ name: 'v2-server', version: '2.0.0' }, { capabilities: { tools: { listChanged: true } } });
  server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('count', { inputSchema: z.object({ to: z.number() }) }, async ({ to }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let i = 1; i <= to; i++) {
      if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: to } });
    }
    return { content: [{ type: 'text', text: `counted to ${to}` }] };
  });
  // Announces a change through the instance's own notifier, as a server that adds tools at run time does.
  server.registerTool('announce', { inputSchema: z.object({}) }, async () => {
    await server.sendToolListChanged();
    return { content: [{ type: 'text', text: 'announced' }] };
  });
  return server;
}

function modernClient(name = 'modern'): ClientV2 {
  return new ClientV2({ name, version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
}

function autoClient(name = 'auto'): ClientV2 {
  return new ClientV2({ name, version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
}

const echoText = async (client: { callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown> }, text: string) =>
  textOf(await client.callTool({ name: 'echo', arguments: { text } }));

describe('a factory of SDK v2 servers over HTTP', () => {
  it('serves 2026-07-28 and 2025-era clients on one /mcp at once, v1 and v2 SDK clients alike', async () => {
    const { manager, url } = await startHttp({ server: () => v2Server() });
    const clients: { close(): Promise<void> }[] = [];
    try {
      const modern = modernClient();
      await modern.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      clients.push(modern);
      const legacyV1 = await connectClient(url, 'streamable');
      clients.push(legacyV1);
      const legacyV2 = new ClientV2({ name: 'legacy-v2', version: '1.0.0' });
      await legacyV2.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      clients.push(legacyV2);

      expect(modern.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect(legacyV2.getNegotiatedProtocolVersion()).not.toBe(MODERN);
      const texts = await Promise.all([echoText(modern, 'm'), echoText(legacyV1, 'l1'), echoText(legacyV2, 'l2')]);
      expect(texts).toEqual(['m', 'l1', 'l2']);
      // Only the 2025-era clients hold sessions; the modern one is served per request.
      expect(manager.sessionCount).toBe(2);

      const progress: number[] = [];
      const counted = await modern.callTool({ name: 'count', arguments: { to: 3 } }, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(counted)).toBe('counted to 3');
      expect(progress).toEqual([1, 2, 3]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await manager.close();
    }
  });

  it('a dual-era client negotiates 2026-07-28', async () => {
    const { manager, url } = await startHttp({ server: () => v2Server() });
    const client = autoClient();
    try {
      await client.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect(await echoText(client, 'auto')).toBe('auto');
    } finally {
      await client.close();
      await manager.close();
    }
  });

  it("list_changed from the manager's notifier reaches subscriptions/listen streams and 2025-era sessions", async () => {
    const { manager, url } = await startHttp({ server: () => v2Server() });
    const modern = modernClient();
    const legacy = await connectClient(url, 'streamable');
    try {
      await modern.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      let modernHeard = 0;
      let legacyHeard = 0;
      modern.setNotificationHandler('notifications/tools/list_changed', () => void modernHeard++);
      legacy.setNotificationHandler(
        (await import('@modelcontextprotocol/sdk/types.js')).ToolListChangedNotificationSchema,
        () => void legacyHeard++,
      );
      // The legacy client's GET stream is where unsolicited notifications go: wait for it to open.
      await legacy.listTools();
      const subscription = await modern.listen({ toolsListChanged: true });
      manager.notify.toolsChanged();
      await waitFor(() => modernHeard === 1 && legacyHeard === 1, 'both clients to hear of the change');
      await subscription.close?.();
    } finally {
      await modern.close();
      await legacy.close();
      await manager.close();
    }
  });

  it("list_changed a per-request instance sends itself (sendToolListChanged) reaches subscriptions/listen streams", async () => {
    const { manager, url } = await startHttp({ server: () => v2Server() });
    const listener = modernClient('listener');
    const caller = modernClient('caller');
    try {
      await listener.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      await caller.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      let heard = 0;
      listener.setNotificationHandler('notifications/tools/list_changed', () => void heard++);
      const subscription = await listener.listen({ toolsListChanged: true });
      expect(textOf(await caller.callTool({ name: 'announce', arguments: {} }))).toBe('announced');
      await waitFor(() => heard === 1, 'the listener to hear of the change');
      await subscription.close?.();
    } finally {
      await listener.close();
      await caller.close();
      await manager.close();
    }
  });

  it('refuses 2026-07-28 requests past the guards like any other: Origin 403, body cap 413, JSON-RPC bodies', async () => {
    const { manager, url } = await startHttp({ server: () => v2Server(), maxBodyBytes: 2048 });
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover', ...headers },
        body,
      });
    const discover = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } });
    try {
      const ok = await post(discover);
      expect(ok.status).toBe(200);
      const big = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'server/discover', params: { _meta: META, pad: 'x'.repeat(4096) } }));
      expect(big.status).toBe(413);
      expect(await big.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('2048 bytes') }, id: null });
      const foreign = await fetch(`${url}/mcp`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json', 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' }, body: discover });
      expect(foreign.status).toBe(403);
      expect(((await foreign.json()) as { jsonrpc: string }).jsonrpc).toBe('2.0');
    } finally {
      await manager.close();
    }
  });

  it('a token guards 2026-07-28 requests too (401 without it)', async () => {
    const { manager, url } = await startHttp({ server: () => v2Server(), authToken: 'sekrit-token-123' });
    const discover = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' };
    try {
      expect((await fetch(`${url}/mcp`, { method: 'POST', headers, body: discover })).status).toBe(401);
      const ok = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...headers, authorization: 'Bearer sekrit-token-123' }, body: discover });
      expect(ok.status).toBe(200);
    } finally {
      await manager.close();
    }
  });

  it('keeps legacy SSE and WebSocket clients working with v2 servers', async () => {
    const { manager, url } = await startHttp({ server: () => v2Server() });
    const sse = await connectClient(url, 'sse');
    const ws = new ClientV1({ name: 'ws', version: '1.0.0' });
    try {
      expect(await echoText(sse, 'over sse')).toBe('over sse');
      await ws.connect(new WebSocketClientTransport(new URL(`${url.replace('http', 'ws')}/ws`)));
      expect(await echoText(ws, 'over ws')).toBe('over ws');
      const progress: number[] = [];
      const counted = await ws.callTool({ name: 'count', arguments: { to: 2 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(counted)).toBe('counted to 2');
      expect(progress).toEqual([1, 2]);
      expect((await ws.listTools()).tools.map((t) => t.name).sort()).toEqual(['announce', 'count', 'echo']);
    } finally {
      await sse.close();
      await ws.close();
      await manager.close();
    }
  });
});

describe('servers that cannot serve 2026-07-28 over HTTP', () => {
  it.each([
    ['an SDK v1 server', () => highLevelServer()],
    ['one shared SDK v2 instance', () => v2Server()],
  ])('%s: a dual-era client falls back to the 2025 era, and a pinned one is told the version is unsupported', async (_name, build) => {
    const { manager, url } = await startHttp({ server: build() });
    const auto = autoClient();
    const pinned = modernClient();
    try {
      await auto.connect(new HttpClientV2(new URL(`${url}/mcp`)));
      expect(auto.getNegotiatedProtocolVersion()).not.toBe(MODERN);
      expect(await echoText(auto, 'fell back')).toContain('fell back');
      await expect(pinned.connect(new HttpClientV2(new URL(`${url}/mcp`)))).rejects.toThrow();
      const raw = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } }),
      });
      expect(raw.status).toBe(400);
      expect(((await raw.json()) as { error: { message: string } }).error.message).toMatch(/Unsupported protocol version: 2026-07-28/);
    } finally {
      await auto.close();
      await manager.close();
    }
  });
});

describe('stdio with SDK v2 servers', () => {
  const serverFile = join(ROOT, 'test', 'fixtures', 'v2-stdio-server.ts');
  const params = (shape: 'factory' | 'instance') => ({ command: process.execPath, args: [...NODE_TS_ARGS, serverFile], env: { ...process.env, V2_SHAPE: shape, MCP_TRANSPORT: 'stdio' } as Record<string, string>, stderr: 'pipe' as const });

  it.each(['factory', 'instance'] as const)('a %s serves a 2026-07-28 client and a 2025-era client', async (shape) => {
    const modern = modernClient();
    const legacy = new ClientV1({ name: 'legacy-stdio', version: '1.0.0' });
    try {
      await modern.connect(new StdioClientV2(params(shape)));
      expect(modern.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect(await echoText(modern, 'modern stdio')).toBe('modern stdio');
      await legacy.connect(new StdioClientV1(params(shape)));
      expect(await echoText(legacy, 'legacy stdio')).toBe('legacy stdio');
    } finally {
      await modern.close();
      await legacy.close();
    }
  });

  it('an SDK v1 server over stdio: a dual-era client falls back to the 2025 era', async () => {
    const auto = autoClient();
    try {
      await auto.connect(new StdioClientV2({ command: process.execPath, args: [...NODE_TS_ARGS, FIXTURE], env: { ...process.env, MCP_TRANSPORT: 'stdio' } as Record<string, string>, stderr: 'pipe' }));
      expect(auto.getNegotiatedProtocolVersion()).not.toBe(MODERN);
      expect(await echoText(auto, 'v1 stdio')).toBe('v1 stdio');
    } finally {
      await auto.close();
    }
  });
});
