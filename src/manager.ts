import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLoopbackHostname, loadConfig, type TransportConfig, type TransportConfigOptions } from './config.js';
import { ConfigError, LifecycleError } from './errors.js';
import { bearerCheck } from './http/guards.js';
import type { WebSocketAcceptor } from './http/ws.js';
import { baseUrl, listenOn, untilQuiet } from './http/listen.js';
import { isListChanged, type Transport } from './jsonrpc.js';
import { createLogger, type Logger } from './log.js';
import { lineOf, loadSdk, type ModernHandler, type Sdk } from './sdk.js';
import { SessionMultiplexer } from './sessions/multiplex.js';
import { ListChanges } from './sessions/list-changes.js';
import { SessionOwner } from './sessions/owner.js';
import type { ReplicaBus } from './sessions/redis-bus.js';
import type { RedisClientLike } from './sessions/redis-common.js';
import type { RedisEventStore } from './sessions/redis-events.js';
import { FileSessionStore, type SessionStore } from './sessions/store.js';
import { hotHook } from './dev/hot/hook.js';
import { connectTo, type ListNotifier, type ServerLike, type ServerSource } from './server-like.js';

export type { ListNotifier, ServerContext, ServerFactory, ServerLike, ServerSource } from './server-like.js';

/** Options of {@link MCPTransportManager}: the server plus any setting that should beat the env. */
export interface MCPTransportManagerOptions extends Omit<TransportConfigOptions, 'redis'> {
  /**
   * The server to serve, unchanged: a `Server` or `McpServer` of SDK v1 (`@modelcontextprotocol/sdk`) or
   * v2 (`@modelcontextprotocol/server`). One instance is shared by every session through a multiplexer;
   * a factory `(context) => server` gives each session (and, for 2026-07-28 clients, each request) its
   * own instance instead. Serving the 2026-07-28 protocol over HTTP needs a factory of v2 servers.
   */
  server: ServerSource;
  /** Close on SIGINT, SIGTERM and SIGUSR2 (nodemon's restart signal), then exit. @default true */
  handleSignals?: boolean;
  /** The environment to read. @default process.env, over the `.env` file in `cwd` */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where `.env` is looked for. @default process.cwd() */
  cwd?: string;
  /** Where logs go. @default a stderr logger at the configured level */
  logger?: Logger;
  /**
   * Where sessions are kept beyond this process, so that another process restores them: after a restart
   * (dev mode), or on another replica (a shared store). Given, it is used in any mode.
   * @default a Redis store when `redis` (`MCP_REDIS_URL`) is set, else in dev mode a {@link FileSessionStore} at `sessionFile`, else none
   */
  sessionStore?: SessionStore;
  /**
   * Keep sessions in Redis, so that replicas share them: a URL as for `MCP_REDIS_URL`, or a node-redis
   * client of yours (`createClient()` of the `redis` package, connected or not; it is left open at close).
   * HTTP only. @default `MCP_REDIS_URL`, else none
   */
  redis?: string | RedisClientLike;
  /** How long `close()` waits for requests in flight to finish before closing streams. @default 5000 */
  drainTimeoutMs?: number;
  /** @internal set by `dev --hot` for its own managers, which serve rather than hand over. */
  hotHost?: boolean;
  /** @internal where stdio frames go, when `process.stdout` is not ours alone (`dev --hot`). @default process.stdout */
  stdioOut?: { write(chunk: string): boolean; once(event: string, listener: (...args: any[]) => void): unknown };
}

/** How long `close()` lets open connections finish before cutting them. */
const CLOSE_GRACE_MS = 1500;
/** A stopping replica closes its listener once no connection has come in for this long (at most the max). */
const DRAIN_QUIET_MS = 100;
const DRAIN_QUIET_MAX_MS = 1000;
const DEFAULT_DRAIN_TIMEOUT_MS = 5000;
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = 'SIGINT' | 'SIGTERM' | 'SIGUSR2';

/**
 * Serves an existing MCP server over stdio or HTTP (Streamable HTTP at `/mcp`, legacy SSE at `/sse`),
 * as the options and environment choose. A server's `main` usually wants `serve()` instead, which
 * turns a startup failure into one line on stderr and an exit code; `start()` rejects, and leaves
 * that to the caller.
 *
 * ```ts
 * const transport = new MCPTransportManager({ server });
 * await transport.start();   // rejects with a ConfigError (one-line message) for bad configuration
 * ```
 */
