/**
 * RedisEventStore against a real redis-server (test/redis.ts): order, replay after a cursor, retention by
 * count and by time, ids that cannot be resumed from, Redis down or hung; and end to end, a stream
 * started on one SDK transport ("replica" A) resumed with Last-Event-ID on another (B) sharing the store.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport, type EventStore as V1EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import * as V2 from '@modelcontextprotocol/server';
import { ConfigError, LifecycleError, StoreUnavailableError } from '../../src/index.js';
import type { JSONRPCMessage, JSONRPCNotification } from '../../src/jsonrpc.js';
import type { EventStore } from '../../src/sdk.js';
import { RedisEventStore, UnknownEventError } from '../../src/sessions/redis-events.js';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { startRedisWithClient, stopRedisWithClient, type RawRedisClient, type RedisServer } from '../redis.js';
import { recordingLogger, timed, waitFor } from '../helpers.js';

let redis: RedisServer;
/** A plain client to look at keys directly. */
let raw: RawRedisClient;
const stores: RedisEventStore[] = [];

async function newStore(options: Partial<Parameters<typeof RedisEventStore.connect>[1]> = {}): Promise<RedisEventStore> {
  const store = await RedisEventStore.connect(redis.url, { ttlMs: 60_000, prefix: `t${stores.length}:`, ...options });
  stores.push(store);
  return store;
}

function note(data: string): JSONRPCNotification & { params: { data: string } } {
  return { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data } };
}

/** Replay after `lastEventId`, collecting what is sent. */
async function replay(store: EventStore, lastEventId: string): Promise<{ streamId: string; sent: Array<[string, JSONRPCMessage]> }> {
  const sent: Array<[string, JSONRPCMessage]> = [];
  const streamId = await store.replayEventsAfter(lastEventId, { send: async (id, message) => void sent.push([id, message]) });
  return { streamId, sent };
}

beforeAll(async () => void ({ redis, raw } = await startRedisWithClient()), 20_000);
afterAll(() => stopRedisWithClient({ redis, raw }, stores));

