/**
 * The bridge against mcp-remote 0.15 on the same upstream, in the same run:
 * - per-call latency: direct Streamable HTTP client, through `mcp-http-transport bridge`, through mcp-remote;
 * - recovery: from the upstream being back (after a SIGKILL) to the first successful call, with the
 *   calls that failed meanwhile, on a raw-SDK server that forgets sessions and on an SSE-only server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort, percentile, progress, until } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');
const MCP_REMOTE = join(ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
const UPSTREAMS = join(ROOT, 'test', 'fixtures', 'upstreams.ts');
const TSX = pathToFileURL(require.resolve('tsx')).href;

export interface BridgeRow {
  scenario: 'per-call latency' | 'recovery after upstream restart';
  upstream: string;
  variant: string;
  samples: number;
  /** ms */
  median: number;
  /** ms: p99 for latency, the worst round for recovery */
  worst: number;
  /** latency: median over the direct client's; recovery: calls that failed while the upstream was down or coming back */
  ratio?: number;
  failedCalls?: number;
}

type Kind = 'raw-http' | 'raw-sse';

class Upstream {
  private child: ChildProcess | undefined;
  private version = 0;
  constructor(
    readonly kind: Kind,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    let err = '';
    const env = { ...process.env, UPSTREAM: this.kind, PORT: String(this.port), VERSION: String(++this.version) };
    this.child = spawn(process.execPath, ['--import', TSX, UPSTREAMS], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await until(() => err.includes('UPSTREAM_READY'), `upstream ${this.kind}`);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
}

async function stdioClient(args: string[]): Promise<Client> {
  const env = { ...(process.env as Record<string, string>), MCP_REMOTE_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'mcp-remote-')) };
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' }));
  return client;
}

const call = (client: Client, timeout = 10_000) => client.callTool({ name: 'version' }, undefined, { timeout });

async function perCall(quick: boolean): Promise<BridgeRow[]> {
  const upstream = new Upstream('raw-http', await freePort());
  await upstream.start();
  const url = `http://127.0.0.1:${upstream.port}/mcp`;
  const direct = new Client({ name: 'bench', version: '1.0.0' });
  await direct.connect(new StreamableHTTPClientTransport(new URL(url)));
  const variants: [string, Client][] = [
    ['direct (SDK client)', direct],
    ['mcp-http-transport bridge', await stdioClient([BIN, 'bridge', url])],
    ['mcp-remote 0.15', await stdioClient([MCP_REMOTE, url, '--transport', 'http-only'])],
  ];
  try {
    const samples = variants.map(() => [] as number[]);
    const blocks = quick ? 4 : 10;
    for (let b = 0; b < blocks; b++) {
      // Blocks of 50, rotating the order, so noise lands on every variant alike.
      for (let k = 0; k < variants.length; k++) {
        const v = (b + k) % variants.length;
        for (let i = 0; i < 50; i++) {
          const start = performance.now();
          await call(variants[v]![1]);
          samples[v]!.push(performance.now() - start);
        }
      }
      progress(`bridge per-call: block ${b + 1}/${blocks}`);
    }
    const directMedian = percentile(samples[0]!, 50);
    return variants.map(([variant], v) => ({
      scenario: 'per-call latency',
      upstream: 'raw-SDK Streamable HTTP',
      variant,
      samples: samples[v]!.length,
      median: percentile(samples[v]!, 50),
      worst: percentile(samples[v]!, 99),
      ratio: percentile(samples[v]!, 50) / directMedian,
    }));
  } finally {
    await Promise.all(variants.map(([, c]) => c.close().catch(() => undefined)));
    await upstream.kill();
  }
}

/** Kill the upstream, start calling, bring it back: how long after it is back does each client succeed? */
async function recovery(kind: Kind, rounds: number): Promise<BridgeRow[]> {
  const upstream = new Upstream(kind, await freePort());
  await upstream.start();
  const url = `http://127.0.0.1:${upstream.port}${kind === 'raw-sse' ? '/sse' : '/mcp'}`;
  const variants: [string, Client][] = [
    ['mcp-http-transport bridge', await stdioClient([BIN, 'bridge', url])],
    ['mcp-remote 0.15', await stdioClient([MCP_REMOTE, url, '--transport', kind === 'raw-sse' ? 'sse-only' : 'http-only'])],
  ];
  const times = variants.map(() => [] as number[]);
  const failed = variants.map(() => 0);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [, client] of variants) await call(client);
      await upstream.kill();
      let backAt = Number.POSITIVE_INFINITY;
      const pollers = variants.map(async ([, client], v) => {
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          try {
            await call(client);
            if (performance.now() >= backAt) return times[v]!.push(performance.now() - backAt);
          } catch {
            failed[v]!++;
          }
          await new Promise((done) => setTimeout(done, 5));
        }
        times[v]!.push(Number.NaN);
      });
      await new Promise((done) => setTimeout(done, 300)); // calls made while the upstream is down
      await upstream.start();
      backAt = performance.now();
      await Promise.all(pollers);
      progress(`bridge recovery (${kind}): round ${r + 1}/${rounds}`);
    }
  } finally {
    await Promise.all(variants.map(([, c]) => c.close().catch(() => undefined)));
    await upstream.kill();
  }
  return variants.map(([variant], v) => ({
    scenario: 'recovery after upstream restart',
    upstream: kind === 'raw-sse' ? 'raw-SDK legacy SSE' : 'raw-SDK Streamable HTTP (forgets sessions: 404)',
    variant,
    samples: times[v]!.length,
    median: percentile(times[v]!, 50),
    worst: Math.max(...times[v]!),
    failedCalls: failed[v]!,
  }));
}

export async function runBridge(quick: boolean): Promise<BridgeRow[]> {
  progress('bridge: per-call latency (direct, bridge, mcp-remote)');
  const rows = await perCall(quick);
  for (const kind of ['raw-http', 'raw-sse'] as const) rows.push(...(await recovery(kind, quick ? 2 : 5)));
  return rows;
}
