/**
 * Reload: from file save to the first call answered by the new code. Variants, interleaved:
 * bare nodemon restarting the same server (polled with fresh stateless requests), nodemon with a
 * client through mcp-remote 0.15, and `mcp-http-transport dev` with one SDK client straight over HTTP
 * and one through the stdio bridge; and "save during a 3 s call": dev with one SDK client that starts a
 * 3 s tool call before each save, which must still be answered by the old code; and `dev --hot`, where
 * the entry runs inside the dev process and a save re-evaluates the edited tools module and its importer
 * (the entry) and swaps the new server in behind the session. `runHotMemory` measures the dev --hot
 * process's JS heap growth over many reloads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
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
/** How often a reload variant polls for the new code; BENCH_POLL_MS overrides it (to see what the polling itself costs). */
const POLL_MS = Number(process.env["BENCH_POLL_MS"] ?? 5);
const NODEMON = createRequire(import.meta.url).resolve('nodemon/bin/nodemon.js');
const MCP_REMOTE = join(ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');

export interface ReloadRow {
  variant: string;
  lang: 'js' | 'ts';
  samples: number[];
  p50: number;
  p95: number;
  failedCalls: number;
  /** The save-during-a-call row only: its p50 minus the plain dev p50 (same lang, same run). */
  p50MinusDevP50?: number;
  /** The dev --hot row only: the plain dev (restart) p50 divided by this p50 (same lang, same run). */
  speedupVsDev?: number;
  /** The dev --hot row only: whether the state module (never edited) kept its state, and the process its pid. */
  stateKept?: boolean;
}

/** JS heap of the dev --hot process (the host: the entry runs in it) after a warm-up and after `reloads` more. */
export interface HotMemoryRow {
  variant: string;
  lang: 'js' | 'ts';
  warmup: number;
  reloads: number;
  /** heapUsed after global.gc(), in bytes. */
  heapBefore: number;
  heapAfter: number;
  growth: number;
  /** Save → new code over the measured reloads (not interleaved with other variants: read it as a check, not a row). */
  p50: number;
  p95: number;
  failedCalls: number;
  stateKept: boolean;
}

/** The plain dev variant, and the one that saves while a 3 s call is in flight (compared against it). */
export const DEV_VARIANT = 'mcp-http-transport dev';
export const SLOW_VARIANT = 'dev, save during a 3 s call';
/** `dev --hot`: the entry runs in the dev process; a save swaps the new server in behind the session. */
export const HOT_VARIANT = 'mcp-http-transport dev --hot';
/** How long the in-flight call takes: the workload, not a wait. */
const SLOW_MS = 3000;

function source(v: number): string {
  return `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve } from '${pathToFileURL(join(ROOT, 'dist', 'index.js')).href}';
const server = new McpServer({ name: 'reload-bench', version: '1.0.0' });
server.registerTool('version', {}, async () => ({ content: [{ type: 'text', text: 'v${v}' }] }));
// No annotations: a call interrupted by a restart is not re-sent, so it must finish on the old process.
server.registerTool('slow', {}, async () => {
  process.stderr.write('entered slow\\n');
  await new Promise((r) => setTimeout(r, ${SLOW_MS}));
  return { content: [{ type: 'text', text: 'v${v}' }] };
});
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

/**
 * The dev --hot fixture: --hot evaluates the entry itself, so the edited part is a module the entry
 * imports. `src/server` (the entry, never edited) imports `src/tools` (edited on each save: the version)
 * and `src/state` (never edited, standing in for a database pool: evaluated once, so its id must never
 * change). The `heap` tool runs in the dev process, so it reports the host's heap, after a full GC.
 */
function hotProject(lang: 'js' | 'ts'): { dir: string; write: (v: number) => void; command: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-hot-'));
  mkdirSync(join(dir, 'src'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const ext = lang === 'ts' ? 'ts' : 'mjs';
  // TypeScript imports its siblings the way tsx accepts: ./tools.js for tools.ts.
  const sibling = (name: string) => `./${name}.${lang === 'ts' ? 'js' : 'mjs'}`;
  const typed = lang === 'ts' ? ': McpServer' : '';
  writeFileSync(
    join(dir, 'src', `state.${ext}`),
    `// Never edited: evaluated once, however many saves the tools module gets.
export const state = { id: Math.random().toString(36).slice(2), createdAt: Date.now() };
`,
  );
  writeFileSync(
    join(dir, 'src', `server.${ext}`),
    `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve } from '${pathToFileURL(join(ROOT, 'dist', 'index.js')).href}';
import { registerTools } from '${sibling('tools')}';
const server = new McpServer({ name: 'reload-bench-hot', version: '1.0.0' });
registerTools(server);
await serve({ server });
`,
  );
  const tools = join(dir, 'src', `tools.${ext}`);
  const write = (v: number) =>
    writeFileSync(
      tools,
      `${lang === 'ts' ? "import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';\n" : ''}import { state } from '${sibling('state')}';
export function registerTools(server${typed}) {
  server.registerTool('version', {}, async () => ({ content: [{ type: 'text', text: 'v${v}' }] }));
  server.registerTool('state', {}, async () => ({ content: [{ type: 'text', text: \`\${process.pid}:\${state.id}\` }] }));
  // The dev process's heap (the entry runs in it), after a full GC when it runs with --expose-gc.
  // (Types are stripped, not checked, by tsx and by Vite: the same body serves both languages.)
  server.registerTool('heap', {}, async () => {
    const gc = globalThis.gc;
    if (!gc) return { content: [{ type: 'text', text: 'no gc: run the dev process with --expose-gc' }], isError: true };
    gc();
    gc();
    return { content: [{ type: 'text', text: String(process.memoryUsage().heapUsed) }] };
  });
}
`,
    );
  write(1);
  return { dir, write, command: [lang === 'ts' ? 'tsx' : 'node', `src/server.${ext}`] };
}

const baseEnv = () => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_'))),
  MCP_LOG_LEVEL: 'warn',
});

function spawnGroup(args: string[], cwd: string, env: NodeJS.ProcessEnv, nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, ...args], { cwd, env: { ...env, PATH: `${join(cwd, 'node_modules', '.bin')}:${process.env['PATH']}` }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
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
  /**
   * Save-during-a-call variants: start the slow call and resolve once the server is running it, with
   * its outcome to come (the version text, or `error: …`).
   */
  startSlowCall?: () => Promise<{ outcome: Promise<string> }>;
  stop: () => Promise<void>;
}

/** One SDK client on one session: `callTool('version')` answers with the version text. */
async function sessionClient(transport: Transport): Promise<{ call: (tool?: string) => Promise<string>; close: () => Promise<void> }> {
  const client = new Client({ name: 'reload-bench', version: '1.0.0' });
  await client.connect(transport);
  return {
    call: async (tool = 'version') => {
      const result = (await client.callTool({ name: tool }, undefined, { timeout: 10_000 })) as { content: { text: string }[]; isError?: boolean };
      if (result.isError) throw new Error(`tool error: ${result.content[0]?.text}`);
      return result.content[0]!.text;
    },
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
    let client: Awaited<ReturnType<typeof sessionClient>>;
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'nodemon server to be ready');
      client = await sessionClient(stdioTo([MCP_REMOTE, url, '--transport', 'http-only']));
    } catch (error) {
      killGroup(child);
      throw error;
    }
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

/**
 * `mcp-http-transport dev`, with one client straight over HTTP or through the stdio bridge; or straight
 * over HTTP, starting a 3 s call before each save (`slow call`).
 */
async function dev(lang: 'js' | 'ts', through: 'http' | 'bridge' | 'slow call' | 'hot'): Promise<Variant & { tool: (name: string) => Promise<string> }> {
  const hot = through === 'hot';
  const { dir, write, command } = hot ? hotProject(lang) : project(lang);
  const port = await freePort();
  // --hot runs the entry in the dev process: --expose-gc there lets the fixture's `heap` tool collect first.
  const child = spawnGroup([BIN, 'dev', ...(hot ? ['--hot'] : []), '--no-bridge', '--port', String(port), '--host', '127.0.0.1', '--watch', 'src', '--', ...command], dir, baseEnv(), hot ? ['--expose-gc'] : []);
  const name = through === 'http' ? DEV_VARIANT : through === 'bridge' ? 'dev + bridge (stdio client)' : hot ? HOT_VARIANT : SLOW_VARIANT;
  const output = watchOutput(child, name);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exit = once(child, 'exit', { signal: AbortSignal.timeout(10_000) }).catch(() => progress(`reload: ${name} (${lang}) did not exit within 10 s of SIGTERM`));
      child.kill('SIGTERM');
      await exit;
    }
    // dev stops its servers' groups itself; this reaps whatever it may have left in its own.
    killGroup(child);
  };
  try {
    await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 'dev to be ready');
    const url = `http://127.0.0.1:${port}/mcp`;
    const client = await sessionClient(through === 'bridge' ? stdioTo([BIN, 'bridge', url]) : new StreamableHTTPClientTransport(new URL(url)));
    const startSlowCall = async () => {
      const before = output.entered;
      const outcome = client.call('slow').catch((error: Error) => `error: ${error.message}`);
      // The save must land while the old process is running the call: wait for it to say so.
      await output.enteredAtLeast(before + 1, 10_000);
      return { outcome };
    };
    return {
      name,
      write,
      call: () => client.call(),
      tool: (tool: string) => client.call(tool),
      countsFailures: true,
      ...(through === 'slow call' ? { startSlowCall } : {}),
      stop: async () => {
        await client.close().catch(() => undefined);
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A progress line about something odd, at most 5 per `key` (mcp-remote alone fails hundreds of calls). */
const noted = new Map<string, number>();
function note(key: string, message: string): void {
  const n = (noted.get(key) ?? 0) + 1;
  noted.set(key, n);
  if (n <= 5) progress(`reload: ${message}${n === 5 ? ' (further ones not shown)' : ''}`);
}

/**
 * Follow dev's stderr (its servers' output passes through it): count the slow tool's "entered slow"
 * lines, and echo dev's own warnings (crashes, failed starts), which the bench should not hide.
 */
function watchOutput(child: ChildProcess, name: string): { readonly entered: number; enteredAtLeast: (n: number, timeoutMs: number) => Promise<void> } {
  const events = new EventEmitter();
  let entered = 0;
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line === 'entered slow') {
        entered++;
        events.emit('entered');
      } else if (name === HOT_VARIANT && /^mcp-http-transport dev: restarted/.test(line)) {
        // A save of the tools module must be applied in place, not by evaluating everything again.
        note(`${name} output`, `${name} restarted instead of hot-reloading: ${line}`);
      } else if (/✗|crash|in use|EADDRINUSE|error/i.test(line)) {
        note(`${name} output`, `${name} printed: ${line}`);
      }
    }
  });
  return {
    get entered() {
      return entered;
    },
    async enteredAtLeast(n, timeoutMs) {
      const signal = AbortSignal.timeout(timeoutMs);
      while (entered < n) {
        await once(events, 'entered', { signal }).catch(() => {
          throw new Error(`bench: ${name}: the slow call was not running within ${timeoutMs} ms`);
        });
      }
    },
  };
}

