import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { JSONRPCMessage, RequestId } from '../jsonrpc.js';
import type { Logger } from '../log.js';
import { Hold } from '../recovery/hold.js';
import { decide, notBackMessage, outcomeUnknownMessage, RECOVERY_ERROR_CODE, toolName } from '../recovery/policy.js';
import { acknowledgedFilter, refetchNotices } from '../recovery/subscription.js';
import { ToolHintsBook } from '../recovery/tool-hints.js';
import { isModernRequest } from '../era.js';

/** Options of {@link DevProxy}. */
export interface DevProxyOptions {
  /** How long a request waits for a server when none is serving, before it gets a 503. @default 30000 */
  holdTimeoutMs?: number;
  log: Logger;
}

/** A server process requests can go to. */
export interface ProxyTarget {
  readonly port: number;
  readonly pid: number;
}

/** How the client streams fared when they moved to a new server. */
export interface SwitchReport {
  /** 2025-era sessions whose stream (`GET /mcp`, `GET /sse`) is open on the new server. */
  restored: number;
  /** 2025-era sessions the new server refused: their client streams ended. */
  lost: number;
  /** 2026-07-28 `subscriptions/listen` streams open on the new server too. */
  listening: number;
}

const DEFAULT_HOLD_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** A target plus the promise that it stops being the one new requests go to. */
interface Upstream extends ProxyTarget {
  readonly replaced: Promise<void>;
  replace(): void;
}

type Outcome = 'done' | 'retry';

/**
 * The public side of dev mode: it owns the port clients know and forwards each request to the server
 * process now serving. Switching to a new process is instant for new requests, while requests and
 * streams already on the old process finish there. Client streams (`GET /sse`, `GET /mcp`) stay open
 * and also open on the new process, which restores their sessions. When no process serves (at the
 * first start, or after one died), requests wait. A request cut off by a dead process is re-sent or
 * failed at once, by the one recovery policy.
 *
 * 2026-07-28 requests have no session: each POST is forwarded on its own, by the same rules, and a
 * client that closes a request's stream (the era's cancellation) closes it upstream too. Their
 * `subscriptions/listen` streams stay open for the client like the GET streams: opened on each new
 * process with the same request id, the new process's acknowledgement replaced by the `list_changed`
 * notifications the filter covers, and the graceful end a draining process sends kept from the client.
 */
export class DevProxy {
  private upstream: Upstream | undefined;
  private readonly hold = new Hold();
  private readonly hints = new ToolHintsBook();
  private readonly streams = new Set<ClientStream>();
  private readonly listens = new Set<ListenStream>();
  private readonly holdTimeoutMs: number;
  /** No keep-alive: a reused socket to a process that is exiting would fail requests it never saw. */
  private readonly agent = new Agent({ keepAlive: false });
  private closed = false;

  constructor(private readonly options: DevProxyOptions) {
    this.holdTimeoutMs = options.holdTimeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS;
  }

  /** The process new requests go to. */
  get target(): ProxyTarget | undefined {
    return this.upstream;
  }

  /**
   * Send new requests to `target` from now on, and open every client stream on it too.
   * @returns once each stream is open there (restored) or was refused (lost, and ended for its client)
   */
  async switchTo(target: ProxyTarget): Promise<SwitchReport> {
    let replace!: () => void;
    const replaced = new Promise<void>((resolve) => (replace = resolve));
    const previous = this.upstream;
    this.upstream = { port: target.port, pid: target.pid, replaced, replace };
    previous?.replace();
    this.hold.release();
    const upstream = this.upstream;
    const [sessions, listens] = await Promise.all([
      Promise.all([...this.streams].map((stream) => stream.follow(upstream))),
      Promise.all([...this.listens].map((stream) => stream.follow(upstream))),
    ]);
    return { restored: sessions.filter(Boolean).length, lost: sessions.filter((r) => !r).length, listening: listens.filter(Boolean).length };
  }

  /** The serving process is gone: hold new requests until {@link switchTo}. */
  down(): void {
    const previous = this.upstream;
    this.upstream = undefined;
    this.hold.shut();
    previous?.replace();
  }

