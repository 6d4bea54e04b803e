import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT, connectClient, exited, stop, textOf, waitFor, within, type Kind } from '../helpers.js';
import { BIN, alive, freePort, portIsFree, project } from '../dev-fixture.js';

function startDev(dir: string, port: number, command: string[]): ChildProcess & { err: () => string; out: () => string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));
  const child = spawn(process.execPath, [BIN, 'dev', '--no-bridge', '--port', String(port), '--host', '127.0.0.1', '--watch', 'src', '--', ...command], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return Object.assign(child, { err: () => err, out: () => out });
}

describe.each([
  ['JavaScript (node server.mjs)', 'mjs', ['node', 'src/server.mjs']],
  ['TypeScript (tsx server.ts)', 'ts', ['tsx', 'src/server.ts']],
] as const)('mcp-http-transport dev, %s', (_name, ext, command) => {
  let dev: ReturnType<typeof startDev> | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    // Stopped as a user would (SIGTERM), so that dev stops nodemon's whole tree.
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

  it('keeps a Streamable HTTP and an SSE client working through 5 edits: new code each time, 0 failed calls', async () => {
    // Each edit restarts a real server process (tsx: ~0.5 s); the run is bounded by the waits below.
    const { write, port, base, kinds } = await startWithClients('dev');

    // Both clients call in loops, bounded in count and time, while the file changes under them.
    const seen = kinds.map(() => new Set<string>());
    const failures: string[] = [];
    let calls = 0;
    let running = true;
    const loops = clients.map(async (client, c) => {
      const deadline = Date.now() + 120_000;
      for (let i = 0; running && i < 5000 && Date.now() < deadline; i++) {
        try {
          seen[c]!.add(textOf(await client.callTool({ name: 'version' })));
          calls++;
        } catch (error) {
          failures.push(`${kinds[c]}: ${(error as Error).message}`);
        }
      }
    });

    await waitFor(() => seen.every((s) => s.has('v1')), 'both clients to see v1');
    for (let v = 2; v <= 6; v++) {
      write(v);
      await waitFor(() => seen.every((s) => s.has(`v${v}`)), `both clients to see v${v}`, 30_000);
    }
    running = false;
    await Promise.all(loops);

    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(10);
    for (const s of seen) expect([...s]).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6']);
    // The restarted server still knows each client by its own initialize.
    for (const [c, client] of clients.entries()) {
      expect(JSON.parse(textOf(await client.callTool({ name: 'whoami' })))).toEqual({ name: `dev-${kinds[c]}`, version: '1.2.3' });
    }
    expect((dev!.err().match(/reloaded in \d+ ms · 2 sessions restored/g) ?? []).length).toBe(5);
    expect(dev!.out()).toBe('');

    // Stopping dev stops everything it started and frees the port.
    const serverPid = ((await (await fetch(`${base}/health`)).json()) as { pid: number }).pid;
    await Promise.all(clients.splice(0).map((c) => c.close()));
    dev!.kill('SIGTERM');
    expect((await exited(dev!)).code).toBe(143);
    expect(await portIsFree(port)).toBe(true);
    expect(() => process.kill(serverPid, 0)).toThrow();
  }, 180_000);

  it('after a crash (SIGKILL) mid-call: side-effecting calls fail at once, safe ones are retried on the new code', async () => {
    const { write, base } = await startWithClients('crash');
    const serverPid = ((await (await fetch(`${base}/health`)).json()) as { pid: number }).pid;

    const tools = clients.map((c) => c.callTool({ name: 'slow' }).then(() => 'answered', (e: Error) => e.message));
    const prompts = clients.map((c) => c.getPrompt({ name: 'slow-prompt' }));
    await waitFor(() => (dev!.err().match(/entered slow\n/g) ?? []).length === 2 && (dev!.err().match(/entered slow-prompt/g) ?? []).length === 2, 'all four calls in flight');
    process.kill(serverPid, 'SIGKILL');

    // Before any restart: the tool calls have already failed, with a message that says why.
    for (const message of await Promise.all(tools)) {
      expect(message).toMatch(/server restarted while tools\/call was running; it was not retried because it may have side effects/);
    }
    await waitFor(() => dev!.err().includes('the server crashed'), 'the crash to be reported');
    write(2); // nodemon restarts after a crash on the next save
    const answers = await Promise.all(prompts);
    expect(answers.map((a) => (a.messages[0]!.content as { text: string }).text)).toEqual(['v2', 'v2']);
  }, 120_000);

  it('reports a syntax error clearly, holds calls meanwhile, and recovers on the next good save', async () => {
    const { dir, file, write } = project(ext);
    const port = await freePort();
    dev = startDev(dir, port, [...command]);
    await waitFor(() => dev!.err().includes('ready in'), 'dev to be ready', 30_000);
    const client = await connectClient(`http://127.0.0.1:${port}`, 'streamable', 'syntax');
    clients.push(client);
    writeFileSync(file, 'export const = ;\n');
    await waitFor(() => dev!.err().includes('the server crashed'), 'the crash to be reported', 30_000);
    expect(dev.err()).toMatch(/SyntaxError|ERROR: Expected/);
    const held = client.callTool({ name: 'version' });
    write(3);
    expect(textOf(await held)).toBe('v3');
  }, 120_000);

  it('bridges stdio when a client launches it: one session across a reload, and a clean exit when stdin closes', async () => {
    const { dir, write } = project(ext);
    const port = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'dev', '--port', String(port), '--host', '127.0.0.1', '--watch', 'src', '--', ...command],
      cwd: dir,
      env,
      stderr: 'pipe',
    });
    let err = '';
    transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const client = new Client({ name: 'desktop-like', version: '0.1.0' });
    await client.connect(transport);
    const devPid = transport.pid!;
    expect(textOf(await client.callTool({ name: 'version' }))).toBe('v1');
    const serverPid = ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { pid: number }).pid;
    write(2);
    await waitFor(() => err.includes('reloaded in'), 'the reload', 30_000);
    expect(textOf(await client.callTool({ name: 'version' }))).toBe('v2');
    expect(JSON.parse(textOf(await client.callTool({ name: 'whoami' })))).toEqual({ name: 'desktop-like', version: '0.1.0' });
    const newServerPid = ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { pid: number }).pid;
    expect(newServerPid).not.toBe(serverPid);

    await client.close(); // closes the dev command's stdin
    await waitFor(() => !alive(devPid), 'dev to exit when stdin closes', 10_000);
    expect(alive(newServerPid)).toBe(false);
    expect(await portIsFree(port)).toBe(true);
  }, 120_000);

  it('leaves nothing behind even when dev itself is killed with SIGKILL', async () => {
    const { base } = await startWithClients('orphan');
    const serverPid = ((await (await fetch(`${base}/health`)).json()) as { pid: number }).pid;
    await Promise.all(clients.splice(0).map((c) => c.close()));
    dev!.kill('SIGKILL');
    await exited(dev!);
    // The orphan guard inside nodemon notices and stops the tree, server included.
    await waitFor(() => !alive(serverPid), 'the server to stop', 10_000);
  }, 60_000);
});
