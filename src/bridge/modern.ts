import { createParser } from 'eventsource-parser';
import {
  isJSONRPCErrorResponse,
  isJSONRPCMessage,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type RequestId,
} from '../jsonrpc.js';
import type { Logger } from '../log.js';
import { FIRST_MODERN_PROTOCOL_VERSION, PROTOCOL_VERSION_META_KEY, claimedVersion } from '../era.js';
import { Hold } from '../recovery/hold.js';
import { decide, outcomeUnknownMessage, toolName, type Progress } from '../recovery/policy.js';
import { ToolHintsBook } from '../recovery/tool-hints.js';
import { acknowledgedFilter, refetchNotices } from '../recovery/subscription.js';
import { nextDelay } from './backoff.js';
import type { BridgeSettings } from './options.js';
import { connectionCode, errorText, notBackText, queueFullText, replyError, unavailableText, type Upstream } from './relay.js';
import { ParamHeaderBook, modernHeaders } from './request-headers.js';
import type { Downstream } from './stdio.js';

/** How one POST ended: answered (the client has its answer), cancelled (it wants none), or cut off ({@link Progress}). */
type Outcome = 'answered' | 'cancelled' | Progress;

/** A request of the client's, on its way upstream. */
interface Call {
  readonly request: JSONRPCRequest;
  /** Aborted when the client cancels the request, or the bridge closes. */
  readonly abort: AbortController;
}

/** A `subscriptions/listen` the client holds open. */
interface Subscription extends Call {
  /** The filter the upstream last acknowledged; undefined until it first has. */
  honored?: Record<string, unknown>;
  /** When the upstream last acknowledged it. */
  ackedAt: number;
  /** Graceful ends in a row that came soon after the acknowledgement: an upstream refusing, not restarting. */
  quickEnds: number;
}

/** Statuses that say "not now" (a gateway, a proxy, a server restarting), not "no" about the request. */
const UNAVAILABLE = new Set([502, 503, 504]);
/** Fetch failures that happen before a request leaves: such a request never reached a server. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** A subscription the upstream ends gracefully this soon after acknowledging it, this many times in a row, ends for the client too. */
const QUICK_END_MS = 1000;
const MAX_QUICK_ENDS = 3;
const PROBE_ID = 'mcp-http-transport-bridge/probe/';
/** The reserved `_meta` keys a probe copies from the client's requests: who is asking, and in which version. */
const ENVELOPE_KEYS = [PROTOCOL_VERSION_META_KEY, 'io.modelcontextprotocol/clientInfo', 'io.modelcontextprotocol/clientCapabilities'];

/**
 * The 2026-07-28 relay (a client whose requests name their protocol version in `_meta`). There is
 * no session: each request is its own POST to the upstream, with the headers the HTTP binding
 * mirrors from the body, answered by JSON or an SSE stream.
 * - upstream lost (a refused connection, a cut stream): requests wait at a {@link Hold} (bounded;
 *   each at most `queueTimeoutMs`; not at all when `hold` is false) while a `server/discover` probe
 *   retries with capped backoff;
 * - a request in flight at the loss is judged by the recovery policy (`decide`), exactly as in the
 *   2025 era: re-sent when a repeat is harmless, else answered at once with "outcome unknown";
 * - `subscriptions/listen` streams stay open for the client: re-opened (same id) when they drop or
 *   when the upstream ends them on shutdown; after a re-open the client gets the `list_changed`
 *   (and `resources/updated`) notifications its filter asked for, so that it refetches;
 * - the client's `notifications/cancelled` closes the request's stream, which is how HTTP cancels.
 */
export class ModernUpstream implements Upstream {
  readonly transport = 'http' as const;
  private state: 'up' | 'down' | 'closed' = 'up';
  /** Open while the upstream is up; requests wait here while it is not. */
  private readonly gate = new Hold(true);
  private readonly calls = new Map<RequestId, Call>();
  /** Annotations of the tools the upstream listed, to judge an interrupted `tools/call`. */
  private readonly toolHints = new ToolHintsBook();
  private readonly params = new ParamHeaderBook();
  /** The `_meta` envelope of the client's last request, for the bridge's own probes. */
  private envelope: Record<string, unknown> = { [PROTOCOL_VERSION_META_KEY]: FIRST_MODERN_PROTOCOL_VERSION };
  /** Losses since the upstream last answered: an upstream that fails at once must not loop without backoff. */
  private streak = 0;
  /** Why the upstream is unavailable, for the errors answered meanwhile. */
  private lastFailure = '';
  private retryTimer: NodeJS.Timeout | undefined;
  private probes = 0;
  /** Told the outcome of the next probe: without `hold`, a call the loss caught waits for that much. */
  private readonly attemptWaiters = new Set<(up: boolean) => void>();