  /** Answer held requests with an error and end client streams. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.down();
    this.hold.abort();
    for (const stream of [...this.streams, ...this.listens]) stream.end();
    this.agent.destroy();
  }

  /** The request listener for the public HTTP server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.serve(req, res).catch((error: Error) => {
      this.options.log.debug(`proxy: ${error.message}`);
      if (!res.headersSent) sendError(res, 502, null, `Bad Gateway: ${error.message}`);
      else res.destroy();
    });
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/sse' || path === '/mcp')) return this.openStream(req, res);
    const body = await readBody(req);
    if (body === undefined) return sendError(res, 413, null, `Payload Too Large: request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    const call = describe(body, req.headers['mcp-protocol-version']);
    if (call.modern && call.method === 'subscriptions/listen' && req.method === 'POST' && path === '/mcp') return this.openListen(req, res, body, call);
    const sessionId = path === '/messages' || path === '/messages/' ? new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId') : null;
    // A cancelled legacy SSE call will get no answer: it is no longer due, and must not be re-sent.
    if (sessionId && call.cancels !== undefined) this.sseStream(sessionId)?.forget(call.cancels);
    let gone = false;
    res.once('close', () => (gone = true));
    const deadline = Date.now() + this.holdTimeoutMs;
    for (let resumed = false; ; ) {
      const upstream = await this.serving(deadline);
      // A client that gave up while its call was held must not have it run later.
      if (gone && !resumed) return;
      if (!upstream) return this.giveUp(res, call);
      const sse = sessionId ? this.sseStream(sessionId) : undefined;
      const outcome = await this.forward(upstream, req, body, res, call, resumed, sse);
      if (outcome === 'done') return;
      resumed = res.headersSent;
      // The process that failed it may still be the one serving until the supervisor sees it die.
      if (upstream === this.upstream) await within(upstream.replaced, deadline);
    }
  }

  /** The process serving now, waiting (until `deadline`) while none is. */
  private async serving(deadline: number): Promise<Upstream | undefined> {
    while (!this.closed) {
      if (this.upstream) return this.upstream;
      if (!(await this.hold.wait(Math.max(0, deadline - Date.now())))) return undefined;
    }
    return undefined;
  }

