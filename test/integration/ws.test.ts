/**
 * WebSocket at /ws (issue 11, item 6): a plain node:http server with acceptWebSockets mounted, a fresh
 * SDK v1 McpServer per socket, and real SDK clients over real sockets on loopback.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport as SdkTransport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage as SdkMessage } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { bearerCheck, requestCheck } from '../../src/http/guards.js';
import { acceptWebSockets, type WebSocketAcceptor, type WebSocketServerTransport } from '../../src/http/ws.js';
import { waitFor } from '../helpers.js';

/**
 * Node 20 has no global WebSocket; the SDK's WebSocketClientTransport uses the global one. `ws`'s fits,
 * set to dispatch one message per task as browsers and Node 22's WebSocket do. (By default `ws` emits
 * every frame of a read in one tick, and the SDK client, which runs notification handlers a microtask
 * later, then drops progress that arrived in the same read as the response.)
 */
class BrowserLikeWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[], options: WebSocket.ClientOptions = {}) {
    super(url, protocols, { allowSynchronousEvents: false, ...options });
  }
}
const globals = globalThis as { WebSocket?: unknown };
const hadWebSocket = globals.WebSocket;
beforeAll(() => {
  globals.WebSocket = BrowserLikeWebSocket;
});
afterAll(() => {
  globals.WebSocket = hadWebSocket;
});

/** A v1 McpServer: `echo` reports the session id its handler saw; `progress` sends `steps` progress notifications. */
function v1Server(errors: Error[]): McpServer {
  const server = new McpServer({ name: 'ws-test', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }, extra) => ({
    content: [{ type: 'text', text: JSON.stringify({ text, sessionId: extra.sessionId ?? null }) }],
  }));
  server.registerTool('progress', { inputSchema: { steps: z.number() } }, async ({ steps }, extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
    }
    return { content: [{ type: 'text', text: `done ${steps}` }] };
  });
  server.server.onerror = (error) => errors.push(error);
  return server;
}

/** A v2 McpServer with the same `echo`. */
function v2Server(): McpServerV2 {
  const server = new McpServerV2({ name: 'ws-test-v2', version: '2.0.0' });
  server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text: `v2 ${text}` }] }));
  return server;
}

interface Harness {
  port: number;
  url: URL;
  http: HttpServer;
  acceptor: WebSocketAcceptor;
  transports: WebSocketServerTransport[];
  /** Errors the servers' transports reported (bad frames, oversized frames). */
  errors: Error[];
  stop(): Promise<void>;
}

const harnesses: Harness[] = [];

interface StartOptions {
  authToken?: string;
  maxPayload?: number;
  server?: 'v1' | 'v2';
  /** Awaited in onTransport before connecting the server; a rejection fails the session. */
  beforeConnect?: () => Promise<void>;
}

async function start(options: StartOptions = {}): Promise<Harness> {
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const transports: WebSocketServerTransport[] = [];
  const errors: Error[] = [];
  const acceptor = await acceptWebSockets([http], {
    check: requestCheck({ allowedHosts: [], allowedOrigins: [], authenticate: bearerCheck(options.authToken) }),
    maxPayload: options.maxPayload ?? 1024 * 1024,
    onTransport: async (transport) => {
      transports.push(transport);
      await options.beforeConnect?.();
      // The SDK's Transport names its own message types; ours are the same shape.
      const sdkTransport = transport as unknown as SdkTransport;
      if (options.server === 'v2') await v2Server().connect(sdkTransport as never);
      else await v1Server(errors).connect(sdkTransport);
    },
  });
  let stopped = false;
  const harness: Harness = {
    port,
    url: new URL(`ws://127.0.0.1:${port}/ws`),
    http,
    acceptor,
    transports,
    errors,
    async stop() {
      if (stopped) return;
      stopped = true;
      await acceptor.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  harnesses.push(harness);
  return harness;
}

afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.stop()));
});

const clients: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
});

