import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isInitializedNotification,
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type InitializeResult,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { createLogger, type Logger } from '../log.js';
import { isRetrySafe } from '../safe-methods.js';
import { listChangedNotifications } from '../sessions/restore.js';
import { nextDelay, type BackoffOptions } from './backoff.js';

export { DEFAULT_BACKOFF, nextDelay, type BackoffOptions } from './backoff.js';

/** Which HTTP transport the upstream speaks. `auto` tries Streamable HTTP, then falls back to legacy SSE. */
export type UpstreamTransport = 'auto' | 'http' | 'sse';

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  /** The upstream MCP endpoint, e.g. `http://localhost:3000/mcp` (or `/sse`). */
  url: string | URL;
  /** @default 'auto' */
  transport?: UpstreamTransport;
  /** Extra HTTP headers for every upstream request (e.g. Authorization). @default {} */
  headers?: Record<string, string>;
  /** Reconnect backoff limits. @default DEFAULT_BACKOFF */
  backoff?: BackoffOptions;
  /** How long a request may wait for the upstream to come back before it fails. @default 30000 */
  queueTimeoutMs?: number;
  /** Most messages held while the upstream is down; more fail at once. @default 1000 */
  maxQueue?: number;
  /** How long a liveness probe (`ping`) may take. @default 5000 */
  probeTimeoutMs?: number;
  /** @default a stderr logger at `warn` */
  log?: Logger;
  /** Where the client's frames come from. @default process.stdin */
  stdin?: NodeJS.ReadableStream;
  /** Where frames to the client go; nothing else is ever written there. @default process.stdout */
  stdout?: NodeJS.WritableStream;
}

/** A running stdio↔HTTP bridge. */
export interface Bridge {
  start(): Promise<void>;
  /** Close both sides (ending the upstream session). Safe to call twice. */
  close(): Promise<void>;
  /** Resolves when the bridge has closed, e.g. because stdin ended. */
  readonly closed: Promise<void>;
  /** The upstream transport in use, once known. */
  readonly upstreamTransport: 'http' | 'sse' | undefined;
}

const DEFAULTS = { transport: 'auto' as UpstreamTransport, queueTimeoutMs: 30_000, maxQueue: 1000, probeTimeoutMs: 5000 };
const INTERNAL_ID = 'mcp-http-transport-bridge/';
/** Statuses that say "not now" about the connection or session, not "no" about the message. */
const UNAVAILABLE = new Set([404, 502, 503, 504]);

interface Queued {
  message: JSONRPCMessage;
  timer?: NodeJS.Timeout;
}

/** One upstream connection; `live` turns false when it is replaced, so late events from it are ignored. */
interface Connection {
  transport: Transport;
  kind: 'http' | 'sse';
  live: boolean;
}

/**
 * A stdio MCP server facing the client (Claude Desktop, say), relaying every message to an upstream
 * HTTP server and back, unchanged in meaning. It keeps the client's one session for its whole life:
 * - upstream lost: reconnect with capped exponential backoff and jitter;
 * - session unknown to the upstream (404, or any legacy SSE reconnect): replay the client's
 *   `initialize` and `initialized`;
 * - while down: messages are queued (bounded; a request waits at most `queueTimeoutMs`);
 * - a request in flight at the loss is retried if it only reads, else fails at once with a clear error;
 * - after each reconnect: `list_changed` notifications, so the client refetches.
 */
export function createBridge(options: BridgeOptions): Bridge {
  return new ReconnectingBridge(options);
}

