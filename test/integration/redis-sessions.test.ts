/**
 * Two managers in one process sharing a real redis-server: a session opened on one is served by the
 * other, DELETE forgets it everywhere, and Redis being down is a clear 503.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createClient } from 'redis';
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, highLevelServer, lowLevelServer, INIT, RawSseClient, startHttp, STREAM_HEADERS, textOf, waitFor } from '../helpers.js';
import { startRedis, type RedisServer } from '../redis.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
}, 20_000);
afterAll(async () => {
  await redis?.stop();
});

const replica = () => startHttp({ server: highLevelServer(), redis: redis.url });

/** The JSON-RPC answer in a Streamable HTTP response (SSE-framed, after any notifications, or plain JSON). */
async function answerOf(res: Response): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
  const text = await res.text();
  const messages = text.includes('data:') ? text.split('\n').filter((l) => l.startsWith('data:') && l.slice(5).trim() !== '').map((l) => JSON.parse(l.slice(5))) : [JSON.parse(text)];
  return messages.find((m: { method?: string }) => m.method === undefined);
}

describe('sessions shared on Redis', () => {
  it('a session opened on one replica is served by another; DELETE on a third removes it from Redis, so a fourth answers 404', async () => {
    const [a, b, c, d] = await Promise.all([replica(), replica(), replica(), replica()]);
    try {
      const init = await fetch(`${a.url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      const id = init.headers.get('mcp-session-id')!;
      await init.text();
      const headers = { ...STREAM_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
      await fetch(`${a.url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
      const call = (url: string, n: number) =>
        fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'echo', arguments: { text: `on ${n}` } } }) });
      const onB = await answerOf(await call(b.url, 2));
      expect(JSON.parse(textOf(onB.result)).text).toBe('on 2');
      expect(JSON.parse(textOf(onB.result)).sessionId).toBe(id);
      expect(b.manager.sessionCount).toBe(1);

      // The answers' events were kept for resuming; DELETE drops them with the session.
      const raw = createClient({ url: redis.url });
      await raw.connect();
      const streams = () => raw.keys(`mcp:events:${id}`);
      try {
        expect((await streams()).length).toBeGreaterThan(0);
        expect((await fetch(`${c.url}/mcp`, { method: 'DELETE', headers })).status).toBe(200);
        const afterDelete = await call(d.url, 3);
        expect(afterDelete.status).toBe(404);
        await waitFor(async () => (await streams()).length === 0, 'the session\'s event streams dropped', 5000);
      } finally {
        raw.destroy();
      }
    } finally {
      await Promise.all([a, b, c, d].map((r) => r.manager.close()));
    }
  });

  it('takes a node-redis client of yours (the redis option) and leaves it open; a replica uses 2 connections (commands, pub/sub)', async () => {
    const raw = createClient({ url: redis.url });
    await raw.connect();
    const connections = async () => (String(await raw.sendCommand(['CLIENT', 'LIST'])).trim().split('\n').length);
    const mine = createClient({ url: redis.url, disableOfflineQueue: true });
    const idle = await connections();
    const [a, b] = await Promise.all([replica(), startHttp({ server: highLevelServer(), redis: mine })]);
    try {
      // a from the URL (2 connections), b on the client given (its own, plus the bus's duplicate).
      await waitFor(async () => (await connections()) === idle + 4, 'four more Redis connections', 5000);
      const init = await fetch(`${a.url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      const id = init.headers.get('mcp-session-id')!;
      await init.text();
      const headers = { ...STREAM_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
      const onB = await answerOf(await fetch(`${b.url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'via yours' } } }) }));
      expect(JSON.parse(textOf(onB.result))).toMatchObject({ text: 'via yours', sessionId: id });
    } finally {
      await Promise.all([a, b].map((r) => r.manager.close()));
    }
    expect(mine.isOpen).toBe(true);
    await waitFor(async () => (await connections()) === idle + 1, 'the replicas closed their connections; yours stays', 5000);
    expect(await mine.sendCommand(['PING'])).toBe('PONG');
    mine.destroy();
    raw.destroy();
  });

  it('DELETE on the replica that opened a session ends the copy another replica restored', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    try {
      const init = await fetch(`${a.url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      const id = init.headers.get('mcp-session-id')!;
      await init.text();
      const headers = { ...STREAM_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
      const ping = (url: string) => fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) });
      expect((await ping(b.url)).status).toBe(200);
      expect(b.manager.sessionCount).toBe(1);
      expect((await fetch(`${a.url}/mcp`, { method: 'DELETE', headers })).status).toBe(200);
      await waitFor(() => b.manager.sessionCount === 0, "the other replica's copy to end");
      expect((await ping(b.url)).status).toBe(404);
    } finally {
      await Promise.all([a, b].map((r) => r.manager.close()));
    }
  });

  it("a legacy SSE client's POSTs may land on any replica: the answers come on its stream", async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const client = await RawSseClient.connect(a.url, 'sse-anywhere');
    try {
      // From now on the client posts to the other replica, as a load balancer without affinity may send it.
      const internals = client as unknown as { endpoint: string };
      internals.endpoint = internals.endpoint.replace(a.url, b.url);
      const result = await client.request('tools/call', { name: 'echo', arguments: { text: 'via b' } });
      expect(JSON.parse(textOf(result))).toEqual({ text: 'via b', sessionId: client.sessionId });
      expect(b.manager.sessionCount).toBe(0);
    } finally {
      client.close();
      await Promise.all([a, b].map((r) => r.manager.close()));
    }
  });

  it("a list change announced on one replica reaches a client whose stream is on another", async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const client = await connectClient(b.url, 'streamable');
    try {
      let heard = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void heard++);
      await client.listTools();
      a.manager.notify.toolsChanged();
      await waitFor(() => heard === 1, 'the client on the other replica to hear of it');
    } finally {
      await client.close();
      await Promise.all([a, b].map((r) => r.manager.close()));
    }
  });

  it('a sampling request from one replica is answered though the client posts its answer to another', async () => {
    const a = await startHttp({ server: lowLevelServer(), redis: redis.url });
    const b = await startHttp({ server: lowLevelServer(), redis: redis.url });
    // Every request of this client goes to the next replica in turn, as a load balancer without affinity.
    const urls = [a.url, b.url];
    let next = 0;
    const client = new Client({ name: 'sampler', version: '1' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: 'I am the sampler' } }));
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`), {
        fetch: (url, init) => fetch(String(url).replace(a.url, urls[next++ % 2]!), init),
      }),
    );
    try {
      for (let i = 0; i < 4; i++) expect(textOf(await client.callTool({ name: 'sample', arguments: {} }))).toBe('I am the sampler');
    } finally {
      await client.close();
      await Promise.all([a, b].map((r) => r.manager.close()));
    }
  });

  it('with Redis down, a request that needs it gets a 503 JSON-RPC error within 1 s; it recovers by itself', async () => {
    const { manager, url } = await replica();
    try {
      await redis.kill();
      const started = Date.now();
      const res = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      expect(Date.now() - started).toBeLessThan(1500);
      expect(res.status).toBe(503);
      expect((await answerOf(res)).error?.message).toMatch(/Service Unavailable: .*Redis/);
      await redis.restart();
      let status = 0;
      for (const deadline = Date.now() + 10_000; status !== 200 && Date.now() < deadline; ) {
        const again = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
        status = again.status;
        await again.text();
      }
      expect(status).toBe(200);
    } finally {
      await manager.close();
    }
  });
});
