import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ROOT, emptyDir, textOf } from './helpers.js';
export { freePort, portIsFree } from './helpers.js';

/** Shared by the dev-mode and wrapper tests: a throwaway user project running a fixture server. */

export const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');
const LIB = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

/** process.env without MCP_* (a stray setting must not change what a test runs). */
export const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;

export type Dev = ChildProcess & { err: () => string; out: () => string };

/** `mcp-http-transport dev --no-bridge` on 127.0.0.1:`port` in `dir`, watching `src`, running `command`. */
export function startDev(dir: string, port: number, command: string[], env: Record<string, string> = {}): Dev {
  const child = spawn(process.execPath, [BIN, 'dev', '--no-bridge', '--port', String(port), '--host', '127.0.0.1', '--watch', 'src', '--', ...command], {
    cwd: dir,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return Object.assign(child, { err: () => err, out: () => out });
}

/** The pid of the server process serving behind dev's port now. */
export const healthPid = async (base: string) => ((await (await fetch(`${base}/health`)).json()) as { pid: number }).pid;

/**
 * The user's server, version `v`: one McpServer per session (a factory), so `whoami` is per client.
 * `slow` (no annotations) and `slow-read` (`readOnlyHint: true`) take SLOW_MS (3 s by default) and say
 * on stderr when they start, so a test knows a call is in flight.
 */
export function serverSource(v: number): string {
  return `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve } from '${LIB}';
const VERSION: string = 'v${v}';
const SLOW_MS = Number(process.env.SLOW_MS ?? 3000);
function build() {
  const server = new McpServer({ name: 'dev-fixture', version: VERSION });
  server.registerTool('version', {}, async () => ({ content: [{ type: 'text', text: VERSION }] }));
  server.registerTool('whoami', {}, async () => ({ content: [{ type: 'text', text: JSON.stringify(server.server.getClientVersion() ?? null) }] }));
  server.registerTool('slow', {}, async () => {
    process.stderr.write('entered slow\\n');
    await new Promise((r) => setTimeout(r, SLOW_MS));
    return { content: [{ type: 'text', text: VERSION }] };
  });
  server.registerTool('slow-read', { annotations: { readOnlyHint: true } }, async () => {
    process.stderr.write('entered slow-read\\n');
    await new Promise((r) => setTimeout(r, SLOW_MS));
    return { content: [{ type: 'text', text: VERSION + ' pid ' + process.pid }] };
  });
  return server;
}
await serve({ server: build });
`;
}

/** A temp project: the server file (JS or TS) and the repo's node_modules linked in. */
export function project(ext: 'mjs' | 'ts'): { dir: string; file: string; write: (v: number) => void } {
  const dir = emptyDir();
  mkdirSync(join(dir, 'src'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dev-fixture', type: 'module', private: true }));
  const file = join(dir, 'src', `server.${ext}`);
  // JS can't carry the type annotation.
  const write = (v: number) => writeFileSync(file, ext === 'ts' ? serverSource(v) : serverSource(v).replace(': string', ''));
  write(1);
  return { dir, file, write };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Call `version` in a loop on every client (bounded in count and time), remembering when each version
 * was first seen and every failure.
 */
export function pollVersions(clients: Client[], paceMs = 10) {
  const firstSeen = clients.map(() => new Map<string, number>());
  const failures: string[] = [];
  let running = true;
  const loops = clients.map(async (client, c) => {
    const deadline = Date.now() + 150_000;
    for (let i = 0; running && i < 20_000 && Date.now() < deadline; i++) {
      try {
        const v = textOf(await client.callTool({ name: 'version' }));
        if (!firstSeen[c]!.has(v)) firstSeen[c]!.set(v, Date.now());
      } catch (error) {
        failures.push(`client ${c}: ${(error as Error).message}`);
      }
      // Paced, so that the loops leave the two cores to the servers starting beside them.
      await new Promise((r) => setTimeout(r, paceMs));
    }
  });
  return {
    firstSeen,
    failures,
    seenByAll: (v: string) => firstSeen.every((m) => m.has(v)),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

