/**
 * Overhead: the same McpServer (one `echo` tool) wired by hand with the raw SDK, the way the SDK's own
 * examples do it, and through MCPTransportManager, next to the floor (a bare node:http JSON echo and a
 * bare stdio line echo). Every server is its own child process on loopback; the clients are real SDK
 * clients in this process. Variants run interleaved in blocks, so machine noise hits them all alike.
 *
 * runModern: the 2026-07-28 era, stateless Streamable HTTP with plain JSON answers (an echo tools/call),
 * the same factory of SDK v2 McpServers behind MCPTransportManager and behind SDK v2's own
 * createMcpHandler on node:http, next to the node:http floor; each called by two keep-alive clients
 * (node:http with an Agent, and fetch), all interleaved in blocks, in under a minute.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { machine, percentile, progress, table } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
/** Calls per variant between switches: long enough to stay warm, short enough to share noise. */
const BLOCK = 100;

/**
 * Sequential round trips in µs, `calls` per probe at most, until `deadline`: a block of each probe in turn,
 * starting with a different probe each round, so that every variant sees the same drift of the machine.
 */
async function interleaved(probes: readonly { call(): Promise<unknown> }[], calls: number, deadline: number, onRound: (done: number, round: number) => void): Promise<number[][]> {
  const samples = probes.map(() => [] as number[]);
  for (let round = 0; samples.some((s) => s.length < calls) && Date.now() < deadline; round++) {
    for (let j = 0; j < probes.length; j++) {
      const k = (round + j) % probes.length;
      for (let i = 0; i < BLOCK && samples[k]!.length < calls; i++) {
        const start = performance.now();
        await probes[k]!.call();
        samples[k]!.push((performance.now() - start) * 1000);
      }
    }
    onRound(Math.min(...samples.map((s) => s.length)), round);
  }
  return samples;
}
const CALL_TIMEOUT_MS = 10_000;

export type Variant = 'raw SDK' | 'v2 SDK handler' | 'mcp-http-transport' | 'floor';

export interface OverheadRow {
  scenario: 'latency' | 'latency, 2026-07-28' | 'throughput' | 'memory (RSS)' | 'memory (JS heap)';
  transport: 'stdio' | 'legacy SSE' | 'Streamable HTTP' | 'Streamable HTTP, JSON' | 'HTTP POST';
  variant: Variant;
  unit: 'µs' | 'calls/s' | 'bytes/session';
  /** Calls timed, or sessions opened. */
  n: number;
  median?: number;
  p99?: number;
  /** Throughput (calls/s) or memory (bytes/session). */
  value?: number;
  /** mcp-http-transport ÷ the SDK (raw SDK v1, or SDK v2's handler for 2026-07-28), of the median or value (on our rows). */
  ratio?: number;
  /** The same of the p99 (latency rows). */
  ratioP99?: number;
  /** Median ÷ the floor's median on the same medium (stdio, or HTTP for both HTTP transports) in the same scenario. */
  vsFloor?: number;
  /** The same of the p99. */
  vsFloorP99?: number;
  /** The 2026-07-28 rows' client (the other rows: SDK clients over fetch, and fetch for the HTTP POST floor). */
  client?: ModernClient;
  /** Sockets the client opened during the timed calls (node:http agent rows): 0 means every call reused the warm-up's socket. */
  connections?: number;
  machine: ReturnType<typeof machine>;
}

/**
 * One script for every child, the mode in argv[2]. HTTP children answer over IPC: their port once
 * listening, and their RSS (after a full GC when started with --expose-gc) on request.
 */