  constructor(
    private readonly settings: BridgeSettings,
    private readonly downstream: Downstream,
    private readonly log: Logger,
  ) {}

  fromClient(message: JSONRPCMessage): void {
    if (this.state === 'closed') return;
    if (isJSONRPCRequest(message)) {
      this.remember(message);
      if (message.method === 'subscriptions/listen') void this.subscribe(message);
      else void this.call(message);
    } else if (isJSONRPCNotification(message)) {
      if (message.method === 'notifications/cancelled') this.cancel(message.params?.['requestId']);
      else void this.notify(message);
    } else {
      // The 2026-07-28 era has no server-to-client requests, so nothing here expects an answer.
      this.log.debug(`client: an answer to no request (${JSON.stringify(message.id)}), dropped`);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    for (const call of this.calls.values()) call.abort.abort();
    this.calls.clear();
    this.gate.abort();
    for (const tell of this.attemptWaiters) tell(false);
    this.attemptWaiters.clear();
  }

  // ---- requests

  private async call(request: JSONRPCRequest): Promise<void> {
    const call: Call = { request, abort: new AbortController() };
    this.calls.set(request.id, call);
    try {
      for (let caught = false; ; caught = true) {
        if (!(await this.ready(call, caught))) return;
        const outcome = await this.post(call, (message) => this.answer(call, message));
        if (outcome === 'answered' || outcome === 'cancelled') return;
        if (decide(request, outcome, this.toolHints.get(toolName(request))) === 'fail') return this.replyError(request, outcomeUnknownMessage(request));
        this.log.debug(`upstream: ${request.method} (${JSON.stringify(request.id)}) is sent again`);
      }
    } finally {
      if (this.calls.get(request.id) === call) this.calls.delete(request.id);
    }
  }

  /** Deliver `message` of a call's answer; true once it is the response. */
  private answer(call: Call, message: JSONRPCMessage): boolean {
    this.toClient(message);
    return (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) && message.id === call.request.id;
  }

  /**
   * Resolve true once `call` may go upstream. False when it may not, and then the client has had
   * its answer already, or wants none (cancelled).
   * @param caught whether a loss caught the call (it is being sent again), rather than it being new
   */
  private async ready(call: Call, caught: boolean): Promise<boolean> {
    const { request, abort } = call;
    if (this.state === 'up') return true;
    if (this.state === 'closed' || abort.signal.aborted) return false;
    if (!this.settings.hold) {
      // Nothing is held: a call caught by the loss waits for one reconnect attempt; a new call, for none.
      if (caught && (await this.nextAttempt())) return this.isUp() && !abort.signal.aborted;
      if (this.isClosed() || abort.signal.aborted) return false;
      this.replyError(request, unavailableText(request, this.lastFailure));
      return false;
    }
    if (this.gate.size >= this.settings.maxQueue) {
      this.replyError(request, queueFullText(this.settings));
      return false;
    }
    const open = await this.gate.wait(this.settings.queueTimeoutMs, abort.signal);
    if (this.isClosed() || abort.signal.aborted) return false;
    if (!open) this.replyError(request, notBackText(request, this.settings));
    return open;
  }

  /** Methods, so that TypeScript does not narrow `state` across the awaits that change it. */
  private isUp(): boolean {
    return this.state === 'up';
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private nextAttempt(): Promise<boolean> {
    return new Promise((resolve) => this.attemptWaiters.add(resolve));
  }

  private cancel(id: unknown): void {
    const call = typeof id === 'string' || typeof id === 'number' ? this.calls.get(id) : undefined;
    if (!call) return;
    // On HTTP, closing the request's stream is the cancellation: the upstream gets no notification.
    this.calls.delete(call.request.id);
    call.abort.abort();
  }

  /** A notification of the client's (the 2026-07-28 core defines none over HTTP; extensions may): sent once, as it is. */
  private async notify(message: JSONRPCNotification): Promise<void> {
    if (this.state !== 'up') return this.log.debug(`client: ${message.method} dropped, the upstream is unavailable`);
    try {
      const response = await fetch(this.settings.url.href, { method: 'POST', headers: this.headers(message), body: JSON.stringify(message) });
      await response.body?.cancel();
      if (!response.ok) this.log.debug(`upstream: ${message.method} refused with HTTP ${response.status}`);
    } catch (error) {
      this.log.debug(`upstream: ${message.method} not sent: ${errorText(error)}`);
    }
  }

  // ---- subscriptions/listen

  private async subscribe(request: JSONRPCRequest): Promise<void> {
    const subscription: Subscription = { request, abort: new AbortController(), ackedAt: 0, quickEnds: 0 };
    this.calls.set(request.id, subscription);
    try {
      for (let caught = false; ; caught = true) {
        // Until the upstream has acknowledged it, a listen waits like any request; after, for as long as the client keeps it.
        const ready = subscription.honored === undefined ? await this.ready(subscription, caught) : await this.reopenable(subscription);
        if (!ready) return;
        const outcome = await this.post(subscription, (message) => this.onListen(subscription, message));
        if (outcome === 'answered' || outcome === 'cancelled') return;
        // Cut off: open it again. A listen changes nothing upstream, so there is nothing to judge.
      }
    } finally {
      if (this.calls.get(request.id) === subscription) this.calls.delete(request.id);
    }
  }

  private async reopenable(subscription: Subscription): Promise<boolean> {
    while (this.state === 'down' && !subscription.abort.signal.aborted) await this.gate.wait(this.settings.queueTimeoutMs, subscription.abort.signal);
    return this.isUp() && !subscription.abort.signal.aborted;
  }

  /** A message on a listen stream; true once the subscription is over for the client. */
  private onListen(subscription: Subscription, message: JSONRPCMessage): boolean {
    const id = subscription.request.id;
    const honored = acknowledgedFilter(message, id);
    if (honored) {
      const reopened = subscription.honored !== undefined;
      subscription.honored = honored;
      subscription.ackedAt = Date.now();
      // The client has its acknowledgement already; what a restarted upstream offers may have changed, so it refetches.
      if (reopened) for (const notice of refetchNotices(id, subscription.honored)) this.toClient(notice);
      else this.toClient(message);
      return false;
    }
    if ((isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) && message.id === id) {
      if (isJSONRPCResultResponse(message) && subscription.honored !== undefined && Object.keys(subscription.honored).length > 0) {
        // The upstream ends the subscription gracefully: it is shutting down, most likely to restart. The
        // stream then ends, and the subscription is opened again once the upstream is back, unless the
        // upstream keeps ending it as soon as it is open (then it means it).
        subscription.quickEnds = Date.now() - subscription.ackedAt < QUICK_END_MS ? subscription.quickEnds + 1 : 0;
        if (subscription.quickEnds < MAX_QUICK_ENDS) return false;
      }
      this.toClient(message);
      return true;
    }
    if (isJSONRPCNotification(message)) subscription.quickEnds = 0;
    this.toClient(message);
    return false;
  }

  // ---- HTTP

  /**
   * POST `call`'s request and hand every message of the answer (one JSON body, or an SSE stream) to
   * `take`, which returns true once the exchange is settled for the client.
   */
  private async post(call: Call, take: (message: JSONRPCMessage) => boolean): Promise<Outcome> {
    const { request, abort } = call;
    let response: Response;
    try {
      response = await fetch(this.settings.url.href, { method: 'POST', headers: this.headers(request), body: JSON.stringify(request), signal: abort.signal });
    } catch (error) {
      if (this.state === 'closed' || abort.signal.aborted) return 'cancelled';
      // Refused: it never left. Anything else broke after it went out, and the server may have started it.
      const progress: Progress = NEVER_SENT.has(connectionCode(error) ?? '') ? 'unsent' : 'running';
      this.lost(errorText(error));
      return progress;
    }
    if (!response.ok) return this.refused(call, response, take);
    try {
      const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type === 'text/event-stream') {
        if (await this.readEvents(response, abort.signal, take)) return this.answered();
      } else if (type === 'application/json') {
        const body: unknown = JSON.parse(await response.text());
        for (const message of Array.isArray(body) ? body : [body]) if (isJSONRPCMessage(message) && take(message)) return this.answered();
        this.replyError(request, 'the upstream answered without a response to this request');
        return 'answered';
      } else {
        await response.body?.cancel();
        this.replyError(request, `the upstream answered HTTP ${response.status} with ${type || 'no content type'}, neither JSON nor an event stream`);
        return 'answered';
      }
    } catch (error) {
      if (this.state === 'closed' || abort.signal.aborted) return 'cancelled';
      if (error instanceof SyntaxError) {
        this.replyError(request, `the upstream answered with malformed JSON: ${error.message}`);
        return 'answered';
      }
      // The connection broke while the answer was coming: handled below.
    }
    if (this.state === 'closed' || abort.signal.aborted) return 'cancelled';
    this.lost('the answer ended before the response');
    return 'running';
  }

  private answered(): 'answered' {
    this.streak = 0;
    return 'answered';
  }

  /**
   * A POST the upstream answered with an error status. A gateway's or a restarting server's
   * 502/503/504 (our own servers' `503 mcp-draining` included) means "not now": the request never
   * ran, and waits for the upstream. Otherwise the upstream's own JSON-RPC error reaches the client,
   * with the request's id: a 2026-07-28 error (unsupported version, method not found, header
   * mismatch), or a 2025-only server's 400, so that a dual-era client falls back to `initialize`.
   */
  private async refused(call: Call, response: Response, take: (message: JSONRPCMessage) => boolean): Promise<Outcome> {
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (UNAVAILABLE.has(response.status)) {
      this.lost(`HTTP ${response.status}`);
      return 'unsent';
    }
    if (isJSONRPCErrorResponse(body)) {
      take({ jsonrpc: '2.0', id: call.request.id, error: body.error });
      return this.answered();
    }
    this.replyError(call.request, `the upstream MCP server answered HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`);
    return 'answered';
  }

  /** Read an SSE answer until `take` settles it. @returns whether it did before the stream ended */
  private async readEvents(response: Response, signal: AbortSignal, take: (message: JSONRPCMessage) => boolean): Promise<boolean> {
    if (!response.body) return false;
    let settled = false;
    const parser = createParser({
      onEvent: (event) => {
        if (settled || (event.event !== undefined && event.event !== 'message') || !event.data) return;
        let message: unknown;
        try {
          message = JSON.parse(event.data);
        } catch {
          return this.log.debug(`upstream: an event that is not JSON: ${event.data.slice(0, 200)}`);
        }
        if (isJSONRPCMessage(message) && take(message)) settled = true;
      },
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      while (!settled && !signal.aborted) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } finally {
      // The response ends the exchange; whatever the stream still holds is of no use.
      if (settled) void reader.cancel().catch(() => undefined);
    }
    return settled;
  }

  private headers(message: JSONRPCMessage): Record<string, string> {
    return {
      ...this.settings.headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...modernHeaders(message, this.params),
    };
  }

  // ---- availability

  /** Something showed the upstream may be gone: hold new calls, and probe until it answers. */
  private lost(reason: string): void {
    if (this.state === 'closed') return;
    this.lastFailure = reason;
    if (this.state === 'down') return;
    this.state = 'down';
    this.streak++;
    this.gate.shut();
    this.log.info(`upstream lost (${reason}); reconnecting`);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = Math.max(0, this.streak - 1); ; attempt++) {
      if (attempt > 0) await new Promise((resolve) => (this.retryTimer = setTimeout(resolve, nextDelay(attempt - 1, this.settings.backoff))));
      if (this.isClosed()) return;
      const up = await this.probe();
      if (this.isClosed()) return;
      if (up) this.state = 'up';
      for (const tell of this.attemptWaiters) tell(up);
      this.attemptWaiters.clear();
      if (up) break;
      this.log.debug(`upstream: ${this.lastFailure}; retrying`);
    }
    this.log.info('upstream reconnected (Streamable HTTP, 2026-07-28)');
    this.gate.release();
  }

  /**
   * Whether the upstream serves again, asked with `server/discover` (which every 2026-07-28 server
   * implements, and which changes nothing), in the client's own envelope.
   */
  private async probe(): Promise<boolean> {
    const request: JSONRPCRequest = { jsonrpc: '2.0', id: `${PROBE_ID}${++this.probes}`, method: 'server/discover', params: { _meta: this.envelope } };
    try {
      const response = await fetch(this.settings.url.href, {
        method: 'POST',
        headers: this.headers(request),
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.settings.probeTimeoutMs),
      });
      await response.body?.cancel().catch(() => undefined);
      // A 4xx is a server that is there (a 2025-only one, say); a 5xx, one that cannot serve yet (or any more).
      if (response.status < 500) return true;
      this.lastFailure = `HTTP ${response.status}`;
    } catch (error) {
      this.lastFailure = errorText(error);
    }
    return false;
  }

  /** Keep the envelope of the client's latest request that names a version, for the probes. */
  private remember(request: JSONRPCRequest): void {
    const meta = request.params?._meta;
    if (!meta || claimedVersion(request) === undefined) return;
    this.envelope = Object.fromEntries(ENVELOPE_KEYS.filter((key) => key in meta).map((key) => [key, meta[key]]));
  }

  private toClient(message: JSONRPCMessage): void {
    if (this.state === 'closed') return;
    this.toolHints.learn(message);
    this.params.learn(message);
    this.downstream.send(message).catch((error: Error) => this.log.debug(`client: ${error.message}`));
  }

  private replyError(message: JSONRPCMessage, text: string): void {
    replyError(this.downstream, message, text);
  }
}
