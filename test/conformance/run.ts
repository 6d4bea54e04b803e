/**
 * Runs the server scenarios of both conformance suites against the targets of serve.ts and counts
 * the checks:
 *
 *   2025: @modelcontextprotocol/conformance 0.1.16 (`conformance-2025`), every server scenario
 *         (`--suite all`: active and pending), against our manager with the SDK v1 server and with
 *         the SDK v2 factory;
 *   2026: @modelcontextprotocol/conformance 0.2.0-alpha.12 (`conformance-2026`),
 *         `--requirements 2026-07-28` (the required scenarios plus the ones it runs without scoring),
 *         against SDK v2's own createMcpHandler and against our manager, both on the same v2 factory.
 *
 * Each suite runs in one CLI process (scenarios one after another, as the tool runs them). The two
 * 2026 runs go together, so that the SDK baseline and ours meet the same load (some scenarios wait
 * on stream frames with sub-second deadlines); then the 2025 runs, together. Every server and CLI
 * process is started here and stopped here, by pid.
 *
 *   npx tsx test/conformance/run.ts [--only 2025|2026] [--sdk-2025] [--json]
 *
 * --sdk-2025 adds the 2025 suite against the SDK's own handler (informational: its 2025 leg is
 * stateless, so sessions, server→client requests and resumption are out of its reach).
 * --json prints the summary as one line of JSON on stdout (the table then goes to stderr).
 * CONFORMANCE_MANAGER=dist serves our manager from dist/ (after `npm run build`) instead of src/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const PRELOAD = join(here, 'node20-preload.mjs');
const SERVE = join(here, 'serve.ts');
const TSX = require.resolve('tsx');

type Suite = '2025' | '2026';
type TargetName = 'sdk' | 'ours-v1' | 'ours-v2';

export interface ScenarioCount {
  scenario: string;
  passed: number;
  failed: number;
  warnings: number;
  failures: string[];
}

export interface SuiteRun {
  suite: Suite;
  tool: string;
  target: TargetName;
  passed: number;
  failed: number;
  warnings: number;
  total: number;
  scenarios: ScenarioCount[];
  /** The CLI's own "Total: N passed, M failed" line, as a cross-check of the counts read from checks.json. */
  cliTotal: string | undefined;
  /** The end of the CLI's output when it did not finish normally (exit code other than 0 or 1, or no total). */
  cliTail?: string;
  exitCode: number | null;
  seconds: number;
}

export interface Summary {
  node: string;
  runs: SuiteRun[];
  seconds: number;
}

const SUITES: Record<Suite, { pkg: string; args: string[] }> = {
  '2025': { pkg: 'conformance-2025', args: ['--suite', 'all'] },
  '2026': { pkg: 'conformance-2026', args: ['--requirements', '2026-07-28'] },
};

function cliPath(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist', 'index.js');
}

function toolVersion(pkg: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
}