  /** Forward one request to one process. 'retry' means it may go again to the next one. */
  private forward(upstream: Upstream, req: IncomingMessage, body: Buffer, res: ServerResponse, call: Call, resumed: boolean, sse: ClientStream | undefined): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      /** Whether the process may have started it: it answered, or the body reached a connection that then broke. */
      let accepted = false;
      let settled = false;
      const settle = (outcome: Outcome) => {
        settled = true;
        resolve(outcome);
      };
      const interrupted = () => {
        if (settled) return;
        if (decide(call, accepted ? 'running' : 'unsent', this.hints.get(toolName(call))) === 'resend') return settle('retry');
        failCall(res, call);
        settle('done');
      };
      // A 2026-07-28 client cancels a request by closing its stream: the process running it must see that too.
      if (call.modern) {
        if (res.closed) return settle('done');
        res.once('close', () => {
          if (settled) return;
          settle('done');
          request.destroy();
        });
      }
      const request = httpRequest(
        { host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers: forwardedHeaders(req.headers, body.length), agent: this.agent },
        (up) => {
          if (settled) return void up.destroy();
          if (up.statusCode === 503 && up.headers['mcp-draining']) {
            // A process that is draining did not take this request: the next one will.
            up.resume();
            return settle('retry');
          }
          accepted = true;
          if (up.statusCode === 202 && call.id !== undefined) sse?.due(call, body, req, upstream);
          if (!resumed) res.writeHead(up.statusCode ?? 502, up.headers);
          let answered = false;
          const events = String(up.headers['content-type']).includes('text/event-stream');
          const seen = (message: unknown) => {
            this.hints.learn(message);
            if (call.id !== undefined && isResponseTo(message, call.id)) answered = true;
          };
          const parser = events ? createParser({ onEvent: (event) => seen(parseJson(event.data)) }) : undefined;
          const chunks: Buffer[] = [];
          up.on('data', (chunk: Buffer) => {
            if (parser) parser.feed(chunk.toString('utf8'));
            else if (call.method === 'tools/list') chunks.push(chunk);
            res.write(chunk);
          });
          up.once('end', () => {
            if (chunks.length > 0) seen(parseJson(Buffer.concat(chunks).toString('utf8')));
            // A draining process whose deadline passed ends a call's stream cleanly, without its answer.
            if (events && call.id !== undefined && !answered) return interrupted();
            res.end();
            settle('done');
          });
          up.once('aborted', () => {
            // The process died mid-response (no drain: a crash, SIGKILL, or a drain deadline).
            if (settled) return;
            if (answered || call.id === undefined) {
              res.end();
              return settle('done');
            }
            interrupted();
          });
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        this.options.log.debug(`proxy: ${call.method ?? req.method} to pid ${upstream.pid}: ${error.message}`);
        // Refused: no process took it. Otherwise a server may be running it with its headers not yet sent.
        if (error.code !== 'ECONNREFUSED' && sent) accepted = true;
        interrupted();
      });
      let sent = false;
      request.end(body, () => (sent = true));
    });
  }

  /**
   * A client's long-lived stream, kept open for the client across restarts and opened on each new
   * process in turn. Legacy SSE streams re-open with `Last-Event-ID: <session id>`, which the new
   * process restores.
   */
  private openStream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.keep(res, undefined, this.streams, () => new ClientStream(req, res, this));
  }

  /** A 2026-07-28 `subscriptions/listen`: kept open for the client across restarts, like a GET stream. */
  private openListen(req: IncomingMessage, res: ServerResponse, body: Buffer, call: Call): Promise<void> {
    return this.keep(res, call, this.listens, () => new ListenStream(req, res, this, body, call.id!));
  }

  private async keep<S extends FollowedStream>(res: ServerResponse, call: Call | undefined, streams: Set<S>, create: () => S): Promise<void> {
    let gone = false;
    res.once('close', () => (gone = true));
    const upstream = await this.serving(Date.now() + this.holdTimeoutMs);
    // A client that gave up while held (and will retry) leaves no stream behind.
    if (gone) return;
    if (!upstream) return this.giveUp(res, call);
    const stream = create();
    streams.add(stream);
    res.once('close', () => {
      streams.delete(stream);
      stream.end();
    });
    await stream.follow(upstream);
  }

  /** The client stream of a legacy SSE session. */
  private sseStream(sessionId: string): ClientStream | undefined {
    for (const stream of this.streams) if (stream.sessionId === sessionId) return stream;
    return undefined;
  }

  /** @internal used by the streams */
  learn(message: unknown): void {
    this.hints.learn(message);
  }

  /** @internal a legacy SSE call cut off by a dead process: 'resend' posts it again to the next one. */
  recover(call: Call): 'resend' | 'fail' {
    return decide(call, 'running', this.hints.get(toolName(call)));
  }

  /** @internal the process serving now, if any, without waiting */
  get now(): Upstream | undefined {
    return this.upstream;
  }

  /** @internal wait for a serving process, within the hold timeout */
  next(): Promise<Upstream | undefined> {
    return this.serving(Date.now() + this.holdTimeoutMs);
  }

  /** @internal how long anything waits for a server to come back */
  get holdMs(): number {
    return this.holdTimeoutMs;
  }

  /** @internal */
  readonly agentForStreams = (): Agent => this.agent;

  private giveUp(res: ServerResponse, call: Call | undefined): void {
    const message = call?.method ? notBackMessage({ method: call.method }, this.holdTimeoutMs) : `the server did not come back within ${this.holdTimeoutMs / 1000} s`;
    sendError(res, 503, call?.id ?? null, `Service Unavailable: ${message}`);
  }
}

/**
 * A client's event stream, fed by the same stream opened on each server process in turn: the current
 * process's, plus an older one still draining, whose events must still reach the client. Events are
 * written whole, so two upstreams never interleave inside one. The kinds differ in how a stream is
 * opened upstream and in what they make of its events and of its end.
 */
