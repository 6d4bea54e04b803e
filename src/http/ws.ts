import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { CLOCK_TOLERANCE_S } from '../auth/jwt.js';
import { isJSONRPCMessage, type JSONRPCErrorResponse, type JSONRPCMessage, type MessageExtraInfo, type RequestId, type Transport } from '../jsonrpc.js';
import type { Logger } from '../log.js';
import type { TransportConfig } from '../config.js';
import type { SessionOwner } from '../sessions/owner.js';
import type { Authenticate, AuthResult, Caller, Rejection } from '../auth-info.js';
import { DRAINING, requestCheck, sessionsFull } from './guards.js';

/** The subprotocol MCP clients ask for (the SDK's `WebSocketClientTransport` sends `mcp`). */
export const WEBSOCKET_SUBPROTOCOL = 'mcp';

/** Where WebSocket upgrades are accepted. */
export const WEBSOCKET_PATH = '/ws';

const OPEN = 1;
/** How long a closing socket may take to finish the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2_000;
const DEFAULT_HEARTBEAT_MS = 30_000;
/** The longest a timer can wait (about 24.8 days): a token valid for longer is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The part of a `ws` WebSocket the transport uses, declared structurally so that the public types do
 * not need `@types/ws`. A `WebSocket` from `ws` fits.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string, cb?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  pause?(): void;
  resume?(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** What a {@link WebSocketServerTransport} is built with. */
export interface WebSocketServerTransportOptions {
  /** The session id. @default a random UUID */
  sessionId?: string;
  /** Passed with every incoming message (`requestInfo` with the upgrade's headers, `authInfo`). */
  extra?: MessageExtraInfo;
}

const errorFrame = (code: number, message: string, id: RequestId | null = null): JSONRPCErrorResponse => ({ jsonrpc: '2.0', error: { code, message }, id });

function frameText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return String(data);
}

/**
 * One MCP session over one WebSocket: each text frame carries one JSON-RPC message, both ways.
 *
 * Frames that arrive before `start()` are kept (and the socket paused) so nothing is lost while the
 * session is connected to the server. A frame that is not JSON, or not a JSON-RPC message, goes to
 * `onerror` and is answered with a JSON-RPC error (-32700 or -32600); the socket stays open.
 * `onclose` fires once, when the socket closes, whichever side closed it.
 */
export class WebSocketServerTransport implements Transport {
  readonly sessionId: string;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  readonly #socket: WebSocketLike;
  readonly #extra: MessageExtraInfo | undefined;
  #started = false;
  #pending: JSONRPCMessage[] = [];
  #closed = false;
  #closeDelivered = false;
  readonly #closedWaiters: Array<() => void> = [];

