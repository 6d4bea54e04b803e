import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, emptyDir } from './helpers.js';

/** A throwaway user project for the dev tests of the 2026-07-28 era: a factory of SDK v2 servers. */

const LIB = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

/**
 * The user's server, version `v`: a factory of SDK v2 `McpServer`s (so that `/mcp` serves both eras).
 * - `echo` answers `v<n>:<text>`;
 * - `slow` (no annotations) and `slow-read` (`readOnlyHint: true`) say `entered <tool> <gate>` on stderr,
 *   then wait until the file `gates/<gate>` exists in the project (the test opens it), and answer the
 *   version (`slow-read` adds its pid); cancelled meanwhile, they say `cancelled <tool> <gate>`;
 * - `change-tools` sends `tools/list_changed` through the instance's own `sendToolListChanged()`.
 */
export function modernServerSource(v: number, gates: string): string {
  return `import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { serve } from '${LIB}';
const VERSION = 'v${v}';
const GATES = ${JSON.stringify(gates)};
async function gate(tool, name, signal) {
  process.stderr.write('entered ' + tool + ' ' + name + '\\n');
  while (!existsSync(join(GATES, name))) {
    if (signal.aborted) return void process.stderr.write('cancelled ' + tool + ' ' + name + '\\n');
    await new Promise((r) => setTimeout(r, 20));
  }
}
function build() {
  const server = new McpServer({ name: 'dev-modern-fixture', version: VERSION }, { capabilities: { tools: { listChanged: true } } });
  server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text: VERSION + ':' + text }] }));
  server.registerTool('slow', { inputSchema: z.object({ gate: z.string() }) }, async ({ gate: name }, ctx) => {
    await gate('slow', name, ctx.mcpReq.signal);
    return { content: [{ type: 'text', text: VERSION }] };
  });
  server.registerTool('slow-read', { inputSchema: z.object({ gate: z.string() }), annotations: { readOnlyHint: true } }, async ({ gate: name }, ctx) => {
    await gate('slow-read', name, ctx.mcpReq.signal);
    return { content: [{ type: 'text', text: VERSION + ' pid ' + process.pid }] };
  });
  server.registerTool('change-tools', { inputSchema: z.object({}) }, async () => {
    await server.sendToolListChanged();
    return { content: [{ type: 'text', text: 'changed' }] };
  });
  return server;
}
await serve({ server: build });
`;
}

/** A temp project: `src/server.mjs` (the server above), `gates/`, and the repo's node_modules linked in. */
export function modernProject(): { dir: string; file: string; write: (v: number) => void; open: (gate: string) => void } {
  const dir = emptyDir();
  mkdirSync(join(dir, 'src'));
  const gates = join(dir, 'gates');
  mkdirSync(gates);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dev-modern-fixture', type: 'module', private: true }));
  const file = join(dir, 'src', 'server.mjs');
  const write = (v: number) => writeFileSync(file, modernServerSource(v, gates));
  write(1);
  const open = (gate: string) => {
    if (!existsSync(join(gates, gate))) writeFileSync(join(gates, gate), '');
  };
  return { dir, file, write, open };
}