abstract class FollowedStream {
  /** Upstream streams open now, by process. */
  protected readonly open = new Map<Upstream, IncomingMessage>();
  /** Opening on a process, not open yet. */
  private readonly opening = new Map<Upstream, Promise<boolean>>();
  /** The process the stream last followed to. */
  protected latest: Upstream | undefined;
  protected ended = false;

  constructor(
    protected readonly req: IncomingMessage,
    protected readonly res: ServerResponse,
    protected readonly proxy: DevProxy,
  ) {}

  /** Open the stream on `upstream`, resolving with its response (undefined if the connection failed). */
  protected abstract request(upstream: Upstream): Promise<IncomingMessage | undefined>;
  /** One event from `upstream`, for the client (or not). */
  protected abstract relay(event: EventSourceMessage, upstream: Upstream): void;
  /** The stream is open on `upstream`. */
  protected opened(_upstream: Upstream): void {}
  /** The stream on `upstream` ended; before anything else is decided. */
  protected closed(_upstream: Upstream): void {}
  /** How long, after the serving process ended the stream, to wait for the supervisor to replace it. */
  protected patience(_upstream: Upstream): number {
    return 1000;
  }
  /** The serving process ended the stream and nothing replaces it: end the client's. */
  protected finish(_upstream: Upstream): void {
    this.end();
  }

  /**
   * Open this stream on `upstream` (the new process). Resolves true once it is open there, false if
   * the process refused it (then the client's stream ends, so that it notices).
   */
  follow(upstream: Upstream): Promise<boolean> {
    if (this.ended || this.open.has(upstream)) return Promise.resolve(!this.ended);
    // The switch and a stream that lost its process both follow the new one: it is opened there once.
    let opening = this.opening.get(upstream);
    if (!opening) {
      opening = this.attach(upstream).finally(() => this.opening.delete(upstream));
      this.opening.set(upstream, opening);
    }
    return opening;
  }

  private async attach(upstream: Upstream): Promise<boolean> {
    this.latest = upstream;
    const up = await this.request(upstream);
    if (this.ended) {
      up?.destroy();
      return false;
    }
    if (!up || (up.statusCode === 503 && up.headers['mcp-draining'])) {
      // That process is already gone or going: the stream follows whichever serves next.
      up?.resume();
      return this.reopen(upstream);
    }
    // Anything but an event stream (an error status; a JSON body, such as SDK v2's answer to an invalid
    // listen filter or to a subscription limit) is the answer: there is nothing to follow.
    const events = up.statusCode === 200 && String(up.headers['content-type']).includes('text/event-stream');
    if (!events) {
      this.ended = true;
      for (const other of this.open.values()) other.destroy();
      this.open.clear();
      if (!this.res.headersSent) {
        // The client gets it as it is: status, headers and body.
        this.res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(this.res);
      } else if (up.statusCode === 200) {
        // The client's stream is open already (this is a later process): the JSON-RPC answer ends it.
        void relayBody(up, this.res);
      } else {
        // A later process refused it: the client's stream ends, so that it notices.
        up.resume();
        this.res.end();
      }
      return false;
    }
    if (!this.res.headersSent) this.res.writeHead(200, up.headers);
    this.open.set(upstream, up);
    const parser = createParser({
      onEvent: (event) => this.relay(event, upstream),
      onRetry: (ms) => this.write(`retry: ${ms}\n\n`),
      onComment: (comment) => this.write(`:${comment}\n\n`),
    });
    up.setEncoding('utf8');
    up.on('data', (text: string) => parser.feed(text));
    up.once('close', () => void this.upstreamEnded(upstream));
    this.opened(upstream);
    return true;
  }

