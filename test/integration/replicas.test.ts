import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError, type StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { STREAM_HEADERS, connectClient, textOf, waitFor, within } from '../helpers.js';
import { startRedis } from '../redis.js';
import { startReplicas, type ProxyRecord, type Replicas } from '../replicas.js';

/**
 * Issue 12: three replicas on one real redis-server, behind a round-robin proxy without affinity,
 * driven by SDK v1 clients over Streamable HTTP. Any replica serves any session: one that gets a
 * request for a session it does not hold restores it from Redis.
 */

const NAMES = Array.from({ length: 6 }, (_, c) => `replica-client-${c}`);
/** A call that hangs (its answer's stream was cut with its replica) fails after this, not the SDK's 60 s. */
const CALL = { timeout: 4000 };

type Redis = Awaited<ReturnType<typeof startRedis>>;
type Kind = 'whoami' | 'echo' | 'sleep';

let redis: Redis;
let cluster: Replicas;
let clients: Client[] = [];
/** Each client's Mcp-Session-Id, as the transport got it from initialize. */
let sessions: string[] = [];
/** What the clients' transports reported (stream errors, reconnects): shown when a test fails. */
const clientErrors: string[] = [];

class WrongAnswer extends Error {}

/** One call by client `c`, its answer checked: whoami names the client, echo and sleep answer their argument. */
async function call(c: number, kind: Kind, i: number): Promise<void> {
  const client = clients[c]!;
  if (kind === 'whoami') {
    const who = JSON.parse(textOf(await client.callTool({ name: 'whoami' }, undefined, CALL))) as { name?: string } | null;
    if (who?.name !== NAMES[c]) throw new WrongAnswer(`client ${c}: whoami answered ${JSON.stringify(who)}`);
  } else if (kind === 'echo') {
    const text = `c${c}-${i}-${Math.random().toString(36).slice(2)}`;
    const got = textOf(await client.callTool({ name: 'echo', arguments: { text } }, undefined, CALL));
    if (got !== text) throw new WrongAnswer(`client ${c}: echo ${text} answered ${got}`);
  } else {
    const got = textOf(await client.callTool({ name: 'sleep', arguments: { ms: 150 } }, undefined, CALL));
    if (got !== '150') throw new WrongAnswer(`client ${c}: sleep 150 answered ${got}`);
  }
  // The same session all along: the client never initialized again.
  if (client.transport!.sessionId !== sessions[c]) throw new WrongAnswer(`client ${c}: session ${sessions[c]} became ${client.transport!.sessionId}`);
}

interface Failure {
  c: number;
  kind: Kind;
  started: number;
  at: number;
  message: string;
  status: number | undefined;
  wrong: boolean;
}

function failureOf(c: number, kind: Kind, started: number, error: unknown): Failure {
  return {
    c,
    kind,
    started,
    at: Date.now(),
    message: (error as Error).message,
    status: error instanceof StreamableHTTPError ? error.code : undefined,
    wrong: error instanceof WrongAnswer,
  };
}

/**
 * Every client calls `pattern` in turn, one call at a time, until stopped or bounded (rounds, time).
 * Answers are checked; failures are kept with when they happened.
 */
