/**
 * `npm run bench`: every scenario, comparing variants in the same run and reporting ratios.
 * `npm run bench -- --quick` runs fewer iterations. Progress goes to stderr, the report to stdout
 * and to bench/results/latest.{md,json}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { machine, ms, table } from './lib.js';
import { runReload } from './reload.js';

const quick = process.argv.includes('--quick');
const out = resolve(import.meta.dirname, 'results');
const host = machine();

const reload = await runReload(quick ? 3 : 10);
const bare = (lang: string) => reload.find((r) => r.lang === lang && r.variant === 'bare nodemon')!;

const report = [
  `# mcp-http-transport benchmarks${quick ? ' (quick)' : ''}`,
  '',
  `Machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}. Variants interleaved in one run.`,
  '',
  '## Reload: file save to the first call answered by the new code',
  '',
  table(
    ['variant', 'lang', 'reloads', 'p50', 'p95', 'p50 − bare p50', 'failed calls', 'machine'],
    reload.map((r) => [r.variant, r.lang, r.samples.length, ms(r.p50), ms(r.p95), r.variant === 'bare nodemon' ? '—' : `${(r.p50 - bare(r.lang).p50).toFixed(0)} ms`, r.variant === 'bare nodemon' ? '—' : r.failedCalls, `${host.cpu} ×${host.cores}, Node ${host.node}`]),
  ),
  '',
  'Bare nodemon is polled with fresh stateless requests, retrying refused connections at once (its failures are not counted: a bare restart refuses them). Dev mode is one SDK client on one session through the dev proxy.',
  '',
].join('\n');

process.stdout.write(`${report}\n`);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.md'), report);
writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ machine: host, quick, date: new Date().toISOString(), reload }, null, 2)}\n`);
