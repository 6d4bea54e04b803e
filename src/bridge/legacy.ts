import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
  type Transport,
} from '../jsonrpc.js';
import type { Logger } from '../log.js';
import { decide, outcomeUnknownMessage, toolName } from '../recovery/policy.js';
import { ToolHintsBook } from '../recovery/tool-hints.js';
import { InternalRequests } from '../sessions/internal-requests.js';
import { listChangedNotifications } from '../sessions/restore.js';
import { nextDelay } from './backoff.js';
import type { BridgeSettings } from './options.js';
import { answerBeforeSession, connectionCode, errorText, notBackText, queueFullText, replyError, unavailableText, type Upstream } from './relay.js';
import type { Downstream } from './stdio.js';

/**
 * The 2025-era relay (a client that opened with `initialize`), through SDK v1's client transports.
 * The bridge imports this module only when such a client comes, so that a 2026-07-28 client works
 * without `@modelcontextprotocol/sdk` installed.
 */

/** What the upstream's answer to `initialize` settled, as far as the relay needs it. */
interface InitializeResult {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
}

/** The v1 client transports, which also take a protocol version for their headers. */
type ClientTransport = Transport & { setProtocolVersion?: (version: string) => void };

const INTERNAL_ID = 'mcp-http-transport-bridge/';
/** Statuses that say "not now" about the connection or session, not "no" about the message. */
const UNAVAILABLE = new Set([404, 502, 503, 504]);

interface Queued {
  message: JSONRPCMessage;
  timer?: NodeJS.Timeout;
}

/** One upstream connection; `live` turns false when it is replaced, so late events from it are ignored. */
interface Connection {
  transport: ClientTransport;
  kind: 'http' | 'sse';
  live: boolean;
}

/**
 * Relays a 2025-era client to the upstream, keeping the client's one session for its whole life:
 * - upstream lost: reconnect with capped exponential backoff and jitter;
 * - session unknown to the upstream (404, or any legacy SSE reconnect): replay the client's
 *   `initialize` and `initialized`;
 * - while down: messages are queued (bounded; a request waits at most `queueTimeoutMs`), unless
 *   `hold` is false;
 * - a request in flight at the loss is judged by the recovery policy (`decide`): re-sent when a
 *   repeat is harmless (reads, tools annotated `readOnlyHint` or `idempotentHint` in the
 *   `tools/list` results that passed by), else answered at once with an "outcome unknown" error;
 * - after each reconnect: `list_changed` notifications, so the client refetches.
 */