export class MCPTransportManager {
  private readonly options: MCPTransportManagerOptions;
  private readonly resolved: TransportConfig | ConfigError;
  private readonly log: Logger;
  private owner: SessionOwner | undefined;
  private modern: ModernHandler | undefined;
  private readonly listeners: HttpServer[] = [];
  private readonly changes = new ListChanges();
  private readonly signalHandlers = new Map<HandledSignal, () => void>();
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private closing: Promise<void> | undefined;
  private shared: { server: ServerLike; transport: Transport } | undefined;
  private stdioHandle: { close(): Promise<void> } | undefined;
  private websockets: WebSocketAcceptor | undefined;
  private closeStore: (() => Promise<void>) | undefined;
  private bus: ReplicaBus | undefined;
  private events: RedisEventStore | undefined;
  private exitingOn: HandledSignal | undefined;

  constructor(options: MCPTransportManagerOptions) {
    if (!options || typeof options.server !== 'function' && typeof options.server?.connect !== 'function') {
      throw new TypeError('MCPTransportManager: options.server must be a Server, an McpServer, or a function returning one');
    }
    this.options = options;
    // Bad config is reported by start(), which callers already await and handle.
    try {
      this.resolved = loadConfig({ ...options, redis: typeof options.redis === 'string' ? options.redis : undefined }, { env: options.env, cwd: options.cwd });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.resolved = error;
    }
    this.log = options.logger ?? createLogger(this.resolved instanceof ConfigError ? 'info' : this.resolved.logLevel);
  }

  /** The resolved configuration. @throws ConfigError when it is invalid */
  get config(): TransportConfig {
    if (this.resolved instanceof ConfigError) throw this.resolved;
    return this.resolved;
  }

  /** The port HTTP is bound to after `start()` (the real one when 0 was asked for). */
  get port(): number | undefined {
    return (this.listeners[0]?.address() as AddressInfo | null)?.port;
  }

  /** The `address:port` pairs HTTP listens on, e.g. `['127.0.0.1:3000', '[::1]:3000']`. */
  get addresses(): string[] {
    return this.listeners.map((l) => {
      const { address, port } = l.address() as AddressInfo;
      return `${address.includes(':') ? `[${address}]` : address}:${port}`;
    });
  }

  /** Base URL clients should use, e.g. `http://localhost:3000`, once HTTP is listening. */
  get url(): string | undefined {
    return baseUrl(this.config.host, this.listeners);
  }

  /** Number of live HTTP sessions (2025 era; 2026-07-28 clients have none). */
  get sessionCount(): number {
    return this.owner?.size ?? 0;
  }

  /** Live sessions, requests in flight, and transports attached to the shared server: all 0 when idle. */
  get stats(): { sessions: number; inflight: number; attached: number } {
    const shared = this.shared?.transport;
    return { sessions: this.owner?.size ?? 0, inflight: this.owner?.inflight.size ?? 0, attached: shared instanceof SessionMultiplexer ? shared.size : 0 };
  }

  /**
   * Tell every client that a list changed: 2025-era sessions get the notification, and 2026-07-28
   * clients get it on their `subscriptions/listen` streams. For servers built per request, whose own
   * `sendToolListChanged()` has no stream to go to.
   */
  readonly notify: ListNotifier = this.changes;

  /**
   * Start serving. Rejects with a {@link ConfigError} (one line naming the variable and the fix) for
   * bad config or a port in use, and with a {@link LifecycleError} when called twice.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new LifecycleError(this.state === 'closed' ? 'CLOSED' : 'ALREADY_STARTED', `start() was already called`);
    // Under `dev --hot` the host serves: the server is handed over, and nothing here listens.
    const hot = hotHook();
    if (hot && this.options.hotHost !== true) {
      hot.register(this.options.server);
      this.state = 'started';
      return;
    }
    this.state = 'starting';
    try {
      const config = this.config;
      for (const warning of config.warnings) this.log.warn(warning);
      if (config.transportMode === 'stdio') await this.startStdio();
      else await this.startHttp(config);
      this.state = 'started';
    } catch (error) {
      this.state = 'new';
      await this.release();
      this.state = 'closed';
      throw error;
    }
    if (this.options.handleSignals !== false) this.installSignalHandlers();
  }

  /** Close sessions, streams and listeners. Safe to call twice; resolves once everything is freed. */
  close(): Promise<void> {
    if (this.state === 'new') this.state = 'closed';
    this.closing ??= this.release().then(() => {
      this.state = 'closed';
    });
    return this.closing;
  }