function load(pattern: Kind[], { rounds, ms, paceMs = 0 }: { rounds: number; ms: number; paceMs?: number }) {
  const failures: Failure[] = [];
  const okAt = clients.map(() => [] as number[]);
  let running = true;
  const loops = clients.map(async (_, c) => {
    const deadline = Date.now() + ms;
    for (let i = 0; running && i < rounds && Date.now() < deadline; i++) {
      const kind = pattern[i % pattern.length]!;
      const started = Date.now();
      try {
        await call(c, kind, i);
        okAt[c]!.push(Date.now());
      } catch (error) {
        failures.push(failureOf(c, kind, started, error));
      }
      if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    }
  });
  const done = Promise.all(loops);
  return {
    failures,
    ok: () => okAt.map((times) => times.length),
    okSince: (c: number, t: number) => okAt[c]!.filter((at) => at >= t).length,
    done,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** What the proxy saw of a session's requests that did not go well: for failure messages. */
const troubleOf = (since: number) => cluster.log.filter((r) => r.started >= since && (r.failure !== undefined || (r.status ?? 200) >= 400));
const show = (records: ProxyRecord[]) => records.map((r) => ({ replica: r.replica, pid: r.pid, method: r.method, rpc: r.rpc, session: r.session, status: r.status, failure: r.failure, ms: (r.ended ?? Date.now()) - r.started }));

/** A `tools/call whoami` for session `c`, straight to a replica's port (no proxy), timed; SSE or JSON answers read alike. */
async function direct(port: number, c: number, id: number) {
  const started = Date.now();
  const transport = clients[c]!.transport as StreamableHTTPClientTransport;
  const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: 'POST',
    headers: { ...STREAM_HEADERS, 'mcp-session-id': sessions[c]!, 'mcp-protocol-version': transport.protocolVersion ?? '2025-11-25', connection: 'close' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  const ms = Date.now() - started;
  const json = res.headers.get('content-type')?.includes('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data: ') && l.slice(6).trim() !== '').map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>).find((m) => m['id'] === id)
    : (JSON.parse(text) as Record<string, unknown>);
  return { status: res.status, ms, text, json };
}

/** The sessions replica `i`'s current process has answered a request for, going by the proxy's log. */
function heldBy(i: number): Set<string> {
  const pid = cluster.replicas[i]!.pid;
  return new Set(cluster.log.filter((r) => r.pid === pid && r.status !== undefined && r.status < 300 && r.session !== undefined).map((r) => r.session!));
}

beforeAll(async () => {
  redis = await startRedis();
  cluster = await startReplicas({ count: 3, redisUrl: redis.url, env: { MCP_LOG_LEVEL: 'info' } });
  // One after another: each client's initialize, initialized and GET stream land on different replicas.
  // Three requests a client would put every GET stream on the same replica: a ping once the stream is
  // open moves the next client's requests on by one, so the GET streams are spread over all replicas.
  for (const name of NAMES) {
    const client = await connectClient(cluster.url, 'streamable', name);
    client.onerror = (error) => clientErrors.push(`${name}: ${error.message}`);
    clients.push(client);
    const session = client.transport!.sessionId;
    await waitFor(() => cluster.log.some((r) => r.method === 'GET' && r.session === session && r.status !== undefined), `${name}'s GET stream`, 10_000);
    await client.ping(CALL);
  }
  sessions = clients.map((client) => client.transport!.sessionId!);
}, 45_000);

afterAll(async () => {
  await within(Promise.all(clients.map((client) => client.close())), 5000);
  await cluster?.stop();
  await redis?.stop();
}, 20_000);

describe('three replicas on Redis behind a round-robin proxy', () => {
  it('answers every call from the caller\'s own session, on every replica', async () => {
    expect(new Set(sessions).size).toBe(NAMES.length);
    const since = cluster.log.length;
    const run = load(['whoami', 'echo'], { rounds: 60, ms: 30_000 });
    await run.done;
    expect(run.failures).toEqual([]);
    expect(run.ok()).toEqual(NAMES.map(() => 60));

    // Spread over all replicas: round robin, no affinity.
    const routed = cluster.routed(since);
    const total = routed.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(360);
    for (const n of routed) expect(n).toBeGreaterThan(total / 6);
    // And every session was served by every replica.
    const calls = cluster.log.slice(since).filter((r) => r.method === 'POST' && r.status === 200);
    for (const session of sessions) expect(new Set(calls.filter((r) => r.session === session).map((r) => r.replica)).size).toBe(3);
  }, 40_000);

  it('a list_changed sent on one replica reaches every client', async () => {
    const heard = clients.map(() => 0);
    clients.forEach((client, c) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => void heard[c]!++));
    for (const client of clients) expect((await client.listTools(undefined, CALL)).tools.map((t) => t.name)).toContain('announce');
    // Every client's GET stream is open (answered 200, not ended), on all three replicas (beforeAll spread
    // them): the notification must cross Redis to reach the clients whose stream is on another replica.
    const streams = () => sessions.map((s) => cluster.inflight().find((r) => r.method === 'GET' && r.session === s && r.status === 200));
    const open = await waitFor(() => (streams().every((r) => r !== undefined) ? streams() : undefined), 'every client\'s GET stream open', 10_000);
    const streamReplicas = open.map((r) => r!.replica);
    expect(new Set(streamReplicas).size).toBe(3);

    const since = cluster.log.length;
    const sentAt = Date.now();
    expect(textOf(await clients[0]!.callTool({ name: 'announce' }, undefined, CALL))).toBe('announced');
    const announcedOn = cluster.log.slice(since).find((r) => r.rpc?.startsWith('tools/call:announce'))?.replica;
    await waitFor(() => heard.every((n) => n > 0), 'every client to hear notifications/tools/list_changed', 10_000).catch((error: Error) => {
      throw new Error(`${error.message}: heard ${JSON.stringify(heard)}, GET streams on replicas ${JSON.stringify(streamReplicas)}, announce on replica ${announcedOn}`);
    });
    if (process.env['REPLICAS_TIMINGS']) console.log(`list_changed: announced on replica ${announcedOn}, all 6 clients heard it within ${Date.now() - sentAt} ms (GET streams on replicas ${streamReplicas.join(',')}; heard ${heard.join(',')})`);
  }, 30_000);

  it('loses only the requests in flight on a replica SIGKILLed under load, and no session', async () => {
    const victim = 1;
    const victimPid = cluster.replicas[victim]!.pid;
    const run = load(['whoami', 'sleep', 'echo'], { rounds: 400, ms: 25_000, paceMs: 2 });
    // Kill while a 150 ms call is well under way on it, and still far from its answer.
    const underWay = (r: { rpc?: string; started: number }, at: number) => r.rpc?.startsWith('tools/call:sleep') && at - r.started > 30 && at - r.started < 100;
    const sleeping = () => cluster.inflight(victim).some((r) => underWay(r, Date.now()));
    await waitFor(() => run.ok().reduce((a, b) => a + b, 0) >= 30 && sleeping(), 'a sleep call in flight on the victim', 15_000);
    const inflightAtKill = cluster.inflight(victim).map((r) => ({ ...r }));
    const killedAt = Date.now();
    const exit = await cluster.kill(victim, 'SIGKILL');
    // Until the exit is seen the proxy may still route to the dying process (the kernel accepts its
    // connections until it is torn down): those requests are in flight on it too. From now on it is out.
    const exitedAt = Date.now();
    expect(exit.signal).toBe('SIGKILL');
    // Every client goes on: several calls each after the kill (a call whose answer was cut waits CALL.timeout first).
    await waitFor(() => clients.every((_, c) => run.okSince(c, exitedAt) >= 6), 'every client calling again after the kill', 15_000);
    await run.stop();

    const lost = cluster.log.filter((r) => r.failure !== undefined);
    const report = JSON.stringify({ failures: run.failures, inflightAtKill: show(inflightAtKill), lostAtProxy: show(lost), killedAt, exitedAt }, null, 1);
    if (process.env['REPLICAS_TIMINGS']) console.log(`SIGKILL: ${run.ok().reduce((a, b) => a + b, 0)} calls, SIGKILL to exit ${exitedAt - killedAt} ms; ${report}`);
    expect(run.failures.filter((f) => f.wrong)).toEqual([]);
    // The proxy lost requests only on the victim, only ones it had sent there before the process was gone.
    for (const r of lost) {
      if (r.replica !== victim || r.pid !== victimPid || r.started > exitedAt) throw new Error(`a request was lost elsewhere than on the victim: ${report}`);
    }
    // Each failed call is one of those, and no other call failed. A call cut after its answer was stored in
    // Redis may not fail at all: the client resumes its stream (Last-Event-ID) on another replica and gets it.
    for (let c = 0; c < NAMES.length; c++) {
      const lostCalls = lost.filter((r) => r.session === sessions[c] && r.method === 'POST' && r.isRequest).length;
      if (run.failures.filter((f) => f.c === c).length > lostCalls) throw new Error(`client ${c}: more calls failed than were lost on the victim: ${report}`);
    }
    // The sleep call far from its answer when its replica was killed did fail (no answer was stored to resume).
    const sleepers = inflightAtKill.filter((r) => underWay(r, killedAt));
    expect(sleepers.length).toBeGreaterThan(0);
    for (const r of sleepers) expect(run.failures.some((f) => sessions[f.c] === r.session && f.kind === 'sleep')).toBe(true);
    expect(cluster.log.filter((r) => r.failure === 'no replica')).toEqual([]);

    // Every client's next calls succeed, in its own session (call() checks the name and the session id).
    for (let c = 0; c < NAMES.length; c++) for (let k = 0; k < 3; k++) await call(c, 'whoami', k);
    // The victim comes back, joins the rotation, and restores sessions it never saw.
    const back = await cluster.restart(victim);
    expect(back.pid).not.toBe(victimPid);
    const since = cluster.log.length;
    for (let k = 0; k < 3; k++) await Promise.all(clients.map((_, c) => call(c, 'whoami', k)));
    expect(cluster.routed(since)[victim]).toBeGreaterThan(0);
  }, 45_000);

  it('keeps every session through a rolling restart (SIGTERM, start again, one replica at a time)', async () => {
    const before = cluster.replicas.map((r) => r.pid);
    // Paced, so that the calls leave the two cores to the replicas starting again.
    const run = load(['whoami', 'echo'], { rounds: 3000, ms: 50_000, paceMs: 15 });
    const steps: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const exit = await cluster.kill(i, 'SIGTERM');
      expect(exit).toEqual({ code: 143, signal: null });
      const t1 = Date.now();
      await cluster.restart(i);
      steps.push(`replica ${i}: exited ${t1 - t0} ms after SIGTERM, listening again ${Date.now() - t1} ms later`);
      // Clients call in between, some on the new process.
      const restarted = Date.now();
      await waitFor(() => clients.every((_, c) => run.okSince(c, restarted) >= 3), `every client calling after replica ${i} restarted`, 15_000);
    }
    const since = Date.now();
    await waitFor(() => clients.every((_, c) => run.okSince(c, since) >= 3), 'more calls on the new replicas', 15_000);
    await run.stop();
    if (process.env['REPLICAS_TIMINGS']) console.log(`rolling restart: ${steps.join('; ')}; ${run.ok().reduce((a, b) => a + b, 0)} calls`);
    if (run.failures.length > 0) throw new Error(`calls failed across the rolling restart: ${JSON.stringify({ failures: run.failures, proxy: show(troubleOf(since - 120_000)) }, null, 1)}`);
    expect(cluster.replicas.map((r) => r.pid).filter((pid, i) => pid === before[i])).toEqual([]);
    // Draining replicas were taken out of rotation by their 503, and the request went on elsewhere.
    const drained = cluster.log.filter((r) => r.skipped.some((s) => s.why === 'draining'));
    for (const r of drained) expect(r.status).not.toBe(503);
  }, 60_000);

  it('answers 503 with a JSON-RPC error within 1 s while Redis is down, and recovers by itself when it is back', async () => {
    const fresh = 0;
    // The others hold every session (so clients can go on), the fresh process none. One client at a time,
    // so that each one's calls go round the replicas (clients calling in lockstep may keep to one each).
    for (let c = 0; c < NAMES.length; c++) {
      for (let k = 0; k < 9 && ![1, 2].every((i) => heldBy(i).has(sessions[c]!)); k++) await call(c, 'whoami', k);
    }
    for (const i of [1, 2]) expect(sessions.filter((s) => !heldBy(i).has(s))).toEqual([]);
    await cluster.kill(fresh, 'SIGTERM');
    const { port } = await cluster.restart(fresh);
    await redis.stop();
    const stoppedAt = Date.now();

    // A session the fresh replica has not seen yet: restoring it needs Redis.
    const c = sessions.findIndex((s) => !heldBy(fresh).has(s));
    expect(c).toBeGreaterThanOrEqual(0);
    const down = await direct(port!, c, 9001);
    expect({ status: down.status, jsonrpc: down.json?.['jsonrpc'], hasError: typeof (down.json?.['error'] as { message?: unknown } | undefined)?.message === 'string' }).toEqual({ status: 503, jsonrpc: '2.0', hasError: true });
    expect(down.ms).toBeLessThan(1000);
    if (process.env['REPLICAS_TIMINGS']) console.log(`Redis stopped: the replica without the session answered 503 in ${down.ms} ms: ${down.text}`);

    // Clients through the proxy: the replicas holding their sessions answer; a call landing on the fresh
    // one gets the same quick 503, and a retry goes on.
    const outage: Failure[] = [];
    const served = await Promise.all(
      clients.map(async (_, c) => {
        let ok = 0;
        for (let k = 0; ok < 3 && k < 12; k++) {
          const started = Date.now();
          try {
            await call(c, 'whoami', k);
            ok++;
          } catch (error) {
            outage.push(failureOf(c, 'whoami', started, error));
          }
        }
        return ok;
      }),
    );
    expect(served).toEqual(NAMES.map(() => 3));
    for (const f of outage) expect({ status: f.status, quick: f.at - f.started < 1000, wrong: f.wrong }).toEqual({ status: 503, quick: true, wrong: false });

    await redis.restart();
    const restartedAt = Date.now();
    // The fresh replica serves the session once Redis is back: the client only retried.
    let last: Awaited<ReturnType<typeof direct>> | undefined;
    const up = await waitFor(async () => {
      last = await direct(port!, c, 9002);
      return last.status === 200 ? last : undefined;
    }, 'the fresh replica to restore the session after Redis restarted', 10_000).catch((error: Error) => {
      throw new Error(`${error.message}: tools/call on replica ${fresh} (port ${port}) for session ${sessions[c]} last answered ${last?.status} ${last?.text}`);
    });
    expect(JSON.parse(textOf(up.json?.['result']))).toEqual({ name: NAMES[c], version: '1.2.3' });
    const recoveredMs = Date.now() - restartedAt;

    // Every client, on every replica: same sessions, right answers; retrying 503s only, for a bounded time.
    for (let k = 0; k < 3; k++) {
      await Promise.all(
        clients.map((_, c) =>
          waitFor(async () => {
            try {
              await call(c, 'whoami', k);
              return true;
            } catch (error) {
              if (error instanceof StreamableHTTPError && error.code === 503) return false;
              throw error;
            }
          }, `client ${c} calling after Redis restarted`, 10_000),
        ),
      );
    }
    expect(sessions).toEqual(clients.map((client) => client.transport!.sessionId));
    if (process.env['REPLICAS_TIMINGS']) console.log(`Redis back: the fresh replica served again ${recoveredMs} ms after Redis restarted (${restartedAt - stoppedAt} ms of outage, ${outage.length} client call(s) got the 503 meanwhile)`);
  }, 45_000);
});

afterAll(() => {
  if (process.env['REPLICAS_TIMINGS'] && clientErrors.length > 0) console.log(`client transport errors:\n${clientErrors.slice(0, 30).join('\n')}`);
});
