import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NODE_TS_ARGS, ROOT, emptyDir, exited } from './helpers.js';

/**
 * Several replicas of one MCP server on one Redis, behind a round-robin proxy without affinity
 * (issue 12). The proxy is what a plain load balancer does: each request goes to the next replica
 * in rotation, whatever session it belongs to.
 */

export interface ReplicasOptions {
  /** How many server processes. @default 3 */
  count?: number;
  /** `MCP_REDIS_URL` for every replica. */
  redisUrl: string;
  /** More env for every replica (laid over the MCP_* settings the harness sets). */
  env?: Record<string, string>;
  /**
   * The server file each replica runs (with tsx); it must print `FIXTURE_PORT=<port>` on stderr once
   * listening. Default: {@link replicaFixture}'s per-session server.
   */
  entry?: string;
  /** How long a replica may take to listen. @default 20000 */
  startTimeoutMs?: number;
}

/** One request as the proxy saw it. */
export interface ProxyRecord {
  /** The replica that answered (or failed) it; undefined when no replica could take it. */
  replica: number | undefined;
  /** The replica's pid at the time. */
  pid: number | undefined;
  method: string;
  /** The `Mcp-Session-Id` header, if any. */
  session: string | undefined;
  /** The JSON-RPC method(s), tool and id(s) of the body, once it was read (`tools/call:echo#7`, `notifications/initialized`). */
  rpc: string | undefined;
  /** Whether the body holds a JSON-RPC request (something that gets an answer). */
  isRequest: boolean;
  started: number;
  /** The status sent to the client (the replica's, or the proxy's own 502/503). */
  status?: number;
  /** Set once the response has ended or failed. */
  ended?: number;
  /** Why it failed: the replica's connection broke (`reset` before any answer, `cut` mid-response), or no replica took it. */
  failure?: 'reset' | 'cut' | 'no replica';
  /** Replicas skipped for this request: refused the connection, or answered 503 draining. */
  skipped: { replica: number; why: 'refused' | 'draining' }[];
}

export interface ReplicaInfo {
  index: number;
  pid: number | undefined;
  port: number | undefined;
  /** In the proxy's rotation (listening, not seen draining, not exited). */
  inRotation: boolean;
  /** Everything the current (or last) process wrote on stderr. */
  stderr: string;
}

export interface Replicas {
  /** The proxy's base URL (`http://127.0.0.1:<port>`): clients connect to `${url}/mcp`. */
  readonly url: string;
  readonly replicas: ReplicaInfo[];
  /** Every request the proxy has handled, in arrival order. */
  readonly log: ProxyRecord[];
  /** Requests whose response has not ended, on replica `i` (or on all). */
  inflight(i?: number): ProxyRecord[];
  /** How many requests each replica answered, counting from record `since` of the log. */
  routed(since?: number): number[];
  /** Signal replica `i` and wait until it exits (a SIGTERM that does not end it in 15 s is followed by SIGKILL). */
  kill(i: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Start replica `i` again (it must have exited) and put it back in rotation once it listens. */
  restart(i: number): Promise<ReplicaInfo>;
  /** Close the proxy, kill every replica, remove the fixture directory. */
  stop(): Promise<void>;
}

/**
 * A throwaway project holding the replicas' server: one McpServer per session (a factory), so that
 * `whoami` reports the client of the session that asked. (test/fixtures/server.ts shares one
 * instance, whose `getClientVersion()` is the last client that initialized on that process.)
 * Tools: `echo {text}`, `whoami`, `sleep {ms}` (answers `ms` after that long), `pid`, `announce`
 * (the manager's `notify.toolsChanged()`: every session on every replica hears `list_changed`), `caller`
 * (the pid, session id and `extra.authInfo` its handler saw, as JSON).
 */
export function replicaFixture(): { dir: string; entry: string } {
  const dir = emptyDir();
  mkdirSync(join(dir, 'src'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'replica-fixture', type: 'module', private: true }));
  const entry = join(dir, 'src', 'server.ts');
  writeFileSync(
    entry,
    `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { serve } from '${pathToFileURL(join(ROOT, 'src', 'index.ts')).href}';

const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
function build(): McpServer {
  const server = new McpServer({ name: 'replica-fixture', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  server.registerTool('whoami', {}, async () => text(JSON.stringify(server.server.getClientVersion() ?? null)));
  server.registerTool('sleep', { inputSchema: { ms: z.number() } }, async ({ ms }) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return text(String(ms));
  });
  server.registerTool('pid', {}, async () => text(String(process.pid)));
  server.registerTool('caller', {}, async (extra) => text(JSON.stringify({ pid: process.pid, sessionId: extra.sessionId ?? null, authInfo: extra.authInfo ?? null })));
  server.registerTool('announce', {}, async () => {
    manager.notify.toolsChanged();
    return text('announced');
  });
  return server;
}
const manager = await serve({ server: build });
if (manager.port !== undefined) process.stderr.write(\`FIXTURE_PORT=\${manager.port}\\n\`);
`,
  );
  return { dir, entry };
}

