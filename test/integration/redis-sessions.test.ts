/**
 * Two managers in one process sharing a real redis-server: a session opened on one is served by the
 * other, DELETE forgets it everywhere, and Redis being down is a clear 503.
 */
import { highLevelServer, INIT, startHttp, STREAM_HEADERS, textOf } from '../helpers.js';
import { startRedis, type RedisServer } from '../redis.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
}, 20_000);
afterAll(async () => {
  await redis?.stop();
});

const replica = () => startHttp({ server: highLevelServer(), redisUrl: redis.url });

/** The JSON-RPC answer in a Streamable HTTP response (SSE-framed, after any notifications, or plain JSON). */
async function answerOf(res: Response): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
  const text = await res.text();
  const messages = text.includes('data:') ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5))) : [JSON.parse(text)];
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

      expect((await fetch(`${c.url}/mcp`, { method: 'DELETE', headers })).status).toBe(200);
      const afterDelete = await call(d.url, 3);
      expect(afterDelete.status).toBe(404);
    } finally {
      await Promise.all([a, b, c, d].map((r) => r.manager.close()));
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