/**
 * Save version `v`, then call every POLL_MS until the answer is `v`: the time from save to the first new answer.
 * `slowFailures`, for a variant with a call across the save: 1 if that call does not come back from the old code.
 * It settles up to 3 s later; the caller awaits it before this variant's next save, so the other variants'
 * reloads run meanwhile rather than the bench idling.
 */
async function reloadOnce(variant: Variant, v: number): Promise<{ ms: number; failures: number; slowFailures?: Promise<number> }> {
  let failures = 0;
  const slow = await variant.startSlowCall?.();
  const start = performance.now();
  variant.write(v);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await variant.call()) === `v${v}`) {
        const ms = performance.now() - start;
        // The call in flight at the save must come back from the old code (bounded by the client's 10 s timeout).
        const slowFailures = slow?.outcome.then((answer) => {
          if (answer === `v${v - 1}`) return 0;
          note(`${variant.name} slow`, `${variant.name}: the 3 s call across save ${v - 1} answered ${JSON.stringify(answer)}, not "v${v - 1}"`);
          return 1;
        });
        return { ms, failures, ...(slowFailures ? { slowFailures } : {}) };
      }
    } catch (error) {
      failures++;
      if (variant.countsFailures) note(`${variant.name} failed`, `${variant.name}: a call failed during save ${v - 1}: ${(error as Error).message}`);
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
    progress(`reload (${lang}): starting bare nodemon, nodemon + mcp-remote, dev, dev + bridge, dev with a 3 s call across each save, dev --hot`);
    const variants: Variant[] = [];
    let hot: Awaited<ReturnType<typeof dev>> | undefined;
    try {
      // One at a time, so that a failed start still stops the ones already running.
      const starts = [() => bareNodemon(lang, 'fresh requests'), () => dev(lang, 'http'), () => dev(lang, 'slow call'), () => dev(lang, 'bridge'), () => bareNodemon(lang, 'mcp-remote'), async () => (hot = await dev(lang, 'hot'))];
      for (const start of starts) variants.push(await start());
      for (const variant of variants) await until(async () => (await variant.call().catch(() => '')) === 'v1', `${variant.name} v1`);
      const stateBefore = await hot!.tool('state');
      const samples = variants.map(() => [] as number[]);
      const failed = variants.map(() => 0);
      // The outcome of each variant's last call across a save, still running (settles within the client's timeout).
      const pending = variants.map(() => Promise.resolve(0));
      for (let i = 0; i < reloads; i++) {
        // Rotate which goes first, so none always runs on a machine still busy with another.
        const order = variants.map((_, k) => (k + i) % variants.length);
        for (const k of order) {
          // One call across a save at a time: the previous one has come back before the next save.
          failed[k]! += await pending[k]!;
          pending[k] = Promise.resolve(0);
          const { ms, failures, slowFailures } = await reloadOnce(variants[k]!, i + 2);
          samples[k]!.push(ms);
          if (variants[k]!.countsFailures) failed[k]! += failures;
          if (slowFailures) pending[k] = slowFailures;
        }
        progress(`reload (${lang}): ${i + 1}/${reloads}`);
      }
      for (let k = 0; k < variants.length; k++) failed[k]! += await pending[k]!;
      const mine = variants.map((variant, k): ReloadRow => ({ variant: variant.name, lang, samples: samples[k]!, p50: percentile(samples[k]!, 50), p95: percentile(samples[k]!, 95), failedCalls: failed[k]! }));
      const plain = mine.find((r) => r.variant === DEV_VARIANT)!;
      for (const row of mine) if (row.variant === SLOW_VARIANT) row.p50MinusDevP50 = row.p50 - plain.p50;
      const stateKept = (await hot!.tool('state').catch((error: Error) => `error: ${error.message}`)) === stateBefore;
      if (!stateKept) note(`${HOT_VARIANT} state`, `${HOT_VARIANT} (${lang}): the state module or the pid changed across the saves`);
      for (const row of mine) if (row.variant === HOT_VARIANT) Object.assign(row, { speedupVsDev: plain.p50 / row.p50, stateKept });
      rows.push(...mine);
    } finally {
      await Promise.all(variants.map((v) => v.stop()));
    }
  }
  return rows;
}

