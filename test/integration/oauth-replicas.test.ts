import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startAuthServer, type AuthServer } from '../auth-server.js';
import { STREAM_HEADERS, connectClient, textOf, waitFor, within } from '../helpers.js';
import { startRedis, type RedisServer } from '../redis.js';
import { startReplicas, type Replicas } from '../replicas.js';

/**
 * Issue 13 across the Redis replicas of issue 12: three replicas with MCP_AUTH_ISSUER on one real
 * redis-server, behind the round-robin proxy without affinity, a local authorization server minting the
 * tokens. Real SDK v1 clients over Streamable HTTP and legacy SSE. Every replica's handler sees the
 * caller's authInfo; a session stays bound to its subject whichever replica a request lands on.
 */

/** The audience every replica expects: the public URL, as behind a load balancer. */
const AUDIENCE = 'https://mcp.example.com/mcp';
const CALL = { timeout: 5000 };

interface Seen {
  pid: number;
  sessionId: string | null;
  authInfo: { token?: string; subject?: string; clientId?: string; scopes?: string[] } | null;
}

let redis: RedisServer;
let auth: AuthServer;
let cluster: Replicas;
const clients: Client[] = [];

const bearer = (token: string) => `Bearer ${token}`;

/** What the fixture's `caller` tool saw, asked through an SDK client. */
async function caller(client: Client): Promise<Seen> {
  return JSON.parse(textOf(await client.callTool({ name: 'caller' }, undefined, CALL))) as Seen;
}