  private async startStdio(): Promise<void> {
    const source = this.options.server;
    const sdk = await loadSdk(await this.lineOfSource());
    const transport = await sdk.stdio(undefined, this.options.stdioOut);
    if (sdk.modern) {
      // SDK v2 serves both eras on stdio itself: the client's first message picks one, and an instance for it
      // (a shared instance is that instance, whichever era the client speaks).
      const factory = typeof source === 'function' ? source : () => source;
      this.stdioHandle = await sdk.modern.serveStdio(factory, { transport, onerror: (error) => this.log.debug(`stdio: ${error.message}`) });
    } else {
      const server = typeof source === 'function' ? await source({ era: 'legacy' }) : source;
      this.shared = { server, transport };
      await connectTo(server, transport);
    }
    // Clients stop a stdio server by closing its stdin.
    process.stdin.once('end', () => void this.close());
    this.log.debug(`serving on stdio (SDK v${sdk.line})`);
    // Run by hand, a stdio server waits silently and looks hung; clients launch it with a pipe instead.
    if (process.stdin.isTTY) {
      this.log.info('serving MCP on stdio, waiting for a client on stdin (MCP clients launch this command themselves; set MCP_TRANSPORT=http to serve over HTTP)');
    }
  }

  /**
   * The SDK line of the user's server. A factory is asked for one instance to find out (closed at once):
   * SDK v2's own stdio entry builds such a probe too.
   */
  private async lineOfSource(): Promise<Sdk['line'] | undefined> {
    const source = this.options.server;
    if (typeof source !== 'function') return lineOf(source);
    const probe = await source({ era: 'legacy' });
    await probe.close().catch(() => undefined);
    return lineOf(probe);
  }

  private async startHttp(config: TransportConfig): Promise<void> {
    const source = this.options.server;
    const sdk = await loadSdk(await this.lineOfSource());
    let connect: (transport: Transport) => Promise<void>;
    if (typeof source === 'function') {
      connect = async (transport) => connectTo(await source({ era: 'legacy' }), transport);
      // SDK v2 ties an instance to one era, so the 2026-07-28 protocol is served from a factory only.
      if (sdk.modern) {
        const { createModernHandler } = await import('./http/modern.js');
        this.modern = createModernHandler(sdk.modern, source, config, (method) => this.changes.relay(method), (error) => this.log.debug(`2026-07-28: ${error.message}`));
      }
    } else {
      const mux = new SessionMultiplexer();
      mux.onerror = (error) => this.log.debug(`transport: ${error.message}`);
      await connectTo(source, mux);
      this.shared = { server: source, transport: mux };
      connect = (transport) => mux.attach(transport);
    }
    // OAuth first: an issuer whose keys cannot be found stops the start before anything listens.
    const oauth = config.authIssuer === undefined ? undefined : await (await import('./auth/oauth.js')).createResourceServer(config, this.log);
    const authenticate = oauth?.authenticate ?? (config.authToken === undefined ? undefined : bearerCheck(config.authToken));
    const store = await this.sessionStore(config);
    this.owner = new SessionOwner({
      sdk,
      connect,
      store,
      log: this.log,
      maxSessions: config.maxSessions,
      keepAliveMs: config.keepAliveSeconds * 1000,
      ttlMs: config.sessionTtlSeconds * 1000,
      onListChanged: (method) => this.changes.relay(method),
      bus: this.bus,
      events: this.events,
      onReplicaNotification: (message) => {
        if (isListChanged(message)) this.changes.fromReplica(message.method);
      },
    });
    await this.owner.listen();
    this.changes.attach(this.owner, this.modern);
    // Host names the server listens on are accepted in the Host header, besides loopback ones.
    const boundHosts = config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host];
    // Loaded here so that a stdio server does not pay for express (~80 ms of startup).
    const [{ createApp }, { serveWebSockets }] = await Promise.all([import('./http/app.js'), import('./http/ws.js')]);
    const app = createApp({ config, owner: this.owner, modern: this.modern, boundHosts, authenticate, resourceMetadata: oauth?.metadata });

