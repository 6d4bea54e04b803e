import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { FileSessionStore, type Logger } from '../../src/index.js';
import { INIT, STREAM_HEADERS, connectClient, emptyDir, lowLevelServer, openRawSse, startHttp } from '../helpers.js';

describe('security', () => {
  describe('loopback checks with IPv6 and ports', () => {
    let manager: Awaited<ReturnType<typeof startHttp>>['manager'];
    let url: string;
    beforeAll(async () => ({ manager, url } = await startHttp({ server: lowLevelServer() })));
    afterAll(() => manager.close());

    it.each([
      ['Host', '[::1]', 200],
      ['Host', '[::1]:8080', 200],
      ['Host', 'localhost', 200],
      ['Host', 'localhost:3000', 200],
      ['Host', '127.0.0.1', 200],
      ['Host', '[::2]', 403],
      ['Host', '[::1].evil.example', 403],
      ['Host', 'localhost.evil.example:3000', 403],
      ['Origin', 'http://[::1]', 200],
      ['Origin', 'http://[::1]:6274', 200],
      ['Origin', 'http://localhost', 200],
      ['Origin', 'https://localhost:8443', 200],
      ['Origin', 'http://[::2]', 403],
      ['Origin', 'http://[::1].evil.example', 403],
    ])('%s %s gets %i', async (header, value, status) => {
      expect((await request(url).get('/health').set(header, value)).status).toBe(status);
    });
  });

  it('never logs the bearer token, right or wrong, even at debug level', async () => {
    const lines: string[] = [];
    const logger: Logger = { level: 'debug', error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: (m) => lines.push(m) };
    const { manager, url } = await startHttp({ server: lowLevelServer(), authToken: 'sekret-right', logger, logLevel: 'debug' });
    try {
      await request(url).post('/mcp').set(STREAM_HEADERS).set('Authorization', 'Bearer sekret-wrong').send(JSON.stringify(INIT));
      const client = await connectClient(url, 'streamable', 'authed', { headers: { Authorization: 'Bearer sekret-right' } });
      await client.callTool({ name: 'fail' }).catch(() => undefined);
      await client.close();
    } finally {
      await manager.close();
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toMatch(/sekret/);
  });

  it('saves dev-mode sessions in a 0600 file that holds no token', async () => {
    const path = join(emptyDir(), 'sessions.json');
    const { manager, url } = await startHttp({ server: lowLevelServer(), devMode: true, sessionStore: new FileSessionStore(path), authToken: 'sekret-token' });
    try {
      const client = await connectClient(url, 'streamable', 'stored', { headers: { Authorization: 'Bearer sekret-token' } });
      await client.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const text = readFileSync(path, 'utf8');
      expect(text).toContain('"stored"');
      expect(text).not.toContain('sekret');
    } finally {
      await manager.close();
    }
  });

  it('gives sessions random v4 UUIDs, all different', async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer() });
    try {
      const ids = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const res = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
          await res.text();
          return res.headers.get('mcp-session-id')!;
        }),
      );
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(new Set(ids).size).toBe(100);
    } finally {
      await manager.close();
    }
  });

  it('binds a session to the token that opened it: another valid token cannot use it (404)', async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer(), env: { MCP_AUTH_TOKEN: 'alpha-token, beta-token' } });
    const as = (token: string) => ({ Authorization: `Bearer ${token}` });
    try {
      const alice = await connectClient(url, 'streamable', 'alice', { headers: as('alpha-token') });
      const id = alice.transport!.sessionId!;
      const ping = (token: string) =>
        fetch(`${url}/mcp`, { method: 'POST', headers: { ...STREAM_HEADERS, ...as(token), 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' }) });
      expect((await ping('beta-token')).status).toBe(404);
      const own = await ping('alpha-token');
      expect(own.status).toBe(200);
      await own.text();

      const sse = await openRawSse(url, as('alpha-token'));
      const post = (token: string) => fetch(`${url}${sse.endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json', ...as(token) }, body: JSON.stringify(INIT) });
      expect((await post('beta-token')).status).toBe(404);
      expect((await post('alpha-token')).status).toBe(202);
      sse.close();
      await alice.close();
    } finally {
      await manager.close();
    }
  });
});