describe('RedisEventStore', () => {
  it('stores events in order per stream and replays those after a cursor, naming the stream', async () => {
    const store = await newStore();
    const session = store.forSession('s1');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await session.storeEvent('_GET_stream', note(`get ${i}`)));
    const other = await session.storeEvent('req-1', note('request stream'));
    expect(ids.every((id) => /^_GET_stream\|\d+-\d+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(5);
    expect(other).toMatch(/^req-1\|\d+-\d+$/);

    // After a middle event: only the later ones, in order, with the ids storeEvent gave.
    expect(await replay(session, ids[1]!)).toEqual({ streamId: '_GET_stream', sent: [2, 3, 4].map((i) => [ids[i], note(`get ${i}`)]) });
    expect(await replay(session, ids[4]!)).toEqual({ streamId: '_GET_stream', sent: [] });
    expect(await replay(session, other)).toEqual({ streamId: 'req-1', sent: [] });
    expect(await session.getStreamIdForEventId!(ids[2]!)).toBe('_GET_stream');
    expect(await session.getStreamIdForEventId!(other)).toBe('req-1');

    // Layout: one Redis stream per session, each entry its SDK stream in field s and its message as JSON in m, with a TTL.
    const key = `${store.prefix}events:s1`;
    expect(await raw.keys(`${store.prefix}events*`)).toEqual([key]);
    expect(await raw.xLen(key)).toBe(6);
    const [first] = (await raw.xRange(key, '-', '+', { COUNT: 1 }))!;
    expect(`_GET_stream|${first!.id}`).toBe(ids[0]);
    expect(first!.message['s']).toBe('_GET_stream');
    expect(JSON.parse(first!.message['m']!)).toEqual(note('get 0'));
    // A cursor of one SDK stream never reads another's: an entry id of _GET_stream named as req-1's is made up.
    await expect(replay(session, `req-1|${ids[2]!.split('|')[1]}`)).rejects.toMatchObject({ reason: 'unknown' });
    const pttl = await raw.pTTL(key);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('keeps sessions apart: the same stream id and cursor in another session reads nothing of this one', async () => {
    const store = await newStore();
    const a = store.forSession('a');
    const b = store.forSession('b');
    const idA = await a.storeEvent('_GET_stream', note('for a'));
    await a.storeEvent('_GET_stream', note('for a, later'));
    // Entry ids count per stream, so b's own XADD in the same millisecond would be given a's id: b's entry is
    // written with an id of its own (older than a's), as a stream that has lived longer.
    await raw.xAdd(`${store.prefix}events:b`, '1-1', { s: '_GET_stream', m: JSON.stringify(note('for b')) });
    expect((await replay(a, idA)).sent.map(([, m]) => m)).toEqual([note('for a, later')]);
    // b has a _GET_stream, without that entry: refused, never a's events.
    await expect(replay(b, idA)).rejects.toMatchObject({ name: 'UnknownEventError', reason: 'gone' });
    expect(await b.getStreamIdForEventId!(idA)).toBeUndefined();
    // A session without that stream at all.
    await expect(replay(store.forSession('c'), idA)).rejects.toMatchObject({ reason: 'unknown' });
  });

  it('forgets the events of an ended session, and only those', async () => {
    const store = await newStore();
    for (const id of ['gone', 'gone2', 'kept', 'g*']) {
      await store.forSession(id).storeEvent('_GET_stream', note(id));
      await store.forSession(id).storeEvent('post-1', note(id));
    }
    await store.forget('g*');
    await store.forget('gone');
    const left = (await raw.keys(`${store.prefix}events:*`)).sort();
    expect(left).toEqual(['gone2', 'kept'].map((id) => `${store.prefix}events:${id}`));
  });

  it('does not send priming events ({}) again, and skips entries it did not write', async () => {
    const store = await newStore();
    const session = store.forSession('p');
    const priming = await session.storeEvent('post-1', {} as JSONRPCMessage);
    await raw.xAdd(`${store.prefix}events:p`, '*', { s: 'post-1', other: 'field' });
    await raw.xAdd(`${store.prefix}events:p`, '*', { s: 'post-1', m: 'not json' });
    await raw.xAdd(`${store.prefix}events:p`, '*', { m: JSON.stringify(note('of no stream')) });
    await session.storeEvent('post-2', note('of another stream'));
    const response = await session.storeEvent('post-1', { jsonrpc: '2.0', id: 1, result: {} });
    expect(await replay(session, priming)).toEqual({ streamId: 'post-1', sent: [[response, { jsonrpc: '2.0', id: 1, result: {} }]] });
  });

  it('replays a long stream in several batches', async () => {
    const store = await newStore();
    const session = store.forSession('long');
    const first = await session.storeEvent('s', note('0'));
    await Promise.all(Array.from({ length: 349 }, (_, i) => session.storeEvent('s', note(String(i + 1)))));
    const { sent } = await replay(session, first);
    expect(sent).toHaveLength(349);
    // Concurrent stores land in Redis's order, which the ids carry; the replay keeps it.
    const entries = sent.map(([id]) => id.split('|')[1]!.split('-').map(BigInt) as [bigint, bigint]);
    for (let i = 1; i < entries.length; i++) {
      const [[m0, s0], [m1, s1]] = [entries[i - 1]!, entries[i]!];
      expect(m1 > m0 || (m1 === m0 && s1 > s0)).toBe(true);
    }
  });

  it('retains about maxEvents per session; a cursor trimmed away while later events remain is refused', async () => {
    const store = await newStore({ maxEvents: 10 });
    const session = store.forSession('count');
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push(await session.storeEvent('s', note(String(i))));
    const length = await raw.xLen(`${store.prefix}events:count`);
    // MAXLEN ~ trims whole nodes (100 entries by default): at least maxEvents, a node more at most.
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThanOrEqual(110);
    await expect(replay(session, ids[0]!)).rejects.toMatchObject({ name: 'UnknownEventError', reason: 'gone', message: expect.stringContaining('is no longer stored') });
    expect(await session.getStreamIdForEventId!(ids[0]!)).toBeUndefined();
    const { streamId, sent } = await replay(session, ids[294]!);
    expect(streamId).toBe('s');
    expect(sent.map(([, m]) => (m as ReturnType<typeof note>).params.data)).toEqual(['295', '296', '297', '298', '299']);
  });

  it('retains a stream for ttlMs after its last event; once it expired, its cursors resume with nothing to replay', async () => {
    const store = await newStore({ ttlMs: 300 });
    const session = store.forSession('time');
    const first = await session.storeEvent('s', note('1'));
    await session.storeEvent('s', note('2'));
    const key = `${store.prefix}events:time`;
    const pttl = await raw.pTTL(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(300);
    expect((await replay(session, first)).sent).toHaveLength(1);
    await waitFor(async () => (await raw.exists(key)) === 0, 'the stream to expire', 5000);
    expect(await replay(session, first)).toEqual({ streamId: 's', sent: [] });
    expect(await session.getStreamIdForEventId!(first)).toBe('s');
    // The stream starts over with the next event: the old cursor resumes with all of it (nothing older was kept).
    const next = await session.storeEvent('s', note('3'));
    expect(await replay(session, first)).toEqual({ streamId: 's', sent: [[next, note('3')]] });
    expect(await session.getStreamIdForEventId!(first)).toBe('s');
  });

  it('refuses garbled and unknown Last-Event-IDs cleanly, without asking Redis for garbled ones', async () => {
    const client = createClient({ url: redis.url, disableOfflineQueue: true });
    const sendCommand = client.sendCommand.bind(client);
    let commands = 0;
    client.sendCommand = ((...args: Parameters<typeof sendCommand>) => (commands++, sendCommand(...args))) as typeof sendCommand;
    const store = new RedisEventStore({ client, ttlMs: 60_000, prefix: 'bad:' });
    await store.ready();
    const session = store.forSession('bad');
    const real = await session.storeEvent('s', note('x'));
    const entry = real.split('|')[1]!;
    commands = 0;
    for (const garbled of ['', 'nope', '|1-0', 's|', 's|abc', 's|1-0-0', 's|1', 's|-1-0', 's|99999999999999999999-0', `${'x'.repeat(300)}|1-0`, 's|1-0\n']) {
      await expect(replay(session, garbled)).rejects.toMatchObject({ name: 'UnknownEventError', reason: 'garbled' });
      expect(await session.getStreamIdForEventId!(garbled)).toBeUndefined();
    }
    expect(commands).toBe(0);
    // A stream id with '|' in it cannot be stored (its ids would not parse).
    await expect(session.storeEvent('a|b', note('x'))).rejects.toThrow(TypeError);
    // Well formed, but no such stream (and too recent to have expired), or no such entry in a stream that exists.
    const [ms, seq] = entry.split('-');
    for (const [id, reason] of [
      [`never|${entry}`, 'unknown'],
      [`s|${ms}-${Number(seq) + 7}`, 'gone'],
      [`s|${Number(ms) - 1}-0`, 'gone'],
    ] as const) {
      const { error } = await timed(() => replay(session, id));
      expect(error).toBeInstanceOf(UnknownEventError);
      expect(error).toMatchObject({ reason, eventId: id });
      expect(await session.getStreamIdForEventId!(id)).toBeUndefined();
    }
    await store.close();
    client.destroy();
  });

  it('works on a client it is given (a session store’s), and leaves that client open on close', async () => {
    const client = createClient({ url: redis.url, disableOfflineQueue: true });
    const sessions = new RedisSessionStore({ client, ttlMs: 60_000, prefix: 'shared:' });
    const events = new RedisEventStore({ client, ttlMs: 60_000, prefix: 'shared:' });
    expect(await events.ready()).toBe(true);
    const id = await events.forSession('x').storeEvent('s', note('x'));
    expect(await events.forSession('x').getStreamIdForEventId!(id)).toBe('s');
    await events.close();
    await events.close();
    expect(client.isReady).toBe(true);
    await expect(events.forSession('x').storeEvent('s', note('y'))).rejects.toBeInstanceOf(LifecycleError);
    await sessions.close();
    client.destroy();
  });

  it('gives each session an EventStore of both SDK lines (checked by tsc)', () => {
    const view: [V1EventStore, V2.EventStore] = [stores[0]!.forSession('x'), stores[0]!.forSession('x')];
    expect(view.every((v) => typeof v.getStreamIdForEventId === 'function')).toBe(true);
  });

  it('rejects bad options naming them', async () => {
    const client = createClient({ url: redis.url });
    expect(() => new RedisEventStore({ client, ttlMs: 0 })).toThrow(ConfigError);
    expect(() => new RedisEventStore({ client, ttlMs: 1000, maxEvents: 0 })).toThrow('maxEvents=0 must be a positive whole number');
    expect(() => new RedisEventStore({ client, ttlMs: 1000, timeoutMs: 1.5 })).toThrow('timeoutMs=1.5');
    expect(client.isOpen).toBe(false);
    expect(() => stores[0]!.forSession('')).toThrow(TypeError);
  });
});

/** A web-standard handler served over node:http on a loopback port, streaming the response, cancelling it when the client goes. */
async function serveWeb(handle: (request: Request) => Promise<Response>): Promise<{ url: string; close(): Promise<void> }> {
  const server: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks);
      const response = await handle(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body }));
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (!response.body) return void res.end();
      res.flushHeaders();
      const reader = response.body.getReader();
      res.on('close', () => void reader.cancel().catch(() => undefined));
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (done) return void res.end();
        res.write(value);
      }
    })().catch((error: Error) => res.destroy(error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** An SSE response read event by event. */
class SseReader {
  private buffer = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(readonly response: Response) {
    this.reader = response.body!.getReader();
  }

  /** The next event (comments such as keep-alives skipped), or undefined once the stream ends. */
  async next(): Promise<{ id?: string; data: string } | undefined> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event: { id?: string; data: string } = { data: '' };
        let any = false;
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) (event.id = line.slice(3).trim()), (any = true);
          else if (line.startsWith('data:')) (event.data += line.slice(5).trim()), (any = true);
        }
        if (any) return event;
        continue;
      }
      const { done, value } = await this.reader.read();
      if (done) return undefined;
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** The next event that carries a message (priming events have empty data). */
  async nextMessage(): Promise<{ id?: string; message: JSONRPCMessage }> {
    for (;;) {
      const event = await this.next();
      if (!event) throw new Error('the stream ended');
      if (event.data) return { id: event.id, message: JSON.parse(event.data) as JSONRPCMessage };
    }
  }

  cancel(): Promise<void> {
    return this.reader.cancel().catch(() => undefined);
  }
}