const childSource = (dist: string) => `
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

const build = () => {
  const server = new McpServer({ name: 'overhead-bench', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
};

const ready = (port) => {
  process.on('message', (m) => {
    if (m !== 'rss') return;
    globalThis.gc?.();
    globalThis.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send({ rss, heap: heapUsed });
  });
  process.send({ port });
};

const mode = process.argv[2];
if (mode === 'raw-stdio') {
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  await build().connect(new StdioServerTransport());
} else if (mode === 'ours-stdio' || mode === 'ours-http') {
  const { MCPTransportManager } = await import(${JSON.stringify(dist)});
  const http = mode === 'ours-http';
  const manager = new MCPTransportManager({ server: build(), transportMode: http ? 'http' : 'stdio', host: '127.0.0.1', port: 0, logLevel: 'warn', env: {}, handleSignals: false });
  await manager.start();
  if (http) ready(manager.port);
} else if (mode === 'raw-http') {
  // As in the SDK's sseAndStreamableHttpCompatibleServer example: one McpServer per session.
  const { randomUUID } = await import('node:crypto');
  const { createMcpExpressApp } = await import('@modelcontextprotocol/sdk/server/express.js');
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const { SSEServerTransport } = await import('@modelcontextprotocol/sdk/server/sse.js');
  const { isInitializeRequest } = await import('@modelcontextprotocol/sdk/types.js');
  const app = createMcpExpressApp();
  const transports = new Map();
  const badRequest = (res) => res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
  app.all('/mcp', async (req, res) => {
    const id = req.headers['mcp-session-id'];
    let transport = id ? transports.get(id) : undefined;
    if (!transport) {
      if (id || req.method !== 'POST' || !isInitializeRequest(req.body)) return badRequest(res);
      transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => transports.set(sid, transport) });
      transport.onclose = () => transports.delete(transport.sessionId);
      await build().connect(transport);
    }
    if (!(transport instanceof StreamableHTTPServerTransport)) return badRequest(res);
    await transport.handleRequest(req, res, req.body);
  });
  app.get('/sse', async (req, res) => {
    const transport = new SSEServerTransport('/messages', res);
    transports.set(transport.sessionId, transport);
    res.on('close', () => transports.delete(transport.sessionId));
    await build().connect(transport);
  });
  app.post('/messages', async (req, res) => {
    const transport = transports.get(req.query.sessionId);
    if (!(transport instanceof SSEServerTransport)) return res.status(400).send('No transport found for sessionId');
    await transport.handlePostMessage(req, res, req.body);
  });
  const listener = app.listen(0, '127.0.0.1', () => ready(listener.address().port));
} else if (mode === 'ours-modern' || mode === 'sdk-modern') {
  // 2026-07-28, stateless: the same factory of SDK v2 McpServers (one per request) behind our manager or SDK v2's own handler.
  const v2 = await import('@modelcontextprotocol/server');
  const factory = () => {
    const server = new v2.McpServer({ name: 'overhead-bench', version: '1.0.0' });
    server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
    return server;
  };
  if (mode === 'ours-modern') {
    const { MCPTransportManager } = await import(${JSON.stringify(dist)});
    const manager = new MCPTransportManager({ server: factory, transportMode: 'http', host: '127.0.0.1', port: 0, logLevel: 'warn', env: {}, handleSignals: false });
    await manager.start();
    ready(manager.port);
  } else {
    // SDK v2's own handler, createMcpHandler(factory), on node:http through @hono/node-server's adapter with its defaults
    // (which make hono's Request/Response the globals), as test/conformance/serve.ts mounts it. No Host/Origin checks.
    const { createServer } = await import('node:http');
    const { getRequestListener } = await import('@hono/node-server');
    const handler = v2.createMcpHandler(factory);
    const server = createServer(getRequestListener((request) => handler.fetch(request)));
    server.listen(0, '127.0.0.1', () => ready(server.address().port));
  }
} else if (mode === 'floor-http') {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()))));
  });
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
} else if (mode === 'floor-stdio') {
  const { createInterface } = await import('node:readline');
  createInterface({ input: process.stdin }).on('line', (line) => process.stdout.write(JSON.stringify(JSON.parse(line)) + '\\n'));
} else {
  throw new Error('unknown mode ' + mode);
}
`;

/** Something to call, timed one call at a time. */
interface Probe {
  transport: OverheadRow['transport'];
  variant: Variant;
  call: () => Promise<void>;
}

interface HttpChild {
  url: string;
  /** RSS and JS heap in use, after a full GC. */
  memory: () => Promise<{ rss: number; heap: number }>;
}

/** Everything started, stopped in reverse order in runOverhead's finally. */
type Stop = () => Promise<void> | void;