/** Headers that belong to one connection, not to the request or response they travel with. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(raw: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

function rpcOf(body: Buffer): { rpc: string | undefined; isRequest: boolean } {
  try {
    const parsed = JSON.parse(body.toString()) as unknown;
    const messages = (Array.isArray(parsed) ? parsed : [parsed]) as { method?: string; id?: unknown; params?: { name?: unknown } }[];
    const name = (m: (typeof messages)[number]) => (m.method === 'tools/call' && typeof m.params?.name === 'string' ? `:${m.params.name}` : '');
    return {
      rpc: messages.map((m) => `${m.method ?? 'response'}${name(m)}${m.id !== undefined ? `#${String(m.id)}` : ''}`).join(','),
      isRequest: messages.some((m) => m.method !== undefined && m.id !== undefined),
    };
  } catch {
    return { rpc: undefined, isRequest: false };
  }
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

/**
 * A request body read once and handed to every attempt: chunks are written to an attempt as they
 * arrive (streamed), and kept, so that an attempt on the next replica gets them all again.
 */
class ReplayableBody {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private readonly sinks = new Set<ClientRequest>();
  private readonly whenEnded: Promise<void>;

  constructor(req: IncomingMessage) {
    this.whenEnded = new Promise((resolve) => {
      req.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk);
        for (const sink of this.sinks) sink.write(chunk);
      });
      req.on('end', () => {
        this.ended = true;
        for (const sink of this.sinks) sink.end();
        this.sinks.clear();
        resolve();
      });
    });
  }

  /** The whole body, once the client has sent it. */
  async text(): Promise<Buffer> {
    await this.whenEnded;
    return Buffer.concat(this.chunks);
  }

  pipeTo(sink: ClientRequest): void {
    for (const chunk of this.chunks) sink.write(chunk);
    if (this.ended) sink.end();
    else this.sinks.add(sink);
  }

  detach(sink: ClientRequest): void {
    this.sinks.delete(sink);
  }
}

interface Slot {
  index: number;
  child: (ChildProcess & { stderrText: () => string }) | undefined;
  port: number | undefined;
  inRotation: boolean;
  /** Bumped on every start: a late event of an old process must not touch the new one. */
  generation: number;
}