class ReconnectingBridge implements Bridge {
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly log: Logger;
  private readonly url: URL;
  private readonly downstream: StdioServerTransport;
  private readonly settings: typeof DEFAULTS;
  private state: 'idle' | 'connecting' | 'up' | 'closed' = 'idle';
  private connection: Connection | undefined;
  private kind: 'http' | 'sse' | undefined;
  private sessionId: string | undefined;
  /** The client's own initialize, replayed to every new upstream session. */
  private init: JSONRPCRequest | undefined;
  private initAnswered = false;
  private initialized = false;
  private capabilities: ServerCapabilities | undefined;
  private protocolVersion: string | undefined;
  /** Requests sent upstream and not answered; `accepted` once the upstream took the POST (sent its headers). */
  private readonly inflight = new Map<RequestId, { request: JSONRPCRequest; accepted: boolean }>();
  private readonly queue: Queued[] = [];
  private readonly internal = new Map<string, (message: JSONRPCMessage) => void>();
  private internalIds = 0;
  /** Losses since the upstream last answered: a connection that dies at once must not loop without backoff. */
  private streak = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: BridgeOptions) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.log = options.log ?? createLogger('warn');
    this.url = new URL(options.url);
    this.settings = {
      transport: options.transport ?? DEFAULTS.transport,
      queueTimeoutMs: options.queueTimeoutMs ?? DEFAULTS.queueTimeoutMs,
      maxQueue: options.maxQueue ?? DEFAULTS.maxQueue,
      probeTimeoutMs: options.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs,
    };
    this.downstream = new StdioServerTransport(options.stdin as never, options.stdout as never);
  }

  get upstreamTransport() {
    return this.kind;
  }

  async start(): Promise<void> {
    this.downstream.onmessage = (message) => this.fromClient(message);
    this.downstream.onerror = (error) => this.log.debug(`client: ${error.message}`);
    // close() itself closes the downstream: only an outside close (stdin gone) starts one.
    this.downstream.onclose = () => this.state !== 'closed' && void this.close();
    await this.downstream.start();
    (this.options.stdin ?? process.stdin).once('end', () => void this.close());
    if (this.settings.transport !== 'auto') this.kind = this.settings.transport;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      for (const q of this.queue.splice(0)) clearTimeout(q.timer);
      const connection = this.connection;
      this.connection = undefined;
      if (connection) {
        connection.live = false;
        // The client is gone: end its upstream session too, so the server can forget it.
        if (connection.transport instanceof StreamableHTTPClientTransport) await connection.transport.terminateSession().catch(() => undefined);
        await connection.transport.close().catch(() => undefined);
      }
      await this.downstream.close().catch(() => undefined);
      this.resolveClosed();
    })();
    return this.closing;
  }

  // ---- client -> upstream

  private fromClient(message: JSONRPCMessage): void {
    if (this.state === 'closed') return;
    if (isInitializeRequest(message)) this.init = message as JSONRPCRequest;
    if (isInitializedNotification(message)) this.initialized = true;
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
    if (!this.init) return this.beforeInitialize(message);
    if (this.state === 'up') void this.toUpstream(message);
    else this.enqueue(message);
    if (this.state === 'idle') void this.reconnect();
  }

  /** The upstream session starts with the client's initialize; until then only ping is answered (here). */
  private beforeInitialize(message: JSONRPCMessage): void {
    if (!isJSONRPCRequest(message)) return;
    if (message.method === 'ping') void this.downstream.send({ jsonrpc: '2.0', id: message.id, result: {} }).catch(() => undefined);
    else void this.downstream.send({ jsonrpc: '2.0', id: message.id, error: { code: -32002, message: 'Server not initialized: send initialize first' } }).catch(() => undefined);
  }

  private enqueue(message: JSONRPCMessage, front = false): void {
    if (this.queue.length >= this.settings.maxQueue) {
      return this.replyError(message, `the upstream MCP server is unreachable and ${this.settings.maxQueue} messages are already waiting`);
    }
    const entry: Queued = { message };
    if (isJSONRPCRequest(message)) {
      entry.timer = setTimeout(() => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        this.replyError(message, `the upstream MCP server did not come back within ${this.settings.queueTimeoutMs / 1000} s; ${message.method} was not sent`);
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
      // No answer at all, unknown session (404) or shutting down (503): not processed, so safe to send
      // again. Both HTTP transports answer a POST's headers as soon as the message is dispatched, long
      // before a tool finishes, so a POST that got no headers did not start one: the requests that were
      // running fail (or retry) through lost(), as their streams break.
      if (isJSONRPCRequest(message)) this.inflight.delete(message.id);
      this.enqueue(message, true);
      this.lost(connection, status === 404 ? 'the upstream forgot the session' : status === 503 ? 'the upstream is restarting' : errorText(error));
    }
  }

  // ---- upstream -> client

  private fromServer(connection: Connection, message: JSONRPCMessage): void {
    if (!connection.live) return;
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const internal = typeof message.id === 'string' ? this.internal.get(message.id) : undefined;
      if (internal) return internal(message);
      this.streak = 0;
      this.inflight.delete(message.id as RequestId);
      if (this.init && message.id === this.init.id && isJSONRPCResultResponse(message)) this.adopt(message.result as InitializeResult, connection);
    }
    this.downstream.send(message).catch((error: Error) => this.log.debug(`client: ${error.message}`));
  }

  /** Remember what the handshake settled, and send later requests with the negotiated version header. */
  private adopt(result: InitializeResult, connection: Connection): void {
    this.initAnswered = true;
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
    // Requests the dead upstream may have been running: reads go again, anything else fails now.
    // One whose POST got no answer yet was never started (see toUpstream), so it simply goes again.
    const retry: JSONRPCRequest[] = [];
    for (const { request, accepted } of this.inflight.values()) {
      if (!accepted || isRetrySafe(request.method)) retry.push(request);
      else {
        this.replyError(
          request,
          `the upstream MCP server went away while ${request.method} was running; it was not retried because it may have side effects. Call it again if needed.`,
        );
      }
    }
    this.inflight.clear();
    for (const request of retry.reverse()) this.enqueue(request, true);
    if (this.state !== 'closed') void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.state === 'connecting' || this.state === 'closed') return;
    this.state = 'connecting';
    const reconnecting = this.initAnswered;
    for (let attempt = Math.max(0, this.streak - 1); this.state === 'connecting'; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, nextDelay(attempt - 1, this.options.backoff)));
      if (this.state !== 'connecting') return;
      try {
        await this.open();
        break;
      } catch (error) {
        this.log.debug(`upstream: ${errorText(error)}; retrying`);
      }
    }
    if (this.state !== 'connecting') return;
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

  /** Open a connection and bring its session to where the client believes it is. */
  private async open(): Promise<void> {
    if (!this.initAnswered) return this.openFirst();
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
    const headers = this.options.headers ?? {};
    const transport: Transport =
      kind === 'http'
        ? new StreamableHTTPClientTransport(this.url, {
            sessionId,
            requestInit: { headers },
            // Any end of the GET stream is reported at once; reconnecting is this bridge's job.
            reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 0, maxReconnectionDelay: 0, reconnectionDelayGrowFactor: 1 },
          })
        : new SSEClientTransport(this.url, { requestInit: { headers } });
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
    const id = `${INTERNAL_ID}${++this.internalIds}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${method} got no answer within ${this.settings.probeTimeoutMs} ms`)), this.settings.probeTimeoutMs);
      const done = (outcome: Error | JSONRPCMessage) => {
        clearTimeout(timer);
        this.internal.delete(id);
        if (outcome instanceof Error) reject(outcome);
        else if (isJSONRPCResultResponse(outcome)) resolve(outcome.result);
        else reject(new Error(`${method} failed: ${isJSONRPCErrorResponse(outcome) ? outcome.error.message : 'bad answer'}`));
      };
      this.internal.set(id, done);
      connection.transport.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }).catch(done);
    });
  }

  private replyError(message: JSONRPCMessage, text: string): void {
    if (!isJSONRPCRequest(message)) return;
    void this.downstream.send({ jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `mcp-http-transport bridge: ${text}` } }).catch(() => undefined);
  }
}

/** The HTTP status of an upstream error, when the upstream answered at all. */
function httpStatus(error: unknown): number | undefined {
  if (error instanceof StreamableHTTPError) return error.code !== undefined && error.code > 0 ? error.code : undefined;
  const match = /\(HTTP (\d{3})\)/.exec(String((error as Error)?.message)); // SSEClientTransport's POST errors
  return match ? Number(match[1]) : undefined;
}

function errorText(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string } };
  return e?.cause?.code ? `${e.message} (${e.cause.code})` : String(e?.message ?? error);
}
