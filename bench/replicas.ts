/**
 * Replicas on Redis (issue 12): 2025-era Streamable HTTP sessions shared through a real redis-server
 * (test/redis.ts starts it on a free loopback port), the replicas behind a round-robin proxy without
 * affinity. Two measures, one run:
 *
 * - throughput: C clients, each on its own session, calling `tools/call echo` through the proxy as fast
 *   as they can, against 1, 2 and 3 replicas on Redis and 1 replica in memory (no Redis) behind the same
 *   proxy; the four variants run in alternating blocks, so machine noise hits them all alike.
 * - the per-request cost of Redis: sequential calls sent straight to one replica (no proxy), on a
 *   session it holds (with Redis, and in memory), and on one it does not hold yet (restored from Redis:
 *   GET, then the replayed initialize), the variants interleaved call by call.
 *
 * Every server is a child process (dist/index.js's `serve`, MCP_TRANSPORT=http, MCP_HTTP_PORT=0, an
 * McpServer with one `echo` tool); the proxy is one more child (node:http, a keep-alive agent to the
 * replicas); the clients are raw node:http requests with a keep-alive agent each, in this process.
 * Everything is bounded in calls and in time, and stopped (by pid) at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startRedis, type RedisServer } from '../test/redis.js';
import { machine, percentile, progress, table } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const CALL_TIMEOUT_MS = 10_000;
/** The 2025-era version the clients negotiate and then send in MCP-Protocol-Version. */
const PROTOCOL = '2025-11-25';
/** Concurrent clients (one session each) in the throughput scenario. */
export const CLIENTS = 8;
/** The store's default key prefix: a session lives at `${prefix}session:${id}`. */
const KEY_PREFIX = 'mcp:';

export const MEMORY_VARIANT = '1 replica, in memory';
export const HELD_MEMORY_FIRST = 'held, in memory (first call)';
export const HELD_MEMORY = 'held, in memory';
export const HELD_TOUCH = 'held on Redis, TTL touch due (first call)';
export const HELD_REDIS = 'held on Redis';
export const RESTORED = 'restored from Redis';
export const REDIS_GET = 'Redis GET alone';

export interface ReplicaRow {
  scenario: 'throughput' | 'latency';
  variant: string;
  /** Replica processes behind the proxy (throughput), or 1 (latency: one replica called directly). */
  replicas: number;
  redis: boolean;
  /** Calls timed. */
  n: number;
  /** Throughput rows: calls/s over the timed blocks. */
  callsPerSecond?: number;
  /** Per-call latency in µs (throughput rows: under load, C calls in flight). */
  median?: number;
  p99?: number;
  /** The row this one is divided by. */
  baseline?: string;
  /** calls/s ÷ the baseline's (throughput), or median ÷ the baseline's median (latency). */
  ratio?: number;
  /** p99 ÷ the baseline's p99 (latency rows). */
  ratioP99?: number;
  /** Redis commands per timed call (throughput rows: every command redis-server counted during this variant's blocks). */
  redisPerCall?: number;
  /** The same, command by command (`get 0.000, pexpire 0.001`). */
  redisCommands?: string;
  machine: ReturnType<typeof machine>;
}

export interface ReplicasResult {
  rows: ReplicaRow[];
  /** Why the part did not run (no redis-server on PATH, say). */
  skipped?: string;
  /** Redis commands per latency sample (one session opened, restored twice, called, deleted), by command. */
  perSample?: string;
}

/** One script for every child, the mode in argv[2]; each answers its port(s) over IPC once listening. */
const childSource = (dist: string) => `
const mode = process.argv[2];
if (mode === 'replica') {
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
  const { z } = await import('zod');
  const { serve } = await import(${JSON.stringify(dist)});
  const server = new McpServer({ name: 'replicas-bench', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  const manager = await serve({ server });
  process.send({ ports: [manager.port] });
} else if (mode === 'proxy') {
  // Round robin without affinity, one listener per group of replicas (argv[3]: JSON, a list of port lists).
  const http = await import('node:http');
  const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
  const strip = (headers) => Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP.has(k)));
  const agent = new http.Agent({ keepAlive: true });
  const ports = [];
  for (const upstreams of JSON.parse(process.argv[3])) {
    let turn = 0;
    const server = http.createServer((req, res) => {
      const port = upstreams[turn++ % upstreams.length];
      const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: strip(req.headers), agent }, (reply) => {
        res.writeHead(reply.statusCode, strip(reply.headers));
        reply.pipe(res);
      });
      upstream.on('error', (error) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'proxy: ' + error.message }, id: null }));
      });
      req.pipe(upstream);
    });
    server.keepAliveTimeout = 60_000;
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push(server.address().port);
  }
  process.send({ ports });
} else {
  throw new Error('unknown mode ' + mode);
}
`;