  /** Stop relaying and end the client's stream. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const up of this.open.values()) up.destroy();
    this.open.clear();
    if (!this.res.writableEnded) this.res.end();
  }

  protected write(text: string): void {
    if (!this.ended && !this.res.writableEnded) this.res.write(text);
  }

  /** An upstream stream closed: the process ended it (drained, or it meant it) or died. */
  private async upstreamEnded(upstream: Upstream): Promise<void> {
    this.open.delete(upstream);
    if (this.ended) return;
    this.closed(upstream);
    if (upstream !== this.latest) return; // an old process finished draining: the stream lives on the new one
    if (this.proxy.now === upstream) {
      // The serving process ended the stream on purpose, unless it is dying or draining and the
      // supervisor has not said so yet.
      await within(upstream.replaced, Date.now() + this.patience(upstream));
      if (this.proxy.now === upstream) return this.finish(upstream);
    }
    await this.reopen(upstream);
  }

  protected async reopen(from: Upstream): Promise<boolean> {
    if (this.proxy.now === from) await within(from.replaced, Date.now() + 1000);
    const next = await this.proxy.next();
    if (this.ended) return false;
    if (!next || next === from) {
      this.finish(from);
      return false;
    }
    return this.follow(next);
  }

  protected openUpstream(upstream: Upstream, method: 'GET' | 'POST', headers: IncomingHttpHeaders, body?: Buffer): Promise<IncomingMessage | undefined> {
    return new Promise<IncomingMessage | undefined>((resolve) => {
      const r = httpRequest({ host: '127.0.0.1', port: upstream.port, method, path: this.req.url, headers, agent: this.proxy.agentForStreams() }, resolve);
      r.on('error', () => resolve(undefined));
      r.end(body);
    });
  }
}

/** A legacy SSE call a process accepted (202) and has not answered on the stream yet. */
interface DueCall {
  call: Call;
  body: Buffer;
  url: string;
  headers: IncomingHttpHeaders;
  upstream: Upstream;
}

/**
 * One client GET stream (`GET /mcp`, `GET /sse`): a 2025-era session's. Legacy SSE streams re-open
 * with `Last-Event-ID: <session id>`, which the new process restores, and carry the answers to the
 * session's POSTs: a call a dead process took and never answered is re-posted or failed here.
 */
class ClientStream extends FollowedStream {
  sessionId: string | undefined;
  private readonly sse: boolean;
  private readonly dueCalls = new Map<string | number, DueCall>();
  /** Answers seen before their POST's 202 reached us (the server answers on the stream first). */
  private readonly early = new Set<string | number>();

  constructor(req: IncomingMessage, res: ServerResponse, proxy: DevProxy) {
    super(req, res, proxy);
    this.sse = (req.url ?? '').startsWith('/sse');
  }

  protected request(upstream: Upstream): Promise<IncomingMessage | undefined> {
    const headers = forwardedHeaders(this.req.headers, 0);
    if (this.sessionId) headers['last-event-id'] = this.sessionId;
    return this.openUpstream(upstream, 'GET', headers);
  }

  protected override opened(upstream: Upstream): void {
    // Calls a process that died never answered (judged 'resend' as it died) go to this one.
    if (this.sse && this.sessionId) for (const due of this.dueCalls.values()) if (!this.open.has(due.upstream) && due.upstream !== upstream) this.repost(due, upstream);
  }

  /** A call posted to this SSE session that `upstream` accepted: its answer is now due on the stream. */
  due(call: Call, body: Buffer, req: IncomingMessage, upstream: Upstream): void {
    if (this.early.delete(call.id!)) return;
    this.dueCalls.set(call.id!, { call, body, url: req.url ?? '/', headers: req.headers, upstream });
  }

  protected relay(event: EventSourceMessage): void {
    if (this.sse && event.event === 'endpoint') {
      // Every process announces the endpoint; the client needs it once.
      if (this.sessionId) return;
      this.sessionId = new URL(event.data, 'http://localhost').searchParams.get('sessionId') ?? undefined;
    }
    if ((event.event ?? 'message') === 'message') {
      const message = parseJson(event.data) as { id?: string | number; method?: string } | undefined;
      this.proxy.learn(message);
      if (message?.id !== undefined && message.method === undefined && !this.dueCalls.delete(message.id)) this.early.add(message.id);
    }
    this.write(formatEvent(event));
  }

