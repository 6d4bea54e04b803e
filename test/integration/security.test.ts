import request from 'supertest';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { MCPTransportManager } from '../../src/index.js';
import { INIT as RAW_INIT, STREAM_HEADERS, connectClient, emptyDir, lowLevelServer, startHttp, textOf } from '../helpers.js';

const INIT = JSON.stringify(RAW_INIT);
const HEADERS = STREAM_HEADERS;

describe('safe defaults', () => {
  it('listens on loopback only by default: 127.0.0.1 and ::1, both reachable', async () => {
    const manager = new MCPTransportManager({ server: lowLevelServer(), transportMode: 'http', port: 0, handleSignals: false, env: {}, cwd: emptyDir(), logLevel: 'error' });
    await manager.start();
    try {
      const port = manager.port!;
      expect(manager.addresses).toEqual([`127.0.0.1:${port}`, `[::1]:${port}`]);
      expect(manager.url).toBe(`http://localhost:${port}`);
      for (const host of ['127.0.0.1', '[::1]', 'localhost']) {
        expect((await fetch(`http://${host}:${port}/health`)).status).toBe(200);
      }
    } finally {
      await manager.close();
    }
  });

  describe('request guards', () => {
    let manager: MCPTransportManager;
    let url: string;
    beforeAll(async () => ({ manager, url } = await startHttp({ server: lowLevelServer(), allowedOrigins: ['https://app.example'], allowedHosts: ['mcp.internal'] })));
    afterAll(() => manager.close());

    it.each(['evil.example', 'evil.example:80', '127.0.0.1.evil.example', ''])('rejects Host %j with 403 (DNS rebinding)', async (host) => {
      const res = await request(url).get('/health').set('Host', host);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    });

    it.each(['localhost', 'localhost:1234', '127.0.0.1:9', '[::1]:9', 'mcp.internal', 'mcp.internal:8443'])('accepts Host %j', async (host) => {
      expect((await request(url).get('/health').set('Host', host)).status).toBe(200);
    });

    it.each(['https://evil.example', 'http://localhost.evil.example', 'null', 'file://'])('rejects Origin %j with 403', async (origin) => {
      const res = await request(url).post('/mcp').set(HEADERS).set('Origin', origin).send(INIT);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    });

    it.each(['http://localhost:5173', 'http://127.0.0.1:6274', 'http://[::1]:8080', 'https://app.example', 'https://app.example/'])('accepts Origin %j', async (origin) => {
      expect((await request(url).get('/health').set('Origin', origin)).status).toBe(200);
    });

    it('rejects a body over 4 MiB with 413 and a JSON-RPC error', async () => {
      const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(4 * 1024 * 1024) } });
      const res = await request(url).post('/mcp').set(HEADERS).send(big);
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    });

    it.each(['/mcp', '/messages/?sessionId=x'])('rejects malformed JSON on %s with 400 and -32700', async (path) => {
      const res = await request(url).post(path).set(HEADERS).send('{"jsonrpc": "2.0", "id": 1, "method": ');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });
    });

    it('turns a throwing tool handler into a JSON-RPC error and keeps serving', async () => {
      const client = await connectClient(url, 'streamable');
      const failure = await client.callTool({ name: 'fail' }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(McpError);
      expect((failure as McpError).message).toContain('the tool failed on purpose');
      expect(JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).text).toBe('still here');
      await client.close();
    });
  });

  describe('bearer token', () => {
    let manager: MCPTransportManager;
    let url: string;
    beforeAll(async () => ({ manager, url } = await startHttp({ server: lowLevelServer(), env: { MCP_AUTH_TOKEN: 'tok-123' } })));
    afterAll(() => manager.close());

    it.each([
      ['no header', undefined],
      ['a wrong token', 'Bearer tok-124'],
      ['a longer token', 'Bearer tok-1234'],
      ['another scheme', 'Basic dG9rLTEyMw=='],
    ])('rejects %s with 401', async (_what, authorization) => {
      const req = request(url).post('/mcp').set(HEADERS);
      if (authorization) req.set('Authorization', authorization);
      const res = await req.send(INIT);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
    });

    it.each(['streamable', 'sse'] as const)('lets a %s client with the right token in', async (kind) => {
      const client = await connectClient(url, kind, 'authed', { headers: { Authorization: 'Bearer tok-123' } });
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      await client.close();
    });
  });
});