/** Start the script in `mode` and resolve with the port(s) it listens on; `stops` gets its SIGKILL (by pid). */
async function startChild(script: string, cwd: string, args: string[], env: NodeJS.ProcessEnv, stops: (() => void)[]): Promise<number[]> {
  const child = spawn(process.execPath, [script, ...args], { cwd, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  stops.push(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  const stderr = tail(child);
  return new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: ${args[0]} did not start in 20 s: ${stderr()}`)), 20_000);
    child.once('message', (m: { ports: number[] }) => (clearTimeout(timer), resolve(m.ports)));
    child.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`bench: ${args[0]} exited ${code ?? signal}: ${stderr()}`))));
  });
}

/** The last bit of a child's stderr, for error messages. */
function tail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => (text = (text + chunk.toString()).slice(-2000)));
  return () => text.trim() || '(no stderr)';
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * An MCP client of one port over one keep-alive socket of its own: raw JSON-RPC over node:http, so that
 * the client's own cost stays small next to the servers'. Answers may come as JSON or as an SSE stream.
 */
class Endpoint {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private id = 0;

  constructor(
    readonly port: number,
    readonly name: string,
  ) {}

  /** A new session (`initialize`); its id. The `initialized` notification is left to the caller (it may go elsewhere). */
  async initialize(): Promise<string> {
    const id = ++this.id;
    const reply = await this.send('POST', {}, { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'replicas-bench', version: '1.0.0' } } });
    const session = reply.headers['mcp-session-id'];
    if (reply.status !== 200 || typeof session !== 'string' || !messagesOf(reply).some((m) => m.id === id && m.result)) throw this.wrong('initialize', reply);
    return session;
  }

  async initialized(session: string): Promise<void> {
    const reply = await this.send('POST', sessionHeaders(session), { jsonrpc: '2.0', method: 'notifications/initialized' });
    if (reply.status !== 202) throw this.wrong('notifications/initialized', reply);
  }

  async echo(session: string): Promise<void> {
    const id = ++this.id;
    const reply = await this.send('POST', sessionHeaders(session), { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'ping' } } });
    const answer = messagesOf(reply).find((m) => m.id === id) as { result?: { content?: { text?: string }[] } } | undefined;
    if (reply.status !== 200 || answer?.result?.content?.[0]?.text !== 'ping') throw this.wrong('tools/call echo', reply);
  }

  async end(session: string): Promise<void> {
    const reply = await this.send('DELETE', sessionHeaders(session));
    if (reply.status >= 300) throw this.wrong('DELETE', reply);
  }

  destroy(): void {
    this.agent.destroy();
  }

  private wrong(what: string, reply: Reply): Error {
    return new Error(`bench: ${this.name}: ${what} answered ${reply.status} ${reply.headers['content-type'] ?? ''} ${reply.text.slice(0, 300)}`);
  }

  private send(method: string, headers: Record<string, string>, message?: unknown): Promise<Reply> {
    const body = message === undefined ? undefined : JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/mcp',
          method,
          agent: this.agent,
          headers: { accept: 'application/json, text/event-stream', ...(body !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }), ...headers },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        },
      );
      req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`bench: ${this.name} did not answer in ${CALL_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

const sessionHeaders = (session: string) => ({ 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL });

/** The JSON-RPC messages of an answer: a JSON body, or the `data:` lines of an SSE stream. */
function messagesOf(reply: Reply): { id?: unknown; result?: unknown }[] {
  if (reply.text.trim() === '') return [];
  if (String(reply.headers['content-type']).startsWith('text/event-stream')) {
    return reply.text
      .split('\n')
      .filter((line) => line.startsWith('data:') && line.slice(5).trim() !== '')
      .map((line) => JSON.parse(line.slice(5)) as { id?: unknown });
  }
  const parsed = JSON.parse(reply.text) as unknown;
  return (Array.isArray(parsed) ? parsed : [parsed]) as { id?: unknown }[];
}

/** A bare RESP client (one command at a time): redis-server's command counts, and a GET timed from here. */
class Resp {
  private buffer = Buffer.alloc(0);
  private pending: { resolve: (v: string | null) => void; reject: (e: Error) => void } | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on('error', (error) => this.pending?.reject(error));
  }

  static connect(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new Resp(socket)));
      socket.once('error', reject);
    });
  }

  command(args: readonly string[]): Promise<string | null> {
    if (this.pending) return Promise.reject(new Error('bench: one RESP command at a time'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`bench: redis did not answer ${args[0]}`)), CALL_TIMEOUT_MS);
      const fail = (error: Error) => ((this.pending = undefined), clearTimeout(timer), reject(error));
      this.pending = { resolve: (v) => ((this.pending = undefined), clearTimeout(timer), resolve(v)), reject: fail };
      this.socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
  }

  /** Calls per command since redis-server started (INFO commandstats), lower-case names. */
  async commandCounts(): Promise<Map<string, number>> {
    const info = (await this.command(['INFO', 'commandstats'])) ?? '';
    const counts = new Map<string, number>();
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(match[1]!, Number(match[2]));
    return counts;
  }

  close(): void {
    this.socket.destroy();
  }

  /** One reply, when whole: a simple string, an error, an integer or a bulk string. */
  private parse(): void {
    const end = this.buffer.indexOf('\r\n');
    if (!this.pending || end < 0) return;
    const type = String.fromCharCode(this.buffer[0]!);
    const line = this.buffer.subarray(1, end).toString();
    if (type === '$') {
      const length = Number(line);
      if (length < 0) return this.take(end + 2, null);
      if (this.buffer.length < end + 2 + length + 2) return;
      return this.take(end + 2 + length + 2, this.buffer.subarray(end + 2, end + 2 + length).toString());
    }
    if (type === '-') {
      const pending = this.pending;
      this.buffer = this.buffer.subarray(end + 2);
      return pending.reject(new Error(`bench: redis: ${line}`));
    }
    this.take(end + 2, line);
  }

  private take(consumed: number, value: string | null): void {
    this.buffer = this.buffer.subarray(consumed);
    this.pending!.resolve(value);
  }
}

