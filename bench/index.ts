/**
 * `npm run bench`: every scenario, comparing variants in the same run and reporting ratios.
 * `npm run bench -- --quick` runs fewer iterations (under a minute). Progress goes to stderr, the
 * report to stdout and to bench/results/latest.{md,json,svg}.
 *
 * BENCH_ONLY=<parts> runs only some parts, a comma list of: overhead (raw SDK, floor and 2026-07-28
 * rows), modern (the 2026-07-28 row alone, under a minute), bridge, reload, hot (dev --hot's heap),
 * replicas (sessions on Redis: throughput with 1-3 replicas, the cost of a restore; needs redis-server).
 * A partial run prints its report to stdout and leaves bench/results/ alone, so that latest.* always
 * comes from one full run: `BENCH_ONLY=modern npm run bench`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runBridge, type BridgeRow } from './bridge.js';
import { machine, ms, table } from './lib.js';
import { overheadTable, runModern, runOverhead, type OverheadRow } from './overhead.js';
import { DEV_VARIANT, HOT_VARIANT, runHotMemory, runReload, SAVE_GAP_MS, SLOW_VARIANT, type HotMemoryRow, type ReloadRow } from './reload.js';
import { CLIENTS, HELD_MEMORY, HELD_MEMORY_FIRST, HELD_REDIS, HELD_TOUCH, MEMORY_VARIANT, REDIS_GET, replicasTable, RESTORED, runReplicas, type ReplicasResult } from './replicas.js';
import { ratioChart } from './svg.js';

const quick = process.argv.includes('--quick');
const out = resolve(import.meta.dirname, 'results');
const host = machine();
const where = `${host.cpu} ×${host.cores}, Node ${host.node}`;

const PARTS = ['overhead', 'modern', 'bridge', 'reload', 'hot', 'replicas'] as const;
const only = process.env['BENCH_ONLY']?.split(',').map((p) => p.trim()).filter(Boolean);
const unknown = only?.filter((p) => !(PARTS as readonly string[]).includes(p)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`bench: BENCH_ONLY=${process.env['BENCH_ONLY']}: unknown part ${unknown.join(', ')} (use a comma list of ${PARTS.join(', ')})\n`);
  process.exit(2);
}
const partial = only !== undefined && only.length > 0;
const runs = (part: (typeof PARTS)[number]) => !partial || only.includes(part) || (part === 'modern' && only.includes('overhead'));

const overhead: OverheadRow[] = [...(runs('overhead') ? await runOverhead(quick) : []), ...(runs('modern') ? await runModern(quick) : [])];
const bridge: BridgeRow[] = runs('bridge') ? await runBridge(quick) : [];
const reload: ReloadRow[] = !runs('reload') ? [] : quick ? await runReload(2, ['js']) : await runReload(10);
/** dev --hot's heap: a warm-up, then this many reloads (fewer in --quick). */
const HOT_WARMUP = quick ? 10 : 20;
const HOT_RELOADS = quick ? 50 : 500;
const hotMemory: HotMemoryRow[] = [];
if (runs('hot')) for (const lang of quick ? (['js'] as const) : (['js', 'ts'] as const)) hotMemory.push(await runHotMemory(lang, HOT_WARMUP, HOT_RELOADS));
const replicas: ReplicasResult | undefined = runs('replicas') ? await runReplicas(quick) : undefined;
const replicaRows = replicas?.rows ?? [];
const replicaRow = (scenario: 'throughput' | 'latency', variant: string) => replicaRows.find((r) => r.scenario === scenario && r.variant === variant);
const usOf = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);

