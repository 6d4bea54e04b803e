import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { BIN, alive, freePort, pollVersions, portIsFree } from '../dev-fixture.js';
import { connectClient, textOf, waitFor } from '../helpers.js';
import { hotProject, type HotFixtureOptions } from '../hot-fixture.js';

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;

/**
 * `dev --hot` launched the way Claude Desktop launches a server (stdio on the dev process itself),
 * plus a Streamable HTTP and an SSE client on its port. Each client counts its `tools/list_changed`.
 */
async function startHot(options: HotFixtureOptions) {
  const fixture = hotProject(options);
  const port = await freePort();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'dev', '--hot', '--port', String(port), '--host', '127.0.0.1', '--watch', 'src', '--', options.ext === 'ts' ? 'tsx' : 'node', fixture.entry],
    cwd: fixture.dir,
    env: cleanEnv(),
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const stdio = new Client({ name: 'hot-stdio', version: '1.0.0' });
  await stdio.connect(transport);
  const base = `http://127.0.0.1:${port}`;
  const http = await connectClient(base, 'streamable', 'hot-streamable');
  const sse = await connectClient(base, 'sse', 'hot-sse');
  const clients = [stdio, http, sse];
  const listChanged = clients.map(() => 0);
  clients.forEach((client, i) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged[i]!++));
  return { ...fixture, port, devPid: transport.pid!, clients, names: ['hot-stdio', 'hot-streamable', 'hot-sse'], listChanged, err: () => err };
}

const stateOf = async (client: Client) => JSON.parse(textOf(await client.callTool({ name: 'state' }))) as { pid: number; createdAt: number; evaluations: number };

