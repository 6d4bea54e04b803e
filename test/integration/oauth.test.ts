/**
 * OAuth resource server (issue 13): a local authorization server (test/auth-server.ts) mints JWTs; a
 * manager on an ephemeral loopback port checks them, serves RFC 9728 metadata, answers 401/403 with the
 * right challenges, hands `extra.authInfo` to handlers on Streamable HTTP, SSE, WebSocket and the
 * 2026-07-28 path, and binds sessions to the token's subject. Real SDK clients, real HTTP, no sleeps.
 */
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StreamableHTTPClientTransport as HttpClientV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import WebSocket from 'ws';
import { z } from 'zod';
import { join } from 'node:path';
import { AuthUnavailableError, ConfigError, FileSessionStore, type Logger, type MCPTransportManager } from '../../src/index.js';
import { startAuthServer, type AuthServer } from '../auth-server.js';
import { connectClient, emptyDir, startHttp, textOf, waitFor } from '../helpers.js';

const STREAM_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const MODERN = '2026-07-28';

/** Node 20 has no global WebSocket, which the SDK's WebSocketClientTransport uses: `ws`'s fits, with our header. */
const globals = globalThis as { WebSocket?: unknown };
function webSocketWith(authorization: string) {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { allowSynchronousEvents: false, headers: { Authorization: authorization } });
    }
  };
}

/** A v1 server whose `whoami` tool answers with what its handler saw. */
function whoamiServer(): McpServer {
  const server = new McpServer({ name: 'whoami', version: '1.0.0' });
  server.registerTool('whoami', { inputSchema: {} }, async (_args, extra) => ({ content: [{ type: 'text', text: JSON.stringify({ authInfo: extra.authInfo ?? null, sessionId: extra.sessionId ?? null }) }] }));
  return server;
}

function v2WhoamiServer(): McpServerV2 {
  const server = new McpServerV2({ name: 'whoami-v2', version: '2.0.0' });
  server.registerTool('whoami', { inputSchema: z.object({}) }, async (_args, ctx) => ({ content: [{ type: 'text', text: JSON.stringify({ authInfo: ctx.http?.authInfo ?? null }) }] }));
  return server;
}

