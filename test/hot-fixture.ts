import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, emptyDir } from './helpers.js';

/**
 * A throwaway user project for `dev --hot`: an entry (`src/server`), a tools module that the tests
 * edit, and a state module they never edit (standing in for a database pool). `state` reports the pid,
 * when the state module was evaluated, and how many times it was.
 */
export interface HotFixtureOptions {
  ext: 'mjs' | 'ts';
  /** `McpServer` (high level) or the low-level `Server`. */
  api: 'mcp' | 'low';
  /** One shared instance, or a factory (one instance per session). */
  shared: boolean;
}

const LIB = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

function stateSource(): string {
  return `const g = globalThis as any;
g.__hotFixtureEvaluations = (g.__hotFixtureEvaluations ?? 0) + 1;
export const state = { createdAt: Date.now(), evaluations: g.__hotFixtureEvaluations as number };
`;
}

/** The tools module at version `v`, with `extra` tool names added. */
function toolsSource(v: number, extra: readonly string[], api: 'mcp' | 'low', broken = false): string {
  const common = `import { state } from './state.js';
export const VERSION: string = 'v${v}';
/** When true, building a server throws (a duplicate tool, say): the module loads, the server does not. */
const BROKEN = ${broken};
const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
// A timer of this module's, disposed the documented way when the module is evaluated again.
const live = globalThis as any;
live.__hotFixtureTimers = (live.__hotFixtureTimers ?? 0) + 1;
const timer = setInterval(() => {}, 60_000);
(import.meta as any).hot?.dispose(() => {
  clearInterval(timer);
  live.__hotFixtureTimers--;
});
/** name -> handler, given the server (for whoami) and the request's extra. */
export const tools: Record<string, (server: any, extra?: any) => Promise<any>> = {
  sid: async (_server: any, extra?: any) => text(String(extra?.sessionId)),
  version: async () => text(VERSION),
  whoami: async (server: any) => text(JSON.stringify((server.server ?? server).getClientVersion() ?? null)),
  state: async () => text(JSON.stringify({ pid: process.pid, createdAt: state.createdAt, evaluations: state.evaluations })),
  timers: async () => text(String(live.__hotFixtureTimers)),
  // Runs until a 'release' call: the test decides when it ends, after the save it must outlive.
  slow: async () => {
    process.stderr.write('entered slow ' + VERSION + '\\n');
    await new Promise((r) => (live.__hotFixtureWaiting ??= []).push(r));
    return text(VERSION);
  },
  release: async () => {
    for (const r of (live.__hotFixtureWaiting ?? []).splice(0)) r();
    return text('released');
  },
${extra.map((name) => `  ${JSON.stringify(name)}: async () => text(${JSON.stringify(name)}),`).join('\n')}
};
`;
  return api === 'mcp'
    ? `${common}export function register(server: any) {
  if (BROKEN) server.registerTool('version', {}, async () => text('duplicate'));
  for (const [name, handler] of Object.entries(tools)) server.registerTool(name, {}, async (extra: any) => handler(server, extra));
}
`
    : `${common}export function register(server: any, schemas: any) {
  server.setRequestHandler(schemas.ListToolsRequestSchema, async () => ({ tools: Object.keys(tools).map((name) => ({ name, inputSchema: { type: 'object' } })) }));
  if (BROKEN) throw new Error('broken build');
  server.setRequestHandler(schemas.CallToolRequestSchema, async (request: any, extra: any) => tools[request.params.name]!(server, extra));
}
`;
}

function entrySource({ api, shared }: HotFixtureOptions): string {
  const build =
    api === 'mcp'
      ? `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
function build() {
  const server = new McpServer({ name: 'hot-fixture', version: '1.0.0' });
  register(server);
  return server;
}`
      : `import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import * as schemas from '@modelcontextprotocol/sdk/types.js';
function build() {
  const server = new Server({ name: 'hot-fixture', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
  register(server, schemas);
  return server;
}`;
  return `${build}
import { serve } from '${LIB}';
import { register } from './tools.js';
await serve({ server: ${shared ? 'build()' : 'build'} });
`;
}

/** Type annotations out, for the JavaScript flavour. */
function js(source: string): string {
  return source
    .replace(/ as any/g, '')
    .replace(/ as number/g, '')
    .replace(/ as const/g, '')
    .replace(/\(import\.meta as any\)/g, 'import.meta')
    .replace(/: Record<string, \(server: any, extra\?: any\) => Promise<any>>/g, '')
    .replace(/\(_server: any, extra\?: any\)/g, '(_server, extra)')
    .replace(/\(extra: any\)/g, '(extra)')
    .replace(/\(request: any, extra: any\)/g, '(request, extra)')
    .replace(/\(t: string\)/g, '(t)')
    .replace(/\(server: any, schemas: any\)/g, '(server, schemas)')
    .replace(/\((server|request): any\)/g, '($1)')
    .replace(/: string = /g, ' = ')
    .replace(/\]!\(/g, '](')
    .replace(/'\.\/(state|tools)\.js'/g, "'./$1.mjs'");
}

export function hotProject(options: HotFixtureOptions) {
  const dir = emptyDir();
  mkdirSync(join(dir, 'src'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'hot-fixture', type: 'module', private: true }));
  const file = (name: string) => join(dir, 'src', `${name}.${options.ext}`);
  const put = (name: string, source: string) => writeFileSync(file(name), options.ext === 'ts' ? source : js(source));
  put('state', stateSource());
  put('server', entrySource(options));
  const write = (v: number, extra: readonly string[] = [], broken = false) => put('tools', toolsSource(v, extra, options.api, broken));
  write(1);
  return { dir, entry: `src/server.${options.ext}`, tools: file('tools'), write, breakTools: () => writeFileSync(file('tools'), 'export const = ;\n') };
}
