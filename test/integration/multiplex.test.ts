import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { MCPTransportManager } from '../../src/index.js';
import { connectClient, highLevelServer, lowLevelServer, recordIncoming, startHttp, textOf, waitFor, type Kind } from '../helpers.js';

const KINDS: Kind[] = ['streamable', 'sse', 'streamable', 'sse'];

describe('one Server, many sessions', () => {
  let manager: MCPTransportManager;
  let clients: Client[] = [];
  const state = { cancelled: 0 };
  const server = lowLevelServer(state);

  beforeAll(async () => {
    const started = await startHttp({ server });
    manager = started.manager;
    clients = await Promise.all(KINDS.map((kind, i) => connectClient(started.url, kind, `client-${i}`)));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await manager.close();
  });

  it('routes every response to the session that asked, under concurrency', async () => {
    expect(manager.sessionCount).toBe(KINDS.length);
    const calls = clients.flatMap((client, c) =>
      Array.from({ length: 25 }, async (_, i) => {
        const text = `c${c}-call${i}`;
        const result = JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text } })));
        return { expected: text, got: result.text as string, sessionId: result.sessionId as string, c };
      }),
    );
    const results = await Promise.all(calls);
    for (const r of results) expect(r.got).toBe(r.expected);
    // Each handler saw its own session's id, and the sessions are distinct.
    const idsPerClient = clients.map((_, c) => new Set(results.filter((r) => r.c === c).map((r) => r.sessionId)));
    for (const ids of idsPerClient) expect(ids.size).toBe(1);
    expect(new Set(idsPerClient.map((ids) => [...ids][0])).size).toBe(KINDS.length);
  });

  it('sends progress only to the caller', async () => {
    // Counted on the wire: the SDK client itself may drop progress read in the same chunk as the
    // response (typescript-sdk issue #2580), which is not what this test is about.
    const incoming = clients.map(recordIncoming);
    const runs = clients.slice(0, 2).map((client, c) => client.callTool({ name: 'progress', arguments: { steps: 4 + c } }, undefined, { onprogress: () => {} }));
    const results = await Promise.all(runs);
    expect(results.map(textOf)).toEqual(['done 4', 'done 5']);
    const progressOf = (c: number) => incoming[c]!.flatMap((m) => ('method' in m && m.method === 'notifications/progress' ? [m.params?.['progress']] : []));
    expect(progressOf(0)).toEqual([1, 2, 3, 4]);
    expect(progressOf(1)).toEqual([1, 2, 3, 4, 5]);
    // The bystanders' transports delivered no progress at all.
    expect(progressOf(2)).toEqual([]);
    expect(progressOf(3)).toEqual([]);
  });

  it('routes server-to-client requests (sampling) to the calling session only', async () => {
    const results = await Promise.all(clients.map((client) => client.callTool({ name: 'sample' })));
    expect(results.map(textOf)).toEqual(clients.map((_, i) => `I am client-${i}`));
  });

  it('broadcasts sendToolListChanged() to every session', async () => {
    const got = clients.map(() => 0);
    clients.forEach((client, c) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => void got[c]!++));
    await server.sendToolListChanged();
    await waitFor(() => got.every((n) => n === 1), 'list_changed on every client');
  });

  it('keeps sessions apart when one client cancels its call', async () => {
    const controller = new AbortController();
    const before = state.cancelled;
    const pending = clients[0]!.callTool({ name: 'slow' }, undefined, { signal: controller.signal });
    // The other sessions still work while the slow call runs.
    expect(JSON.parse(textOf(await clients[1]!.callTool({ name: 'echo', arguments: { text: 'alive' } }))).text).toBe('alive');
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => state.cancelled === before + 1, 'the handler to see its abort signal');
  });
});

describe('other server shapes', () => {
  it('serves an McpServer to Streamable HTTP and SSE sessions at once', async () => {
    const { manager, url } = await startHttp({ server: highLevelServer() });
    try {
      const a = await connectClient(url, 'streamable');
      const b = await connectClient(url, 'sse');
      const [ra, rb] = await Promise.all([a.callTool({ name: 'echo', arguments: { text: 'a' } }), b.callTool({ name: 'echo', arguments: { text: 'b' } })]);
      expect(JSON.parse(textOf(ra)).text).toBe('a');
      expect(JSON.parse(textOf(rb)).text).toBe('b');
      await Promise.all([a.close(), b.close()]);
    } finally {
      await manager.close();
    }
  });

  it('accepts a factory, building one isolated server per session', async () => {
    let built = 0;
    const { manager, url } = await startHttp({
      server: () => {
        built++;
        return highLevelServer();
      },
    });
    try {
      const clients = await Promise.all((['streamable', 'sse', 'streamable'] as const).map((k) => connectClient(url, k)));
      // One per session, and the first: the probe that tells which SDK line the factory builds with.
      expect(built).toBe(4);
      const results = await Promise.all(clients.map((c, i) => c.callTool({ name: 'echo', arguments: { text: `f${i}` } })));
      expect(results.map((r) => JSON.parse(textOf(r)).text)).toEqual(['f0', 'f1', 'f2']);
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await manager.close();
    }
  });
});
