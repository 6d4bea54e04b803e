import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client, type CallToolResult } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { NODE_TS_ARGS, ROOT, exited, freePort, stop, textOf, waitFor, bridgeLibrary } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');
const MODERN_UPSTREAM = join(ROOT, 'test', 'fixtures', 'modern-upstream.ts');
const LEGACY_UPSTREAMS = join(ROOT, 'test', 'fixtures', 'upstreams.ts');
const PINNED = { mode: { pin: '2026-07-28' } } as const;
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;

/**
 * SDK v2's own `createMcpHandler` in a child process (test/fixtures/modern-upstream.ts). The first
 * start takes any free port; every restart comes back on that same port.
 */
class ModernUpstream {
  child: ChildProcess | undefined;
  err = '';
  port = 0;

  async start(version: number): Promise<void> {
    this.err = '';
    const child = spawn(process.execPath, [...NODE_TS_ARGS, MODERN_UPSTREAM], {
      env: { ...cleanEnv(), PORT: String(this.port), VERSION: String(version) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.child = child;
    const ready = await waitFor(() => /UPSTREAM_READY (\d+)/.exec(this.err), `the modern upstream v${version}`, 20_000);
    this.port = Number(ready[1]);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/mcp`;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child!;
    child.kill(signal);
    await exited(child);
  }
}

/** A v2 client pinned to 2026-07-28, launching the bridge as Claude Desktop would. */
async function modernClient(url: string, options: { versionNegotiation?: object } = { versionNegotiation: PINNED }): Promise<{ client: Client; bridgeErr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'bridge', url], env: cleanEnv(), stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: 'modern-desktop', version: '1.0.0' }, options);
  await client.connect(transport);
  return { client, bridgeErr: () => err };
}

const text = (result: unknown) => textOf(result as CallToolResult);

describe('bridge: a 2026-07-28 client to a modern upstream (SDK v2 createMcpHandler)', () => {
  let upstream: ModernUpstream;
  let client: Client | undefined;
  let legacy: LegacyClient | undefined;
  beforeEach(async () => {
    upstream = new ModernUpstream();
    await upstream.start(1);
  });
  afterEach(async () => {
    await client?.close();
    await legacy?.close();
    client = legacy = undefined;
    await stop(upstream.child);
  });

  it('discovers, lists and calls; list_changed reaches the client on its subscriptions/listen stream', async () => {
    const connected = await modernClient(upstream.url);
    client = connected.client;
    expect(client.getProtocolEra()).toBe('modern');
    expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['change-tools', 'slow', 'slow-read', 'version']);
    expect(text(await client.callTool({ name: 'version' }))).toBe('v1');

    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    const subscription = await client.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
    expect(text(await client.callTool({ name: 'change-tools' }))).toBe('changed');
    await waitFor(() => changed === 1, 'tools/list_changed on the listen stream');
    expect(connected.bridgeErr()).not.toMatch(/error/i);
  }, 60_000);

  it('survives upstream restarts: a call made while it is down is held, the subscription is re-opened, the client told to refetch', async () => {
    ({ client } = await modernClient(upstream.url));
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    const subscription = await client.listen({ toolsListChanged: true });
    let ended: string | undefined;
    void subscription.closed.then((cause) => (ended = cause));
    expect(text(await client.callTool({ name: 'version' }))).toBe('v1');

    // Restarted between calls: the next call is answered by the new upstream. (SIGTERM: the upstream
    // ends the subscription gracefully as it stops; the client's stays open all the same.)
    await upstream.kill('SIGTERM');
    await upstream.start(2);
    expect(text(await client.callTool({ name: 'version' }))).toBe('v2');
    // The listen stream was re-opened on the new upstream, and the client told that the tools may have changed.
    await waitFor(() => changed >= 1, 'list_changed after the re-open');

    // A call made while the upstream is down waits for it.
    await upstream.kill();
    const held = client.callTool({ name: 'version' });
    await upstream.start(3);
    expect(text(await held)).toBe('v3');

    // Change notifications come from the new upstream, on the re-opened stream.
    await waitFor(() => changed >= 2, 'list_changed after the second re-open');
    const before = changed;
    expect(text(await client.callTool({ name: 'change-tools' }))).toBe('changed');
    await waitFor(() => changed === before + 1, 'list_changed published by the restarted upstream');
    expect(ended).toBeUndefined();
  }, 90_000);

  it('re-sends a read-only call cut off by the upstream dying, and fails an unannotated one at once: outcome unknown', async () => {
    ({ client } = await modernClient(upstream.url));
    // The bridge learns the annotations from this listing, as the client's own listing passes through it.
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'slow-read')?.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === 'slow')?.annotations).toBeUndefined();

    const read = client.callTool({ name: 'slow-read', arguments: { hangOn: 'v1' } });
    const unannotated = client.callTool({ name: 'slow' }).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await waitFor(() => upstream.err.includes('entered slow-read') && upstream.err.includes('entered slow\n'), 'both calls to be running');
    const killedAt = Date.now();
    const killed = upstream.kill();
    expect(await unannotated).toMatch(/the server stopped while tool "slow" was running: the outcome is unknown \(it may or may not have run\)/);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    await killed;
    await upstream.start(2);
    expect(text(await read)).toBe('v2');
  }, 60_000);

  it('still serves a 2025-era client (SDK v1, initialize) through the same bridge and upstream, across a restart', async () => {
    legacy = new LegacyClient({ name: 'legacy-desktop', version: '1.0.0' });
    await legacy.connect(new LegacyStdioClientTransport({ command: process.execPath, args: [BIN, 'bridge', upstream.url], env: cleanEnv(), stderr: 'ignore' }));
    expect(legacy.getServerVersion()?.name).toBe('modern-upstream');
    expect((await legacy.listTools()).tools).toHaveLength(4);
    expect(textOf(await legacy.callTool({ name: 'version' }))).toBe('v1');
    await upstream.kill();
    await upstream.start(2);
    expect(textOf(await legacy.callTool({ name: 'version' }))).toBe('v2');
  }, 60_000);
});

const library = bridgeLibrary;

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };

describe('bridge: 2026-07-28 requests while nothing answers', () => {
  it('holds a request at most queueTimeoutMs, bounds what waits, and with hold: false answers at once', async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const held = library(url, { queueTimeoutMs: 300, maxQueue: 1 });
    await held.bridge.start();
    try {
      held.send({ id: 1, method: 'tools/call', params: { name: 'version', arguments: {}, _meta: META } });
      held.send({ id: 2, method: 'tools/list', params: { _meta: META } });
      const messages = (await Promise.all([1, 2].map(held.answer))).map((m) => m.error?.message ?? 'no error');
      expect(messages.filter((m) => /did not come back within 0.3 s; (tools\/call|tools\/list) was not sent/.test(m))).toHaveLength(1);
      expect(messages.filter((m) => /1 messages are already waiting/.test(m))).toHaveLength(1);
    } finally {
      await held.end();
    }

    const unheld = library(url, { hold: false, queueTimeoutMs: 60_000 });
    await unheld.bridge.start();
    try {
      const sentAt = Date.now();
      unheld.send({ id: 1, method: 'tools/list', params: { _meta: META } });
      expect((await unheld.answer(1)).error?.message).toMatch(/the upstream MCP server is unavailable \(.*ECONNREFUSED.*\); tools\/list was not sent, and this bridge holds no requests/);
      expect(Date.now() - sentAt).toBeLessThan(2000);
    } finally {
      await unheld.end();
    }
  });
});

describe('bridge: a dual-era client and a 2025-only upstream', () => {
  let child: ChildProcess | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await stop(child);
  });

  async function legacyOnly(): Promise<string> {
    const port = await freePort();
    let err = '';
    child = spawn(process.execPath, [...NODE_TS_ARGS, LEGACY_UPSTREAMS], { env: { ...cleanEnv(), UPSTREAM: 'raw-http', PORT: String(port), VERSION: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => err.includes('UPSTREAM_READY'), 'the 2025-only upstream', 20_000);
    return `http://127.0.0.1:${port}/mcp`;
  }

  it("passes the upstream's legacy 400 through, so that an auto-negotiating v2 client falls back to initialize", async () => {
    ({ client } = await modernClient(await legacyOnly(), { versionNegotiation: { mode: 'auto' } }));
    expect(client.getProtocolEra()).toBe('legacy');
    expect(text(await client.callTool({ name: 'version' }))).toBe('v1');
  }, 60_000);

  it('moves a client that probed in place to the 2025 era when it falls back to initialize', async () => {
    const { bridge, send, answer, end } = library(await legacyOnly());
    await bridge.start();
    try {
      send({ id: 1, method: 'server/discover', params: { _meta: META } });
      // The 2025-only server's own answer (400, -32000 "Bad Request"), with the probe's id.
      expect((await answer(1)).error).toEqual({ code: -32000, message: 'Bad Request' });
      send({ id: 2, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
      expect((await answer(2)).result?.['protocolVersion']).toBe('2025-11-25');
      send({ method: 'notifications/initialized' });
      send({ id: 3, method: 'tools/call', params: { name: 'version', arguments: {} } });
      expect(textOf((await answer(3)).result)).toBe('v1');
      expect(bridge.upstreamTransport).toBe('http');
    } finally {
      await end();
    }
  }, 60_000);
});
