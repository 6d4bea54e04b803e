import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PassThrough } from 'node:stream';
import { EventSource } from 'eventsource';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, CreateMessageRequestSchema, CreateMessageResultSchema, ElicitResultSchema, ListRootsResultSchema, ListToolsRequestSchema, type CallToolResult, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { createBridge, type Bridge } from '../src/bridge/bridge.js';
import { MCPTransportManager, type Logger, type MCPTransportManagerOptions } from '../src/index.js';

export const ROOT = join(__dirname, '..');
export const FIXTURE = join(ROOT, 'test', 'fixtures', 'server.ts');
/**
 * `node` plus these args runs a TypeScript file in one process. (The `tsx` CLI would put a second
 * process in between, which does not relay SIGUSR2.)
 */
export const NODE_TS_ARGS = ['--import', pathToFileURL(require.resolve('tsx')).href];

/** An empty directory, so no stray `.env` is read. */
export function emptyDir(): string {
  return mkdtempSync(join(tmpdir(), 'mcp-http-transport-'));
}

/** Poll `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A low-level Server with the tools the tests need. `echo` also reports the session id its
 * handler saw; `progress` sends `steps` progress notifications; `fail` throws; `slow` waits until
 * cancelled and records that it was.
 */
export function lowLevelServer(state: { cancelled: number } = { cancelled: 0 }): Server {
  const server = new Server({ name: 'low-level', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: ['echo', 'progress', 'fail', 'slow', 'sample', 'roots', 'elicit'].map((name) => ({ name, inputSchema: { type: 'object' as const } })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const args = (request.params.arguments ?? {}) as Record<string, unknown>;
    switch (request.params.name) {
      case 'echo':
        return { content: [{ type: 'text', text: JSON.stringify({ text: args['text'], sessionId: extra.sessionId ?? null }) }] };
      case 'progress': {
        const token = request.params._meta?.progressToken;
        const steps = Number(args['steps'] ?? 3);
        for (let i = 1; i <= steps; i++) {
          if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
          // Stands for real work between steps. (Tests count progress on the wire: the SDK client may drop
          // progress read in the same chunk as the response, typescript-sdk issue #2580.)
          await new Promise((resolve) => setImmediate(resolve));
        }
        return { content: [{ type: 'text', text: `done ${steps}` }] };
      }
      case 'sample': {
        // A server-to-client request made inside a tool call: it must reach the caller's client.
        const sampled = await extra.sendRequest(
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: 'who are you?' } }], maxTokens: 5 } },
          CreateMessageResultSchema,
        );
        return { content: [{ type: 'text', text: sampled.content.type === 'text' ? sampled.content.text : '?' }] };
      }
      case 'roots': {
        const { roots } = await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);
        return { content: [{ type: 'text', text: roots.map((r) => r.uri).join(',') }] };
      }
      case 'elicit': {
        const answer = await extra.sendRequest(
          { method: 'elicitation/create', params: { message: 'Your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } } },
          ElicitResultSchema,
        );
        return { content: [{ type: 'text', text: `${answer.action}:${String(answer.content?.['name'])}` }] };
      }
      case 'fail':
        throw new Error('the tool failed on purpose');
      case 'slow':
        await new Promise<void>((resolve) => extra.signal.addEventListener('abort', () => resolve(), { once: true }));
        state.cancelled++;
        return { content: [{ type: 'text', text: 'cancelled' }] };
      default:
        throw new Error(`unknown tool ${request.params.name}`);
    }
  });
  return server;
}

/** An McpServer with an `echo` tool. */
export function highLevelServer(): McpServer {
  const server = new McpServer({ name: 'high-level', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }, extra) => ({
    content: [{ type: 'text', text: JSON.stringify({ text, sessionId: extra.sessionId ?? null }) }],
  }));
  return server;
}

/** Start a manager in HTTP mode on an ephemeral 127.0.0.1 port, with an empty env. */
export async function startHttp(options: Partial<MCPTransportManagerOptions> & Pick<MCPTransportManagerOptions, 'server'>) {
  const manager = new MCPTransportManager({
    transportMode: 'http',
    host: '127.0.0.1',
    port: 0,
    handleSignals: false,
    env: {},
    cwd: emptyDir(),
    logLevel: 'error',
    ...options,
  });
  await manager.start();
  return { manager, url: manager.url! };
}

export type Kind = 'streamable' | 'sse';

/** Connect a real SDK Client over Streamable HTTP (`/mcp`) or legacy SSE (`/sse`). */
export async function connectClient(base: string, kind: Kind, name = `client-${kind}`, init: RequestInit = {}): Promise<Client> {
  // Every test client can answer sampling requests, with its own name.
  const client = new Client({ name, version: '1.2.3' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: `I am ${name}` } }));
  const transport =
    kind === 'streamable'
      ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: init })
      : new SSEClientTransport(new URL(`${base}/sse`), { requestInit: init, eventSourceInit: { fetch: (u, i) => fetch(u, { ...i, headers: { ...(i?.headers as object), ...(init.headers as object) } }) } });
  await client.connect(transport);
  return client;
}

