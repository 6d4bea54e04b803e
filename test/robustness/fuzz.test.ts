import fc from 'fast-check';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { MCPTransportManager } from '../../src/index.js';
import { INIT, connectClient, lowLevelServer, openRawSse, startHttp, textOf } from '../helpers.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1000);

/** Bodies a confused or hostile client might send. */
const body = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)), // truncated
  fc.constant(JSON.stringify(INIT)).chain((s) => fc.nat({ max: s.length }).map((n) => s.slice(0, n))), // truncated initialize
  fc
    .record(
      {
        jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('1.0'), fc.jsonValue()),
        id: fc.oneof(fc.integer(), fc.bigInt().map(String), fc.string({ maxLength: 2000 }), fc.constant(null), fc.object(), fc.double()),
        method: fc.oneof(fc.constantFrom('initialize', 'tools/list', 'tools/call', 'ping', 'notifications/cancelled', 'resources/read'), fc.string()),
        params: fc.jsonValue(),
        result: fc.jsonValue(),
        error: fc.jsonValue(),
      },
      { requiredKeys: [] },
    )
    .map((m) => JSON.stringify(m)),
  fc.array(fc.record({ jsonrpc: fc.constant('2.0'), id: fc.integer(), method: fc.string() }), { maxLength: 20 }).map((a) => JSON.stringify(a)), // batches
  fc.string({ unit: 'grapheme', maxLength: 200 }).map((text) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text } } })),
);

const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);

describe('fuzzing the HTTP endpoints', () => {
  let manager: MCPTransportManager;
  let url: string;
  let client: Client;
  let sse: Awaited<ReturnType<typeof openRawSse>>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    ({ manager, url } = await startHttp({ server: lowLevelServer() }));
    client = await connectClient(url, 'streamable');
    sse = await openRawSse(url);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    sse.close();
    await client.close();
    await manager.close();
  });

  it(`answers ${RUNS} generated requests with well-formed 4xx JSON-RPC errors or valid results: no 5xx, no crash`, async () => {
    const sessionId = client.transport!.sessionId!;
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'),
      path: fc.oneof(fc.constantFrom('/mcp', '/sse', '/messages', '/messages/', '/health', '/', '/nope', '/mcp/extra'), fc.webPath()),
      query: fc.constantFrom('', `?sessionId=${sse.sessionId}`, '?sessionId=', '?sessionId=nope', '?x=%ZZ'),
      contentType: fc.option(fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'), headerValue), { nil: undefined }),
      accept: fc.option(fc.oneof(fc.constantFrom('application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*'), headerValue), { nil: undefined }),
      session: fc.constantFrom(undefined, sessionId, '00000000-0000-0000-0000-000000000000', 'garbage', ''),
      protocolVersion: fc.option(fc.oneof(fc.constantFrom('2025-11-25', '2024-11-05'), headerValue), { nil: undefined }),
      body,
    });

    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.accept !== undefined) headers['accept'] = r.accept;
        if (r.session !== undefined) headers['mcp-session-id'] = r.session;
        if (r.protocolVersion !== undefined) headers['mcp-protocol-version'] = r.protocolVersion;
        const hasBody = !['GET', 'HEAD'].includes(r.method);
        const controller = new AbortController();
        // A request that gets no answer within 5 s fails the property (and fast-check shows which one).
        const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(5000)]);
        const res = await fetch(`${url}${r.path}${r.query}`, { method: r.method, headers, body: hasBody ? r.body : undefined, signal });
        try {
          expect(res.status).toBeLessThan(500);
          const type = res.headers.get('content-type') ?? '';
          if (type.startsWith('text/event-stream')) return; // a stream was opened: a valid outcome
          const text = r.method === 'HEAD' ? '' : await res.text();
          if (res.status >= 400 && r.method !== 'HEAD') {
            expect(type).toMatch(/^application\/json/);
            expect(JSON.parse(text)).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number), message: expect.any(String) } });
          }
        } finally {
          controller.abort(); // ends any stream this request opened
        }
      }),
      { numRuns: RUNS, endOnFailure: process.env["FUZZ_NO_SHRINK"] === "1" },
    );

    // Still serving, nothing thrown into the void.
    const fresh = await connectClient(url, 'streamable');
    expect(JSON.parse(textOf(await fresh.callTool({ name: 'echo', arguments: { text: 'after the storm' } }))).text).toBe('after the storm');
    await fresh.close();
    expect(unhandled).toEqual([]);
  }, 120_000);
});