  protected override closed(upstream: Upstream): void {
    // Calls that process took and never answered: re-sent if harmless, else failed now.
    for (const [id, due] of this.dueCalls) {
      if (due.upstream !== upstream) continue;
      if (this.proxy.recover(due.call) === 'fail') {
        this.dueCalls.delete(id);
        this.write(sseError(due.call));
      } else if (this.latest && this.latest !== upstream && this.open.has(this.latest)) {
        this.repost(due, this.latest);
      }
      // Otherwise it goes to the next process the stream follows.
    }
  }

  /** A call no longer due: the client cancelled it. */
  forget(id: string | number): void {
    this.dueCalls.delete(id);
  }

  /** Post a call again, to the session on `upstream`. */
  private repost(due: DueCall, upstream: Upstream): void {
    due.upstream = upstream;
    const r = httpRequest(
      { host: '127.0.0.1', port: upstream.port, method: 'POST', path: due.url, headers: forwardedHeaders(due.headers, due.body.length), agent: this.proxy.agentForStreams() },
      (up) => up.resume(),
    );
    r.on('error', () => undefined); // the stream's own end handles a process that died again
    r.end(due.body);
  }
}

/**
 * A 2026-07-28 `subscriptions/listen` (a POST answered with an event stream), opened again with the
 * same request id on each new process. The client gets one acknowledgement, the first; a re-opened
 * stream's acknowledgement becomes the `list_changed` notifications its honored filter covers, since
 * the new code may offer other things. The graceful end (the empty result) that a process sends as it
 * shuts down is kept from the client, whose stream lives on on the next process; only a process that
 * ends it while it keeps serving, or an error, ends the client's. A filter that honors nothing has
 * nothing to follow: the server ends that stream at once, and so does the client's. A listen the server
 * answers with a JSON body (SDK v2's answer to an invalid filter, or at its subscription limit) is not
 * followed: the client gets the answer as it is.
 */
class ListenStream extends FollowedStream {
  private acknowledged = false;
  /** The graceful end each process sent, held back from the client. */
  private readonly endings = new Map<Upstream, EventSourceMessage>();
  /** Processes that acknowledged an empty filter: their stream ends at once, and there is nothing to follow. */
  private readonly idle = new Set<Upstream>();

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    proxy: DevProxy,
    private readonly body: Buffer,
    private readonly id: RequestId,
  ) {
    super(req, res, proxy);
  }

  protected request(upstream: Upstream): Promise<IncomingMessage | undefined> {
    return this.openUpstream(upstream, 'POST', forwardedHeaders(this.req.headers, this.body.length), this.body);
  }

  protected relay(event: EventSourceMessage, upstream: Upstream): void {
    if ((event.event ?? 'message') === 'message') {
      const message = parseJson(event.data);
      this.proxy.learn(message);
      const honored = acknowledgedFilter(message, this.id);
      if (honored && Object.keys(honored).length === 0) this.idle.add(upstream);
      if (honored && this.acknowledged) {
        for (const notice of refetchNotices(this.id, honored)) this.write(messageEvent(notice));
        return;
      }
      if (honored) this.acknowledged = true;
      if (isResponseTo(message, this.id)) {
        // A graceful end is held back (the process may be shutting down), unless the filter honored nothing:
        // then the server completed it at once, as it always will, and it is the client's now.
        if ((message as { result?: unknown }).result !== undefined && !this.idle.has(upstream)) return void this.endings.set(upstream, event);
        // That end, or an error, ends the subscription, wherever it came from.
        this.write(formatEvent(event));
        return this.end();
      }
    }
    this.write(formatEvent(event));
  }

  protected override opened(): void {
    // Ends of processes the stream has left behind are no one's any more.
    for (const upstream of this.endings.keys()) if (!this.open.has(upstream)) this.endings.delete(upstream);
  }

  protected override closed(upstream: Upstream): void {
    this.idle.delete(upstream);
    if (upstream !== this.latest) this.endings.delete(upstream);
  }

  /** A process that ended the stream gracefully is shutting down: the supervisor may take a while to notice. */
  protected override patience(upstream: Upstream): number {
    return this.endings.has(upstream) ? this.proxy.holdMs : 1000;
  }

  /** The serving process ended it and keeps serving, or nothing serves again: its end, if it sent one, is the client's. */
  protected override finish(upstream: Upstream): void {
    const ending = this.endings.get(upstream);
    this.endings.delete(upstream);
    if (ending) this.write(formatEvent(ending));
    this.end();
  }
}

