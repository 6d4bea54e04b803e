/**
 * Reload: from file save to the first call answered by the new code. Variants, interleaved:
 * bare nodemon restarting the same server (polled with fresh stateless requests), nodemon with a
 * client through mcp-remote 0.15, and `mcp-http-transport dev` with one SDK client straight over HTTP
 * and one through the stdio bridge.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { freePort, percentile, progress, until } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');
const POLL_MS = 5;
const NODEMON = createRequire(import.meta.url).resolve('nodemon/bin/nodemon.js');
const MCP_REMOTE = join(ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');

export interface ReloadRow {
  variant: string;
  lang: 'js' | 'ts';
  samples: number[];
  p50: number;
  p95: number;
  failedCalls: number;
}

function source(v: number): string {
  return `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve } from '${pathToFileURL(join(ROOT, 'dist', 'index.js')).href}';
const server = new McpServer({ name: 'reload-bench', version: '1.0.0' });
server.registerTool('version', {}, async () => ({ content: [{ type: 'text', text: 'v${v}' }] }));
await serve({ server });
`;
}

function project(lang: 'js' | 'ts'): { dir: string; write: (v: number) => void; command: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-reload-'));
  mkdirSync(join(dir, 'src'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const file = join(dir, 'src', lang === 'ts' ? 'server.ts' : 'server.mjs');
  const write = (v: number) => writeFileSync(file, source(v));
  write(1);
  return { dir, write, command: lang === 'ts' ? ['tsx', 'src/server.ts'] : ['node', 'src/server.mjs'] };
}

const baseEnv = () => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_'))),
  MCP_LOG_LEVEL: 'warn',
});

function spawnGroup(args: string[], cwd: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, args, { cwd, env: { ...env, PATH: `${join(cwd, 'node_modules', '.bin')}:${process.env['PATH']}` }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  child.stderr!.resume();
  return child;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // gone
  }
}

interface Variant {
  name: string;
  write: (v: number) => void;
  /** One call; resolves with the version text, rejects on failure. */
  call: () => Promise<string>;
  /** Failures that count (a bare server is expected to refuse connections while it restarts). */
  countsFailures: boolean;
  stop: () => Promise<void>;
}

/** One SDK client on one session: `callTool('version')` answers with the version text. */
async function sessionClient(transport: Transport): Promise<{ call: () => Promise<string>; close: () => Promise<void> }> {
  const client = new Client({ name: 'reload-bench', version: '1.0.0' });
  await client.connect(transport);
  return {
    call: async () => ((await client.callTool({ name: 'version' }, undefined, { timeout: 10_000 })) as { content: { text: string }[] }).content[0]!.text,
    close: () => client.close(),
  };
}

const stdioTo = (args: string[]) =>
  new StdioClientTransport({ command: process.execPath, args, stderr: 'ignore', env: { ...(process.env as Record<string, string>), MCP_REMOTE_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'mcp-remote-')) } });

/** Plain nodemon restarting the server. `stateless`: polled with fresh requests; otherwise through mcp-remote. */
async function bareNodemon(lang: 'js' | 'ts', through: 'fresh requests' | 'mcp-remote'): Promise<Variant> {
  const { dir, write, command } = project(lang);
  const port = await freePort();
  const child = spawnGroup([NODEMON, '--signal', 'SIGTERM', '--quiet', '--delay', '0', '--watch', 'src', '--ext', 'js,mjs,ts', '--exec', command.join(' ')], dir, {
    ...baseEnv(),
    MCP_TRANSPORT: 'http',
    MCP_HTTP_HOST: '127.0.0.1',
    MCP_HTTP_PORT: String(port),
    ...(through === 'fresh requests' ? { MCP_HTTP_STATELESS: '1' } : {}),
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  if (through === 'mcp-remote') {
    await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'nodemon server to be ready');
    const client = await sessionClient(stdioTo([MCP_REMOTE, url, '--transport', 'http-only']));
    return { name: 'nodemon + mcp-remote 0.15', write, call: client.call, countsFailures: true, stop: async () => (await client.close(), killGroup(child)) };
  }
  const call = async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'version', arguments: {} } }),
    });
    const text = await res.text();
    const match = /"text":"(v\d+)"/.exec(text);
    if (!match) throw new Error(`unexpected answer ${res.status}`);
    return match[1]!;
  };
  return { name: 'bare nodemon', write, call, countsFailures: false, stop: async () => killGroup(child) };
}

/** `mcp-http-transport dev`, with one client straight over HTTP or through the stdio bridge. */
async function dev(lang: 'js' | 'ts', through: 'http' | 'bridge'): Promise<Variant> {
  const { dir, write, command } = project(lang);
  const port = await freePort();
  const child = spawnGroup([BIN, 'dev', '--no-bridge', '--port', String(port), '--host', '127.0.0.1', '--watch', 'src', '--', ...command], dir, baseEnv());
  await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'dev to be ready');
  const url = `http://127.0.0.1:${port}/mcp`;
  const client = await sessionClient(through === 'http' ? new StreamableHTTPClientTransport(new URL(url)) : stdioTo([BIN, 'bridge', url]));
  return {
    name: through === 'http' ? 'mcp-http-transport dev' : 'dev + bridge (stdio client)',
    write,
    call: client.call,
    countsFailures: true,
    stop: async () => {
      await client.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Save version `v`, then call every POLL_MS until the answer is `v`: the time from save to the first new answer. */
async function reloadOnce(variant: Variant, v: number): Promise<{ ms: number; failures: number }> {
  let failures = 0;
  const start = performance.now();
  variant.write(v);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await variant.call()) === `v${v}`) return { ms: performance.now() - start, failures };
    } catch {
      failures++;
    }
    if (Date.now() > deadline) throw new Error(`bench: ${variant.name} never served v${v}`);
    // The same pace for every variant: a tight loop would steal CPU from the restarting server.
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Run `reloads` reloads per variant and language, interleaving the variants. */
export async function runReload(reloads: number, langs: readonly ('js' | 'ts')[] = ['js', 'ts']): Promise<ReloadRow[]> {
  const rows: ReloadRow[] = [];
  for (const lang of langs) {
    progress(`reload (${lang}): starting bare nodemon, nodemon + mcp-remote, dev, dev + bridge`);
    const variants = [await bareNodemon(lang, 'fresh requests'), await dev(lang, 'http'), await dev(lang, 'bridge'), await bareNodemon(lang, 'mcp-remote')];
    try {
      for (const variant of variants) await until(async () => (await variant.call().catch(() => '')) === 'v1', `${variant.name} v1`);
      const samples = variants.map(() => [] as number[]);
      const failed = variants.map(() => 0);
      for (let i = 0; i < reloads; i++) {
        // Rotate which goes first, so none always runs on a machine still busy with another.
        const order = variants.map((_, k) => (k + i) % variants.length);
        for (const k of order) {
          const { ms, failures } = await reloadOnce(variants[k]!, i + 2);
          samples[k]!.push(ms);
          if (variants[k]!.countsFailures) failed[k]! += failures;
        }
        progress(`reload (${lang}): ${i + 1}/${reloads}`);
      }
      variants.forEach((variant, k) =>
        rows.push({ variant: variant.name, lang, samples: samples[k]!, p50: percentile(samples[k]!, 50), p95: percentile(samples[k]!, 95), failedCalls: failed[k]! }),
      );
    } finally {
      await Promise.all(variants.map((v) => v.stop()));
    }
  }
  return rows;
}
