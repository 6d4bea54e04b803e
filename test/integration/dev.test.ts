import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT, connectClient, exited, stop, textOf, waitFor, within, type Kind } from '../helpers.js';
import { BIN, alive, cleanEnv, freePort, healthPid, pollVersions, portIsFree, project, startDev, type Dev } from '../dev-fixture.js';

const WRAPPER = join(ROOT, 'scripts', 'mcp-server-wrapper.sh');
const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

/** Lines that must never appear: a crash of working code, a port fight, or the server's internal chatter. */
const NOISE = /crashed|in use|PORT_IN_USE|listening on http|shutting down|stopped unexpectedly/;

/**
 * Five saves, each while a 3 s `slow` call is in flight on every client. Every slow call must come back
 * from the code that took it; the new code must answer within 2 s of each save; no other call fails.
 */
async function savesDuringLongCalls(clients: Client[], write: (v: number) => void, err: () => string, base?: string) {
  await Promise.all(clients.map((c) => c.listTools()));
  const poll = pollVersions(clients, 25);
  await waitFor(() => poll.seenByAll('v1'), 'every client to see v1', 30_000);
  const latencies: number[] = [];
  for (let v = 2; v <= 6; v++) {
    const oldPid = base ? await healthPid(base) : undefined;
    const entered = count(err(), /entered slow\n/g);
    let settled = false;
    const slow = clients.map((c) => c.callTool({ name: 'slow' }));
    void Promise.allSettled(slow).then(() => (settled = true));
    await waitFor(() => count(err(), /entered slow\n/g) === entered + clients.length, `the slow calls before save ${v - 1} to be running`);
    const savedAt = Date.now();
    write(v);
    await waitFor(() => poll.seenByAll(`v${v}`), `every client to see v${v}`, 30_000);
    latencies.push(Math.max(...poll.firstSeen.map((m) => m.get(`v${v}`)!)) - savedAt);
    // While it still runs the slow calls, the old process must be alive: nothing stopped it early.
    if (oldPid !== undefined && !settled) expect(alive(oldPid)).toBe(true);
    expect((await Promise.all(slow)).map(textOf)).toEqual(clients.map(() => `v${v - 1}`));
    // Each slow call ran once: the switch did not post a call the old process was still running to the new one.
    expect(count(err(), /entered slow\n/g)).toBe(entered + clients.length);
    // Once drained, the old process exits by itself.
    if (oldPid !== undefined) await waitFor(() => !alive(oldPid), `the v${v - 1} process to exit after draining`);
  }
  await poll.stop();
  expect(poll.failures).toEqual([]);
  process.stderr.write(`save → new code (ms): ${latencies.join(', ')}\n`);
  for (const latency of latencies) expect(latency).toBeLessThan(2000);
  expect(err()).not.toMatch(NOISE);
  return latencies;
}