/** A scratch directory with the child script, a way to start HTTP children from it, and the stops for all of it. */
function childKit(): { dir: string; script: string; stops: Stop[]; startHttp: (mode: string, gc?: boolean) => Promise<HttpChild>; stopAll: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-overhead-'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const script = join(dir, 'server.mjs');
  writeFileSync(script, childSource(pathToFileURL(join(ROOT, 'dist', 'index.js')).href));
  const stops: Stop[] = [];

  const startHttp = async (mode: string, gc = false): Promise<HttpChild> => {
    const child = spawn(process.execPath, [...(gc ? ['--expose-gc'] : []), script, mode], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    stops.push(() => void child.kill('SIGKILL'));
    const stderr = tail(child);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench: ${mode} did not start: ${stderr()}`)), 15_000);
      child.once('message', (m: { port: number }) => (clearTimeout(timer), resolve(m.port)));
      child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`bench: ${mode} exited ${code}: ${stderr()}`))));
    });
    const memory = () =>
      new Promise<{ rss: number; heap: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bench: ${mode} did not report its memory`)), 10_000);
        child.once('message', (m: { rss: number; heap: number }) => (clearTimeout(timer), resolve(m)));
        child.send('rss');
      });
    return { url: `http://127.0.0.1:${port}`, memory };
  };
  const stopAll = async () => {
    // Clients first (a stdio client's close stops its server), then the servers.
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, script, stops, startHttp, stopAll };
}