describe.each([
  ['JavaScript, McpServer factory', { ext: 'mjs', api: 'mcp', shared: false }],
  ['TypeScript, low-level Server shared', { ext: 'ts', api: 'low', shared: true }],
] as const)('mcp-http-transport dev --hot, %s', (_name, options) => {
  it('10 saves with stdio, Streamable HTTP and SSE clients calling: nothing fails, same process and state, list_changed for a new tool, a syntax error keeps the old code', async () => {
    const hot = await startHot(options);
    const { clients } = hot;
    try {
      const before = await stateOf(clients[0]!);
      expect(before.pid).toBe(hot.devPid); // the server runs inside dev itself
      // Handlers see their session's id from the start (a Streamable HTTP session gets it after connecting).
      expect(textOf(await clients[1]!.callTool({ name: 'sid' }))).toMatch(/^[0-9a-f-]{36}$/);
      const poll = pollVersions(clients, 5);
      await waitFor(() => poll.seenByAll('v1'), 'every client to see v1');
      for (let v = 2; v <= 11; v++) {
        hot.write(v);
        await waitFor(() => poll.seenByAll(`v${v}`), `every client to see v${v}`, 15_000);
      }
      expect(hot.listChanged).toEqual([0, 0, 0]); // the same tools each time: nothing to refetch
      // Each old tools module disposed its timer through import.meta.hot.dispose: one is left.
      expect(textOf(await clients[1]!.callTool({ name: 'timers' }))).toBe('1');

      // A call running during a save finishes on the old code; the next call runs the new one.
      const slow = clients.map((c) => c.callTool({ name: 'slow' }));
      await waitFor(() => (hot.err().match(/entered slow v11\n/g) ?? []).length === 3, 'the slow calls to be running');

      // A new tool: every client is told, and then lists it.
      hot.write(12, ['added']);
      await waitFor(() => hot.listChanged.every((n) => n === 1), 'tools/list_changed on every client', 15_000);
      // The old generation still holds the three calls; releasing them answers each from the old code.
      expect(textOf(await clients[0]!.callTool({ name: 'release' }))).toBe('released');
      expect((await Promise.all(slow)).map(textOf)).toEqual(['v11', 'v11', 'v11']);
      for (const client of clients) expect((await client.listTools()).tools.map((t) => t.name)).toContain('added');
      expect(textOf(await clients[2]!.callTool({ name: 'added' }))).toBe('added');

      // A syntax error: one line with the file, and the old code keeps answering.
      hot.breakTools();
      await waitFor(() => hot.err().includes('hot reload failed'), 'the failed reload to be reported', 15_000);
      const failed = hot.err().split('\n').find((l) => l.includes('hot reload failed'))!;
      expect(failed).toMatch(/hot reload failed: .+ \(src\/tools\.(mjs|ts):1\)/);
      expect(failed).toContain('the previous code keeps serving');
      for (const client of clients) expect(textOf(await client.callTool({ name: 'version' }))).toBe('v12');
      // A module that loads but builds a server that cannot start: the old code keeps serving, every session kept.
      hot.write(13, ['added'], true);
      // (A factory fails when dev builds a server from it; a shared instance, while the entry evaluates.)
      await waitFor(() => (hot.err().match(/hot reload failed: /g) ?? []).length === 2, 'the failed start to be reported', 15_000);
      expect(hot.err()).toMatch(options.shared ? /hot reload failed: broken build/ : /hot reload failed: the new server failed to start: .*already registered/);
      for (const client of clients) expect(textOf(await client.callTool({ name: 'version' }))).toBe('v12');
      hot.write(13, ['added']);
      await waitFor(() => poll.seenByAll('v13'), 'every client to see v13 after the fix', 15_000);
      await poll.stop();

      expect(poll.failures).toEqual([]);
      for (const m of poll.firstSeen) expect([...m.keys()]).toEqual(Array.from({ length: 13 }, (_, i) => `v${i + 1}`));
      // Same process, and the module nobody edited kept its state.
      const after = await stateOf(clients[1]!);
      expect(after).toEqual({ pid: before.pid, createdAt: before.createdAt, evaluations: 1 });
      // The new code still knows each client by its own initialize (one shared instance knows only the latest).
      const whoami = await Promise.all(clients.map(async (c) => JSON.parse(textOf(await c.callTool({ name: 'whoami' }))) as { name: string }));
      if (options.shared) for (const w of whoami) expect(hot.names).toContain(w.name);
      else expect(whoami.map((w) => w.name)).toEqual(hot.names);
      expect(hot.err()).toMatch(/hot-reloaded src\/tools\.(mjs|ts) in \d+ ms · 3 sessions kept/);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    // Closing the stdio client closes dev's stdin: dev stops and frees its port.
    await waitFor(() => !alive(hot.devPid), 'dev to exit when stdin closes', 10_000);
    expect(await portIsFree(hot.port)).toBe(true);
  }, 120_000);
});

describe('mcp-http-transport dev --hot, the other server kinds', () => {
  it.each([
    ['McpServer shared', { ext: 'mjs', api: 'mcp', shared: true }],
    ['low-level Server factory', { ext: 'mjs', api: 'low', shared: false }],
  ] as const)('%s: a save brings the new code to a connected client', async (_name, options) => {
    const hot = await startHot(options);
    try {
      expect(textOf(await hot.clients[1]!.callTool({ name: 'version' }))).toBe('v1');
      hot.write(2);
      await waitFor(async () => textOf(await hot.clients[1]!.callTool({ name: 'version' })) === 'v2', 'the new code', 15_000);
      expect(textOf(await hot.clients[0]!.callTool({ name: 'version' }))).toBe('v2');
    } finally {
      await Promise.all(hot.clients.map((c) => c.close()));
    }
    await waitFor(() => !alive(hot.devPid), 'dev to exit', 10_000);
  }, 60_000);

  it('package.json changing restarts the code in place (state evaluated again), clients keep their sessions', async () => {
    const hot = await startHot({ ext: 'mjs', api: 'mcp', shared: false });
    try {
      const before = await stateOf(hot.clients[1]!);
      const { writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      writeFileSync(join(hot.dir, 'src', 'package.json'), '{}');
      await waitFor(() => hot.err().includes('restarted (src/package.json changed)'), 'the restart', 15_000);
      const after = await stateOf(hot.clients[1]!);
      expect(after.pid).toBe(before.pid);
      expect(after.evaluations).toBe(2);
      expect(JSON.parse(textOf(await hot.clients[2]!.callTool({ name: 'whoami' })))).toEqual({ name: 'hot-sse', version: '1.2.3' });
    } finally {
      await Promise.all(hot.clients.map((c) => c.close()));
    }
    await waitFor(() => !alive(hot.devPid), 'dev to exit', 10_000);
  }, 60_000);
});

describe('scripts/mcp-server-wrapper.sh with MCP_DEV_MODE=1 and MCP_HOT=1', () => {
  it("runs dev --hot from the package's start script: a save reloads in process, on the same stdio session", async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { ROOT } = await import('../helpers.js');
    const fixture = hotProject({ ext: 'ts', api: 'mcp', shared: false });
    const pkg = JSON.parse(readFileSync(join(fixture.dir, 'package.json'), 'utf8'));
    writeFileSync(join(fixture.dir, 'package.json'), JSON.stringify({ ...pkg, scripts: { start: `tsx ${fixture.entry}` } }));
    const port = await freePort();
    const transport = new StdioClientTransport({
      command: join(ROOT, 'scripts', 'mcp-server-wrapper.sh'),
      cwd: fixture.dir,
      env: { ...cleanEnv(), MCP_DEV_MODE: '1', MCP_HOT: '1', MCP_HTTP_PORT: String(port), MCP_HTTP_HOST: '127.0.0.1', MCP_WATCH: 'src' },
      stderr: 'pipe',
    });
    let err = '';
    transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const client = new Client({ name: 'desktop-hot', version: '0.1.0' });
    await client.connect(transport);
    const pid = transport.pid!;
    try {
      const before = await stateOf(client);
      expect(textOf(await client.callTool({ name: 'version' }))).toBe('v1');
      fixture.write(2);
      await waitFor(async () => textOf(await client.callTool({ name: 'version' })) === 'v2', 'the new code', 15_000);
      expect(err).toMatch(/hot-reloaded src\/tools\.ts in \d+ ms · 1 session kept/);
      expect(await stateOf(client)).toEqual({ ...before });
    } finally {
      await client.close();
    }
    await waitFor(() => !alive(pid), 'the wrapper to exit when stdin closes', 10_000);
    expect(await portIsFree(port)).toBe(true);
  }, 60_000);
});