describe.each([
  ['JavaScript (node server.mjs)', 'mjs', ['node', 'src/server.mjs']],
  ['TypeScript (tsx server.ts)', 'ts', ['tsx', 'src/server.ts']],
] as const)('mcp-http-transport dev, %s', (_name, ext, command) => {
  let dev: Dev | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    // Stopped as a user would (SIGTERM), so that dev stops every process it started.
    if (dev && dev.exitCode === null && dev.signalCode === null) {
      dev.kill('SIGTERM');
      if ((await within(exited(dev), 10_000)) === 'timed out') await stop(dev);
    }
  });

  /** A temp project under `dev`, with a Streamable HTTP and an SSE client named `<prefix>-<kind>` connected. */
  async function startWithClients(prefix: string) {
    const fixture = project(ext);
    const port = await freePort();
    dev = startDev(fixture.dir, port, [...command]);
    await waitFor(() => dev!.err().includes('ready in'), 'dev to be ready', 30_000);
    const base = `http://127.0.0.1:${port}`;
    const kinds: Kind[] = ['streamable', 'sse'];
    clients.push(...(await Promise.all(kinds.map((k) => connectClient(base, k, `${prefix}-${k}`)))));
    return { ...fixture, port, base, kinds };
  }

  it('saves during 3 s calls: each call finishes on the old code, the new code answers within 2 s, no call fails', async () => {
    const { write, port, base, kinds } = await startWithClients('dev');
    await savesDuringLongCalls(clients, write, () => dev!.err(), base);

    // The new process still knows each client by its own initialize.
    for (const [c, client] of clients.entries()) {
      expect(JSON.parse(textOf(await client.callTool({ name: 'whoami' })))).toEqual({ name: `dev-${kinds[c]}`, version: '1.2.3' });
    }
    expect(count(dev!.err(), /reloaded in \d+ ms · 2 sessions restored\n/g)).toBe(5);
    expect(dev!.out()).toBe('');

    // Stopping dev stops everything it started, frees the port, and says so.
    const serverPid = await healthPid(base);
    await Promise.all(clients.splice(0).map((c) => c.close()));
    dev!.kill('SIGTERM');
    expect((await exited(dev!)).code).toBe(143);
    expect(await portIsFree(port)).toBe(true);
    expect(alive(serverPid)).toBe(false);
    expect(dev!.err().trimEnd().split('\n').at(-1)).toBe('mcp-http-transport dev: stopped');
  }, 180_000);

  it('SIGKILL of the server mid-call: a read-only tool call is answered by the new process, an unannotated one fails within 1 s', async () => {
    const { base } = await startWithClients('crash');
    await Promise.all(clients.map((c) => c.listTools())); // as clients do: the annotations come from here
    const serverPid = await healthPid(base);
    const reads = clients.map((c) => c.callTool({ name: 'slow-read' }));
    const writes = clients.map((c) => c.callTool({ name: 'slow' }).then(() => 'answered', (e: Error) => e.message));
    await waitFor(() => count(dev!.err(), /entered slow\n/g) === 2 && count(dev!.err(), /entered slow-read\n/g) === 2, 'all four calls in flight');
    const killedAt = Date.now();
    process.kill(serverPid, 'SIGKILL');

    const failed = await Promise.all(writes);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    for (const message of failed) {
      expect(message).toMatch(/tool "slow" was running: the outcome is unknown \(it may or may not have run\)/);
    }
    const answers = (await Promise.all(reads)).map(textOf);
    const newPid = await healthPid(base);
    expect(newPid).not.toBe(serverPid);
    expect(answers).toEqual([`v1 pid ${newPid}`, `v1 pid ${newPid}`]);
    expect(dev!.err()).toMatch(/stopped unexpectedly; starting it again/);
    expect(dev!.err()).toMatch(/restarted in \d+ ms · 2 sessions restored/);
  }, 120_000);

  it('a save with a syntax error: the old code keeps answering; the next good save brings the new code', async () => {
    const { file, write } = await startWithClients('syntax');
    const poll = pollVersions(clients, 25);
    await waitFor(() => poll.seenByAll('v1'), 'every client to see v1', 30_000);
    writeFileSync(file, 'export const = ;\n');
    await waitFor(() => dev!.err().includes('failed to start'), 'the failed start to be reported', 30_000);
    const failedLine = dev!.err().split('\n').find((l) => l.includes('failed to start'))!;
    expect(failedLine).toMatch(/SyntaxError|ERROR: /);
    expect(failedLine).toContain('src/server.');
    expect(failedLine).toContain('the previous version keeps serving');
    // Calls made after the failure are answered by the old code, at once.
    const before = Date.now();
    expect(textOf(await clients[0]!.callTool({ name: 'version' }))).toBe('v1');
    expect(Date.now() - before).toBeLessThan(1000);
    write(3);
    await waitFor(() => poll.seenByAll('v3'), 'every client to see v3', 30_000);
    await poll.stop();
    expect(poll.failures).toEqual([]);
    // Timed from the save that fixed it, not the one that broke it.
    expect(dev!.err()).toMatch(/reloaded in \d+ ms/);
    expect(Number(/reloaded in (\d+) ms/.exec(dev!.err())![1])).toBeLessThan(10_000);
  }, 120_000);
});

describe('mcp-http-transport dev through the wrapper, with a stdio client (Claude Desktop)', () => {
  it('saves during 3 s calls: one session, every slow call answered by the old code, new code within 2 s', async () => {
    const { dir, write } = project('mjs');
    const port = await freePort();
    const transport = new StdioClientTransport({
      command: WRAPPER,
      args: ['node', 'src/server.mjs'],
      cwd: dir,
      env: { ...cleanEnv(), MCP_DEV_MODE: '1', MCP_HTTP_PORT: String(port), MCP_HTTP_HOST: '127.0.0.1', MCP_WATCH: 'src' },
      stderr: 'pipe',
    });
    let err = '';
    transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const client = new Client({ name: 'desktop-like', version: '0.1.0' });
    const clientErrors: string[] = [];
    client.onerror = (error) => clientErrors.push(error.message);
    await client.connect(transport);
    const devPid = transport.pid!;
    try {
      await savesDuringLongCalls([client], write, () => err, `http://127.0.0.1:${port}`);
      expect(JSON.parse(textOf(await client.callTool({ name: 'whoami' })))).toEqual({ name: 'desktop-like', version: '0.1.0' });
      // Each answer reached the client exactly once.
      expect(clientErrors.filter((m) => /unknown message ID/i.test(m))).toEqual([]);
    } finally {
      await client.close(); // closes dev's stdin
    }
    await waitFor(() => !alive(devPid), 'dev to exit when stdin closes', 10_000);
    expect(await portIsFree(port)).toBe(true);
  }, 180_000);
});