/** What the proxy needs to know of the JSON-RPC message a body carries. */
export interface Call {
  id: string | number | undefined;
  method: string;
  params?: unknown;
  /** The request a `notifications/cancelled` cancels. */
  cancels?: string | number;
  /** A 2026-07-28 request (no session; served per request), by the rule the server routes by. */
  modern: boolean;
}

/** One parse per request. */
function describe(body: Buffer, versionHeader: string | string[] | undefined): Call {
  const message = parseJson(body.toString('utf8')) as { id?: unknown; method?: unknown; params?: { requestId?: unknown } } | undefined;
  const modern = isModernRequest('POST', message, typeof versionHeader === 'string' ? versionHeader : undefined);
  const id = typeof message?.id === 'string' || typeof message?.id === 'number' ? message.id : undefined;
  const cancelled = message?.method === 'notifications/cancelled' ? message.params?.requestId : undefined;
  const cancels = typeof cancelled === 'string' || typeof cancelled === 'number' ? cancelled : undefined;
  // A body without a request (a notification, a response) changes nothing if sent twice.
  const method = typeof message?.method === 'string' && id !== undefined ? message.method : 'ping';
  return { id, method, params: message?.params, cancels, modern };
}

/** End an open client event stream with the JSON-RPC message(s) a non-stream response carried, if any. */
async function relayBody(up: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(up).catch(() => undefined);
  const parsed = body && body.length > 0 ? parseJson(body.toString('utf8')) : undefined;
  if (!res.writableEnded) {
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) if (typeof message === 'object' && message !== null) res.write(messageEvent(message as Record<string, unknown>));
    res.end();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isResponseTo(message: unknown, id: string | number): boolean {
  const m = message as { id?: unknown; method?: unknown } | undefined;
  return m?.id === id && m.method === undefined;
}

/** Resolve when `promise` does or at `deadline`, whichever comes first. */
async function within(promise: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
  clearTimeout(timer);
}

function forwardedHeaders(headers: IncomingHttpHeaders, length: number): IncomingHttpHeaders {
  const { connection: _connection, 'keep-alive': _keepAlive, 'transfer-encoding': _te, 'content-length': _length, ...rest } = headers;
  return length > 0 ? { ...rest, 'content-length': String(length) } : rest;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

function sendError(res: ServerResponse, status: number, id: string | number | null, message: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, error: { code: RECOVERY_ERROR_CODE, message } }));
}

/** An event as it came, written whole. */
function formatEvent(event: EventSourceMessage): string {
  let text = event.event ? `event: ${event.event}\n` : '';
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  for (const line of event.data.split('\n')) text += `data: ${line}\n`;
  return `${text}\n`;
}

/** An SSE event carrying a message of our own. */
function messageEvent(message: JSONRPCMessage | Record<string, unknown>): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/** An SSE event carrying the JSON-RPC error for a call whose process died under it. */
function sseError(call: Call): string {
  return messageEvent({ jsonrpc: '2.0', id: call.id ?? null, error: { code: RECOVERY_ERROR_CODE, message: `mcp-http-transport dev: ${outcomeUnknownMessage(call)}` } });
}

/** Answer a call whose process died under it: on its own SSE response if one started, else as a JSON body. */
function failCall(res: ServerResponse, call: Call): void {
  if (res.writableEnded) return;
  if (res.headersSent) return void res.end(sseError(call));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: call.id ?? null, error: { code: RECOVERY_ERROR_CODE, message: `mcp-http-transport dev: ${outcomeUnknownMessage(call)}` } }));
}