/** The least time between two saves of the same file that dev's watcher sees both of (chokidar throttles 'change' to one per 50 ms). */
export const SAVE_GAP_MS = 75;

/**
 * The dev --hot process's JS heap (heapUsed after two global.gc(), via the fixture's `heap` tool, which
 * runs in that process) after `warmup` reloads and after `reloads` more. Each reload is a save of the
 * tools module and polling until the new version answers, as in {@link runReload} (30 s bound each); the
 * whole run is bounded by `budgetMs`.
 */
export async function runHotMemory(lang: 'js' | 'ts', warmup: number, reloads: number, budgetMs = 10 * 60_000): Promise<HotMemoryRow> {
  progress(`hot memory (${lang}): dev --hot, ${warmup} warm-up reloads, then heap, ${reloads} reloads, heap`);
  const variant = await dev(lang, 'hot');
  try {
    await until(async () => (await variant.call().catch(() => '')) === 'v1', `${variant.name} v1`);
    const stateBefore = await variant.tool('state');
    // The lowest of three readings: each collects first, so this is what the process retains.
    const heap = async () => {
      let least = Infinity;
      for (let i = 0; i < 3; i++) least = Math.min(least, Number(await variant.tool('heap')));
      if (!Number.isFinite(least)) throw new Error(`bench: ${variant.name}: the heap tool did not answer a number`);
      return least;
    };
    const deadline = Date.now() + budgetMs;
    let v = 1;
    let failedCalls = 0;
    const samples: number[] = [];
    let lastSave = -Infinity;
    const run = async (count: number, what: string, record: boolean) => {
      for (let i = 0; i < count; i++) {
        if (Date.now() > deadline) throw new Error(`bench: ${variant.name} (${lang}): ${what} did not finish within ${budgetMs / 1000} s`);
        // dev's watcher (chokidar) drops a second change of the same file within 50 ms of the previous
        // one, and a hot reload answers sooner than that: leave SAVE_GAP_MS between saves, or a save is lost.
        const gap = lastSave + SAVE_GAP_MS - performance.now();
        if (gap > 0) await new Promise((r) => setTimeout(r, gap));
        lastSave = performance.now();
        const { ms, failures } = await reloadOnce(variant, ++v);
        failedCalls += failures;
        if (record) samples.push(ms);
        if ((i + 1) % 100 === 0 || i + 1 === count) progress(`hot memory (${lang}): ${what} ${i + 1}/${count}`);
      }
    };
    await run(warmup, 'warm-up', false);
    const heapBefore = await heap();
    await run(reloads, 'reloads', true);
    const heapAfter = await heap();
    const stateKept = (await variant.tool('state').catch((error: Error) => `error: ${error.message}`)) === stateBefore;
    if (!stateKept) note(`${HOT_VARIANT} state`, `hot memory (${lang}): the state module or the pid changed across the saves`);
    return { variant: HOT_VARIANT, lang, warmup, reloads, heapBefore, heapAfter, growth: heapAfter - heapBefore, p50: percentile(samples, 50), p95: percentile(samples, 95), failedCalls, stateKept };
  } finally {
    await variant.stop();
  }
}