/** Commands counted between two INFO commandstats (the INFO calls themselves left out). */
function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0);
    if (d > 0 && name !== 'info') out.set(name, d);
  }
  return out;
}

function addInto(into: Map<string, number>, from: Map<string, number>): void {
  for (const [name, n] of from) into.set(name, (into.get(name) ?? 0) + n);
}

const perUnit = (counts: Map<string, number>, units: number, names: readonly string[]) =>
  names.map((name) => `${name.toUpperCase()} ${((counts.get(name) ?? 0) / units).toFixed(units >= 1000 ? 4 : 2)}`).join(', ');
const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/**
 * Throughput with 1, 2 and 3 replicas on Redis and 1 in memory, behind one round-robin proxy process
 * (a listener per variant); then the per-request cost of the Redis lookup, straight to the replicas.
 */
export async function runReplicas(quick: boolean): Promise<ReplicasResult> {
  const host = machine();
  /** Calls per client in one block of a variant, and the blocks each variant gets at most. */
  const perBlock = quick ? 50 : 100;
  const rounds = quick ? 4 : 10;
  const throughputMs = quick ? 15_000 : 35_000;
  const samples = quick ? 80 : 300;
  const latencyMs = quick ? 8_000 : 20_000;

  let redis: RedisServer;
  try {
    progress('replicas: starting redis-server');
    redis = await startRedis();
  } catch (error) {
    const reason = `no redis-server to run against (${(error as Error).message.split('\n')[0]})`;
    progress(`replicas: skipped: ${reason}`);
    return { rows: [], skipped: reason };
  }

  const dir = mkdtempSync(join(tmpdir(), 'mcp-replicas-bench-'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const script = join(dir, 'child.mjs');
  writeFileSync(script, childSource(pathToFileURL(join(ROOT, 'dist', 'index.js')).href));
  const stops: (() => void)[] = [];
  const endpoints: Endpoint[] = [];
  const endpoint = (port: number, name: string) => {
    const e = new Endpoint(port, name);
    endpoints.push(e);
    return e;
  };
  let resp: Resp | undefined;

  try {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));
    const env = (redisUrl?: string): NodeJS.ProcessEnv => ({
      ...base,
      MCP_TRANSPORT: 'http',
      MCP_HTTP_HOST: '127.0.0.1',
      MCP_HTTP_PORT: '0',
      MCP_LOG_LEVEL: 'warn',
      ...(redisUrl !== undefined && { MCP_REDIS_URL: redisUrl }),
    });
    progress('replicas: starting 3 replicas on Redis, 1 in memory, and the proxy');
    const started = await Promise.all([
      startChild(script, dir, ['replica'], env(), stops),
      ...[0, 1, 2].map(() => startChild(script, dir, ['replica'], env(redis.url), stops)),
    ]);
    const [memory, r0, r1, r2] = started.map((ports) => ports[0]!) as [number, number, number, number];
    // The Redis variants share their replicas: 1 replica is r0, 2 are r0 and r1, 3 are all three.
    const groups = [[memory], [r0], [r0, r1], [r0, r1, r2]];
    const proxyPorts = await startChild(script, dir, ['proxy', JSON.stringify(groups)], process.env, stops);
    resp = await Resp.connect(redis.port);

    // --- Throughput: C clients per variant, each on its own session, through the proxy.
    const variants = groups.map((group, k) => ({
      name: k === 0 ? MEMORY_VARIANT : `${group.length} replica${group.length > 1 ? 's' : ''} on Redis`,
      replicas: group.length,
      redis: k > 0,
      clients: Array.from({ length: CLIENTS }, (_, c) => ({ endpoint: endpoint(proxyPorts[k]!, `proxy ${k}, client ${c}`), session: '' })),
      calls: 0,
      ms: 0,
      latencies: [] as number[],
      commands: new Map<string, number>(),
    }));
    progress(`replicas: opening ${CLIENTS} sessions per variant and warming up`);
    for (const v of variants) {
      for (const c of v.clients) {
        // Through the proxy, as a client would: the initialize and its notification land on different replicas.
        c.session = await c.endpoint.initialize();
        await c.endpoint.initialized(c.session);
      }
    }
    // A warm-up round, untimed (JIT, sockets): a block of each variant, which also has every replica of a group
    // restore every session (a session's calls land on each replica in turn), before the timed rounds.
    for (const v of variants) await Promise.all(v.clients.map(async (c) => { for (let i = 0; i < perBlock; i++) await c.endpoint.echo(c.session); }));

    // Each INFO's counts are the next block's starting point, so that no command falls between two blocks.
    let counts = await resp.commandCounts();
    const deadline = Date.now() + throughputMs;
    for (let round = 0; round < rounds && Date.now() < deadline; round++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(round + j) % variants.length]!;
        const start = performance.now();
        await Promise.all(
          v.clients.map(async (c) => {
            for (let i = 0; i < perBlock; i++) {
              const t = performance.now();
              await c.endpoint.echo(c.session);
              v.latencies.push((performance.now() - t) * 1000);
            }
          }),
        );
        v.ms += performance.now() - start;
        v.calls += CLIENTS * perBlock;
        const now = await resp.commandCounts();
        addInto(v.commands, delta(counts, now));
        counts = now;
      }
      progress(`replicas: throughput, round ${round + 1}/${rounds}: ${variants.map((v) => `${v.name} ${((v.calls / v.ms) * 1000).toFixed(0)}/s`).join(', ')}`);
    }
    const memoryRate = (variants[0]!.calls / variants[0]!.ms) * 1000;
    const throughput = variants.map((v): ReplicaRow => {
      const callsPerSecond = (v.calls / v.ms) * 1000;
      return {
        scenario: 'throughput',
        variant: v.name,
        replicas: v.replicas,
        redis: v.redis,
        n: v.calls,
        callsPerSecond,
        median: percentile(v.latencies, 50),
        p99: percentile(v.latencies, 99),
        baseline: MEMORY_VARIANT,
        ratio: callsPerSecond / memoryRate,
        redisPerCall: total(v.commands) / v.calls,
        redisCommands: v.commands.size === 0 ? 'none' : perUnit(v.commands, v.calls, [...v.commands.keys()].sort()),
        machine: host,
      };
    });
    // The sessions of this scenario stay open (idle) on their replicas: they do not take part in what follows.

    // --- The Redis lookup per request: sequential calls straight to one replica, no proxy.
    const [a, b, c, m] = [endpoint(r0, 'replica 0'), endpoint(r1, 'replica 1'), endpoint(r2, 'replica 2'), endpoint(memory, 'memory replica')];
    const probes = [HELD_MEMORY_FIRST, HELD_MEMORY, HELD_TOUCH, HELD_REDIS, RESTORED, REDIS_GET];
    const timings = new Map(probes.map((p) => [p, [] as number[]]));
    const timed = async (probe: string, call: () => Promise<unknown>) => {
      const t = performance.now();
      await call();
      timings.get(probe)!.push((performance.now() - t) * 1000);
    };
    /**
     * One session on Redis (opened on replica 0) and one in memory, their steps interleaved so that every
     * timed call on replica 0 or on the in-memory replica follows a request to another process, whichever
     * goes first (`redisFirst` alternates): a process just woken answers a little later than a busy one.
     */
    const sample = async (record: boolean, redisFirst: boolean) => {
      const go = record ? timed : (_: string, call: () => Promise<unknown>) => call();
      const pair = async (onRedis: () => Promise<unknown>, inMemory: () => Promise<unknown>) => {
        for (const step of redisFirst ? [onRedis, inMemory] : [inMemory, onRedis]) await step();
      };
      let onA = '';
      let onM = '';
      await pair(async () => (onA = await a.initialize()), async () => (onM = await m.initialize()));
      // Replica 0's session: its notification goes to replica 1, as a round-robin proxy would send it, which
      // restores the session there (untimed). So the first request replica 0 sees after the initialize is the
      // next call, when its TTL touch is due. The in-memory session's notification follows its first call, so
      // that that call too is the first request its transport sees after the initialize.
      await b.initialized(onA);
      await pair(() => go(HELD_TOUCH, () => a.echo(onA)), () => go(HELD_MEMORY_FIRST, () => m.echo(onM)));
      await m.initialized(onM);
      // Replica 2 has never seen it: GET from Redis, the replayed initialize (and a touch), then the call.
      await go(RESTORED, () => c.echo(onA));
      await pair(() => go(HELD_REDIS, () => a.echo(onA)), () => go(HELD_MEMORY, () => m.echo(onM)));
      await go(REDIS_GET, async () => {
        if ((await resp!.command(['GET', `${KEY_PREFIX}session:${onA}`])) === null) throw new Error(`bench: session ${onA} is not in Redis`);
      });
      // DELETE ends replica 0's session on every replica (pub/sub) and in Redis.
      await pair(() => a.end(onA), () => m.end(onM));
    };
    progress('replicas: per-request cost of Redis, warming up');
    for (let i = 0; i < 30; i++) await sample(false, i % 2 === 0);
    const commands = new Map<string, number>();
    const latencyDeadline = Date.now() + latencyMs;
    let done = 0;
    counts = await resp.commandCounts();
    for (; done < samples && Date.now() < latencyDeadline; done++) {
      await sample(true, done % 2 === 0);
      const now = await resp.commandCounts();
      addInto(commands, delta(counts, now));
      counts = now;
      if (done % 50 === 49) progress(`replicas: per-request cost of Redis ${done + 1}/${samples}`);
    }
    const row = (variant: string, redisUsed: boolean, baseline?: string): ReplicaRow => {
      const own = timings.get(variant)!;
      const median = percentile(own, 50);
      const p99 = percentile(own, 99);
      const base = baseline === undefined ? undefined : timings.get(baseline)!;
      return {
        scenario: 'latency',
        variant,
        replicas: 1,
        redis: redisUsed,
        n: own.length,
        median,
        p99,
        ...(base && { baseline, ratio: median / percentile(base, 50), ratioP99: p99 / percentile(base, 99) }),
        machine: host,
      };
    };
    const latency = [
      row(HELD_MEMORY_FIRST, false),
      row(HELD_MEMORY, false),
      row(HELD_TOUCH, true, HELD_MEMORY_FIRST),
      row(HELD_REDIS, true, HELD_MEMORY),
      row(RESTORED, true, HELD_REDIS),
      row(REDIS_GET, true, RESTORED),
    ];
    return { rows: [...throughput, ...latency], perSample: perUnit(commands, done, [...commands.keys()].sort()) };
  } finally {
    progress('replicas: stopping');
    resp?.close();
    for (const e of endpoints) e.destroy();
    for (const stop of stops.reverse()) stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const us = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '—' : n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);
const times = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? '—' : `×${r.toFixed(2)}`);

/** The rows as a Markdown table. */
export function replicasTable(rows: readonly ReplicaRow[]): string {
  return table(
    ['scenario', 'variant', 'replicas', 'n', 'calls/s', 'median', 'p99', '÷ baseline', 'baseline', 'Redis commands per call', 'machine'],
    rows.map((r) => [
      r.scenario === 'throughput' ? `throughput (${CLIENTS} clients, via the proxy)` : 'latency (one call at a time, straight to a replica)',
      r.variant,
      r.replicas,
      r.n,
      r.callsPerSecond === undefined ? '—' : r.callsPerSecond.toFixed(0),
      us(r.median),
      us(r.p99),
      r.ratio === undefined ? '—' : r.scenario === 'throughput' ? `${times(r.ratio)} calls/s` : `${times(r.ratio)} (p99 ${times(r.ratioP99)})`,
      r.baseline ?? '—',
      r.redisPerCall === undefined ? '—' : `${r.redisPerCall.toFixed(4)} (${r.redisCommands})`,
      `${r.machine.cpu} ×${r.machine.cores}, Node ${r.machine.node}`,
    ]),
  );
}
