/**
 * Overhead: the same McpServer (one `echo` tool) wired by hand with the raw SDK, the way the SDK's own
 * examples do it, and through MCPTransportManager, next to the floor (a bare node:http JSON echo and a
 * bare stdio line echo). Every server is its own child process on loopback; the clients are real SDK
 * clients in this process. Variants run interleaved in blocks, so machine noise hits them all alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
const CALL_TIMEOUT_MS = 10_000;

export type Variant = 'raw SDK' | 'mcp-http-transport' | 'floor';

export interface OverheadRow {
  scenario: 'latency' | 'throughput' | 'memory (RSS)' | 'memory (JS heap)';
  transport: 'stdio' | 'legacy SSE' | 'Streamable HTTP' | 'HTTP POST';
  variant: Variant;
  unit: 'µs' | 'calls/s' | 'bytes/session';
  /** Calls timed, or sessions opened. */
  n: number;
  median?: number;
  p99?: number;
  /** Throughput (calls/s) or memory (bytes/session). */
  value?: number;
  /** mcp-http-transport ÷ raw SDK, of the median or value (on our rows). */
  ratio?: number;
  /** Median ÷ the floor's median on the same medium (stdio, or HTTP for both HTTP transports). */
  vsFloor?: number;
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

export async function runOverhead(quick: boolean): Promise<OverheadRow[]> {
  const calls = quick ? 300 : 2000;
  const perClient = quick ? 100 : 500;
  const sessions = quick ? 100 : 500;
  // Every loop also stops at a deadline, so a stuck variant cannot hang the bench.
  const scenarioMs = quick ? 30_000 : 180_000;
  const host = machine();

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
    const samples = probes.map(() => [] as number[]);
    const deadline = Date.now() + scenarioMs;
    for (let round = 0; samples.some((s) => s.length < calls) && Date.now() < deadline; round++) {
      for (let j = 0; j < probes.length; j++) {
        const k = (round + j) % probes.length;
        for (let i = 0; i < BLOCK && samples[k]!.length < calls; i++) {
          const start = performance.now();
          await probes[k]!.call();
          samples[k]!.push((performance.now() - start) * 1000);
        }
      }
      progress(`overhead: latency ${Math.min(...samples.map((s) => s.length))}/${calls}`);
    }
    const latency = probes.map((p, k): OverheadRow => ({ scenario: 'latency', transport: p.transport, variant: p.variant, unit: 'µs', n: samples[k]!.length, median: percentile(samples[k]!, 50), p99: percentile(samples[k]!, 99), machine: host }));
    const floorOf = (t: OverheadRow['transport']) => latency.find((r) => r.variant === 'floor' && r.transport === (t === 'stdio' ? 'stdio' : 'HTTP POST'))!.median!;
    for (const r of latency) {
      if (r.variant === 'floor') continue;
      r.vsFloor = r.median! / floorOf(r.transport);
      if (r.variant === 'mcp-http-transport') r.ratio = r.median! / latency.find((a) => a.transport === r.transport && a.variant === 'raw SDK')!.median!;
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
    // Clients first (a stdio client's close stops its server), then the HTTP servers.
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
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
const us = (n: number | undefined) => (n === undefined ? '—' : n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);

function value(r: OverheadRow): string {
  if (r.value === undefined) return '—';
  return r.unit === 'calls/s' ? `${r.value.toFixed(0)} calls/s` : `${(r.value / 1024).toFixed(1)} KiB/session`;
}

/** The rows as a Markdown table. */
export function overheadTable(rows: OverheadRow[]): string {
  return table(
    ['scenario', 'transport', 'variant', 'n', 'median', 'p99', 'value', 'ours ÷ raw SDK', '÷ floor', 'machine'],
    rows.map((r) => [r.scenario, r.transport, r.variant, r.n, us(r.median), us(r.p99), value(r), times(r.ratio), times(r.vsFloor), `${r.machine.cpu} ×${r.machine.cores}, Node ${r.machine.node}`]),
  );
}