/** Start `count` replicas on `redisUrl` and the round-robin proxy in front of them. */
export async function startReplicas(options: ReplicasOptions): Promise<Replicas> {
  const count = options.count ?? 3;
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const fixture = options.entry === undefined ? replicaFixture() : undefined;
  const entry = options.entry ?? fixture!.entry;
  // No .env there: the replicas' config is the env below.
  const cwd = fixture?.dir ?? emptyDir();
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({ index, child: undefined, port: undefined, inRotation: false, generation: 0 }));
  const log: ProxyRecord[] = [];
  const upstreams = new Set<ClientRequest>();
  let turn = 0;
  let stopped = false;

  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;
  const env = {
    ...baseEnv,
    MCP_TRANSPORT: 'http',
    MCP_HTTP_HOST: '127.0.0.1',
    MCP_HTTP_PORT: '0',
    MCP_REDIS_URL: options.redisUrl,
    ...options.env,
  };

  async function start(slot: Slot): Promise<void> {
    if (stopped) throw new Error('the replicas were stopped');
    if (slot.child && slot.child.exitCode === null && slot.child.signalCode === null) throw new Error(`replica ${slot.index} is still running (pid ${slot.child.pid})`);
    const generation = ++slot.generation;
    const child = spawn(process.execPath, [...NODE_TS_ARGS, entry], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const stderrText = () => stderr;
    slot.child = Object.assign(child, { stderrText });
    slot.port = undefined;
    slot.inRotation = false;
    child.once('exit', () => {
      if (slot.generation !== generation) return;
      slot.inRotation = false;
      slot.port = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`replica ${slot.index} did not listen within ${startTimeoutMs} ms; stderr:\n${stderr}`)), startTimeoutMs);
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => fail(new Error(`replica ${slot.index} exited (${code ?? signal}) before listening; stderr:\n${stderr}`));
      function fail(error: Error) {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.kill('SIGKILL');
        reject(error);
      }
      child.once('exit', onExit);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const port = /FIXTURE_PORT=(\d+)/.exec(stderr)?.[1];
        if (port !== undefined && slot.port === undefined && slot.generation === generation) {
          clearTimeout(timer);
          child.off('exit', onExit);
          slot.port = Number(port);
          slot.inRotation = true;
          resolve();
        }
      });
    });
  }

  /** The next replica in rotation after the last one used, not among `tried`. */
  function next(tried: Set<number>): Slot | undefined {
    for (let k = 0; k < count; k++) {
      const slot = slots[(turn + k) % count]!;
      if (slot.inRotation && slot.port !== undefined && !tried.has(slot.index)) {
        turn = slot.index + 1;
        return slot;
      }
    }
    return undefined;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const record: ProxyRecord = {
      replica: undefined,
      pid: undefined,
      method: req.method ?? 'GET',
      session: req.headers['mcp-session-id'] as string | undefined,
      rpc: undefined,
      isRequest: false,
      started: Date.now(),
      skipped: [],
    };
    log.push(record);
    const body = new ReplayableBody(req);
    void body.text().then((b) => Object.assign(record, rpcOf(b)));
    const tried = new Set<number>();
    const headers = endToEnd(req.rawHeaders);
    let current: ClientRequest | undefined;
    const finish = (failure?: ProxyRecord['failure']) => {
      if (record.ended !== undefined) return;
      record.ended = Date.now();
      if (failure) record.failure = failure;
    };
    // The client gave up (closed its stream, aborted its request): so does the replica's side.
    res.on('close', () => {
      if (!res.writableFinished) {
        current?.destroy();
        finish();
      }
    });

    const attempt = (): void => {
      const slot = next(tried);
      if (!slot) {
        record.status = 503;
        finish('no replica');
        return sendError(res, 503, 'Service Unavailable: no replica is available');
      }
      tried.add(slot.index);
      const generation = slot.generation;
      record.replica = slot.index;
      record.pid = slot.child?.pid;
      const upstream = httpRequest({ host: '127.0.0.1', port: slot.port, method: req.method, path: req.url, headers: headers.flat(), agent: false });
      current = upstream;
      upstreams.add(upstream);
      let answered = false;
      upstream.on('close', () => upstreams.delete(upstream));
      upstream.on('response', (reply) => {
        answered = true;
        if (reply.statusCode === 503 && reply.headers['mcp-draining'] === '1') {
          // A draining replica: out of rotation until it starts again, and this request goes on to the next one.
          if (slot.generation === generation) slot.inRotation = false;
          record.skipped.push({ replica: slot.index, why: 'draining' });
          body.detach(upstream);
          reply.resume();
          upstream.destroy();
          return attempt();
        }
        record.status = reply.statusCode;
        res.writeHead(reply.statusCode ?? 502, reply.statusMessage, endToEnd(reply.rawHeaders).flat());
        res.flushHeaders();
        reply.pipe(res);
        reply.on('end', () => finish());
        // The replica died mid-response (SIGKILL): the client's response is cut too.
        reply.on('close', () => {
          if (!reply.complete) {
            finish('cut');
            res.destroy();
          }
        });
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        body.detach(upstream);
        // After an answer the response's own close handles it; after the client left nobody is waiting.
        if (answered || record.ended !== undefined) return;
        if (error.code === 'ECONNREFUSED') {
          record.skipped.push({ replica: slot.index, why: 'refused' });
          return attempt();
        }
        // The replica's connection broke before it answered: a load balancer answers 502, and does not
        // send a request that may have run again.
        record.status = 502;
        finish('reset');
        sendError(res, 502, `Bad Gateway: replica ${slot.index} (pid ${record.pid}) closed the connection: ${error.code ?? error.message}`);
      });
      body.pipeTo(upstream);
    };
    attempt();
  }

  const proxy: Server = createServer(handle);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const info = (slot: Slot): ReplicaInfo => ({
    index: slot.index,
    pid: slot.child?.pid,
    port: slot.port,
    inRotation: slot.inRotation,
    stderr: slot.child?.stderrText() ?? '',
  });

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    proxy.close();
    proxy.closeAllConnections();
    for (const upstream of upstreams) upstream.destroy();
    await Promise.all(
      slots.map(async (slot) => {
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await exited(child);
      }),
    );
    rmSync(cwd, { recursive: true, force: true });
  }

  try {
    await Promise.all(slots.map(start));
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    get replicas() {
      return slots.map(info);
    },
    log,
    inflight: (i) => log.filter((r) => r.ended === undefined && r.replica !== undefined && (i === undefined || r.replica === i)),
    routed(since = 0) {
      const counts = slots.map(() => 0);
      for (const r of log.slice(since)) if (r.replica !== undefined && r.status !== undefined && r.failure !== 'no replica') counts[r.replica]!++;
      return counts;
    },
    async kill(i, signal) {
      const child = slots[i]?.child;
      if (!child) throw new Error(`no replica ${i}`);
      if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      if (signal !== 'SIGKILL') timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        return await exited(child);
      } finally {
        clearTimeout(timer);
      }
    },
    async restart(i) {
      const slot = slots[i];
      if (!slot) throw new Error(`no replica ${i}`);
      await start(slot);
      return info(slot);
    },
    stop,
  };
}
