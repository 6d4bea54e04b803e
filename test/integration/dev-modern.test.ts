/**
 * `mcp-http-transport dev` with 2026-07-28 clients: a factory of SDK v2 servers restarted on save (or
 * killed) under a real v2 client pinned to 2026-07-28, with a 2025-era v1 client on the same port.
 */
import { Client as ModernClient, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient, exited, stop, textOf, waitFor, within } from '../helpers.js';
import { alive, freePort, healthPid, startDev, type Dev } from '../dev-fixture.js';
import { modernProject } from '../dev-modern-fixture.js';

const MODERN = '2026-07-28';
const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;
/** Lines that must never appear: a crash of working code, a port fight, or the server's internal chatter. */
const NOISE = /crashed|in use|PORT_IN_USE|listening on http|shutting down/;

type Caller = Pick<ModernClient, 'callTool'> | Pick<LegacyClient, 'callTool'>;
const call = async (client: Caller, name: string, args: Record<string, unknown> = {}) => textOf(await client.callTool({ name, arguments: args }));

describe('mcp-http-transport dev, 2026-07-28 clients (a factory of SDK v2 servers)', () => {
  let dev: Dev | undefined;
  const clients: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    if (dev && dev.exitCode === null && dev.signalCode === null) {
      dev.kill('SIGTERM');
      if ((await within(exited(dev), 10_000)) === 'timed out') await stop(dev);
    }
    dev = undefined;
  });

  /** The project under dev, a v2 client pinned to 2026-07-28 on its /mcp, listening for tool changes. */
  async function start() {
    const fixture = modernProject();
    const port = await freePort();
    dev = startDev(fixture.dir, port, ['node', 'src/server.mjs']);
    await waitFor(() => dev!.err().includes('ready in'), 'dev to be ready', 30_000);
    const base = `http://127.0.0.1:${port}`;
    const modern = new ModernClient({ name: 'modern-dev', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    await modern.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
    clients.push(modern);
    expect(modern.getNegotiatedProtocolVersion()).toBe(MODERN);
    let changed = 0;
    modern.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    const subscription = await modern.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
    let ended: string | undefined;
    void subscription.closed.then((cause) => (ended = cause));
    return { ...fixture, base, modern, changed: () => changed, ended: () => ended };
  }

  it('a save during slow calls: they finish on the old code, the next call runs the new; the listen stream follows; a 2025-era client keeps working', async () => {
    const { base, modern, write, open, changed, ended } = await start();
    const legacy = await connectClient(base, 'streamable', 'legacy-dev');
    clients.push(legacy);
    expect(await call(modern, 'echo', { text: 'a' })).toBe('v1:a');
    expect(await call(legacy, 'echo', { text: 'a' })).toBe('v1:a');

    const oldPid = await healthPid(base);
    const slow = [call(modern, 'slow', { gate: 'save' }), call(legacy, 'slow', { gate: 'save' })];
    await waitFor(() => count(dev!.err(), /entered slow save\n/g) === 2, 'both slow calls to be running');
    write(2);
    await waitFor(async () => (await call(modern, 'echo', { text: 'b' })) === 'v2:b', 'the new code to answer the 2026-07-28 client', 30_000);
    expect(await call(legacy, 'echo', { text: 'b' })).toBe('v2:b');
    // The listen stream opened on the new process too, and the client was told to refetch.
    await waitFor(() => changed() >= 1, 'tools/list_changed on the listen stream after the save');

    // The slow calls still run on the old process, which drains them.
    expect(alive(oldPid)).toBe(true);
    open('save');
    expect(await Promise.all(slow)).toEqual(['v1', 'v1']);
    // Each ran once: nothing posted a call the old process was running to the new one.
    expect(count(dev!.err(), /entered slow save\n/g)).toBe(2);
    await waitFor(() => !alive(oldPid), 'the old process to exit after draining');

    // The old process ended its listen stream as it stopped (the graceful result): the client never saw
    // that end, and its stream carries what the new code sends.
    const before = changed();
    expect(await call(modern, 'change-tools')).toBe('changed');
    await waitFor(() => changed() === before + 1, 'the new code’s list_changed on the same listen stream');
    expect(ended()).toBeUndefined();
    expect(await call(modern, 'echo', { text: 'c' })).toBe('v2:c');
    expect(await call(legacy, 'echo', { text: 'c' })).toBe('v2:c');
    expect(dev!.err()).toMatch(/reloaded in \d+ ms · 1 session restored · 1 subscription followed\n/);
    expect(dev!.err()).not.toMatch(NOISE);
    expect(dev!.out()).toBe('');
  }, 120_000);

  it('SIGKILL mid-call: a read-only call is re-sent to the new process, an unannotated one fails at once; a call made meanwhile is held; the listen stream follows', async () => {
    const { base, modern, open, changed, ended } = await start();
    // As clients do: the proxy learns the annotations from this listing.
    const { tools } = await modern.listTools();
    expect(tools.find((t) => t.name === 'slow-read')?.annotations).toMatchObject({ readOnlyHint: true });
    const serverPid = await healthPid(base);
    const read = call(modern, 'slow-read', { gate: 'crash' });
    const unannotated = call(modern, 'slow', { gate: 'crash' }).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await waitFor(() => /entered slow crash\n/.test(dev!.err()) && /entered slow-read crash\n/.test(dev!.err()), 'both slow calls to be running');
    const killedAt = Date.now();
    process.kill(serverPid, 'SIGKILL');
    // Made once the process is gone (before, the kernel may still take it for the dying process: a
    // call cut off there is judged like any other), and held until the new one serves.
    await waitFor(() => !alive(serverPid), 'the server to be gone');
    const held = call(modern, 'echo', { text: 'held' });

    expect(await unannotated).toMatch(/tool "slow" was running: the outcome is unknown \(it may or may not have run\)/);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(await held).toBe('v1:held');
    const newPid = await healthPid(base);
    expect(newPid).not.toBe(serverPid);
    open('crash');
    expect(await read).toBe(`v1 pid ${newPid}`);
    // Once on each process: the dead one, and the new one it was re-sent to.
    expect(count(dev!.err(), /entered slow-read crash\n/g)).toBe(2);
    expect(count(dev!.err(), /entered slow crash\n/g)).toBe(1);

    // The listen stream was cut with its process, and opened again on the new one.
    await waitFor(() => changed() >= 1, 'tools/list_changed after the listen stream was re-opened');
    const before = changed();
    expect(await call(modern, 'change-tools')).toBe('changed');
    await waitFor(() => changed() === before + 1, 'the new process’s list_changed on the same listen stream');
    expect(ended()).toBeUndefined();
    expect(dev!.err()).toMatch(/stopped unexpectedly; starting it again/);
  }, 120_000);

  /** A raw 2026-07-28 `subscriptions/listen` POST, with `notifications` as its filter. */
  const listen = (base: string, id: number, notifications: unknown) =>
    fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'subscriptions/listen',
        params: {
          notifications,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': MODERN,
            'io.modelcontextprotocol/clientCapabilities': {},
            'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          },
        },
      }),
    });

  it('a listen the server answers with a JSON body (an invalid filter) gets that body as it is, at once', async () => {
    const { base, modern, write, changed } = await start();
    const startedAt = Date.now();
    const response = await listen(base, 7, { toolsListChanged: 'yes' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32602, message: expect.stringMatching(/Invalid params/) } });
    expect(Date.now() - startedAt).toBeLessThan(1000);
    // The proxy does not follow it: after a save only the client's own listen is followed, and it works.
    write(2);
    await waitFor(async () => (await call(modern, 'echo', { text: 'x' })) === 'v2:x', 'the new code to answer', 30_000);
    await waitFor(() => /reloaded in \d+ ms/.test(dev!.err()), 'the reload line');
    expect(dev!.err()).toMatch(/reloaded in \d+ ms · 0 sessions restored · 1 subscription followed\n/);
    await waitFor(() => changed() >= 1, 'tools/list_changed on the client’s own listen stream after the save');
  }, 60_000);

  it('a listen whose honored filter is empty ends at once with the graceful result, not after the hold time', async () => {
    const { base } = await start();
    const startedAt = Date.now();
    const response = await listen(base, 8, {});
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const messages = (await response.text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { id?: number; method?: string; params?: { notifications?: unknown }; result?: { resultType?: string } });
    // The default hold is 30 s: the proxy did not keep the end back waiting for a restart.
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ method: 'notifications/subscriptions/acknowledged', params: { notifications: {} } });
    expect(messages[1]).toMatchObject({ id: 8, result: { resultType: 'complete' } });
  }, 60_000);

  it('a request cancelled by closing its stream is cancelled on the server too', async () => {
    const { modern, open } = await start();
    const abort = new AbortController();
    const slow = modern.callTool({ name: 'slow', arguments: { gate: 'cancel' } }, { signal: abort.signal }).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await waitFor(() => /entered slow cancel\n/.test(dev!.err()), 'the slow call to be running');
    abort.abort();
    expect(await slow).not.toBe('answered');
    await waitFor(() => /cancelled slow cancel\n/.test(dev!.err()), 'the server to see the cancellation');
    open('cancel');
  }, 60_000);
});