/** The text of a tool result's first content item. */
export function textOf(result: unknown): string {
  const content = (result as CallToolResult).content[0];
  if (content?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result)}`);
  return content.text;
}

/** Resolve with the exit code (or signal) once the child has exited. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Spawn the fixture server with tsx; `env` is laid over a clean copy of process.env without MCP_*. */
export function spawnFixture(env: Record<string, string>, cwd = emptyDir()): ChildProcess & { stderrText: () => string; stdoutText: () => string } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));
  const child = spawn(process.execPath, [...NODE_TS_ARGS, FIXTURE], { cwd, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return Object.assign(child, { stderrText: () => err, stdoutText: () => out });
}

/** Kill a child (and wait) if it is still running: for teardown. */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await exited(child);
}

/** Open `GET /sse` with plain fetch and read the session id from the `endpoint` event. */
export async function openRawSse(base: string, headers: Record<string, string> = {}): Promise<{ sessionId: string; endpoint: string; close: () => void }> {
  const controller = new AbortController();
  const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (res.status !== 200) throw new Error(`GET /sse answered ${res.status}`);
  const reader = res.body!.getReader();
  let text = '';
  while (!/event: endpoint\ndata: (.*)\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error('SSE stream ended before the endpoint event');
    text += Buffer.from(value).toString();
  }
  const endpoint = /event: endpoint\ndata: (.*)\n/.exec(text)![1]!;
  const sessionId = new URL(endpoint, base).searchParams.get('sessionId')!;
  return { sessionId, endpoint, close: () => controller.abort() };
}

/** Record every message a connected client's transport delivers (wrapping the SDK's handler). */
export function recordIncoming(client: Client): JSONRPCMessage[] {
  const seen: JSONRPCMessage[] = [];
  const transport = client.transport!;
  const deliver = transport.onmessage!;
  transport.onmessage = (message, extra) => {
    seen.push(message);
    deliver.call(transport, message, extra);
  };
  return seen;
}

/** Settle with `promise`'s value, or with `'timed out'` after `ms`; the timer never outlives the call. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timed out'>((resolve) => (timer = setTimeout(resolve, ms, 'timed out')));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A legacy SSE client built on a standard EventSource (the `eventsource` package), which, unlike the
 * SDK's SSEClientTransport, sends `Last-Event-ID` when it reconnects.
 */
export class RawSseClient {
  readonly notifications: string[] = [];
  private readonly source: EventSource;
  private endpoint: string | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (message: { result?: unknown; error?: { message: string } }) => void>();

  private constructor(readonly base: string) {
    this.source = new EventSource(`${base}/sse`);
    this.source.addEventListener('endpoint', (event) => (this.endpoint = new URL(event.data, base).href));
    this.source.onmessage = (event) => {
      const message = JSON.parse(event.data) as { id?: number; method?: string; result?: unknown; error?: { message: string } };
      if (message.method) this.notifications.push(message.method);
      else if (typeof message.id === 'number') this.waiting.get(message.id)?.(message);
    };
    this.source.onerror = () => {}; // reconnects on its own
  }

  /** Open the stream and initialize as `name`. */
  static async connect(base: string, name: string): Promise<RawSseClient> {
    const client = new RawSseClient(base);
    await waitFor(() => client.endpoint, 'the endpoint event');
    await client.request('initialize', { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name, version: '9.9.9' } });
    await client.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return client;
  }

  /** The session id from the endpoint the server gave. */
  get sessionId(): string {
    return new URL(this.endpoint!).searchParams.get('sessionId')!;
  }

  async request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    const answered = new Promise<{ result?: unknown; error?: { message: string } }>((resolve) => this.waiting.set(id, resolve));
    await this.post({ jsonrpc: '2.0', id, method, params });
    const message = await answered;
    this.waiting.delete(id);
    if (message.error) throw new Error(message.error.message);
    return message.result;
  }

  async post(body: object): Promise<void> {
    const res = await fetch(this.endpoint!, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify(body) });
    if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  }

  close(): void {
    this.source.close();
  }
}

/** A free loopback port (for servers that must come back on the same one). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A raw `initialize` request body, and the headers a Streamable HTTP POST needs. */
export const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
export const STREAM_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** createBridge used as a library: JSON lines in, JSON lines out, its logs kept. */
export function bridgeLibrary(url: string, options: Partial<Parameters<typeof createBridge>[0]> = {}) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const received: { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string }; method?: string }[] = [];
  let buffer = '';
  stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      received.push(JSON.parse(buffer.slice(0, i)));
      buffer = buffer.slice(i + 1);
    }
  });
  const logs: string[] = [];
  const log = { level: 'debug' as const, error: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), info: (m: string) => logs.push(m), debug: (m: string) => logs.push(m) };
  const bridge: Bridge = createBridge({ url, stdin, stdout, log, ...options });
  const send = (message: object) => stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
  const answer = (id: number) => waitFor(() => received.find((m) => m.id === id), `the answer to ${id}`);
  const end = async () => {
    stdin.end();
    await bridge.closed;
  };
  return { bridge, stdin, send, answer, received, logs, end };
}

/** A logger that keeps its lines, as `level: message`. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { level: 'debug', lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** How long `call` takes to settle, and how: the error it rejects with, if any. */
export async function timed(call: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await call();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}