describe('mcp-http-transport dev: the stop reaches the real server through wrappers', () => {
  it.each([
    ['sh -c', ['sh', '-c', 'node src/server.mjs']],
    ['npm start (npm → sh → node)', ['npm', 'start', '--silent']],
    // dev runs a bare `tsx file` as `node --import tsx file`; through a shell the tsx wrapper process stays.
    ['sh -c tsx (sh → tsx → node)', ['sh', '-c', 'tsx src/server.mjs']],
  ])('%s: the old server drains its call, then exits; dev stops the rest', async (_name, command) => {
    const { dir, write } = project('mjs');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, scripts: { start: 'node src/server.mjs' } }));
    const port = await freePort();
    const dev = startDev(dir, port, command);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(() => dev.err().includes('ready in'), 'dev to be ready', 30_000);
    const c2 = await connectClient(base, 'streamable', 'chain');
    try {
      const oldPid = await healthPid(base);
      const version = textOf(await c2.callTool({ name: 'version' }));
      const next = Number(version.slice(1)) + 1;
      const entered = count(dev.err(), /entered slow\n/g);
      const slow = c2.callTool({ name: 'slow' });
      await waitFor(() => count(dev.err(), /entered slow\n/g) === entered + 1, 'the slow call to be running');
      write(next);
      await waitFor(async () => textOf(await c2.callTool({ name: 'version' })) === `v${next}`, 'the new code', 30_000);
      expect(alive(oldPid)).toBe(true);
      expect(textOf(await slow)).toBe(version);
      await waitFor(() => !alive(oldPid), 'the old server to exit after draining');
      const newPid = await healthPid(base);
      await c2.close();
      dev.kill('SIGTERM');
      expect((await exited(dev)).code).toBe(143);
      expect(alive(newPid)).toBe(false);
      expect(await portIsFree(port)).toBe(true);
    } finally {
      await c2.close();
      await stop(dev);
    }
  }, 120_000);
});

describe('mcp-http-transport dev: lifecycle and usage', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('a server that exits at once: dev says so in one line, and %s stops dev at once', async (signal, code) => {
    const dir = project('mjs').dir;
    const port = await freePort();
    const dev = startDev(dir, port, ['node', '-e', 'process.exit(1)']);
    try {
      await waitFor(() => dev.err().includes('failed to start'), 'the failed start to be reported', 30_000);
      expect(dev.err()).toMatch(/the server failed to start: .* · nothing is serving yet/);
      dev.kill(signal);
      expect(await within(exited(dev), 5000)).toEqual({ code, signal: null });
      expect(await portIsFree(port)).toBe(true);
      expect(dev.err()).toMatch(/stopped\n$/);
    } finally {
      await stop(dev);
    }
  }, 60_000);

  it('leaves nothing behind even when dev itself is killed with SIGKILL', async () => {
    const { dir } = project('mjs');
    const port = await freePort();
    const dev = startDev(dir, port, ['node', 'src/server.mjs']);
    try {
      await waitFor(() => dev.err().includes('ready in'), 'dev to be ready', 30_000);
      const serverPid = await healthPid(`http://127.0.0.1:${port}`);
      dev.kill('SIGKILL');
      await exited(dev);
      // The server's control connection to dev closes: it drains and exits by itself.
      await waitFor(() => !alive(serverPid), 'the server to stop', 10_000);
    } finally {
      await stop(dev);
    }
  }, 60_000);

  it.each([
    ['--watch srcc', ['--watch', 'srcc'], {}, /--watch srcc: .*srcc does not exist/],
    ['MCP_WATCH=srcc', [], { MCP_WATCH: 'srcc' }, /MCP_WATCH=srcc: .*srcc does not exist/],
  ] as const)('a missing watch path (%s) is one line naming it, exit 2', async (_name, args, env, message) => {
    const { dir } = project('mjs');
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, [BIN, 'dev', '--no-bridge', ...args, '--', 'node', 'src/server.mjs'], { cwd: dir, env: { ...cleanEnv(), ...env }, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
  });

  it('a bad --host is named as --host', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, [BIN, 'dev', '--no-bridge', '--host', 'localhost:3000', '--', 'node', 'src/server.mjs'], { cwd: project('mjs').dir, env: cleanEnv(), encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^mcp-http-transport: --host localhost:3000 is not a host: .* put the port in --port$/)]);
  });

  it('a busy --port is named as --port', async () => {
    const { dir } = project('mjs');
    const { createServer } = await import('node:net');
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const { spawnSync } = await import('node:child_process');
      const result = spawnSync(process.execPath, [BIN, 'dev', '--no-bridge', '--host', '127.0.0.1', '--port', String(port), '--', 'node', 'src/server.mjs'], { cwd: dir, env: cleanEnv(), encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`port ${port} is already in use .* set --port to a free port`))]);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