export async function runOverhead(quick: boolean): Promise<OverheadRow[]> {
  const calls = quick ? 300 : 2000;
  const perClient = quick ? 100 : 500;
  const sessions = quick ? 100 : 500;
  // Every loop also stops at a deadline, so a stuck variant cannot hang the bench.
  const scenarioMs = quick ? 30_000 : 180_000;
  const host = machine();
  const { dir, script, stops, startHttp, stopAll } = childKit();

  const connect = async (transport: Transport): Promise<Client> => {
    const client = new Client({ name: 'overhead-bench', version: '1.0.0' });
    stops.push(() => client.close());
    await client.connect(transport);
    return client;
  };

  const mcpProbe = (transport: Probe['transport'], variant: Variant, client: Client): Probe => ({
    transport,
    variant,
    call: async () => {
      const result = (await client.callTool({ name: 'echo', arguments: { text: 'ping' } }, undefined, { timeout: CALL_TIMEOUT_MS })) as { content: { text: string }[] };
      if (result.content[0]?.text !== 'ping') throw new Error(`bench: ${variant} ${transport} answered ${JSON.stringify(result)}`);
    },
  });

  const stdioClient = (mode: string) => connect(new StdioClientTransport({ command: process.execPath, args: [script, mode], cwd: dir, stderr: 'ignore' }));

  try {
    progress('overhead: starting servers');
    const [raw, ours, floor] = await Promise.all([startHttp('raw-http'), startHttp('ours-http'), startHttp('floor-http')]);
    const streamable = (child: HttpChild) => connect(new StreamableHTTPClientTransport(new URL(`${child.url}/mcp`)));
    const sse = (child: HttpChild) => connect(new SSEClientTransport(new URL(`${child.url}/sse`)));

    const probes: Probe[] = [
      stdioFloor(script, dir, stops),
      mcpProbe('stdio', 'raw SDK', await stdioClient('raw-stdio')),
      mcpProbe('stdio', 'mcp-http-transport', await stdioClient('ours-stdio')),
      httpFloor(floor.url),
      mcpProbe('legacy SSE', 'raw SDK', await sse(raw)),
      mcpProbe('legacy SSE', 'mcp-http-transport', await sse(ours)),
      mcpProbe('Streamable HTTP', 'raw SDK', await streamable(raw)),
      mcpProbe('Streamable HTTP', 'mcp-http-transport', await streamable(ours)),
    ];

    // Latency: sequential round trips, one block per probe in turn, starting with a different probe each round.
    for (const p of probes) for (let i = 0; i < 50; i++) await p.call(); // warm-up (JIT, connections)
    const samples = await interleaved(probes, calls, Date.now() + scenarioMs, (done) => progress(`overhead: latency ${done}/${calls}`));
    const latency = probes.map((p, k): OverheadRow => ({ scenario: 'latency', transport: p.transport, variant: p.variant, unit: 'µs', n: samples[k]!.length, median: percentile(samples[k]!, 50), p99: percentile(samples[k]!, 99), machine: host }));
    const floorOf = (t: OverheadRow['transport']) => latency.find((r) => r.variant === 'floor' && r.transport === (t === 'stdio' ? 'stdio' : 'HTTP POST'))!.median!;
    const floorP99Of = (t: OverheadRow['transport']) => latency.find((r) => r.variant === 'floor' && r.transport === (t === 'stdio' ? 'stdio' : 'HTTP POST'))!.p99!;
    for (const r of latency) {
      if (r.variant === 'floor') continue;
      r.vsFloor = r.median! / floorOf(r.transport);
      r.vsFloorP99 = r.p99! / floorP99Of(r.transport);
      const sdk = latency.find((a) => a.transport === r.transport && a.variant === 'raw SDK')!;
      if (r.variant === 'mcp-http-transport') (r.ratio = r.median! / sdk.median!), (r.ratioP99 = r.p99! / sdk.p99!);
    }

    // Throughput: 8 clients with a session each, calling back to back; the variants take turns per block.
    const fleets = [
      { variant: 'raw SDK' as const, clients: await Promise.all(Array.from({ length: 8 }, () => streamable(raw))), calls: 0, ms: 0 },
      { variant: 'mcp-http-transport' as const, clients: await Promise.all(Array.from({ length: 8 }, () => streamable(ours))), calls: 0, ms: 0 },
    ];
    const perBlock = Math.min(50, perClient);
    const tDeadline = Date.now() + scenarioMs;
    for (let round = 0; fleets.some((f) => f.calls < 8 * perClient) && Date.now() < tDeadline; round++) {
      for (const fleet of round % 2 === 0 ? fleets : [...fleets].reverse()) {
        const probes = fleet.clients.map((c) => mcpProbe('Streamable HTTP', fleet.variant, c));
        const start = performance.now();
        await Promise.all(probes.map(async (p) => { for (let i = 0; i < perBlock; i++) await p.call(); }));
        fleet.ms += performance.now() - start;
        fleet.calls += 8 * perBlock;
      }
      progress(`overhead: throughput ${Math.min(...fleets.map((f) => f.calls))}/${8 * perClient}`);
    }
    const throughput = fleets.map((f): OverheadRow => ({ scenario: 'throughput', transport: 'Streamable HTTP', variant: f.variant, unit: 'calls/s', n: f.calls, value: (f.calls / f.ms) * 1000, machine: host }));
    throughput[1]!.ratio = throughput[1]!.value! / throughput[0]!.value!;

    // Memory: fresh servers; RSS growth over `sessions` idle sessions (initialized, GET stream open), after a warm-up session.
    const memory: OverheadRow[] = [];
    const mem = [
      { variant: 'raw SDK' as const, child: await startHttp('raw-http', true), opened: 0, before: { rss: 0, heap: 0 } },
      { variant: 'mcp-http-transport' as const, child: await startHttp('ours-http', true), opened: 0, before: { rss: 0, heap: 0 } },
    ];
    for (const m of mem) {
      await streamable(m.child);
      m.before = await m.child.memory();
    }
    const mDeadline = Date.now() + scenarioMs;
    while (mem.some((m) => m.opened < sessions) && Date.now() < mDeadline) {
      for (const m of mem) {
        for (let i = 0; i < 50 && m.opened < sessions; i++, m.opened++) await streamable(m.child);
      }
      progress(`overhead: memory ${Math.min(...mem.map((m) => m.opened))}/${sessions} sessions`);
    }
    // RSS is what the issue asks for; the JS heap shows what sharing one server saves (RSS is dominated
    // by sockets and buffers outside the heap, and does not shrink after GC).
    const after = await Promise.all(mem.map((m) => m.child.memory()));
    for (const measure of ['rss', 'heap'] as const) {
      const rows = mem.map((m, k): OverheadRow => ({
        scenario: measure === 'rss' ? 'memory (RSS)' : 'memory (JS heap)',
        transport: 'Streamable HTTP',
        variant: m.variant,
        unit: 'bytes/session',
        n: m.opened,
        value: (after[k]![measure] - m.before[measure]) / m.opened,
        machine: host,
      }));
      rows[1]!.ratio = rows[1]!.value! / rows[0]!.value!;
      memory.push(...rows);
    }

    return [...latency, ...throughput, ...memory];
  } finally {
    progress('overhead: stopping');
    await stopAll();
  }
}

/** The 2026-07-28 request's `_meta` envelope: what a stateless request carries instead of a session. */
const MODERN_VERSION = '2026-07-28';
const modernBody = (id: number) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: {
      name: 'echo',
      arguments: { text: 'ping' },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
        'io.modelcontextprotocol/clientCapabilities': {},
        'io.modelcontextprotocol/clientInfo': { name: 'overhead-bench', version: '1.0.0' },
      },
    },
  });
/** The headers SDK v2's handler demands of a 2026-07-28 tools/call (it answers -32020 when they disagree with the body). */
const MODERN_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': MODERN_VERSION,
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};