describe.each([1, 2] as const)('resuming a stream on another replica (SDK v%d transports sharing one RedisEventStore)', (line) => {
  const VERSION = '2025-11-25';
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  });

  /** One replica: a server with a `wait` tool (answers once `release` is called) behind its own transport and HTTP port. */
  async function replica(store: RedisEventStore, sessionId: string) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let called!: () => void;
    const calledOnce = new Promise<void>((resolve) => (called = resolve));
    const tools = async () => ({ tools: [{ name: 'wait', inputSchema: { type: 'object' as const } }] });
    const wait = async () => {
      called();
      await released;
      return { content: [{ type: 'text' as const, text: 'done' }] };
    };
    const info = { name: 'replica', version: '1.0.0' };
    const capabilities = { capabilities: { tools: {}, logging: {} } };
    const options = { sessionIdGenerator: () => sessionId, eventStore: store.forSession(sessionId) };
    let server: { close(): Promise<void>; notification(n: JSONRPCNotification): Promise<void> };
    let transport: { handleRequest(request: Request): Promise<Response> };
    if (line === 1) {
      const v1 = new Server(info, capabilities);
      v1.setRequestHandler(ListToolsRequestSchema, tools);
      v1.setRequestHandler(CallToolRequestSchema, wait);
      const t = new WebStandardStreamableHTTPServerTransport(options);
      await v1.connect(t);
      [server, transport] = [v1, t];
    } else {
      const v2 = new V2.Server(info, capabilities);
      v2.setRequestHandler('tools/list', tools);
      v2.setRequestHandler('tools/call', wait);
      const t = new V2.WebStandardStreamableHTTPServerTransport(options);
      await v2.connect(t);
      [server, transport] = [v2, t];
    }
    const http = await serveWeb((request) => transport.handleRequest(request));
    cleanup.push(() => server.close(), () => http.close());
    const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': VERSION };
    const post = (message: object, signal?: AbortSignal) =>
      fetch(http.url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(message), signal });
    // The client's handshake (on B this stands for the owner's restore, which replays it).
    const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'test', version: '1' } } });
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toBe(sessionId);
    await init.text();
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    const get = async (lastEventId?: string, signal?: AbortSignal) =>
      fetch(http.url, { headers: { ...headers, accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) }, signal });
    return { server, transport, http, post, get, release, calledOnce };
  }

  it('replays the GET stream on B from the Last-Event-ID A gave, then carries on live there', async () => {
    const store = await newStore();
    const sid = randomUUID();
    const a = await replica(store, sid);
    const b = await replica(store, sid);

    const abort = new AbortController();
    const onA = await a.get(undefined, abort.signal);
    expect(onA.status).toBe(200);
    const streamA = new SseReader(onA);
    await a.server.notification(note('one'));
    const one = await streamA.nextMessage();
    expect(one.message).toEqual(note('one'));
    expect(one.id).toMatch(/^_GET_stream\|\d+-\d+$/);

    // The client loses A; A goes on producing (stored, though nobody reads them there), then goes away.
    abort.abort();
    await a.server.notification(note('two'));
    await a.server.notification(note('three'));
    await a.http.close();

    const onB = await b.get(one.id);
    expect(onB.status).toBe(200);
    expect(onB.headers.get('mcp-session-id')).toBe(sid);
    const streamB = new SseReader(onB);
    const two = await streamB.nextMessage();
    const three = await streamB.nextMessage();
    expect([two.message, three.message]).toEqual([note('two'), note('three')]);
    await b.server.notification(note('four'));
    const four = await streamB.nextMessage();
    expect(four.message).toEqual(note('four'));
    const order = [one, two, three, four].map((e) => e.id!.split('|')[1]!.split('-').map(Number));
    expect(order).toEqual([...order].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!));
    expect(new Set(order.map(String)).size).toBe(4);

    // The stream is now held on B: a second resume of it conflicts, as on one replica.
    expect((await b.get(four.id!)).status).toBe(409);
    await streamB.cancel();
  });

  it('a tool result A produced after the client dropped its POST stream reaches the client on B', async () => {
    const store = await newStore();
    const sid = randomUUID();
    const a = await replica(store, sid);
    const b = await replica(store, sid);

    const abort = new AbortController();
    const call = await a.post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait', arguments: {} } }, abort.signal);
    expect(call.headers.get('content-type')).toContain('text/event-stream');
    const stream = new SseReader(call);
    const priming = await stream.next();
    expect(priming).toMatchObject({ data: '' });
    expect(priming!.id).toMatch(/^[0-9a-f-]{36}\|\d+-\d+$/);
    await a.calledOnce;
    abort.abort();
    a.release();
    // A stores the result for the stream that it no longer holds.
    const [streamId] = priming!.id!.split('|') as [string];
    await waitFor(async () => ((await raw.xRange(`${store.prefix}events:${sid}`, '-', '+')) ?? []).filter((e) => e.message['s'] === streamId).length === 2, 'A to store the result');

    const resumed = await b.get(priming!.id);
    expect(resumed.status).toBe(200);
    const result = await new SseReader(resumed).nextMessage();
    expect(result.message).toEqual({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'done' }] } });
    expect(result.id).toMatch(new RegExp(`^${streamId}\\|`));
  });

  it('answers a garbled or unknown Last-Event-ID with 400, and one of another session too', async () => {
    const store = await newStore();
    const sid = randomUUID();
    const b = await replica(store, sid);
    const foreign = await store.forSession(randomUUID()).storeEvent('_GET_stream', note('not yours'));
    for (const id of ['garbage', `_GET_stream|${Date.now()}-0`, foreign]) {
      const res = await b.get(id);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { message: expect.stringContaining('Invalid event ID') } });
    }
  });
});