export class LegacyUpstream implements Upstream {
  /**
   * `connecting`: an attempt is under way and none has failed since the upstream was last up;
   * `down`: one has (the upstream is unavailable), and attempts go on with backoff.
   */
  private state: 'idle' | 'connecting' | 'up' | 'down' | 'closed' = 'idle';
  private connection: Connection | undefined;
  private kind: 'http' | 'sse' | undefined;
  private sessionId: string | undefined;
  /** The client's own initialize, replayed to every new upstream session. */
  private init: JSONRPCRequest | undefined;
  private initialized = false;
  private capabilities: Record<string, unknown> | undefined;
  /** Set once the upstream has answered the client's initialize. */
  private protocolVersion: string | undefined;
  /** Requests sent upstream and not answered; `accepted` once the upstream took the POST (sent its headers). */
  private readonly inflight = new Map<RequestId, { request: JSONRPCRequest; accepted: boolean }>();
  private readonly queue: Queued[] = [];
  /** Annotations of the tools the upstream listed, to judge an interrupted `tools/call`. */
  private readonly toolHints = new ToolHintsBook();
  private retryTimer: NodeJS.Timeout | undefined;
  /** Why the last connection attempt failed, for the errors answered while `down`. */
  private lastFailure = '';
  private readonly internal: InternalRequests;
  /** Losses since the upstream last answered: a connection that dies at once must not loop without backoff. */
  private streak = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly settings: BridgeSettings,
    private readonly downstream: Downstream,
    private readonly log: Logger,
  ) {
    this.internal = new InternalRequests(INTERNAL_ID, this.settings.probeTimeoutMs);
    if (this.settings.transport !== 'auto') this.kind = this.settings.transport;
  }

  get transport() {
    return this.kind;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      clearTimeout(this.retryTimer);
      for (const q of this.queue.splice(0)) clearTimeout(q.timer);
      const connection = this.connection;
      this.connection = undefined;
      if (connection) {
        connection.live = false;
        // The client is gone: end its upstream session too, so the server can forget it.
        if (connection.transport instanceof StreamableHTTPClientTransport) await connection.transport.terminateSession().catch(() => undefined);
        await connection.transport.close().catch(() => undefined);
      }
    })();
    return this.closing;
  }

  // ---- client -> upstream

  fromClient(message: JSONRPCMessage): void {
    if (this.state === 'closed') return;
    if (isInitializeRequest(message)) this.init = message as JSONRPCRequest;
    if (isJSONRPCNotification(message) && message.method === 'notifications/initialized') this.initialized = true;
    if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      const id = message.params?.['requestId'] as RequestId;
      // A request still queued is simply dropped; one in flight needs no retry or error any more.
      const queued = this.queue.findIndex((q) => isJSONRPCRequest(q.message) && q.message.id === id);
      if (queued >= 0) {
        clearTimeout(this.queue[queued]!.timer);
        this.queue.splice(queued, 1);
        return;
      }
      this.inflight.delete(id);
    }
    if (!this.init) return answerBeforeSession(this.downstream, message);
    if (this.state === 'up') void this.toUpstream(message);
    else if (this.state === 'down' && !this.settings.hold && isJSONRPCRequest(message)) this.replyError(message, unavailableText(message, this.lastFailure));
    else this.enqueue(message);
    if (this.state === 'idle') void this.reconnect();
  }


  private enqueue(message: JSONRPCMessage, front = false): void {
    if (this.queue.length >= this.settings.maxQueue) {
      return this.replyError(message, queueFullText(this.settings));
    }
    const entry: Queued = { message };
    if (isJSONRPCRequest(message)) {
      entry.timer = setTimeout(() => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        this.replyError(message, notBackText(message, this.settings));
      }, this.settings.queueTimeoutMs);
      entry.timer.unref();
    }
    if (front) this.queue.unshift(entry);
    else this.queue.push(entry);
  }

  private async toUpstream(message: JSONRPCMessage): Promise<void> {
    const connection = this.connection!;
    const entry = isJSONRPCRequest(message) ? { request: message, accepted: false } : undefined;
    if (entry) this.inflight.set(entry.request.id, entry);
    try {
      await connection.transport.send(message);
      if (entry) entry.accepted = true;
    } catch (error) {
      if (!connection.live) return; // this loss is already being handled
      const status = httpStatus(error);
      if (status !== undefined && !UNAVAILABLE.has(status)) {
        // The upstream is there and refused this one message: answer it, nothing more.
        if (isJSONRPCRequest(message)) this.inflight.delete(message.id);
        return this.replyError(message, `the upstream MCP server answered HTTP ${status}: ${(error as Error).message}`);
      }
      // Unknown session (404), shutting down (503) or refused: not processed, and lost() judges it
      // 'unsent'. A connection that broke after the POST went out is another matter: the server may have
      // started the call before its response headers left (the SDK's node adapter sends them on a
      // timer), so it counts as running.
      if (entry && status === undefined && connectionCode(error) !== 'ECONNREFUSED') entry.accepted = true;
      if (!entry) this.enqueue(message, true);
      this.lost(connection, status === 404 ? 'the upstream forgot the session' : status === 503 ? 'the upstream is restarting' : errorText(error));
    }
  }

  // ---- upstream -> client

  private fromServer(connection: Connection, message: JSONRPCMessage): void {
    if (!connection.live) return;
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      // (Typed by what `answer` declares, which has been the SDK's message type and becomes ours.)
      if (this.internal.answer(message as Parameters<InternalRequests['answer']>[0])) return;
      this.streak = 0;
      this.inflight.delete(message.id as RequestId);
      this.toolHints.learn(message);
      if (this.init && message.id === this.init.id && isJSONRPCResultResponse(message)) this.adopt(message.result as unknown as InitializeResult, connection);
    }
    this.downstream.send(message).catch((error: Error) => this.log.debug(`client: ${error.message}`));
  }

  /** Remember what the handshake settled, and send later requests with the negotiated version header. */
  private adopt(result: InitializeResult, connection: Connection): void {
    this.capabilities = result.capabilities;
    this.protocolVersion = result.protocolVersion;
    connection.transport.setProtocolVersion?.(result.protocolVersion);
    if (connection.transport instanceof StreamableHTTPClientTransport) this.sessionId = connection.transport.sessionId;
  }

  /** An upstream error: if the upstream no longer answers a ping, treat the connection as lost. */
  private async checkAlive(connection: Connection, error: Error): Promise<void> {
    if (!connection.live || this.connection !== connection || this.state !== 'up') return;
    this.log.debug(`upstream: ${error.message}`);
    try {
      await this.request(connection, 'ping');
    } catch (probe) {
      this.lost(connection, errorText(probe));
    }
  }

  // ---- connection management

  private lost(connection: Connection, reason: string): void {
    if (!connection.live) return;
    connection.live = false;
    this.connection = undefined;
    this.streak++;
    void connection.transport.close().catch(() => undefined);
    this.log.info(`upstream lost (${reason}); reconnecting`);
    // One whose POST was never accepted did not start (see toUpstream); one that was may have run.
    const retry: JSONRPCRequest[] = [];
    for (const { request, accepted } of this.inflight.values()) {
      if (decide(request, accepted ? 'running' : 'unsent', this.toolHints.get(toolName(request))) === 'resend') retry.push(request);
      else this.replyError(request, outcomeUnknownMessage(request));
    }
    this.inflight.clear();
    for (const request of retry.reverse()) this.enqueue(request, true);
    if (this.state !== 'closed') void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'idle' && this.state !== 'up') return; // already reconnecting, or closed
    this.state = 'connecting';
    const reconnecting = this.protocolVersion !== undefined;
    for (let attempt = Math.max(0, this.streak - 1); ; attempt++) {
      if (attempt > 0) await new Promise((resolve) => (this.retryTimer = setTimeout(resolve, nextDelay(attempt - 1, this.settings.backoff))));
      if (this.isClosed()) return;
      try {
        await this.open();
        // The new connection may have died while it was being opened.
        if (this.connection) break;
        throw new Error('the connection closed as it opened');
      } catch (error) {
        if (this.isClosed()) return;
        this.log.debug(`upstream: ${errorText(error)}; retrying`);
        this.unavailable(errorText(error));
      }
    }
    this.state = 'up';
    this.log.info(`upstream ${reconnecting ? 're' : ''}connected (${this.kind === 'sse' ? 'legacy SSE' : 'Streamable HTTP'})`);
    if (reconnecting && this.initialized) {
      // The code behind the server may have changed: let the client refetch.
      for (const n of listChangedNotifications(this.capabilities)) void this.downstream.send(n).catch(() => undefined);
    }
    while (this.state === 'up' && this.queue.length > 0) {
      const { message, timer } = this.queue.shift()!;
      clearTimeout(timer);
      await this.toUpstream(message);
    }
  }

  /** A method, so that TypeScript does not narrow `state` across the awaits that change it. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** A connection attempt failed. Without `hold`, no request waits any longer: each is answered now. */
  private unavailable(reason: string): void {
    this.state = 'down';
    this.lastFailure = reason;
    if (this.settings.hold) return;
    for (const entry of this.queue.filter((q) => isJSONRPCRequest(q.message))) {
      clearTimeout(entry.timer);
      this.queue.splice(this.queue.indexOf(entry), 1);
      this.replyError(entry.message, unavailableText(entry.message as JSONRPCRequest, this.lastFailure));
    }
  }

  /** Open a connection and bring its session to where the client believes it is. */
  private async open(): Promise<void> {
    if (this.protocolVersion === undefined) return this.openFirst();
    const connection = await this.connect(this.kind!, this.sessionId);
    try {
      if (connection.kind === 'http' && this.sessionId !== undefined) {
        // Does the upstream still know our session (a server that restores sessions does)?
        const known = await this.request(connection, 'ping').then(
          () => true,
          (error: unknown) => (httpStatus(error) === 404 ? false : Promise.reject(error)),
        );
        if (!known) {
          connection.live = false;
          await connection.transport.close();
          this.sessionId = undefined;
          return this.replay(await this.connect('http', undefined));
        }
        this.activate(connection);
        // Re-opens the GET stream, for server messages outside any request; servers ignore a repeat.
        await connection.transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        return;
      }
      await this.replay(connection);
    } catch (error) {
      connection.live = false;
      await connection.transport.close().catch(() => undefined);
      throw error;
    }
  }

  /** The first connection carries the client's own initialize; with `auto`, its answer picks the transport. */
  private async openFirst(): Promise<void> {
    const init = this.queue.find((q) => isInitializeRequest(q.message));
    const kinds: ('http' | 'sse')[] = this.kind ? [this.kind] : ['http', 'sse'];
    for (const [i, kind] of kinds.entries()) {
      const connection = await this.connect(kind, undefined);
      if (!init) return this.activate(connection);
      try {
        const entry = { request: this.init!, accepted: false };
        this.inflight.set(this.init!.id, entry);
        this.activate(connection);
        await connection.transport.send(init.message);
        entry.accepted = true;
        this.queue.splice(this.queue.indexOf(init), 1);
        clearTimeout(init.timer);
        this.kind = kind;
        return;
      } catch (error) {
        this.inflight.delete(this.init!.id);
        this.connection = undefined;
        connection.live = false;
        await connection.transport.close().catch(() => undefined);
        const status = httpStatus(error);
        // Spec back-compat: a 4xx to the initialize POST means a legacy HTTP+SSE server.
        if (i === 0 && kinds.length > 1 && status !== undefined && status >= 400 && status < 500) continue;
        throw error;
      }
    }
  }

  /** Replay the client's handshake on a new upstream session; its answer stays here. */
  private async replay(connection: Connection): Promise<void> {
    const result = await this.request(connection, 'initialize', this.init!.params);
    this.adopt(result as unknown as InitializeResult, connection);
    await connection.transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.activate(connection);
    this.log.info('upstream session re-initialized with the client’s initialize');
  }

  private activate(connection: Connection): void {
    this.connection = connection;
    if (this.protocolVersion) connection.transport.setProtocolVersion?.(this.protocolVersion);
  }

  private async connect(kind: 'http' | 'sse', sessionId: string | undefined): Promise<Connection> {
    const headers = { ...this.settings.headers };
    // The SDK's own message types are narrower than ours (no null id): what it hands us fits ours.
    const transport = (
      kind === 'http'
        ? new StreamableHTTPClientTransport(new URL(this.settings.url.href), {
            sessionId,
            requestInit: { headers },
            // Any end of the GET stream is reported at once; reconnecting is this bridge's job.
            reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 0, maxReconnectionDelay: 0, reconnectionDelayGrowFactor: 1 },
          })
        : new SSEClientTransport(new URL(this.settings.url.href), { requestInit: { headers } })
    ) as unknown as ClientTransport;
    const connection: Connection = { transport, kind, live: true };
    transport.onmessage = (message) => this.fromServer(connection, message);
    transport.onerror = (error) => {
      // Before it is in use, a connection's errors reach whoever is opening it.
      if (this.connection !== connection) return;
      // One message the upstream refused (its POST failed) is answered where it was sent.
      const status = httpStatus(error);
      if (status !== undefined && !UNAVAILABLE.has(status)) return;
      // A legacy SSE stream that drops would reconnect on its own, to a new session: take over at once.
      if (kind === 'sse') this.lost(connection, error.message);
      else void this.checkAlive(connection, error);
    };
    transport.onclose = () => this.connection === connection && this.lost(connection, 'closed');
    if (this.protocolVersion) transport.setProtocolVersion?.(this.protocolVersion);
    await transport.start();
    return connection;
  }

  /** A request of the bridge's own (ping, replayed initialize), answered here, never reaching the client. */
  private request(connection: Connection, method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.internal.ask((request) => connection.transport.send(request), method, params);
  }

  private replyError(message: JSONRPCMessage, text: string): void {
    replyError(this.downstream, message, text);
  }
}

/** The HTTP status of an upstream error, when the upstream answered at all. */
function httpStatus(error: unknown): number | undefined {
  if (error instanceof StreamableHTTPError) return error.code !== undefined && error.code > 0 ? error.code : undefined;
  const match = /\(HTTP (\d{3})\)/.exec(String((error as Error)?.message)); // SSEClientTransport's POST errors
  return match ? Number(match[1]) : undefined;
}