/** The clients of the 2026-07-28 rows: node:http with a keep-alive Agent, and fetch (undici's keep-alive global agent, as the SDK clients and the HTTP POST floor above use). */
export type ModernClient = 'node:http agent' | 'fetch';

/**
 * The 2026-07-28 rows: stateless Streamable HTTP, plain JSON answers (an echo tools/call, no related
 * messages, so `auto` answers with application/json). Ours and SDK v2's own handler serve the same
 * factory; the floor is the node:http JSON echo, sent the same request. Each variant is called by two
 * keep-alive clients, node:http with an Agent of its own (one socket) and fetch; all six probes are
 * interleaved in blocks. Ratios are within one client. Bounded at `calls` per probe and a deadline.
 */
export async function runModern(quick: boolean): Promise<OverheadRow[]> {
  const calls = quick ? 600 : 2500;
  const deadlineMs = quick ? 15_000 : 45_000;
  const host = machine();
  const { stops, startHttp, stopAll } = childKit();
  try {
    progress('overhead 2026-07-28: starting servers');
    const [floor, sdk, ours] = await Promise.all([startHttp('floor-http'), startHttp('sdk-modern'), startHttp('ours-modern')]);
    const targets = [
      { url: floor.url, variant: 'floor' as const },
      { url: sdk.url, variant: 'v2 SDK handler' as const },
      { url: ours.url, variant: 'mcp-http-transport' as const },
    ];
    const probes = [...targets.map((t) => agentProbe(t.url, t.variant, stops)), ...targets.map((t) => fetchProbe(t.url, t.variant))];
    for (const p of probes) for (let i = 0; i < 200; i++) await p.call(); // warm-up (JIT, the sockets)
    for (const p of probes) p.connections = 0;
    const samples = await interleaved(probes, calls, Date.now() + deadlineMs, (done, round) => {
      if (round % 5 === 4) progress(`overhead 2026-07-28: latency ${done}/${calls}`);
    });
    const rows = probes.map((p, k): OverheadRow => ({
      scenario: 'latency, 2026-07-28',
      transport: p.variant === 'floor' ? 'HTTP POST' : 'Streamable HTTP, JSON',
      client: p.client,
      variant: p.variant,
      unit: 'µs',
      n: samples[k]!.length,
      median: percentile(samples[k]!, 50),
      p99: percentile(samples[k]!, 99),
      ...(p.client === 'node:http agent' && { connections: p.connections }),
      machine: host,
    }));
    for (const client of ['node:http agent', 'fetch'] as const) {
      const of = (variant: Variant) => rows.find((r) => r.client === client && r.variant === variant)!;
      const [floorRow, sdkRow, oursRow] = [of('floor'), of('v2 SDK handler'), of('mcp-http-transport')];
      for (const r of [sdkRow, oursRow]) (r.vsFloor = r.median! / floorRow.median!), (r.vsFloorP99 = r.p99! / floorRow.p99!);
      oursRow.ratio = oursRow.median! / sdkRow.median!;
      oursRow.ratioP99 = oursRow.p99! / sdkRow.p99!;
    }
    return rows;
  } finally {
    progress('overhead 2026-07-28: stopping');
    await stopAll();
  }
}

/** A 2026-07-28 probe: one client, one variant; `connections` counts sockets opened (node:http agent only). */
interface ModernProbe {
  variant: Variant;
  client: ModernClient;
  connections: number;
  call: () => Promise<void>;
}

/** An MCP variant must answer 200 application/json with the echo result for this id; the floor echoes the request. */
function checkModern(variant: Variant, client: ModernClient, id: number, status: number | undefined, type: string | null | undefined, text: string): void {
  const answer = JSON.parse(text) as { id?: unknown; result?: { content?: { text?: string }[] }; params?: { arguments?: { text?: string } } };
  const ok =
    status === 200 &&
    answer.id === id &&
    (variant === 'floor' ? answer.params?.arguments?.text === 'ping' : type?.startsWith('application/json') === true && answer.result?.content?.[0]?.text === 'ping');
  if (!ok) throw new Error(`bench: ${variant} (2026-07-28, ${client}) answered ${status} ${type} ${text.slice(0, 300)}`);
}