const bare = (lang: string) => reload.find((r) => r.lang === lang && r.variant === 'bare nodemon')!;
const plainDev = (lang: string) => reload.find((r) => r.lang === lang && r.variant === DEV_VARIANT)!;
/** The issue's target for a save during a 3 s call: p50 within +100 ms of the plain dev reload p50, 0 failed calls. */
const SLOW_TARGET_MS = 100;
/** The issue's goals for dev --hot: p50 at most 50 ms and at least 10× faster than the restart (dev) p50; heap growth at most 10 MB over 500 reloads. */
const HOT_TARGET_MS = 50;
const HOT_SPEEDUP = 10;
const HOT_HEAP_TARGET = 10 * 1024 * 1024;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1)} MiB`;
const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(0)} ms`;
const modern = overhead.filter((r) => r.scenario === 'latency, 2026-07-28');
const modernOurs = modern.filter((r) => r.variant === 'mcp-http-transport');
/** One ratio of our 2026-07-28 rows, per client: "node:http agent ×1.02, fetch ×1.01". */
const perClient = (pick: (r: OverheadRow) => number | undefined) => modernOurs.map((r) => `${r.client} ${times(pick(r))}`).join(', ');
/** The issue's targets for the 2026-07-28 row: ours ÷ SDK v2's handler ≤ 1.05, ours ÷ the node:http floor ≤ 2. */
const MODERN_SDK_TARGET = 1.05;
const MODERN_FLOOR_TARGET = 2;
const report = [
  `# mcp-http-transport benchmarks${quick ? ' (quick)' : ''}${partial ? ` (partial: BENCH_ONLY=${only.join(',')})` : ''}`,
  '',
  `Machine: ${where}. Variants interleaved in one run; read the ratios, not the absolute times.`,
  '',
  ...(overhead.length === 0
    ? []
    : [
        '## Overhead against the SDK, and the floor',
        '',
        'The same McpServer wired by hand with the raw SDK (as its examples do, one server per session) and through MCPTransportManager (one shared server). "ours ÷ SDK" and "÷ floor" are ratios of medians, with the ratio of the p99s beside them.',
        '',
        overheadTable(overhead),
        '',
        ...(modern.length === 0
          ? []
          : [
              `"latency, 2026-07-28": stateless Streamable HTTP, protocol 2026-07-28, plain JSON answers (an echo tools/call carrying its \`_meta\` envelope and the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers). The same factory of SDK v2 McpServers (one instance per request) behind MCPTransportManager (guards, body parser, then SDK v2's createMcpHandler) and behind SDK v2's own createMcpHandler on node:http (through @hono/node-server's getRequestListener with its defaults, which make hono's lighter Request and Response the globals; no Host/Origin checks in front), next to the node:http JSON echo floor sent the same request. These rows are their own interleaved run, each variant called by two keep-alive clients: node:http with an Agent of its own (sockets opened during the timed calls: ${modern.filter((r) => r.connections !== undefined).map((r) => `${r.variant} ${r.connections}`).join(', ')}), and fetch (undici's keep-alive agent, the client of the SDK clients and of the HTTP POST floor above). Ratios compare rows of the same client; fetch's own cost is in every fetch row, which brings their ratios closer to 1. Targets: ours ÷ SDK ≤ ×${MODERN_SDK_TARGET} (${perClient((r) => r.ratio)}), ours ÷ floor ≤ ×${MODERN_FLOOR_TARGET} (${perClient((r) => r.vsFloor)}).`,
              '',
            ]),
      ]),
  ...(bridge.length === 0
    ? []
    : [
        '## Bridge against mcp-remote 0.15 (same upstream, same run)',
        '',
        table(
          ['scenario', 'upstream', 'variant', 'samples', 'median', 'p99 / worst', '÷ direct', 'failed calls', 'machine'],
          bridge.map((r) => [r.scenario, r.upstream, r.variant, r.samples, ms2(r.median), ms2(r.worst), r.ratio === undefined ? '—' : `×${r.ratio.toFixed(2)}`, r.failedCalls ?? '—', where]),
        ),
        '',
        'Recovery: the upstream is SIGKILLed, clients keep calling every 5 ms, and the upstream comes back 300 ms later; the time is from the upstream being back to the first successful call. Failed calls are those that errored meanwhile (the bridge holds them instead).',
        '',
      ]),
  ...(reload.length === 0
    ? []
    : [
        `## Reload: file save to the first call answered by the new code${quick ? ' (quick: JavaScript only, 2 reloads)' : ''}`,
        '',
        table(
          ['variant', 'lang', 'reloads', 'p50', 'p95', 'p50 − bare p50', 'p50 − dev p50', 'dev p50 ÷ p50', 'failed calls', 'machine'],
          reload.map((r) => [
            r.variant,
            r.lang,
            r.samples.length,
            ms(r.p50),
            ms(r.p95),
            r.variant === 'bare nodemon' ? '—' : `${(r.p50 - bare(r.lang).p50).toFixed(0)} ms`,
            r.p50MinusDevP50 === undefined ? '—' : `${signed(r.p50MinusDevP50)} (target ≤ +${SLOW_TARGET_MS} ms)`,
            r.speedupVsDev === undefined ? '—' : `×${r.speedupVsDev.toFixed(1)} (target ≥ ×${HOT_SPEEDUP}, p50 ≤ ${HOT_TARGET_MS} ms)`,
            r.variant === 'bare nodemon' ? '—' : r.failedCalls,
            where,
          ]),
        ),
        '',
        'Bare nodemon is polled with fresh stateless requests (its refused connections are not counted: a bare restart refuses them). The other variants are one SDK client on one session: straight to the dev proxy, through the stdio bridge, or through mcp-remote to a plain nodemon server. All are polled every 5 ms.',
        '',
        `"${SLOW_VARIANT}": dev with one SDK client on one session, which starts a 3 s tool call (no annotations, so never re-sent) before each save; the save follows as soon as the server says the call is running, and the time is from the save to the first call answered by the new code, while the old process still runs the 3 s call. Failed calls count every error, and every 3 s call not answered by the old code. Target: p50 within +${SLOW_TARGET_MS} ms of the plain dev p50 (${DEV_VARIANT}), 0 failed calls.`,
        '',
        `"${HOT_VARIANT}": the entry runs inside the dev process through Vite's module runner; a save re-evaluates the changed module and its importers and swaps the new server in behind the live session (no restart, no restore). One SDK client (Streamable HTTP) on one session, interleaved with the variants above and polled the same way; failed calls count every error. Its fixture differs, since --hot evaluates the entry itself: an entry (src/server.mjs or .ts, never edited) imports a tools module (src/tools.mjs or .ts, edited on each save: the version it answers) and a state module (src/state, never edited, standing in for a database pool; its id and the pid are checked unchanged after the saves: state kept ${reload.filter((r) => r.variant === HOT_VARIANT).map((r) => `${r.lang} ${r.stateKept ? 'yes' : 'NO'}`).join(', ')}). The restart variants edit their single file, src/server.mjs or .ts. "dev p50 ÷ p50" is the plain dev (restart) p50 of the same language over the hot p50. Targets: ≥ ×${HOT_SPEEDUP}, p50 ≤ ${HOT_TARGET_MS} ms, 0 failed calls.`,
        '',
      ]),
  ...(hotMemory.length === 0
    ? []
    : [
        `## dev --hot: JS heap after many reloads${quick ? ` (quick: JavaScript only, ${HOT_RELOADS} reloads)` : ''}`,
        '',
        table(
          ['variant', 'lang', 'warm-up reloads', 'reloads', 'heap after warm-up', 'heap after', 'growth', 'target', 'reload p50', 'reload p95', 'failed calls', 'state kept', 'machine'],
          hotMemory.map((r) => [r.variant, r.lang, r.warmup, r.reloads, mib(r.heapBefore), mib(r.heapAfter), mib(r.growth), `≤ ${mib(HOT_HEAP_TARGET)} over 500`, ms(r.p50), ms(r.p95), r.failedCalls, r.stateKept ? 'yes' : 'NO', where]),
        ),
        '',
        `The dev --hot process runs with --expose-gc; the fixture's \`heap\` tool runs in it (the entry is evaluated in the dev process), calls global.gc() twice and answers process.memoryUsage().heapUsed; each reading is the lowest of three. The heap is read after the warm-up reloads and again after the reloads that follow; growth is the difference. Each reload is a save of the tools module, then polling every 5 ms until the new version answers (bounded at 30 s, the whole run at 10 min); the p50/p95 here are over those reloads, one variant alone, so they are a check, not a comparison. Saves are at least ${SAVE_GAP_MS} ms apart: dev's watcher (chokidar) drops a second change of the same file within 50 ms of the previous one, and a hot reload answers sooner than that.`,
        '',
      ]),
  ...(replicas === undefined
    ? []
    : replicas.skipped !== undefined
      ? ['## Replicas on Redis', '', `Not run: ${replicas.skipped}. Install redis-server (Debian: \`apt-get install redis-server\`) and run \`BENCH_ONLY=replicas npm run bench\`.`, '']
      : [
          `## Replicas on Redis: throughput, and the cost of a session another replica opened${quick ? ' (quick)' : ''}`,
          '',
          replicasTable(replicaRows),
          '',
          `Throughput: ${CLIENTS} clients in this process, each on its own 2025-era Streamable HTTP session, call \`tools/call echo\` as fast as they can through one round-robin proxy without affinity (a node:http child process, keep-alive to the replicas), so consecutive calls of a session land on different replicas. Replicas are \`serve()\` processes (dist/, one shared McpServer) on one redis-server (MCP_REDIS_URL); "${MEMORY_VARIANT}" has no MCP_REDIS_URL and sits behind the same proxy. The variants run in alternating blocks (${CLIENTS} × ${quick ? 50 : 100} calls each); calls/s is over the timed blocks, median and p99 are per call with ${CLIENTS} in flight. Before timing, every replica of a group has served (and so restored) every session, so the timed calls find their sessions held: the Redis commands column, counted by redis-server (INFO commandstats) during each variant's blocks, shows what a held session asks of Redis: its answer's two events (the SDK's priming event and the response) written to the session's event stream for resuming, XADD and PEXPIRE each, which the SDK awaits before it sends them; the session's TTL touch (PEXPIRE, at most once per tenth of the TTL per session and replica, not awaited) is rarer. This machine has ${host.cores} cores shared by the clients, the proxy, the replicas and redis-server: more replicas cannot add CPU here, so the 2- and 3-replica rows show what spreading sessions over processes costs, not what scaling out gains.`,
          '',
          `Per-request cost of Redis: one call at a time, sent straight to a replica (no proxy), on fresh sessions, the variants interleaved call by call. "${HELD_MEMORY_FIRST}" and "${HELD_MEMORY}" are the first and second echo calls on a session of the in-memory replica (its \`initialized\` notification sent between them, so that, as on replica 0, the first call is the first request its transport sees after the initialize). On Redis, a session is opened on replica 0 and its \`initialized\` notification goes to replica 1 (which restores it there, untimed), as a round-robin proxy would send it; then "${HELD_TOUCH}" is replica 0's first call on it (timed next to the in-memory first call, in alternating order, as are the second calls), when its TTL touch is due (PEXPIRE, sent without waiting); "${RESTORED}" is a call on replica 2, which has never seen the session (GET, a transport rebuilt with the initialize and initialized replayed into it, a touch, then the call, whose answer also carries the tools/list_changed a restore sends); "${HELD_REDIS}" is replica 0's second call (no touch due; its two events are written to Redis and awaited, most of its cost over in memory). "${REDIS_GET}" is a GET of the session's key from this process over a plain socket, for scale. Ratios: restored ÷ held on Redis ${times(replicaRow('latency', RESTORED)?.ratio)} (p99 ${times(replicaRow('latency', RESTORED)?.ratioP99)}), ${usOf(replicaRow('latency', RESTORED)?.median)} against ${usOf(replicaRow('latency', HELD_REDIS)?.median)}; held on Redis ÷ in memory ${times(replicaRow('latency', HELD_REDIS)?.ratio)}, with the touch due ${times(replicaRow('latency', HELD_TOUCH)?.ratio)}. Redis commands per sample (a session opened, restored on two replicas, called three times, GET once from here, deleted): ${replicas.perSample}.`,
          '',
        ]),
].join('\n');