describe('RedisEventStore while Redis is down, hung, and back', () => {
  it('rejects within the timeout while Redis is hung, then works again', async () => {
    const store = await newStore();
    const session = store.forSession('hung');
    const id = await session.storeEvent('s', note('1'));
    redis.pause();
    try {
      for (const call of [() => session.storeEvent('s', note('2')), () => replay(session, id), () => session.getStreamIdForEventId!(id)]) {
        const { ms, error } = await timed(call);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as Error).message).toBe(`Redis at ${redis.url} did not answer within 1000 ms`);
        expect(ms).toBeGreaterThanOrEqual(950);
        expect(ms).toBeLessThan(1500);
      }
    } finally {
      redis.resume();
    }
    expect((await replay(session, id)).streamId).toBe('s');
  }, 20_000);

  it('rejects at once with StoreUnavailableError while Redis is stopped, says so once, and recovers by itself', async () => {
    const log = recordingLogger();
    const store = await newStore({ log });
    const session = store.forSession('down');
    const id = await session.storeEvent('s', note('1'));
    await redis.stop();
    await waitFor(() => !store.available, 'the client to notice', 5000);
    for (const call of [() => session.storeEvent('s', note('2')), () => replay(session, id), () => session.getStreamIdForEventId!(id)]) {
      const { ms, error } = await timed(call);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(1500);
      expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
      expect((error as Error).message).toMatch(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} is unreachable \\(.+\\)$`));
    }
    expect(log.lines.filter((l) => l.startsWith('warn:'))).toEqual([expect.stringContaining(`Redis at ${redis.url} is unreachable`)]);
    await redis.restart();
    await waitFor(() => session.storeEvent('s', note('3')).then(() => true, () => false), 'calls to work again', 5000);
    expect(log.lines).toContain(`info: Redis at ${redis.url} is back: streams can be resumed again`);
  }, 20_000);
});