/** A 2026-07-28 echo call with node:http over a keep-alive Agent of its own (one socket, reused). */
function agentProbe(base: string, variant: Variant, stops: Stop[]): ModernProbe {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  stops.push(() => agent.destroy());
  const url = new URL('/mcp', base);
  let id = 0;
  const probe: ModernProbe = {
    variant,
    client: 'node:http agent',
    connections: 0,
    call: () =>
      new Promise<void>((resolve, reject) => {
        const expected = ++id;
        const body = modernBody(expected);
        const req = httpRequest(url, { method: 'POST', agent, headers: { ...MODERN_HEADERS, 'content-length': Buffer.byteLength(body) } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', reject);
          res.on('end', () => {
            try {
              checkModern(variant, probe.client, expected, res.statusCode, res.headers['content-type'], text);
              resolve();
            } catch (error) {
              reject(error as Error);
            }
          });
        });
        if (!req.reusedSocket) probe.connections++;
        req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`bench: ${variant} (2026-07-28) did not answer in ${CALL_TIMEOUT_MS} ms`)));
        req.on('error', reject);
        req.end(body);
      }),
  };
  return probe;
}

/** The same call with fetch. */
function fetchProbe(base: string, variant: Variant): ModernProbe {
  const url = new URL('/mcp', base);
  let id = 0;
  return {
    variant,
    client: 'fetch',
    connections: 0,
    call: async () => {
      const expected = ++id;
      const res = await fetch(url, { method: 'POST', headers: MODERN_HEADERS, body: modernBody(expected), signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
      checkModern(variant, 'fetch', expected, res.status, res.headers.get('content-type'), await res.text());
    },
  };
}

/** The last bit of a child's stderr, for error messages. */
function tail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => (text = (text + chunk.toString()).slice(-2000)));
  return () => text.trim() || '(no stderr)';
}

/** A bare node:http JSON echo, called with fetch: the HTTP client stack the SDK clients use too. */
function httpFloor(url: string): Probe {
  return {
    transport: 'HTTP POST',
    variant: 'floor',
    call: async () => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'ping' }), signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
      if (((await res.json()) as { text?: string }).text !== 'ping') throw new Error('bench: the HTTP floor answered wrong');
    },
  };
}

/** A child that echoes JSON lines: one line out, one line back, JSON on both sides like MCP's stdio framing. */
function stdioFloor(script: string, cwd: string, stops: Stop[]): Probe {
  const child = spawn(process.execPath, [script, 'floor-stdio'], { cwd, stdio: ['pipe', 'pipe', 'ignore'] });
  stops.push(() => void child.kill('SIGKILL'));
  let pending: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => pending?.resolve(line));
  child.once('exit', (code) => pending?.reject(new Error(`bench: the stdio floor exited ${code}`)));
  return {
    transport: 'stdio',
    variant: 'floor',
    call: async () => {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('bench: the stdio floor did not answer')), CALL_TIMEOUT_MS);
        pending = { resolve: (l) => (clearTimeout(timer), resolve(l)), reject: (e) => (clearTimeout(timer), reject(e)) };
        child.stdin!.write(`${JSON.stringify({ text: 'ping' })}\n`);
      });
      if (JSON.parse(line).text !== 'ping') throw new Error('bench: the stdio floor answered wrong');
    },
  };
}

const times = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? '—' : `×${r.toFixed(2)}`);
/** A median ratio, with its p99 ratio beside it when there is one. */
const timesP99 = (r: number | undefined, p99: number | undefined) => (p99 === undefined ? times(r) : `${times(r)} (p99 ${times(p99)})`);
const us = (n: number | undefined) => (n === undefined ? '—' : n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);

function value(r: OverheadRow): string {
  if (r.value === undefined) return '—';
  return r.unit === 'calls/s' ? `${r.value.toFixed(0)} calls/s` : `${(r.value / 1024).toFixed(1)} KiB/session`;
}

/** The rows as a Markdown table. */
export function overheadTable(rows: OverheadRow[]): string {
  return table(
    ['scenario', 'transport', 'variant', 'n', 'median', 'p99', 'value', 'ours ÷ SDK', '÷ floor', 'machine'],
    rows.map((r) => [r.client ? `${r.scenario} (${r.client})` : r.scenario, r.transport, r.variant, r.n, us(r.median), us(r.p99), value(r), timesP99(r.ratio, r.ratioP99), timesP99(r.vsFloor, r.vsFloorP99), `${r.machine.cpu} ×${r.machine.cores}, Node ${r.machine.node}`]),
  );
}
