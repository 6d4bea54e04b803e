import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { NODE_TS_ARGS, ROOT, emptyDir, exited, freePort, stop, textOf, waitFor } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');
const UPSTREAMS = join(ROOT, 'test', 'fixtures', 'upstreams.ts');
const RESTARTS = 10;
/** The recovery policy's "outcome unknown" error, for the unannotated tools of the upstream fixture. */
const NOT_RETRIED = /the server stopped while tool "(slow|version)" was running: the outcome is unknown \(it may or may not have run\)/;
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;

/** An upstream server child process on a fixed port; `restart` brings up the next version. */
class Upstream {
  child: ChildProcess | undefined;
  err = '';
  private readonly sessionFile = join(emptyDir(), 'sessions.json');
  constructor(
    readonly kind: string,
    readonly port: number,
  ) {}

  async start(version: number): Promise<void> {
    this.err = '';
    const child = spawn(process.execPath, [...NODE_TS_ARGS, UPSTREAMS], {
      env: { ...cleanEnv(), UPSTREAM: this.kind, PORT: String(this.port), VERSION: String(version), MCP_SESSION_FILE: this.sessionFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.child = child;
    await waitFor(() => this.err.includes('UPSTREAM_READY'), `upstream ${this.kind} v${version}`, 20_000);
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child!;
    child.kill(signal);
    await exited(child);
  }
}

describe.each([
  ['our own HTTP server (sessions restored)', 'ours', '/mcp'],
  ['a raw-SDK stateful server that forgets sessions (404 → re-initialize)', 'raw-http', '/mcp'],
  ['a legacy SSE-only server', 'raw-sse', '/sse'],
] as const)('bridge against %s', (_name, kind, path) => {
  let upstream: Upstream | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    await stop(upstream?.child);
  });

  it(`keeps one client session through ${RESTARTS} upstream restarts (SIGTERM and SIGKILL, a tools/call and a read in flight at each)`, async () => {
    upstream = new Upstream(kind, await freePort());
    await upstream.start(1);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'bridge', `http://127.0.0.1:${upstream.port}${path}`],
      env: cleanEnv(),
      stderr: 'pipe',
    });
    let bridgeErr = '';
    transport.stderr!.on('data', (d: Buffer) => (bridgeErr += d.toString()));
    client = new Client({ name: 'desktop', version: '1.0.0' });
    let listChanged = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
    await client.connect(transport);

    // A continuous call loop, bounded in count and time. A call issued while the upstream is down
    // must succeed; only one caught in flight by a kill may fail, and then at once and clearly.
    const seen = new Set<string>();
    const failures: { issued: number; message: string }[] = [];
    const downs: { from: number; to: number }[] = [];
    let running = true;
    const loop = (async () => {
      const deadline = Date.now() + 240_000;
      for (let i = 0; running && i < 20_000 && Date.now() < deadline; i++) {
        const issued = Date.now();
        try {
          seen.add(textOf(await client!.callTool({ name: 'version' })));
        } catch (error) {
          failures.push({ issued, message: (error as Error).message });
        }
      }
    })();

    for (let v = 2; v <= RESTARTS + 1; v++) {
      let accepted = false;
      const slow = client.callTool({ name: 'slow' }, undefined, { onprogress: () => (accepted = true) }).then(
        () => 'answered',
        (e: Error) => e.message,
      );
      const read = client.getPrompt({ name: 'slow-prompt', arguments: { hangOn: `v${v - 1}` } });
      // Progress, not "entered slow": only once the bridge has the call's response stream was it surely
      // accepted (else it was never started, as far as the bridge can tell, and it is rightly re-sent).
      await waitFor(() => accepted && upstream!.err.includes('entered slow-prompt'), 'the slow calls to be running');
      const before = listChanged;
      await upstream.kill(v % 2 === 0 ? 'SIGTERM' : 'SIGKILL');
      const from = Date.now();
      // Failed at once, before the upstream is back: not hung, and clear about why.
      expect(await slow).toMatch(NOT_RETRIED);
      await upstream.start(v); // meanwhile the loop's calls are held by the bridge
      downs.push({ from, to: Date.now() });
      // The read that was running is sent again, and answered by the new upstream.
      expect(((await read).messages[0]!.content as { text: string }).text).toBe(`v${v}`);
      await waitFor(() => seen.has(`v${v}`), `a call answered by v${v}`, 20_000);
      await waitFor(() => listChanged > before, 'tools/list_changed after the reconnect');
    }
    running = false;
    await loop;

    const issuedWhileDown = failures.filter((f) => downs.some((d) => f.issued >= d.from && f.issued <= d.to));
    expect(issuedWhileDown).toEqual([]);
    expect(failures.length).toBeLessThanOrEqual(RESTARTS); // the loop is sequential: one call in flight per kill at most
    for (const f of failures) expect(f.message).toMatch(NOT_RETRIED);
    expect([...seen]).toEqual(Array.from({ length: RESTARTS + 1 }, (_, i) => `v${i + 1}`));
    expect(bridgeErr).not.toMatch(/error/i);
  }, 240_000);
});

describe.each([
  ['our own HTTP server', 'ours', '/mcp'],
  ['a raw-SDK stateful server', 'raw-http', '/mcp'],
  ['a legacy SSE-only server', 'raw-sse', '/sse'],
] as const)('bridge recovery by tool annotations, against %s', (_name, kind, path) => {
  let upstream: Upstream | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    await stop(upstream?.child);
  });

  it('after a SIGKILL, re-sends the call to a readOnlyHint tool and fails the unannotated one within 1 s, naming it', async () => {
    upstream = new Upstream(kind, await freePort());
    await upstream.start(1);
    client = new Client({ name: 'desktop', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, 'bridge', `http://127.0.0.1:${upstream.port}${path}`], env: cleanEnv(), stderr: 'ignore' }));
    // The bridge learns the annotations from this listing, as a client's own listing passes through it.
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'slow-read')?.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === 'slow')?.annotations).toBeUndefined();

    const read = client.callTool({ name: 'slow-read', arguments: { hangOn: 'v1' } });
    let accepted = false;
    const unannotated = client.callTool({ name: 'slow' }, undefined, { onprogress: () => (accepted = true) }).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await waitFor(() => accepted && upstream!.err.includes('entered slow-read'), 'both calls to be running');
    const killedAt = Date.now();
    const killed = upstream.kill('SIGKILL');
    expect(await unannotated).toMatch(/the server stopped while tool "slow" was running: the outcome is unknown/);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    await killed;
    await upstream.start(2);
    expect(textOf(await read)).toBe('v2');
  }, 60_000);
});

describe('bridge as a child process', () => {
  it('answers ping before initialize, exits when stdin closes, and writes only protocol frames to stdout', async () => {
    const child = spawn(process.execPath, [BIN, 'bridge', 'http://127.0.0.1:9/mcp'], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })}\n`);
    child.stdin!.end();
    expect((await exited(child)).code).toBe(0);
    // The whole of stdout, line by line: an empty output (no answer) or any stray text fails here.
    expect(out.split('\n')).toEqual([JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} }), '']);
  });

  it('rejects a bad URL in one line with exit 2', async () => {
    const child = spawn(process.execPath, [BIN, 'bridge', 'not a url'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect((await exited(child)).code).toBe(2);
    expect(err.trim().split('\n')).toEqual([expect.stringContaining('not a URL')]);
  });
});