// Lower is better on every bar; each target is the issue's goal for that ratio.
const ours = (scenario: string, transport: string) => overhead.find((r) => r.scenario === scenario && r.transport === transport && r.variant === 'mcp-http-transport');
const bars: { label: string; ratio: number; target?: number }[] = [];
for (const transport of ['stdio', 'legacy SSE', 'Streamable HTTP']) {
  const row = ours('latency', transport);
  if (row?.ratio) bars.push({ label: `${transport} latency ÷ raw SDK`, ratio: row.ratio, target: 1.05 });
}
const throughput = ours('throughput', 'Streamable HTTP');
if (throughput?.ratio) bars.push({ label: 'raw SDK ÷ ours, calls/s (8 clients)', ratio: 1 / throughput.ratio, target: 1.05 });
for (const measure of ['RSS', 'JS heap']) {
  const memory = ours(`memory (${measure})`, 'Streamable HTTP');
  if (memory?.ratio) bars.push({ label: `${measure} per idle session ÷ raw SDK`, ratio: memory.ratio, target: 0.5 });
}
const streamable = ours('latency', 'Streamable HTTP');
if (streamable?.vsFloor) bars.push({ label: 'Streamable HTTP ÷ node:http floor', ratio: streamable.vsFloor, target: 2 });
// Short labels (the chart's label column is narrow): the client is node:http with an Agent, or fetch.
const short = (client: OverheadRow['client']) => (client === 'fetch' ? 'fetch' : 'agent');
for (const row of modernOurs) if (row.ratio) bars.push({ label: `2026-07-28 ÷ SDK v2 handler (${short(row.client)})`, ratio: row.ratio, target: MODERN_SDK_TARGET });
for (const row of modernOurs) if (row.vsFloor) bars.push({ label: `2026-07-28 ÷ node:http floor (${short(row.client)})`, ratio: row.vsFloor, target: MODERN_FLOOR_TARGET });
const remote = bridge.find((r) => r.scenario === 'per-call latency' && r.variant.startsWith('mcp-remote'));
const ourBridge = bridge.find((r) => r.scenario === 'per-call latency' && r.variant.startsWith('mcp-http-transport'));
if (ourBridge?.ratio) bars.push({ label: 'bridge per call ÷ direct', ratio: ourBridge.ratio, target: remote?.ratio });
for (const row of reload.filter((r) => r.variant !== 'bare nodemon')) {
  if (row.variant === HOT_VARIANT) {
    bars.push({ label: `reload p50 (${row.lang}), dev --hot ÷ dev (restart)`, ratio: row.p50 / plainDev(row.lang).p50, target: 1 / HOT_SPEEDUP });
    bars.push({ label: `reload p50 (${row.lang}), dev --hot ÷ ${HOT_TARGET_MS} ms`, ratio: row.p50 / HOT_TARGET_MS, target: 1 });
    continue;
  }
  if (row.variant === SLOW_VARIANT) {
    const plain = plainDev(row.lang).p50;
    bars.push({ label: `reload p50 (${row.lang}), 3 s call in flight ÷ dev`, ratio: row.p50 / plain, target: (plain + SLOW_TARGET_MS) / plain });
    continue;
  }
  const floor = bare(row.lang).p50;
  bars.push({ label: `reload p50 (${row.lang}), ${row.variant} ÷ bare`, ratio: row.p50 / floor, target: (floor + 50) / floor });
}
for (const row of hotMemory) {
  // The goal is per 500 reloads: a shorter (quick) run is scaled up to 500.
  bars.push({ label: `heap growth (${row.lang}), ${row.reloads} hot reloads ÷ ${mib(HOT_HEAP_TARGET * (row.reloads / 500))}`, ratio: row.growth / (HOT_HEAP_TARGET * (row.reloads / 500)), target: 1 });
}
for (const row of replicaRows.filter((r) => r.scenario === 'throughput' && r.variant !== MEMORY_VARIANT)) {
  if (row.ratio) bars.push({ label: `in memory ÷ ${row.variant}, calls/s`, ratio: 1 / row.ratio });
}
for (const variant of [HELD_REDIS, RESTORED]) {
  const row = replicaRow('latency', variant);
  if (row?.ratio) bars.push({ label: `${variant === RESTORED ? 'restored ÷ held on Redis' : 'held on Redis ÷ in memory'}, latency`, ratio: row.ratio });
}
const svg = ratioChart(bars, `mcp-http-transport ratios (lower is better; tick = target) · ${where}`);

process.stdout.write(`${report}\n`);
if (partial) {
  process.stderr.write('bench: a partial run (BENCH_ONLY): bench/results/ left as it was\n');
} else {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.md'), report);
  writeFileSync(join(out, 'latest.svg'), svg);
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ machine: host, quick, date: new Date().toISOString(), overhead, bridge, reload, hotMemory, replicas: replicaRows }, null, 2)}\n`);
}

function times(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? 'n/a' : `×${r.toFixed(2)}`;
}

function ms2(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(n < 10 ? 2 : 0)} ms` : 'n/a';
}