async function whoami(client: { callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown> }) {
  return JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))) as { authInfo: Record<string, any> | null; sessionId: string | null };
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, logger: { level: 'debug', error: push, warn: push, info: push, debug: push } };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A raw WebSocket upgrade: its status, headers and body. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/ws',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'mcp', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('OAuth resource server (JWTs from an issuer found by discovery)', () => {
  let auth: AuthServer;
  let manager: MCPTransportManager;
  let url: string;
  let audience = '';
  const log = capture();
  /** Every token minted here: none may appear in a log line. */
  const minted = new Set<string>();
  const mint = async (...args: Parameters<AuthServer['mint']>) => {
    const token = await auth.mint(...args);
    minted.add(token);
    return token;
  };

  beforeAll(async () => {
    auth = await startAuthServer(() => audience);
    ({ manager, url } = await startHttp({ server: whoamiServer(), authIssuer: auth.issuer, logger: log.logger, logLevel: 'debug' }));
    audience = `${url}/mcp`;
  });
  afterAll(async () => {
    await manager?.close();
    await auth?.close();
  });

  const post = (headers: Record<string, string>, body: unknown = INIT, path = '/mcp') => fetch(`${url}${path}`, { method: 'POST', headers: { ...STREAM_HEADERS, ...headers }, body: JSON.stringify(body) });
  const metadataUrl = () => `${url}/.well-known/oauth-protected-resource/mcp`;

  it('found the JWKS through RFC 8414 metadata at startup', () => {
    expect(auth.requests).toContain('/.well-known/oauth-authorization-server');
  });

  it.each(['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp'])('serves RFC 9728 metadata at %s without a token', async (path) => {
    const res = await fetch(`${url}${path}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ resource: `${url}/mcp`, authorization_servers: [auth.issuer], bearer_methods_supported: ['header'] });
    // The Host check still holds (DNS rebinding).
    const foreign = await new Promise<number>((resolve, reject) =>
      httpRequest({ host: '127.0.0.1', port: new URL(url).port, path, headers: { host: 'evil.example' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      })
        .on('error', reject)
        .end(),
    );
    expect(foreign).toBe(403);
  });

  it.each([
    ['no Authorization header', {}],
    ['another scheme', { authorization: 'Basic YWxpY2U6c2VjcmV0' }],
  ])('answers %s with 401 and a challenge naming the metadata', async (_name, headers: Record<string, string>) => {
    for (const res of [await post(headers), await fetch(`${url}/sse`, { headers })]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl()}"`);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: null });
    }
    const ws = await upgrade(url, headers);
    expect(ws.status).toBe(401);
    expect(ws.headers['www-authenticate']).toBe(`Bearer resource_metadata="${metadataUrl()}"`);
  });

  const invalid: [string, () => Promise<string>, RegExp][] = [
    ['a bad signature (another key, same kid)', async () => mint({}, { key: { ...(await auth.newKey()), kid: auth.current.kid } }), /signature/],
    ['a key the issuer never published', async () => mint({}, { key: await auth.newKey() }), /kid/],
    ['alg none', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: auth.issuer, sub: 'alice', aud: audience, exp: now() + 300 })}.`, /algorithm|not a valid/],
    [
      'HS256 signed with the public key as the secret',
      async () => {
        const jose = await import('jose');
        const secret = new TextEncoder().encode(JSON.stringify(auth.current.publicJwk));
        return new jose.SignJWT({ iss: auth.issuer, sub: 'alice', aud: audience, exp: now() + 300 }).setProtectedHeader({ alg: 'HS256', kid: auth.current.kid }).sign(secret);
      },
      /algorithm/,
    ],
    ['another issuer', () => mint({ iss: 'https://evil.example/' }), /issuer/],
    ['another audience', () => mint({ aud: 'https://other.example/mcp' }), /not meant for this server/],
    ['no exp', () => mint({}, { omit: ['exp'] }), /no exp claim/],
    ['no aud', () => mint({}, { omit: ['aud'] }), /no aud claim/],
    ['an exp past the clock skew (60 s ago)', () => mint({ exp: now() - 60 }), /expired/],
    ['an nbf past the clock skew (120 s ahead)', () => mint({ nbf: now() + 120 }), /not valid yet/],
    ['neither sub nor client_id', () => mint({}, { omit: ['sub', 'client_id'] }), /neither a sub nor a client_id/],
    ['not a JWT', async () => 'abc.def.ghi', /not a valid JWT/],
  ];
  it.each(invalid)('refuses %s: 401 invalid_token, the token nowhere in the answer', async (_name, make, why) => {
    const token = await make();
    minted.add(token);
    const res = await post(bearer(token));
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${metadataUrl()}"`);
    expect(challenge).toContain('error="invalid_token"');
    const description = /error_description="([^"]*)"/.exec(challenge)?.[1];
    expect(description).toMatch(why);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: null });
    for (const part of token.split('.').filter((p) => p.length > 8)) {
      expect(challenge).not.toContain(part);
      expect(body).not.toContain(part);
    }
  });

  it('tolerates a small clock skew: exp 10 s ago and nbf 10 s ahead are accepted', async () => {
    expect((await post(bearer(await mint({ exp: now() - 10 })))).status).toBe(200);
    expect((await post(bearer(await mint({ nbf: now() + 10 })))).status).toBe(200);
  });

  it('requires no scope when MCP_AUTH_SCOPES is unset', async () => {
    expect((await post(bearer(await mint({ scope: undefined })))).status).toBe(200);
  });

  it('accepts an aud array that contains the audience', async () => {
    expect((await post(bearer(await mint({ aud: ['https://other.example', audience] })))).status).toBe(200);
  });

  it('gives handlers extra.authInfo over Streamable HTTP and SSE (real SDK v1 clients)', async () => {
    const token = await mint({ scope: 'mcp:read', scp: ['extra:one'] });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    for (const kind of ['streamable', 'sse'] as const) {
      const client = await connectClient(url, kind, `who-${kind}`, { headers: bearer(token) });
      try {
        const { authInfo } = await whoami(client);
        expect(authInfo).toMatchObject({ token, clientId: 'test-client', scopes: ['mcp:read', 'extra:one'], expiresAt: exp, subject: 'alice', extra: { subject: 'alice', issuer: auth.issuer } });
      } finally {
        await client.close();
      }
    }
  });

  it('takes clientId from sub when the token has no client_id', async () => {
    const client = await connectClient(url, 'streamable', 'no-client-id', { headers: bearer(await mint({ sub: 'svc-7' }, { omit: ['client_id'] })) });
    try {
      expect((await whoami(client)).authInfo).toMatchObject({ clientId: 'svc-7', subject: 'svc-7' });
    } finally {
      await client.close();
    }
  });

  it('gives handlers extra.authInfo over WebSocket', async () => {
    const token = await mint({ sub: 'carol' });
    const had = globals.WebSocket;
    globals.WebSocket = webSocketWith(`Bearer ${token}`);
    const client = new Client({ name: 'ws', version: '1.0.0' });
    try {
      await client.connect(new WebSocketClientTransport(new URL(`${url.replace('http', 'ws')}/ws`)));
      expect((await whoami(client)).authInfo).toMatchObject({ token, subject: 'carol', clientId: 'test-client' });
    } finally {
      await client.close();
      globals.WebSocket = had;
    }
    const bad = await upgrade(url, bearer(await mint({ aud: 'https://other.example' })));
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('closes a WebSocket (1008) once its token has expired, clock skew included', async () => {
    // Expired 27 s ago: accepted within the 30 s skew, so the socket opens and must close about 3 s later.
    const exp = now() - 27;
    const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`, 'mcp', { headers: { Authorization: `Bearer ${await mint({ sub: 'dave', exp })}` } });
    const opened = Date.now();
    const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      socket.once('error', reject);
    });
    expect(closed).toEqual({ code: 1008, reason: 'access token expired' });
    // Not before exp + 30 s (1 s of rounding: exp is whole seconds).
    expect(Date.now()).toBeGreaterThanOrEqual((exp + 30) * 1000 - 1000);
    expect(Date.now() - opened).toBeLessThan(10_000);
  });

  it('binds a session to its subject: another subject gets 404, a new token of the same subject keeps it', async () => {
    const alice = await mint({ sub: 'alice' });
    const opened = await post(bearer(alice));
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id')!;
    await opened.text();
    const headers = (token: string) => ({ ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' });
    const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
    expect((await post(headers(alice), initialized)).status).toBe(202);
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    const bob = await post(headers(await mint({ sub: 'bob' })), list);
    expect(bob.status).toBe(404);
    const fresh = await post(headers(await mint({ sub: 'alice', iat: now() + 1, jti: 'another' })), list);
    expect(fresh.status).toBe(200);
    expect(await fresh.text()).toContain('whoami');

    // Legacy SSE: the same binding.
    const sse = await connectClient(url, 'sse', 'bound-sse', { headers: bearer(alice) });
    try {
      const { sessionId } = await whoami(sse);
      const message = { jsonrpc: '2.0', id: 9, method: 'tools/list' };
      expect((await post(bearer(await mint({ sub: 'bob' })), message, `/messages/?sessionId=${sessionId}`)).status).toBe(404);
      expect((await post(bearer(await mint({ sub: 'alice' })), message, `/messages/?sessionId=${sessionId}`)).status).toBe(202);
    } finally {
      await sse.close();
    }
  });

  it('accepts a rotated key (ES256, then EdDSA) within 5 s of its publication', async () => {
    const first = auth.current;
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const key = await auth.rotate(alg);
      const published = Date.now();
      const token = await mint({}, { key });
      await waitFor(async () => (await post(bearer(token))).status === 200, `a token signed with the new ${alg} key to be accepted`, 5_000);
      expect(Date.now() - published).toBeLessThan(5_000);
    }
    // The first key is still published, and still accepted.
    expect((await post(bearer(await mint({}, { key: first })))).status).toBe(200);
  });

  it('never answers a fuzzed Authorization header with a 5xx (300 headers)', async () => {
    let seed = 13;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const printable = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x20 + Math.floor(random() * 95))).join('');
    const b64 = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256))).toString('base64url');
    const valid = await mint();
    const [h, p, s] = valid.split('.') as [string, string, string];
    const makers = [
      () => printable(Math.floor(random() * 80)),
      () => `Bearer ${printable(Math.floor(random() * 120))}`,
      () => `Bearer ${b64(20)}.${b64(40)}.${b64(30)}`,
      () => `bearer    ${b64(10)}`,
      () => `Bearer ${b64url({ alg: pick(['none', 'HS256', 'RS256', 'ES512', 'EdDSA', 123, null]), kid: pick([auth.current.kid, 'nope', 7, undefined]) })}.${p}.${s}`,
      () => `Bearer ${h}.${b64url(pick(['null', '[]', '"x"', '{"exp":"soon"}', '{"aud":{}}', printable(20)]))}.${s}`,
      () => `Bearer ${h}.${p}.${b64(Math.floor(random() * 600))}`,
      () => `Bearer ${valid.slice(0, Math.floor(random() * valid.length))}`,
      () => `Bearer ${h}.${p}`,
      () => `Bearer ${'A'.repeat(Math.floor(random() * 12_000))}`,
      () => `Bearer ${valid} ${valid}`,
      () => pick(['Bearer', 'Bearer ', ' Bearer x', 'Bearer\tx', 'Bearer ===', 'Bearer a=b', 'Bearer ..', 'Bearer .', '']),
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const authorization = pick(makers)();
      const res = await post({ authorization });
      await res.body?.cancel();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) throw new Error(`${res.status} for Authorization: ${authorization.slice(0, 200)}`);
    }
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true);
    expect(statuses.get(401)).toBeGreaterThan(250);
  });

  it('never logs a token, even at debug level', () => {
    expect(log.lines.length).toBeGreaterThan(0);
    expect(log.lines.some((line) => line.includes('access token refused'))).toBe(true);
    const text = log.lines.join('\n');
    for (const token of minted) {
      for (const part of token.split('.').filter((p) => p.length > 8)) expect(text).not.toContain(part);
    }
    // Not hashed or shortened either: no 16 characters of a signature appear.
    for (const token of minted) {
      const signature = token.split('.')[2] ?? '';
      if (signature.length >= 16) expect(text).not.toContain(signature.slice(0, 16));
      expect(text).not.toContain(createHash('sha256').update(token).digest('hex').slice(0, 16));
    }
  });
});

describe('OAuth settings', () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0).reverse()) await s.close();
  });
  const track = <T extends { close(): Promise<void> }>(s: T) => {
    servers.push(s);
    return s;
  };
  const call = (url: string, token: string | undefined) =>
    fetch(`${url}/mcp`, { method: 'POST', headers: { ...STREAM_HEADERS, ...(token ? bearer(token) : {}) }, body: JSON.stringify(INIT) });

  it('MCP_AUTH_SCOPES: a token without every scope gets 403 insufficient_scope; the metadata lists them', async () => {
    let audience = '';
    const auth = track(await startAuthServer(() => audience));
    const { manager, url } = await startHttp({ server: whoamiServer(), env: { MCP_AUTH_ISSUER: auth.issuer, MCP_AUTH_SCOPES: 'mcp:read, admin' } });
    track(manager);
    audience = `${url}/mcp`;
    const res = await call(url, await auth.mint({ scope: 'mcp:read mcp:write' }));
    expect(res.status).toBe(403);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:read admin"');
    expect(challenge).toContain(`resource_metadata="${url}/.well-known/oauth-protected-resource/mcp"`);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringContaining('admin') }, id: null });
    expect((await call(url, await auth.mint({ scope: 'admin', scp: ['mcp:read'] }))).status).toBe(200);
    expect((await call(url, undefined)).headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${url}/.well-known/oauth-protected-resource/mcp", scope="mcp:read admin"`);
    expect(await (await fetch(`${url}/.well-known/oauth-protected-resource`)).json()).toMatchObject({ scopes_supported: ['mcp:read', 'admin'] });
  });

  it('MCP_AUTH_AUDIENCE replaces the default audience, and is the resource advertised', async () => {
    const auth = track(await startAuthServer(() => 'https://mcp.example.com/mcp'));
    const { manager, url } = await startHttp({ server: whoamiServer(), authIssuer: auth.issuer, authAudience: 'https://mcp.example.com/mcp' });
    track(manager);
    expect((await call(url, await auth.mint())).status).toBe(200);
    const forDefault = await call(url, await auth.mint({ aud: `${url}/mcp` }));
    expect(forDefault.status).toBe(401);
    expect(forDefault.headers.get('www-authenticate')).toContain('resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"');
    expect(await (await fetch(`${url}/.well-known/oauth-protected-resource/mcp`)).json()).toMatchObject({ resource: 'https://mcp.example.com/mcp' });
  });

  it('MCP_AUTH_JWKS_URL: startup fetches nothing from the issuer, and tokens are checked against that JWKS', async () => {
    let audience = '';
    const auth = track(await startAuthServer(() => audience, { discovery: 'none' }));
    const { manager, url } = await startHttp({ server: whoamiServer(), env: { MCP_AUTH_ISSUER: auth.issuer, MCP_AUTH_JWKS_URL: auth.jwksUrl } });
    track(manager);
    audience = `${url}/mcp`;
    expect(auth.requests).toEqual([]);
    expect((await call(url, await auth.mint())).status).toBe(200);
    expect(auth.requests).toEqual(['/jwks']);
  });

  it('finds a Keycloak-style issuer (with a path) through OpenID discovery', async () => {
    let audience = '';
    const auth = track(await startAuthServer(() => audience, { discovery: 'openid', path: '/realms/test', alg: 'EdDSA' }));
    const { manager, url } = await startHttp({ server: whoamiServer(), authIssuer: auth.issuer });
    track(manager);
    audience = `${url}/mcp`;
    expect(auth.requests).toContain('/realms/test/.well-known/openid-configuration');
    expect((await call(url, await auth.mint())).status).toBe(200);
  });

  it('fails to start with one line when the issuer has no metadata, or metadata for another issuer', async () => {
    const none = track(await startAuthServer(() => '', { discovery: 'none' }));
    const error = await startHttp({ server: whoamiServer(), authIssuer: none.issuer }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('AUTH_DISCOVERY_FAILED');
    expect((error as ConfigError).message).toMatch(/^MCP_AUTH_ISSUER=http:\/\/127\.0\.0\.1:\d+: no authorization server metadata found .*MCP_AUTH_JWKS_URL/);
    expect((error as ConfigError).message).not.toContain('\n');

    const other = track(await startAuthServer(() => '', { claimedIssuer: 'http://127.0.0.1/elsewhere' }));
    await expect(startHttp({ server: whoamiServer(), authIssuer: other.issuer })).rejects.toThrow(/names the issuer "http:\/\/127\.0\.0\.1\/elsewhere"/);
  });

  it('follows no redirect and reads no huge document from the issuer (discovery and JWKS)', async () => {
    // An issuer of its own in front of the real authorization server: it redirects discovery there, or sends 2 MB.
    let mode: 'redirect' | 'huge' = 'redirect';
    let real: AuthServer | undefined;
    const front = createServer((req, res) => {
      if (mode === 'redirect') return void res.writeHead(302, { location: `${real!.issuer}${req.url}` }).end();
      const padding = 'x'.repeat(2_000_000);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.url === '/jwks' ? { keys: [real!.current.publicJwk], padding } : { issuer: frontIssuer, jwks_uri: real!.jwksUrl, padding }));
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    track({ close: () => new Promise<void>((resolve) => front.close(() => resolve())) });
    const frontIssuer = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    let audience = '';
    real = track(await startAuthServer(() => audience, { claimedIssuer: frontIssuer }));

    const refused = (options: Partial<Parameters<typeof startHttp>[0]>) => startHttp({ server: whoamiServer(), authIssuer: frontIssuer, ...options }).then(({ manager }) => track(manager) && 'started', (e: Error) => e.message);
    expect(await refused({})).toMatch(/oauth-authorization-server: 302 \(a redirect, not followed\)/);
    mode = 'huge';
    expect(await refused({})).toMatch(/oauth-authorization-server: the response is larger than 524288 bytes/);
    // A JWKS that large is no key: the token cannot be checked (503), and nothing fills memory.
    const { manager, url } = await startHttp({ server: whoamiServer(), authIssuer: frontIssuer, authJwksUrl: `${frontIssuer}/jwks`, logger: capture().logger });
    track(manager);
    audience = `${url}/mcp`;
    expect((await call(url, await real.mint({ iss: frontIssuer }))).status).toBe(503);
  });

  it('keeps the subject binding when a restarted server restores the session', async () => {
    const resource = 'https://mcp.example.com/mcp';
    const auth = track(await startAuthServer(() => resource));
    const store = new FileSessionStore(join(emptyDir(), 'sessions.json'));
    const options = { server: whoamiServer(), authIssuer: auth.issuer, authAudience: resource, devMode: true, sessionStore: store };
    const first = await startHttp(options);
    const opened = await call(first.url, await auth.mint({ sub: 'alice' }));
    const session = opened.headers.get('mcp-session-id')!;
    await opened.text();
    await first.manager.close();

    const { manager, url } = await startHttp(options);
    track(manager);
    const list = (token: string) =>
      fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { ...STREAM_HEADERS, ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
    expect((await list(await auth.mint({ sub: 'bob' }))).status).toBe(404);
    const alice = await list(await auth.mint({ sub: 'alice' }));
    expect(alice.status).toBe(200);
    expect(await alice.text()).toContain('whoami');
  });

  it('verifyAccessToken: opaque tokens checked by your code, with the audience given', async () => {
    const audiences: string[] = [];
    const { manager, url } = await startHttp({
      server: whoamiServer(),
      authIssuer: 'https://auth.example.com/',
      verifyAccessToken: async (token, { audience }) => {
        audiences.push(audience);
        if (token !== 'opaque-good-token') throw new Error(`introspection says ${token} is inactive`);
        return { token, clientId: 'opaque-client', scopes: ['x'], expiresAt: now() + 60, subject: 'dave' };
      },
      logger: capture().logger,
    });
    track(manager);
    const client = await connectClient(url, 'streamable', 'opaque', { headers: bearer('opaque-good-token') });
    try {
      expect((await whoami(client)).authInfo).toMatchObject({ clientId: 'opaque-client', subject: 'dave', extra: { subject: 'dave' } });
    } finally {
      await client.close();
    }
    const bad = await call(url, 'opaque-bad-token');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(bad.headers.get('www-authenticate')).not.toContain('opaque-bad-token');
    expect(audiences[0]).toBe(`${url}/mcp`);
    expect(await (await fetch(`${url}/.well-known/oauth-protected-resource`)).json()).toMatchObject({ authorization_servers: ['https://auth.example.com/'] });
  });

  it('verifyAccessToken: what the verifier throws (a description, an "unavailable" flag) is neither sent nor logged as it is; AuthUnavailableError is a 503', async () => {
    const log = capture();
    const { manager, url } = await startHttp({
      server: whoamiServer(),
      authIssuer: 'https://auth.example.com/',
      verifyAccessToken: async (token) => {
        if (token === 'opaque-token-outage') throw new AuthUnavailableError(`introspection of ${token} timed out`);
        throw Object.assign(new Error(`introspection: ${token} is revoked`), { description: `token ${token} is revoked \u2192 sign in again`, unavailable: token.endsWith('-down') });
      },
      logger: log.logger,
      logLevel: 'debug',
    });
    track(manager);
    for (const token of ['opaque-revoked-token', 'opaque-token-down']) {
      const res = await call(url, token);
      expect(res.status).toBe(401);
      const challenge = res.headers.get('www-authenticate')!;
      expect(challenge).toContain('error="invalid_token", error_description="the token is not valid"');
      expect(challenge + (await res.text())).not.toContain(token);
    }
    expect(log.lines.some((line) => line.includes('verifyAccessToken refused a token: introspection: [token] is revoked'))).toBe(true);
    // Introspection down: the token may be fine, so the client keeps it and retries.
    const outage = await call(url, 'opaque-token-outage');
    expect(outage.status).toBe(503);
    expect(outage.headers.get('retry-after')).toBe('5');
    expect(outage.headers.get('www-authenticate')).toBeNull();
    expect(await outage.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('cannot be checked now') } });
    expect(log.lines.some((line) => line.includes('could not be checked: introspection of [token] timed out'))).toBe(true);
    expect(log.lines.join('\n')).not.toContain('opaque-');
  });

  it('binds a session opened by a client without a subject to that client, not to a subject of the same name', async () => {
    const { manager, url } = await startHttp({
      server: whoamiServer(),
      authIssuer: 'https://auth.example.com/',
      // Introspection answers of a client-credentials token (no sub) and of a user whose sub is that client's id.
      verifyAccessToken: async (token) => (token === 'service-token' ? { token, clientId: 'svc', scopes: [] } : { token, clientId: 'app', scopes: [], subject: 'svc' }),
    });
    track(manager);
    const opened = await call(url, 'service-token');
    const session = opened.headers.get('mcp-session-id')!;
    await opened.text();
    const list = (token: string) =>
      fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { ...STREAM_HEADERS, ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
    expect((await list('user-token')).status).toBe(404);
    expect((await list('service-token')).status).toBe(200);
  });

  it('gives extra.authInfo to a v2 server on the 2026-07-28 path (real v2 client)', async () => {
    let audience = '';
    const auth = track(await startAuthServer(() => audience));
    const { manager, url } = await startHttp({ server: () => v2WhoamiServer(), authIssuer: auth.issuer });
    track(manager);
    audience = `${url}/mcp`;
    const token = await auth.mint({ sub: 'erin' });
    const client = new ClientV2({ name: 'modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    await client.connect(new HttpClientV2(new URL(`${url}/mcp`), { requestInit: { headers: bearer(token) } }));
    try {
      const { authInfo } = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))) as { authInfo: Record<string, unknown> };
      expect(authInfo).toMatchObject({ token, subject: 'erin', clientId: 'test-client' });
    } finally {
      await client.close();
    }
  });
});