/** `tools/call caller` on Streamable HTTP session `session` at `base` (a replica, or the proxy) with `token`, by hand. */
async function rawCall(base: string, session: string, token: string, protocolVersion: string): Promise<{ status: number; seen?: Seen; text: string }> {
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { ...STREAM_HEADERS, authorization: bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': protocolVersion, connection: 'close' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'caller', arguments: {} } }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, text };
  const messages = res.headers.get('content-type')?.includes('text/event-stream')
    ? text
        .split('\n')
        .filter((l) => l.startsWith('data: ') && l.slice(6).trim() !== '')
        .map((l) => JSON.parse(l.slice(6)) as { id?: unknown; result?: unknown })
    : [JSON.parse(text) as { id?: unknown; result?: unknown }];
  const answer = messages.find((m) => m.id === 77);
  return { status: res.status, text, seen: answer ? (JSON.parse(textOf(answer.result)) as Seen) : undefined };
}

const replicaUrl = (i: number) => `http://127.0.0.1:${cluster.replicas[i]!.port}`;
const pids = () => cluster.replicas.map((r) => r.pid);

beforeAll(async () => {
  redis = await startRedis();
  auth = await startAuthServer(() => AUDIENCE);
  cluster = await startReplicas({ count: 3, redisUrl: redis.url, env: { MCP_AUTH_ISSUER: auth.issuer, MCP_AUTH_AUDIENCE: AUDIENCE, MCP_LOG_LEVEL: 'info' } });
}, 60_000);

afterAll(async () => {
  await within(Promise.all(clients.map((client) => client.close())), 5000);
  await cluster?.stop();
  await redis?.stop();
  await auth?.close();
}, 20_000);

/** A client closed in afterAll too, should its test fail. */
async function connect(base: string, kind: 'streamable' | 'sse', name: string, headers: Record<string, string>): Promise<Client> {
  const client = await connectClient(base, kind, name, { headers });
  clients.push(client);
  return client;
}

describe('OAuth on three replicas behind a round-robin proxy', () => {
  it('Streamable HTTP: calls land on several replicas, each handler sees the caller; a refreshed token keeps the session, another subject gets 404 everywhere', async () => {
    const first = await auth.mint({ sub: 'alice' });
    // The SDK reads requestInit.headers on every request: changing it is how this client refreshes its token.
    const headers = { authorization: bearer(first) };
    const client = await connect(cluster.url, 'streamable', 'alice-streamable', headers);
    const session = client.transport!.sessionId!;
    const protocolVersion = (client.transport as StreamableHTTPClientTransport).protocolVersion!;

    const since = cluster.log.length;
    const seen: Seen[] = [];
    for (let i = 0; i < 6; i++) seen.push(await caller(client));
    for (const s of seen) expect(s).toMatchObject({ sessionId: session, authInfo: { token: first, subject: 'alice', clientId: 'test-client', scopes: ['mcp:read', 'mcp:write'] } });
    const served = new Set(seen.map((s) => s.pid));
    expect(served.size).toBeGreaterThanOrEqual(2);
    for (const pid of served) expect(pids()).toContain(pid);
    expect(new Set(cluster.log.slice(since).filter((r) => r.rpc?.startsWith('tools/call:caller')).map((r) => r.replica)).size).toBe(served.size);

    // A new token for the same subject (another jti, later exp): the same session, on every replica.
    const refreshed = await auth.mint({ sub: 'alice', jti: 'refreshed', exp: Math.floor(Date.now() / 1000) + 600 });
    headers.authorization = bearer(refreshed);
    const after: Seen[] = [];
    for (let i = 0; i < 3; i++) after.push(await caller(client));
    for (const s of after) expect(s).toMatchObject({ sessionId: session, authInfo: { token: refreshed, subject: 'alice' } });
    expect(new Set(after.map((s) => s.pid)).size).toBeGreaterThanOrEqual(2);
    expect(client.transport!.sessionId).toBe(session);

    // Another subject with alice's session id: 404 on each replica in turn (three in a row through the proxy).
    const bob = await auth.mint({ sub: 'bob' });
    const before = cluster.log.length;
    for (let i = 0; i < 3; i++) {
      const res = await rawCall(cluster.url, session, bob, protocolVersion);
      expect({ status: res.status, text: res.text }).toMatchObject({ status: 404 });
      expect(res.text).not.toContain('alice');
    }
    expect(new Set(cluster.log.slice(before).map((r) => r.replica)).size).toBe(3);
    // And alice's session is still hers.
    expect(await caller(client)).toMatchObject({ sessionId: session, authInfo: { subject: 'alice' } });
  }, 30_000);

  it('Streamable HTTP: another subject gets 404 from a replica that would restore the session and from the one that holds it; the same subject is served by both', async () => {
    const alice = await auth.mint({ sub: 'alice' });
    // Straight to replica 0, so that replicas 1 and 2 have never held this session.
    const client = await connect(replicaUrl(0), 'streamable', 'alice-direct', { authorization: bearer(alice) });
    const session = client.transport!.sessionId!;
    const protocolVersion = (client.transport as StreamableHTTPClientTransport).protocolVersion!;
    expect((await caller(client)).pid).toBe(pids()[0]);

    const bob = await auth.mint({ sub: 'bob' });
    for (const i of [1, 0]) {
      const res = await rawCall(replicaUrl(i), session, bob, protocolVersion);
      expect({ replica: i, status: res.status }).toEqual({ replica: i, status: 404 });
    }
    // The session bob could not have: restored for alice (a new token of hers) on replica 1, and on replica 2, which had never seen it.
    for (const i of [1, 2]) {
      const token = await auth.mint({ sub: 'alice', jti: `on-${i}` });
      const res = await rawCall(replicaUrl(i), session, token, protocolVersion);
      expect({ replica: i, status: res.status, seen: res.seen }).toMatchObject({ replica: i, status: 200, seen: { pid: pids()[i], sessionId: session, authInfo: { token, subject: 'alice' } } });
    }
    // A replica that now holds it still refuses bob.
    expect((await rawCall(replicaUrl(2), session, bob, protocolVersion)).status).toBe(404);
    expect(await caller(client)).toMatchObject({ pid: pids()[0], authInfo: { token: alice, subject: 'alice' } });
  }, 30_000);

  it('legacy SSE: posts land on several replicas and reach the stream with the caller\'s authInfo; another subject gets 404 from every replica', async () => {
    const first = await auth.mint({ sub: 'alice' });
    const headers = { authorization: bearer(first) };
    const client = await connect(cluster.url, 'sse', 'alice-sse', headers);

    const since = cluster.log.length;
    const seen: Seen[] = [];
    for (let i = 0; i < 6; i++) seen.push(await caller(client));
    const session = seen[0]!.sessionId!;
    for (const s of seen) expect(s).toMatchObject({ sessionId: session, authInfo: { token: first, subject: 'alice', clientId: 'test-client' } });
    // The handler runs where the stream is; the posts went round the replicas, and were sent there over Redis.
    const holder = seen[0]!.pid;
    expect(new Set(seen.map((s) => s.pid))).toEqual(new Set([holder]));
    // An answer can come down the stream before the proxy has passed on the post's 202: wait for all six.
    const answered = () => cluster.log.slice(since).filter((r) => r.method === 'POST' && r.rpc?.startsWith('tools/call:caller') && r.ended !== undefined);
    const posts = await waitFor(() => (answered().length === 6 ? answered() : undefined), 'the proxy to pass on the six posts\' answers', 5000);
    expect(posts.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202]);
    expect(new Set(posts.map((r) => r.replica)).size).toBeGreaterThanOrEqual(2);
    expect(posts.some((r) => r.pid !== holder)).toBe(true);

    // Another subject posting to alice's session: 404 on each replica in turn, the stream's one included.
    const bob = await auth.mint({ sub: 'bob' });
    const before = cluster.log.length;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${cluster.url}/messages/?sessionId=${session}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: bearer(bob), connection: 'close' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 900 + i, method: 'tools/call', params: { name: 'caller', arguments: {} } }),
      });
      const record = cluster.log[before + i];
      expect({ replica: record?.replica, holder: record?.pid === holder, status: res.status }).toMatchObject({ status: 404 });
      await res.body?.cancel();
    }
    expect(new Set(cluster.log.slice(before).map((r) => r.replica)).size).toBe(3);

    // A new token of alice's: the same session, relayed from every replica with that token.
    const refreshed = await auth.mint({ sub: 'alice', jti: 'sse-refreshed' });
    headers.authorization = bearer(refreshed);
    for (let i = 0; i < 3; i++) expect(await caller(client)).toMatchObject({ pid: holder, sessionId: session, authInfo: { token: refreshed, subject: 'alice' } });
  }, 30_000);
});