    this.listeners.push(...(await listenOn(app, config.host, config.port, this.log)));
    oauth?.listening(this.url!);
    this.websockets = await serveWebSockets(this.listeners, { config, owner: this.owner, boundHosts, authenticate, log: this.log });
    if (!isLoopbackHostname(config.host)) {
      if (!oauth) this.log.warn(`listening on ${config.host}, which is not loopback: set MCP_AUTH_TOKEN (or MCP_AUTH_ISSUER), and MCP_ALLOWED_HOSTS for the names clients use`);
      else if (config.authAudience === undefined) {
        this.log.warn(`MCP_AUTH_AUDIENCE is unset, so tokens must be issued for ${this.url}/mcp: set it to the URL clients use (the public one, behind a proxy)`);
      }
    }
    const eras = this.modern ? '2026-07-28 and 2025' : '2025 era; 2026-07-28 needs a factory of SDK v2 servers';
    this.log.info(`listening on ${this.url} · Streamable HTTP: ${this.url}/mcp (${eras}) · SSE: ${this.url}/sse · WebSocket: ${this.url!.replace(/^http/, 'ws')}/ws`);
    if (oauth) this.log.info(`OAuth: tokens from ${config.authIssuer} · metadata at ${this.url}/.well-known/oauth-protected-resource/mcp`);
    if (config.devControl) await this.announce(config.devControl);
  }

  /**
   * Where sessions are kept beyond this process: the option, else Redis when `MCP_REDIS_URL` is set
   * (replicas share their sessions), else a file in dev mode (the next process restores them), else nowhere.
   */
  private async sessionStore(config: TransportConfig): Promise<SessionStore | undefined> {
    if (this.options.sessionStore) return this.options.sessionStore;
    const redis = typeof this.options.redis === 'object' ? this.options.redis : config.redisUrl;
    if (redis !== undefined && config.transportMode === 'http') {
      const { openRedis } = await import('./sessions/redis.js');
      const replication = await openRedis(redis, { ttlMs: config.sessionTtlSeconds * 1000, log: this.log });
      this.bus = replication.bus;
      this.events = replication.events;
      this.closeStore = () => replication.close();
      return replication.store;
    }
    return config.devMode ? new FileSessionStore(config.sessionFile ?? defaultSessionFile(config.port)) : undefined;
  }

  /** Under `mcp-http-transport dev`: report our port, then drain and exit when the supervisor says so (or dies). */
  private async announce(control: string): Promise<void> {
    const { announceToSupervisor } = await import('./dev/announce.js');
    await announceToSupervisor(control, this.port!, (reason) => {
      this.log.debug(`dev supervisor: ${reason}; draining`);
      if (this.options.handleSignals === false) return void this.close();
      this.exitAfterClose(0);
    });
  }

  private installSignalHandlers(): void {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGUSR2'] as const) {
      const handler = () => {
        // A process tree kill (nodemon, tsx) can deliver the signal twice: the first one is enough, and
        // the listener stays so that the repeat does not kill the process mid-drain.
        if (this.exitingOn) return this.log.debug(`${signal} again: already shutting down`);
        this.exitingOn = signal;
        this.log.info(`${signal}: shutting down`);
        this.exitAfterClose(signal === 'SIGUSR2' ? 'SIGUSR2' : EXIT_CODES[signal]);
      };
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  /** Close, then exit with `code`, or die of SIGUSR2 (nodemon waits for its child to, once our handler is gone). */
  private exitAfterClose(code: number | 'SIGUSR2'): void {
    this.exitingOn ??= 'SIGTERM';
    void this.close().finally(() => {
      this.removeSignalHandlers();
      if (code === 'SIGUSR2') process.kill(process.pid, 'SIGUSR2');
      else process.exit(code);
    });
  }

  private removeSignalHandlers(): void {
    for (const [signal, handler] of this.signalHandlers) process.removeListener(signal, handler);
    this.signalHandlers.clear();
  }

  private async release(): Promise<void> {
    if (!this.exitingOn) this.removeSignalHandlers();
    // Drain: new requests get 503 while the ones in flight finish, within the deadline.
    if (this.owner && !(await this.owner.drain(this.options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS))) {
      this.log.warn(`closing with ${this.owner.inflight.size} request(s) still in flight (drain deadline passed)`);
    }
    // Behind a load balancer (replicas), keep answering 503 until no connection comes in, so that closing
    // the listener resets none still queued for it.
    if (this.owner?.replicated) await untilQuiet(this.listeners, DRAIN_QUIET_MS, DRAIN_QUIET_MAX_MS);
    const listeners = this.listeners.splice(0);
    // From now on a connection whose response ends is closed at once rather than kept alive, so
    // close() need not wait for the grace period.
    for (const l of listeners) l.keepAliveTimeout = 1;
    const stopped = Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    // Sockets first, with 1001 (going away): upgraded connections would keep the listeners open.
    await this.websockets?.close();
    await this.owner?.close();
    await this.closeStore?.();
    await this.modern?.close();
    for (const l of listeners) l.closeIdleConnections();
    await this.stdioHandle?.close();
    await this.shared?.server.close();
    this.shared = undefined;
    // Connections still busy after the grace period are cut, so close() always ends.
    const timer = setTimeout(() => listeners.forEach((l) => l.closeAllConnections()), CLOSE_GRACE_MS);
    timer.unref();
    await stopped;
    clearTimeout(timer);
  }
}

function defaultSessionFile(port: number): string {
  return join(tmpdir(), 'mcp-http-transport', `sessions-${port}.json`);
}