  constructor(socket: WebSocketLike, options: WebSocketServerTransportOptions = {}) {
    this.sessionId = options.sessionId ?? randomUUID();
    this.#socket = socket;
    this.#extra = options.extra;
    socket.on('message', (data: unknown) => this.#receive(data));
    socket.on('error', (error: Error) => this.onerror?.(error));
    socket.on('close', () => this.#handleClose());
    if (socket.readyState !== OPEN) queueMicrotask(() => this.#handleClose());
    socket.pause?.();
  }

  /** True once the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('WebSocketServerTransport already started');
    this.#started = true;
    if (this.#closed) {
      // The socket closed before the session was connected: report it now that someone listens.
      queueMicrotask(() => this.#deliverClose());
      return;
    }
    const pending = this.#pending;
    this.#pending = [];
    for (const message of pending) this.onmessage?.(message, this.#extra);
    this.#socket.resume?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closed || this.#socket.readyState !== OPEN) return reject(new Error('Not connected'));
      this.#socket.send(JSON.stringify(message), (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Close the socket normally (1000) and wait until it has closed. */
  close(): Promise<void> {
    return this.closeWith(1000, '');
  }

  /**
   * Close the socket with `code` (1001 at shutdown, 1011 when the session could not start) and wait
   * until it has closed; a peer that does not finish the close handshake in time is cut off.
   */
  closeWith(code: number, reason: string, graceMs = CLOSE_GRACE_MS): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#closedWaiters.push(resolve));
    const timer = setTimeout(() => {
      if (this.#socket.terminate) this.#socket.terminate();
      else this.#handleClose();
    }, graceMs);
    timer.unref?.();
    void closed.then(() => clearTimeout(timer));
    // A socket paused before start() must be read again, or the peer's close frame is never seen.
    this.#socket.resume?.();
    try {
      this.#socket.close(code, reason);
    } catch {
      this.#socket.terminate?.();
    }
    return closed;
  }

  #receive(data: unknown): void {
    if (this.#closed) return;
    const text = frameText(data);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.#reject(new Error(`WebSocket frame is not JSON (${text.length} characters)`), errorFrame(-32700, 'Parse error: the frame is not valid JSON'));
      return;
    }
    if (!isJSONRPCMessage(parsed)) {
      const batch = Array.isArray(parsed);
      const id = !batch && typeof parsed === 'object' && parsed !== null ? (parsed as { id?: unknown }).id : undefined;
      const message = batch ? 'Invalid Request: send one JSON-RPC message per frame (batches are not supported)' : 'Invalid Request: the frame is not a JSON-RPC 2.0 message';
      this.#reject(new Error(`WebSocket frame is not a JSON-RPC message: ${text.slice(0, 200)}`), errorFrame(-32600, message, typeof id === 'string' || typeof id === 'number' ? id : null));
      return;
    }
    if (!this.#started) this.#pending.push(parsed);
    else this.onmessage?.(parsed, this.#extra);
  }

  #reject(error: Error, answer: JSONRPCErrorResponse): void {
    this.onerror?.(error);
    this.send(answer).catch(() => {});
  }

  #handleClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = [];
    for (const resolve of this.#closedWaiters.splice(0)) resolve();
    if (this.#started) this.#deliverClose();
  }

  #deliverClose(): void {
    if (this.#closeDelivered) return;
    this.#closeDelivered = true;
    this.onclose?.();
  }
}

/** What {@link acceptWebSockets} needs. */
export interface AcceptWebSocketsOptions {
  /**
   * Runs on every upgrade request before the handshake: Host and Origin (403), the token (401, 403), or a
   * full server (503). A rejection is answered with its status and a JSON-RPC error body; a caller's
   * `authInfo` reaches handlers with every message, and the socket is closed (1008) when its token expires.
   * `requestCheck` in `guards.ts` builds the usual one. @default every upgrade is admitted, with no principal
   */
  check?: (req: IncomingMessage) => AuthResult | Promise<AuthResult>;
  /** Connect a new session's transport to the user's server. A rejection closes the socket (1011). */
  onTransport: (transport: WebSocketServerTransport, req: IncomingMessage, caller: Caller) => Promise<void>;
  /** The largest frame (message) accepted, in bytes; a bigger one closes the socket with 1009. */
  maxPayload: number;
  log?: Logger;
  /** Ping every socket this often and cut those that did not answer the previous ping (0: never). @default 30000 */
  heartbeatMs?: number;
}

/** The WebSocket endpoint mounted on HTTP servers. */
export interface WebSocketAcceptor {
  /** Open WebSocket sessions. */
  readonly size: number;
  /**
   * Stop accepting upgrades (later ones get 503), close every socket with 1001 and wait until they
   * have closed. Call it before closing the HTTP servers: upgraded sockets keep those open.
   */
  close(): Promise<void>;
}

const quiet: Logger = { level: 'error', error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

function offersMcp(header: string | string[] | undefined): boolean {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.some((value) => value.split(',').some((p) => p.trim() === WEBSOCKET_SUBPROTOCOL));
}

function pathnameOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

/** Answer an upgrade request with a plain HTTP error and a JSON-RPC error body, then drop the socket. */
function refuse(socket: Duplex, rejection: Rejection): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorFrame(rejection.code, rejection.message));
  const headers: Record<string, string | number> = {
    Connection: 'close',
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...rejection.headers,
  };
  const head = [`HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref?.();
  socket.once('close', () => clearTimeout(timer));
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Serve MCP over WebSocket at `/ws` on these HTTP servers, one session per socket. The subprotocol
 * `mcp` is required (400 without it); other upgrade paths get 404. `ws` is loaded here, on first use,
 * when the first upgrade comes, so that servers nobody reaches over WebSocket never load it.
 */
export async function acceptWebSockets(servers: readonly HttpServer[], options: AcceptWebSocketsOptions): Promise<WebSocketAcceptor> {
  const log = options.log ?? quiet;
  const transports = new Set<WebSocketServerTransport>();
  let closing = false;
  let wss: WebSocketServer | undefined;
  // `ws` is loaded by the first upgrade, so that a server nobody reaches over WebSocket never pays for it (~70 ms).
  let loading: Promise<WebSocketServer> | undefined;
  const load = () =>
    (loading ??= import('ws').then(({ WebSocketServer }) => {
      wss = new WebSocketServer({
        noServer: true,
        maxPayload: options.maxPayload,
        perMessageDeflate: false,
        handleProtocols: (protocols: Set<string>) => (protocols.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
      });
      return wss;
    }));

  const alive = new WeakMap<object, boolean>();

  const accept = (socket: WebSocketLike & { ping(): void }, req: IncomingMessage, caller: Caller): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const transport = new WebSocketServerTransport(socket, { extra: { requestInfo: { headers: req.headers, url }, authInfo: caller.authInfo } });
    transports.add(transport);
    // A socket is checked once, at the upgrade: it must not outlive the token that opened it.
    const expiresInMs = caller.authInfo?.expiresAt === undefined ? undefined : (caller.authInfo.expiresAt + CLOCK_TOLERANCE_S) * 1000 - Date.now();
    if (expiresInMs !== undefined && expiresInMs < MAX_TIMER_MS) {
      const expiry = setTimeout(() => void transport.closeWith(1008, 'access token expired'), Math.max(0, expiresInMs));
      expiry.unref();
      socket.on('close', () => clearTimeout(expiry));
    }
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
    socket.on('error', (error: Error & { code?: string }) => log.debug(`websocket ${transport.sessionId}: ${error.code ?? ''} ${error.message}`.trim()));
    socket.on('close', (code: number) => {
      transports.delete(transport);
      log.debug(`websocket session ${transport.sessionId} closed (${code})`);
    });
    log.debug(`websocket session ${transport.sessionId} opened`);
    Promise.resolve()
      .then(() => options.onTransport(transport, req, caller))
      .catch((error: unknown) => {
        log.error(`websocket session ${transport.sessionId} could not start: ${error instanceof Error ? error.message : String(error)}`);
        void transport.closeWith(1011, 'session could not start');
      });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (error) => {
      log.debug(`websocket upgrade socket error: ${error.message}`);
      socket.destroy();
    });
    if (closing) return refuse(socket, { status: 503, code: -32000, message: 'Service Unavailable: the server is shutting down' });
    Promise.resolve()
      .then(() => options.check?.(req) ?? { principal: undefined })
      .then(
        (result) => ('rejection' in result ? refuse(socket, result.rejection) : upgrade(req, socket, head, result)),
        (error: unknown) => {
          log.error(`websocket upgrade check failed: ${error instanceof Error ? error.message : String(error)}`);
          refuse(socket, { status: 500, code: -32603, message: 'Internal error' });
        },
      );
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, caller: Caller): void => {
    const path = pathnameOf(req.url);
    if (path !== WEBSOCKET_PATH) return refuse(socket, { status: 404, code: -32601, message: `Not Found: ${path} (WebSocket is served at ${WEBSOCKET_PATH})` });
    if (!offersMcp(req.headers['sec-websocket-protocol'])) {
      return refuse(socket, { status: 400, code: -32000, message: `Bad Request: the WebSocket subprotocol "${WEBSOCKET_SUBPROTOCOL}" is required (Sec-WebSocket-Protocol: ${WEBSOCKET_SUBPROTOCOL})` });
    }
    load().then(
      (server) => {
        if (closing) return refuse(socket, { status: 503, code: -32000, message: 'Service Unavailable: the server is shutting down' });
        server.handleUpgrade(req, socket, head, (ws) => accept(ws, req, caller));
      },
      (error: unknown) => {
        log.error(`websocket support could not load: ${error instanceof Error ? error.message : String(error)}`);
        refuse(socket, { status: 500, code: -32603, message: 'Internal error: WebSocket support could not load' });
      },
    );
  };

  for (const server of servers) server.on('upgrade', onUpgrade);
  const detach = () => {
    for (const server of servers) server.off('upgrade', onUpgrade);
  };

  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const heartbeat =
    heartbeatMs > 0
      ? setInterval(() => {
          for (const socket of wss?.clients ?? []) {
            if (alive.get(socket) === false) {
              log.debug('websocket peer did not answer a ping: cut');
              socket.terminate();
              continue;
            }
            alive.set(socket, false);
            socket.ping();
          }
        }, heartbeatMs)
      : undefined;
  heartbeat?.unref();

  return {
    get size() {
      return transports.size;
    },
    async close() {
      if (closing) return;
      closing = true;
      if (heartbeat) clearInterval(heartbeat);
      await Promise.all([...transports].map((t) => t.closeWith(1001, 'server shutting down')));
      // Sockets whose upgrade finished without a session (none expected) go too.
      for (const socket of wss?.clients ?? []) socket.terminate();
      await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
      detach();
    },
  };
}

/**
 * `/ws` for a manager: one session per socket, opened by the session owner, behind the same guards as every
 * HTTP route (draining, Host, Origin, token, the session cap), checked on the upgrade. The session is bound
 * to the caller's principal.
 */
export function serveWebSockets(
  servers: readonly HttpServer[],
  { config, owner, boundHosts, authenticate, log }: { config: TransportConfig; owner: SessionOwner; boundHosts: readonly string[]; authenticate: Authenticate | undefined; log: Logger },
): Promise<WebSocketAcceptor> {
  const guard = requestCheck({ allowedHosts: [...config.allowedHosts, ...boundHosts], allowedOrigins: config.allowedOrigins, authenticate });
  return acceptWebSockets(servers, {
    check: async (req) => {
      if (owner.closing) return { rejection: DRAINING };
      const result = await guard(req);
      if (!('rejection' in result) && owner.size >= owner.maxSessions) return { rejection: sessionsFull(owner.maxSessions) };
      return result;
    },
    onTransport: (transport, _req, caller) => owner.openSocket(transport, caller.principal),
    maxPayload: config.maxBodyBytes,
    log,
  });
}
