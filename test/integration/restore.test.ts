import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MCPTransportManager, MemorySessionStore, type ServerLike, type SessionStore } from '../../src/index.js';
import { RawSseClient, connectClient, emptyDir, freePort, textOf, waitFor, type Kind } from '../helpers.js';

/**
 * Server and client share this process, so a keep-alive socket the old server closed may be reused
 * before this process has read the FIN ("other side closed"). Separate processes, or the dev
 * proxy, don't see this; here each request simply takes a fresh connection.
 */
const FRESH = { headers: { connection: 'close' } };

/** Calls to `gate` wait until `openGate()`; `gateEntered` tells that one has started. */
let openGate: () => void = () => {};
let gateEntered = false;

function build(v: number): McpServer {
  const server = new McpServer({ name: 'restorable', version: `${v}.0.0` });
  server.registerTool('gate', {}, async () => {
    gateEntered = true;
    await new Promise<void>((resolve) => (openGate = resolve));
    return { content: [{ type: 'text', text: `v${v}:gate` }] };
  });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `v${v}:${text}` }] }));
  server.registerTool('whoami', {}, async () => ({ content: [{ type: 'text', text: JSON.stringify(server.server.getClientVersion() ?? null) }] }));
  return server;
}

async function start(port: number, store: SessionStore, server: ServerLike | (() => ServerLike)) {
  const manager = new MCPTransportManager({
    server,
    transportMode: 'http',
    host: '127.0.0.1',
    port,
    devMode: true,
    sessionStore: store,
    handleSignals: false,
    env: {},
    cwd: emptyDir(),
    logLevel: 'error',
  });
  await manager.start();
  return manager;
}

describe('dev mode: sessions survive a server restart', () => {
  it.each(['streamable'] as Kind[])('a %s client goes on with the same session on the new code, and is known to it', async (kind) => {
    const port = await freePort();
    const store = new MemorySessionStore();
    let manager = await start(port, store, () => build(1));
    const client = await connectClient(`http://127.0.0.1:${port}`, kind, `restore-${kind}`, FRESH);
    const errors: Error[] = [];
    try {
      let listChanged = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'a' } }))).toBe('v1:a');
      const sessionId = client.transport!.sessionId;
      expect(await store.list()).toHaveLength(1);

      await manager.close();
      expect(await store.list()).toHaveLength(1); // kept for the next process
      manager = await start(port, store, () => build(2));
      client.onerror = (e) => errors.push(e); // reconnect attempts while the port was closed are expected

      // The same client object, no re-initialize: the next call runs the new code.
      await waitFor(async () => textOf(await client.callTool({ name: 'echo', arguments: { text: 'b' } })).startsWith('v2'), 'a call served by v2');
      expect(client.transport!.sessionId).toBe(sessionId);
      expect(JSON.parse(textOf(await client.callTool({ name: 'whoami' })))).toEqual({ name: `restore-${kind}`, version: '1.2.3' });
      await waitFor(() => listChanged >= 1, 'tools/list_changed after the restore');
      expect(manager.sessionCount).toBe(1);
    } finally {
      await client.close();
      await manager.close();
    }
  });

  it('a legacy SSE client reconnects with Last-Event-ID to the same session on the new code, and is known to it', async () => {
    const port = await freePort();
    const store = new MemorySessionStore();
    let manager = await start(port, store, () => build(1));
    const client = await RawSseClient.connect(`http://127.0.0.1:${port}`, 'sse-restorer');
    try {
      expect(textOf(await client.request('tools/call', { name: 'echo', arguments: { text: 'a' } }))).toBe('v1:a');
      const sessionId = client.sessionId;
      await manager.close();
      manager = await start(port, store, () => build(2));
      // Posted at once: held until the EventSource is back and the session restored, then served.
      expect(textOf(await client.request('tools/call', { name: 'echo', arguments: { text: 'b' } }))).toBe('v2:b');
      expect(client.sessionId).toBe(sessionId);
      expect(JSON.parse(textOf(await client.request('tools/call', { name: 'whoami' })))).toEqual({ name: 'sse-restorer', version: '9.9.9' });
      await waitFor(() => client.notifications.includes('notifications/tools/list_changed'), 'tools/list_changed after the restore');
    } finally {
      client.close();
      await manager.close();
    }
  });

  it('restores many sessions of one shared server, Streamable HTTP and SSE together', async () => {
    const port = await freePort();
    const store = new MemorySessionStore();
    let manager = await start(port, store, build(1));
    const clients: Client[] = await Promise.all([0, 1, 2].map((i) => connectClient(`http://127.0.0.1:${port}`, 'streamable', `c${i}`, FRESH)));
    const sse = await Promise.all([3, 4].map((i) => RawSseClient.connect(`http://127.0.0.1:${port}`, `c${i}`)));
    try {
      await manager.close();
      manager = await start(port, store, build(2));
      for (const client of clients) client.onerror = () => {};
      const results = await Promise.all([
        ...clients.map(async (c, i) => textOf(await c.callTool({ name: 'echo', arguments: { text: `${i}` } }))),
        ...sse.map(async (c, i) => textOf(await c.request('tools/call', { name: 'echo', arguments: { text: `${i + 3}` } }))),
      ]);
      expect(results).toEqual(['v2:0', 'v2:1', 'v2:2', 'v2:3', 'v2:4']);
      expect(manager.sessionCount).toBe(5);
    } finally {
      sse.forEach((c) => c.close());
      await Promise.all(clients.map((c) => c.close()));
      await manager.close();
    }
  });

  it('forgets a session the client deletes, and answers 404 for it after a restart', async () => {
    const port = await freePort();
    const store = new MemorySessionStore();
    let manager = await start(port, store, build(1));
    const client = await connectClient(`http://127.0.0.1:${port}`, 'streamable', 'deleter', FRESH);
    const id = client.transport!.sessionId!;
    await client.close();
    await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': id, ...FRESH.headers } });
    await waitFor(async () => (await store.list()).length === 0, 'the store to forget the session');
    await manager.close();
    manager = await start(port, store, build(2));
    try {
      const res = await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id, ...FRESH.headers } });
      expect(res.status).toBe(404);
    } finally {
      await manager.close();
    }
  });

  it('drains on close(): a call in flight completes on the old code while new requests get 503', async () => {
    const port = await freePort();
    const manager = await start(port, new MemorySessionStore(), build(1));
    const client = await connectClient(`http://127.0.0.1:${port}`, 'streamable', 'drainer', FRESH);
    try {
      gateEntered = false;
      const running = client.callTool({ name: 'gate' });
      await waitFor(() => gateEntered, 'the call to start');
      const closing = manager.close();
      const refused = await fetch(`http://127.0.0.1:${port}/health`, FRESH);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('mcp-draining')).toBe('1');
      openGate();
      expect(textOf(await running)).toBe('v1:gate');
      await closing;
    } finally {
      await client.close();
      await manager.close();
    }
  });
});