async function connectV1(url: URL): Promise<{ client: Client; transport: WebSocketClientTransport }> {
  const transport = new WebSocketClientTransport(url);
  const client = new Client({ name: 'ws-client', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

const text = (result: object): string => (result as { content: Array<{ text: string }> }).content[0]!.text;

/** A raw upgrade request: the status, headers and body of a refusal, or 101. */
function upgrade(port: number, path: string, headers: Record<string, string | undefined> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const base: Record<string, string> = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Protocol': 'mcp',
  };
  for (const [k, v] of Object.entries(headers)) {
    const key = Object.keys(base).find((b) => b.toLowerCase() === k.toLowerCase()) ?? k;
    if (v === undefined) delete base[key];
    else base[key] = v;
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: base });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw `ws` client speaking `mcp`: every frame it receives, and how it closed. */
async function rawSocket(url: URL, options: WebSocket.ClientOptions = {}) {
  const socket = new WebSocket(url, 'mcp', options);
  const frames: unknown[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  clients.push({ close: async () => socket.terminate() });
  return { socket, frames, closed };
}

const initialize = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

describe('WebSocket at /ws', () => {
  it('lists and calls tools with the SDK WebSocketClientTransport', async () => {
    const h = await start();
    const { client } = await connectV1(h.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'progress']);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(JSON.parse(text(result))).toEqual({ text: 'hi', sessionId: h.transports[0]!.sessionId });
    expect(h.transports[0]!.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.acceptor.size).toBe(1);
  });

  it('delivers progress notifications during a call', async () => {
    const h = await start();
    const { client } = await connectV1(h.url);
    const progress: Array<{ progress: number; total?: number }> = [];
    const result = await client.callTool({ name: 'progress', arguments: { steps: 4 } }, undefined, { onprogress: (p) => progress.push(p) });
    expect(text(result)).toBe('done 4');
    expect(progress).toEqual([1, 2, 3, 4].map((i) => ({ progress: i, total: 4 })));
  });

  it('gives two clients at once separate sessions', async () => {
    const h = await start();
    const [a, b] = await Promise.all([connectV1(h.url), connectV1(h.url)]);
    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'echo', arguments: { text: 'a' } }),
      b.client.callTool({ name: 'echo', arguments: { text: 'b' } }),
    ]);
    const sa = JSON.parse(text(ra)) as { text: string; sessionId: string };
    const sb = JSON.parse(text(rb)) as { text: string; sessionId: string };
    expect(sa.text).toBe('a');
    expect(sb.text).toBe('b');
    expect(sa.sessionId).not.toBe(sb.sessionId);
    expect(new Set(h.transports.map((t) => t.sessionId))).toEqual(new Set([sa.sessionId, sb.sessionId]));
    expect(h.acceptor.size).toBe(2);

    // One leaving does not disturb the other.
    await a.client.close();
    await waitFor(() => h.acceptor.size === 1, 'the first session to end');
    expect(text(await b.client.callTool({ name: 'echo', arguments: { text: 'still' } }))).toContain('still');
  });

  describe('guards on the upgrade', () => {
    it('refuses a foreign Host with 403 and a JSON-RPC error body', async () => {
      const h = await start();
      const res = await upgrade(h.port, '/ws', { Host: 'evil.example' });
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toBe('application/json');
      expect(JSON.parse(res.body)).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('Host') }, id: null });
      expect(h.acceptor.size).toBe(0);
    });

    it('refuses a foreign Origin with 403 and accepts a loopback one', async () => {
      const h = await start();
      const res = await upgrade(h.port, '/ws', { Origin: 'https://evil.example' });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('Origin') }, id: null });
      expect((await upgrade(h.port, '/ws', { Origin: `http://localhost:${h.port}` })).status).toBe(101);
    });

    it('requires the token when one is configured (401), and serves with it', async () => {
      const h = await start({ authToken: 'secret' });
      for (const authorization of [undefined, 'Bearer wrong', 'Basic secret']) {
        const res = await upgrade(h.port, '/ws', { Authorization: authorization });
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(JSON.parse(res.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: null });
      }
      // The SDK transport cannot set headers (the browser WebSocket API has none): refused.
      await expect(new Client({ name: 'c', version: '1' }).connect(new WebSocketClientTransport(h.url))).rejects.toBeDefined();

      // With a WebSocket that sends the header, the same SDK transport works.
      class AuthorizedWebSocket extends BrowserLikeWebSocket {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols, { headers: { Authorization: 'Bearer secret' } });
        }
      }
      globals.WebSocket = AuthorizedWebSocket;
      try {
        const { client } = await connectV1(h.url);
        expect((await client.listTools()).tools).toHaveLength(2);
      } finally {
        globals.WebSocket = BrowserLikeWebSocket;
      }
    });

    it('refuses an upgrade without the mcp subprotocol (400), and other paths (404)', async () => {
      const h = await start();
      const none = await upgrade(h.port, '/ws', { 'Sec-WebSocket-Protocol': undefined });
      expect(none.status).toBe(400);
      expect(JSON.parse(none.body).error.message).toContain('mcp');
      expect((await upgrade(h.port, '/ws', { 'Sec-WebSocket-Protocol': 'graphql-ws' })).status).toBe(400);
      expect((await upgrade(h.port, '/ws', { 'Sec-WebSocket-Protocol': 'graphql-ws, mcp' })).status).toBe(101);

      // A client that offers no subprotocol never opens.
      const plain = new WebSocket(h.url);
      plain.on('error', () => {}); // terminate() below, while connecting, reports an error
      const failed = await new Promise<number>((resolve) => plain.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
      expect(failed).toBe(400);
      plain.terminate();

      const other = await upgrade(h.port, '/mcp');
      expect(other.status).toBe(404);
      expect(JSON.parse(other.body)).toMatchObject({ error: { code: -32601 }, id: null });
      expect(h.acceptor.size).toBe(0);
    });
  });

  it('answers bad frames with JSON-RPC errors and keeps the socket open', async () => {
    const h = await start();
    const { socket, frames } = await rawSocket(h.url);
    socket.send('not json');
    await waitFor(() => frames.length === 1, 'the parse error');
    expect(frames[0]).toEqual({ jsonrpc: '2.0', error: { code: -32700, message: expect.any(String) }, id: null });
    socket.send(JSON.stringify({ id: 7, hello: 'world' }));
    socket.send(JSON.stringify([initialize(8)]));
    await waitFor(() => frames.length === 3, 'the invalid-request errors');
    expect(frames[1]).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: 7 });
    expect(frames[2]).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    expect(h.errors).toHaveLength(3);

    // The session still works.
    socket.send(JSON.stringify(initialize(1)));
    await waitFor(() => frames.length === 4, 'the initialize result');
    expect(frames[3]).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'ws-test' } } });
  });

  it('keeps frames that arrive before the session is connected', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const h = await start({ beforeConnect: () => gate });
    const { socket, frames } = await rawSocket(h.url);
    await new Promise<void>((resolve, reject) => socket.send(JSON.stringify(initialize(1)), (error) => (error ? reject(error) : resolve())));
    await waitFor(() => h.transports.length === 1, 'the transport');
    expect(frames).toEqual([]);
    release();
    await waitFor(() => frames.length === 1, 'the initialize result');
    expect(frames[0]).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'ws-test' } } });
  });

  it('closes the socket with 1011 when the session cannot start, and goes on serving', async () => {
    let fail = true;
    const h = await start({ beforeConnect: async () => {
      if (fail) throw new Error('no server for you');
    } });
    const { closed } = await rawSocket(h.url);
    expect((await closed).code).toBe(1011);
    fail = false;
    const { client } = await connectV1(h.url);
    expect((await client.listTools()).tools).toHaveLength(2);
  });

  it('closes a socket that sends an oversized frame with 1009, and goes on serving', async () => {
    const h = await start({ maxPayload: 64 * 1024 });
    const { socket, closed } = await rawSocket(h.url);
    socket.send(JSON.stringify({ ...initialize(1), padding: 'x'.repeat(100 * 1024) }));
    expect((await closed).code).toBe(1009);
    await waitFor(() => h.acceptor.size === 0, 'the oversized session to end');
    expect(h.errors.some((e) => /max|length|payload/i.test(e.message))).toBe(true);

    // The SDK client sees its connection close when it sends too much.
    const { client, transport } = await connectV1(h.url);
    const clientClosed = new Promise<void>((resolve) => (transport.onclose = chain(transport.onclose, resolve)));
    await expect(client.callTool({ name: 'echo', arguments: { text: 'y'.repeat(100 * 1024) } })).rejects.toThrow();
    await clientClosed;

    const { client: fresh } = await connectV1(h.url);
    expect(text(await fresh.callTool({ name: 'echo', arguments: { text: 'ok' } }))).toContain('ok');
  });

  it('close() ends every open socket with 1001, and the HTTP server can then close', async () => {
    const h = await start();
    const { transport } = await connectV1(h.url);
    const sdkClosed = new Promise<void>((resolve) => (transport.onclose = chain(transport.onclose, resolve)));
    const raw = await rawSocket(h.url);
    raw.socket.send(JSON.stringify(initialize(1)));
    await waitFor(() => raw.frames.length === 1, 'the raw session to initialize');
    const serverClosed = h.transports.map((t) => new Promise<void>((resolve) => (t.onclose = chain(t.onclose, resolve))));

    await h.acceptor.close();
    await sdkClosed;
    expect((await raw.closed).code).toBe(1001);
    await Promise.all(serverClosed);
    expect(h.acceptor.size).toBe(0);
    await h.stop(); // http.close() resolves only once no upgraded socket holds it open
  });

  it('serves a v2 McpServer to the v1 SDK client', async () => {
    const h = await start({ server: 'v2' });
    const { client } = await connectV1(h.url);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('v2 hi');
  });

  it('serves the v2 SDK Client (which ships no WebSocket transport) through a minimal client transport', async () => {
    const h = await start();
    const client = new ClientV2({ name: 'ws-client-v2', version: '2.0.0' });
    await client.connect(new MinimalWebSocketClientTransport(h.url));
    clients.push(client);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'progress']);
    const progress: number[] = [];
    const result = await client.callTool({ name: 'progress', arguments: { steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
    expect(text(result)).toBe('done 3');
    expect(progress).toEqual([1, 2, 3]);
  });
});

function chain(previous: (() => void) | undefined, next: () => void): () => void {
  return () => {
    previous?.();
    next();
  };
}

/** The v2 client has no WebSocket transport; this is the smallest one (the v1 SDK's, on `ws`). */
class MinimalWebSocketClientTransport {
  onmessage?: (message: SdkMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  #socket: WebSocket | undefined;
  constructor(private readonly url: URL) {}
  start(): Promise<void> {
    const socket = new BrowserLikeWebSocket(this.url, 'mcp');
    this.#socket = socket;
    socket.on('message', (data) => this.onmessage?.(JSON.parse(String(data)) as SdkMessage));
    socket.on('close', () => this.onclose?.());
    socket.on('error', (error) => this.onerror?.(error));
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
  }
  send(message: SdkMessage): Promise<void> {
    return new Promise((resolve, reject) => this.#socket!.send(JSON.stringify(message), (error) => (error ? reject(error) : resolve())));
  }
  async close(): Promise<void> {
    this.#socket?.close();
  }
}
