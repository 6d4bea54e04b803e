import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { alive, freePort, portIsFree, project } from '../dev-fixture.js';
import { ROOT, textOf, waitFor } from '../helpers.js';

const WRAPPER = join(ROOT, 'scripts', 'mcp-server-wrapper.sh');
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;

async function launch(cwd: string, args: string[], env: Record<string, string>) {
  const transport = new StdioClientTransport({ command: WRAPPER, args, cwd, env: { ...cleanEnv(), ...env }, stderr: 'pipe' });
  let err = '';
  transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: 'claude-desktop-like', version: '0.9.0' });
  await client.connect(transport);
  return { client, pid: transport.pid!, err: () => err };
}

describe('scripts/mcp-server-wrapper.sh', () => {
  it("without MCP_DEV_MODE, execs the package's start script in stdio mode: one process, the server itself", async () => {
    const { dir } = project('mjs');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, scripts: { start: 'node src/server.mjs' } }));
    const { client, pid } = await launch(dir, [], {});
    try {
      expect(textOf(await client.callTool({ name: 'version' }))).toBe('v1');
      // exec all the way down: the process the client launched is node running the server.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(cmdline.slice(-1)[0]).toBe('src/server.mjs');
      expect(cmdline[0]).toMatch(/node$/);
    } finally {
      await client.close();
    }
  });

  it('with MCP_DEV_MODE=1, runs dev mode behind stdio: the same session sees the new code after a save', async () => {
    const { dir, write } = project('mjs');
    const port = await freePort();
    const { client, pid, err } = await launch(dir, ['node', 'src/server.mjs'], { MCP_DEV_MODE: '1', MCP_HTTP_PORT: String(port), MCP_HTTP_HOST: '127.0.0.1', MCP_WATCH: 'src' });
    try {
      expect(textOf(await client.callTool({ name: 'version' }))).toBe('v1');
      write(2);
      await waitFor(() => err().includes('reloaded in'), 'the reload', 30_000);
      expect(textOf(await client.callTool({ name: 'version' }))).toBe('v2');
      expect(err()).toContain('watching src');
    } finally {
      await client.close();
    }
    await waitFor(() => !alive(pid), 'the wrapper to exit when stdin closes', 10_000);
    expect(await portIsFree(port)).toBe(true);
  }, 60_000);

  it('explains a missing start script in one line and exits 2', async () => {
    const { dir } = project('mjs');
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(WRAPPER, [], { cwd: dir, env: cleanEnv(), encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining('has no start script')]);
  });

  it.each([
    [{ MCP_HTTP_PORT: 'abc' }, 'mcp-http-transport: MCP_HTTP_PORT=abc is not a port'],
    [{ MCP_HTTP_HOST: 'http://localhost' }, 'mcp-http-transport: MCP_HTTP_HOST=http://localhost is not a host'],
  ])('with MCP_DEV_MODE=1 and %j, names the variable the user set (not a dev flag) in one line and exits 2', async (env, line) => {
    const { dir } = project('mjs');
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(WRAPPER, ['node', 'src/server.mjs'], { cwd: dir, env: { ...cleanEnv(), MCP_DEV_MODE: '1', ...env }, encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(line)]);
    expect(result.stderr).not.toMatch(/--port|--host/);
  });
});
