import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { MCPTransportManager } from '../../src/index.js';
import { INIT, STREAM_HEADERS, connectClient, lowLevelServer, openRawSse, startHttp, textOf } from '../helpers.js';


describe('HTTP mode', () => {
  let manager: MCPTransportManager;
  let url: string;
  const clients: Client[] = [];

  beforeEach(async () => ({ manager, url } = await startHttp({ server: lowLevelServer() })));
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await manager.close();
  });

  it.each(['streamable', 'sse'] as const)('serves an SDK client over %s: list and call tools', async (kind) => {
    const client = await connectClient(url, kind);
    clients.push(client);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['echo', 'progress', 'fail', 'slow', 'sample', 'roots', 'elicit']);
    const echoed = JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })));
    expect(echoed).toEqual({ text: 'hi', sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    if (kind === 'streamable') expect(echoed.sessionId).toBe(client.transport?.sessionId);
    expect(manager.sessionCount).toBe(1);
  });

  it('reports the real port when asked for port 0', () => {
    expect(manager.port).toBeGreaterThan(0);
    expect(url).toBe(`http://127.0.0.1:${manager.port}`);
  });

  it('answers an unknown session id with 404 and a JSON-RPC error body', async () => {
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { ...STREAM_HEADERS, 'mcp-session-id': randomUUID() },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: null });
  });

  it.each(['POST', 'GET', 'DELETE'])('answers %s /mcp without a session id (not initialize) with 400', async (method) => {
    const res = await fetch(`${url}/mcp`, {
      method,
      headers: STREAM_HEADERS,
      body: method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) : undefined,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
  });

  it('accepts a fresh initialize that carries a stale session id, with a new id', async () => {
    const stale = randomUUID();
    const res = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...STREAM_HEADERS, 'mcp-session-id': stale }, body: JSON.stringify(INIT) });
    expect(res.status).toBe(200);
    const id = res.headers.get('mcp-session-id');
    expect(id).toBeTruthy();
    expect(id).not.toBe(stale);
    expect(await res.text()).toContain('"protocolVersion":"2025-11-25"');
    expect(manager.sessionCount).toBe(1);
  });

  it('ends a session on DELETE, after which its id is unknown (404)', async () => {
    const client = await connectClient(url, 'streamable');
    const id = client.transport!.sessionId!;
    const del = await fetch(`${url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': id } });
    expect(del.status).toBe(200);
    expect(manager.sessionCount).toBe(0);
    const res = await fetch(`${url}/mcp`, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id } });
    expect(res.status).toBe(404);
    await client.close();
  });

  it('refuses an initialize that does not accept SSE with 406, creating no session', async () => {
    const res = await fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(INIT) });
    expect(res.status).toBe(406);
    expect(manager.sessionCount).toBe(0);
  });

  it('serves /health with status, transport, session count and uptime', async () => {
    clients.push(await connectClient(url, 'sse'));
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', transport: 'http', stateless: false, sessions: 1, uptime: expect.any(Number), pid: process.pid });
  });

  it('accepts SSE posts on /messages and /messages/, and 400/404s bad session ids', async () => {
    const sse = await openRawSse(url);
    const id = sse.sessionId;
    expect(sse.endpoint).toBe(`/messages/?sessionId=${id}`);
    for (const path of ['/messages', '/messages/']) {
      const ok = await fetch(`${url}${path}?sessionId=${id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }),
      });
      expect(ok.status).toBe(202);
    }
    const missing = await fetch(`${url}/messages/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: -32000 } });
    const unknown = await fetch(`${url}/messages/?sessionId=${randomUUID()}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: -32001 } });
    sse.close();
  });

  it('answers unknown paths and wrong methods with JSON-RPC errors', async () => {
    const notFound = await fetch(`${url}/nope`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32601 } });
    const wrong = await fetch(`${url}/sse`, { method: 'PUT' });
    expect(wrong.status).toBe(405);
    expect(await wrong.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
  });
});

describe('stateless mode', () => {
  it.each([{ stateless: true }, { env: { MCP_HTTP_STATELESS: '1' } }])('serves without sessions (%j)', async (options) => {
    const { manager, url } = await startHttp({ server: lowLevelServer(), ...options });
    try {
      expect(manager.config.stateless).toBe(true);
      const client = await connectClient(url, 'streamable');
      expect(client.transport?.sessionId).toBeUndefined();
      expect(JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: 'x' } }))).text).toBe('x');
      expect(manager.sessionCount).toBe(0);
      const get = await fetch(`${url}/mcp`, { headers: { accept: 'text/event-stream' } });
      expect(get.status).toBe(405);
      await client.close();
    } finally {
      await manager.close();
    }
  });
});