/** Resolves once `child` has exited; SIGKILLs it (by pid) if it outlives `deadlineMs`. */
function exitOf(child: ChildProcess, deadlineMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

interface Served {
  name: TargetName;
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

/** Starts serve.ts for one target and waits (with a deadline) for the line that carries its URL. */
function serve(name: TargetName): Promise<Served> {
  const args = name === 'sdk' ? ['sdk'] : ['ours', name === 'ours-v1' ? 'v1' : 'v2'];
  const child = spawn(process.execPath, ['--import', TSX, SERVE, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name}: ${why}\n${err}`));
    };
    const timer = setTimeout(() => fail('no URL within 30 s'), 30_000);
    child.once('exit', (code) => fail(`exited (${code}) before serving`));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((candidate) => candidate.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ name, url: (JSON.parse(line) as { url: string }).url, child, stderr: () => err });
    });
  });
}

async function stop(served: Served): Promise<void> {
  if (served.child.exitCode !== null || served.child.signalCode !== null) return;
  served.child.kill('SIGTERM');
  await exitOf(served.child, 5_000);
}

/** Per-scenario counts from the checks.json files a CLI run wrote under `dir`. */
function readChecks(dir: string): ScenarioCount[] {
  const counts: ScenarioCount[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry)?.[1];
    if (!scenario) continue;
    const file = join(dir, entry, 'checks.json');
    if (!existsSync(file)) {
      // The tool makes the directory first and writes the checks at the end: it died inside this scenario.
      counts.push({ scenario, passed: 0, failed: 1, warnings: 0, failures: ['no checks.json: the tool did not finish this scenario'] });
      continue;
    }
    const checks = JSON.parse(readFileSync(file, 'utf8')) as Array<{ id: string; status: string; errorMessage?: string }>;
    const failures = checks.filter((check) => check.status === 'FAILURE');
    counts.push({
      scenario,
      passed: checks.filter((check) => check.status === 'SUCCESS').length,
      failed: failures.length,
      warnings: checks.filter((check) => check.status === 'WARNING').length,
      failures: failures.map((check) => `${check.id}${check.errorMessage ? `: ${check.errorMessage}` : ''}`),
    });
  }
  return counts;
}

async function runSuite(suite: Suite, served: Served, deadlineMs = 120_000): Promise<SuiteRun> {
  const { pkg, args } = SUITES[suite];
  const out = mkdtempSync(join(tmpdir(), `conformance-${suite}-${served.name}-`));
  const started = Date.now();
  // cwd in the scratch directory too, so that nothing the tool writes lands in the checkout.
  const child = spawn(process.execPath, ['--import', PRELOAD, cliPath(pkg), 'server', '--url', served.url, ...args, '-o', out], { cwd: out, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exitCode = await exitOf(child, deadlineMs);
  try {
    const scenarios = readChecks(out);
    const cliTotal = /Total: \d+ passed, \d+ failed/.exec(stdout)?.[0];
    const sum = (key: 'passed' | 'failed' | 'warnings') => scenarios.reduce((total, scenario) => total + scenario[key], 0);
    if (scenarios.length === 0) throw new Error(`conformance ${suite} against ${served.name} wrote no results (exit ${exitCode}):\n${stdout.slice(-4000)}\n${served.stderr()}`);
    return {
      suite,
      tool: `${pkg} (@modelcontextprotocol/conformance@${toolVersion(pkg)})`,
      target: served.name,
      passed: sum('passed'),
      failed: sum('failed'),
      warnings: sum('warnings'),
      total: sum('passed') + sum('failed'),
      scenarios,
      cliTotal,
      ...((exitCode !== 0 && exitCode !== 1) || !cliTotal ? { cliTail: stdout.slice(-3000) } : {}),
      exitCode,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function runConformance(options: { only?: Suite; sdk2025?: boolean } = {}): Promise<Summary> {
  const started = Date.now();
  // Phases run one after the other; the runs of a phase, in parallel.
  const phases: Array<Array<[Suite, TargetName]>> = [];
  if (options.only !== '2025') phases.push([['2026', 'sdk'], ['2026', 'ours-v2']]);
  if (options.only !== '2026') phases.push([['2025', 'ours-v1'], ['2025', 'ours-v2'], ...(options.sdk2025 ? [['2025', 'sdk'] as [Suite, TargetName]] : [])]);
  const names = [...new Set(phases.flat().map(([, target]) => target))];
  const launched = await Promise.allSettled(names.map((name) => serve(name)));
  const servers = new Map<TargetName, Served>();
  for (const result of launched) if (result.status === 'fulfilled') servers.set(result.value.name, result.value);
  try {
    const failedToStart = launched.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failedToStart) throw failedToStart.reason;
    const runs: SuiteRun[] = [];
    for (const phase of phases) {
      // Settled, not all: every run of the phase finishes (and cleans up) before an error goes up.
      const results = await Promise.allSettled(phase.map(([suite, target]) => runSuite(suite, servers.get(target)!)));
      for (const result of results) {
        if (result.status === 'rejected') throw result.reason;
        runs.push(result.value);
      }
    }
    return { node: process.version, runs, seconds: (Date.now() - started) / 1000 };
  } finally {
    await Promise.all([...servers.values()].map((served) => stop(served)));
  }
}

export function formatSummary(summary: Summary): string {
  const lines = [`conformance server scenarios, Node ${summary.node}, ${summary.seconds.toFixed(1)} s in all`];
  for (const run of summary.runs) {
    lines.push(`  ${run.suite} ${run.tool} vs ${run.target}: ${run.passed}/${run.total} checks passed, ${run.failed} failed, ${run.warnings} warnings, ${run.scenarios.length} scenarios (${run.seconds.toFixed(1)} s)`);
    if (run.cliTail) lines.push(`    the tool did not finish normally (exit ${run.exitCode}); its output ends:\n${run.cliTail.replace(/^/gm, '      | ')}`);
    for (const scenario of run.scenarios.filter((candidate) => candidate.failed > 0)) {
      lines.push(`    ✗ ${scenario.scenario}: ${scenario.passed} passed, ${scenario.failed} failed`);
    }
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? (argv[onlyAt + 1] as Suite) : undefined;
  runConformance({ only, sdk2025: argv.includes('--sdk-2025') }).then(
    (summary) => {
      if (argv.includes('--json')) {
        process.stderr.write(`${formatSummary(summary)}\n`);
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else console.log(formatSummary(summary));
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
