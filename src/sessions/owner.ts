import { createHash, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { isInitializeRequest, isJSONRPCNotification, isJSONRPCRequest, isListChanged, type InitializeParams, type RequestId, type JSONRPCMessage, type MessageExtraInfo, type Transport } from '../jsonrpc.js';
import type { Logger } from '../log.js';
import type { EventStore, Sdk, StreamableTransport } from '../sdk.js';
import { InflightCounter } from './inflight.js';
import { InternalRequests } from './internal-requests.js';
import { SessionRegistry, type LiveSession } from './registry.js';
import { INITIALIZED, listChangedNotifications, negotiatedVersion, notifyOnFirstRequest } from './restore.js';
import { SessionTransport, type SessionHook } from './session.js';
import { SseServerTransport } from './sse-transport.js';
import type { ReplicaBus } from './redis-bus.js';
import type { SessionStore, StoredSession } from './store.js';

/** The path legacy SSE clients are told to POST to. `/messages` is accepted as well. */
export const SSE_MESSAGES_PATH = '/messages/';

/**
 * In dev mode, how soon an EventSource reconnects after the stream drops (its default is 3 s).
 * Sent with the SSE `retry:` field.
 */
export const SSE_RETRY_MS = 200;

/** How long a POST for a stored SSE session waits for its client's EventSource to come back. */
const RECONNECT_WAIT_MS = 10_000;

/** How long a replayed handshake may take. */
const REPLAY_TIMEOUT_MS = 10_000;

export interface SessionOwnerOptions {
  readonly sdk: Sdk;
  /** Connect a session's transport to the user's server (shared through the multiplexer, or built by the factory). */
  connect(transport: Transport): Promise<void>;
  /** Where sessions are saved (dev mode): saved on initialize, restored by the next process. */
  readonly store: SessionStore | undefined;
  readonly log: Logger;
  /** Most live sessions; a new one beyond is refused. */
  readonly maxSessions: number;
  /** Keep-alive comment interval on SSE streams, in ms (0: none). */
  readonly keepAliveMs: number;
  /** Sessions with no stream and no request for this long are closed. */
  readonly ttlMs: number;
  /** A server sent a list_changed notification on a session (2026-07-28 listeners want it too). */
  onListChanged?(method: string): void;
  /** Replicas sharing the store (Redis pub/sub): where a session's stream is, its end, notifications for all. */
  readonly bus?: ReplicaBus;
  /** Where replicas keep stream events, so that a client resumes its streams on any of them. */
  readonly events?: { forSession(sessionId: string): EventStore; forget?(sessionId: string): Promise<void> };
  /** Another replica's notification, delivered to this one's sessions (2026-07-28 listeners want it too). */
  onReplicaNotification?(message: JSONRPCMessage): void;
}

const ENDED = 'mcp:ended';
/** How the id of a request the server sends the client begins, when replicas share sessions. */
const REPLY_PREFIX = 'mcp-replica:';
const NOTIFY = 'mcp:notify';
/**
 * Where a legacy SSE session's messages go to the replica holding its stream: one channel per session and
 * principal (hashed: no subject in Redis), so that a post of another principal reaches no one, and is a 404.
 */
const sseChannel = (id: string, principal: string | undefined) => `mcp:sse:${id}:${createHash('sha256').update(principal ?? '').digest('base64url')}`;

/**
 * The one owner of every session's life: it opens, restores, ends, expires and closes them, keeps
 * them in the store (dev mode), and counts their requests in flight. The HTTP routes only find a
 * session here and hand it their request.
 */
export class SessionOwner {
  readonly inflight = new InflightCounter();
  private readonly registry = new SessionRegistry();
  private readonly restoring = new Map<string, Promise<LiveSession | undefined>>();
  /** This owner among the replicas, so that it can tell its own broadcasts from the others'. */
  private readonly replica = randomUUID();
  private readonly endedElsewhere = new WeakSet<SessionTransport>();
  private readonly stopRecovery: (() => void) | undefined;
  private readonly expired = new WeakSet<SessionTransport>();
  private readonly replays = new InternalRequests('mcp-http-transport/restore-', REPLAY_TIMEOUT_MS);
  private readonly sweeper: NodeJS.Timeout;
  private draining = false;

  constructor(private readonly options: SessionOwnerOptions) {
    this.sweeper = setInterval(() => {
      const idle = this.registry.idle(options.ttlMs);
      for (const session of idle) {
        this.expired.add(session.transport);
        void session.transport.close();
      }
      if (idle.length > 0) options.log.debug(`closed ${idle.length} idle session(s)`);
    }, Math.min(options.ttlMs / 4, 60_000));
    this.sweeper.unref();
    this.stopRecovery = options.store?.onRecovered?.(() => void this.saveAgain());
  }

  /** The store is back after an outage, maybe empty: save every session this process holds again. */
  private async saveAgain(): Promise<void> {
    const store = this.options.store!;
    const held = this.registry.all().filter((s) => s.activity.kept);
    await Promise.all(held.map((s) => store.set(s.activity.kept!).catch((e: Error) => this.options.log.debug(`session store: ${e.message}`))));
    if (held.length > 0) this.options.log.info(`saved ${held.length} session(s) again after the store came back`);
  }

  /** Hear the other replicas: a session ended there ends here too; their notifications reach our sessions. */
  async listen(): Promise<void> {
    const { bus } = this.options;
    if (!bus) return;
    await bus.subscribe(ENDED, (payload) => {
      const session = this.registry.get((payload as { id: string }).id);
      if (!session) return;
      this.endedElsewhere.add(session.transport);
      void session.transport.close();
    });
    await bus.subscribe(`mcp:reply:${this.replica}`, (payload) => {
      const { session, message } = payload as { session: string; message: JSONRPCMessage };
      this.registry.get(session)?.transport.receive(message);
    });
    await bus.subscribe(NOTIFY, (payload) => {
      const { from, message } = payload as { from: string; message: JSONRPCMessage };
      if (from === this.replica) return;
      this.deliverAll(message);
      this.options.onReplicaNotification?.(message);
    });
  }

  get log(): Logger {
    return this.options.log;
  }

  /** Send a notification to every live session (a list changed, for every client). */
  broadcast(message: JSONRPCMessage): void {
    this.deliverAll(message);
    this.tellReplicas(message);
  }

  /** Send a notification to the sessions other replicas hold (this one's have it already). */
  tellReplicas(message: JSONRPCMessage): void {
    this.options.bus?.publish(NOTIFY, { from: this.replica, message }).catch((e: Error) => this.options.log.debug(`notify other replicas: ${e.message}`));
  }

  private deliverAll(message: JSONRPCMessage): void {
    for (const session of this.registry.all()) session.transport.inner.send(message).catch((e: Error) => this.options.log.debug(`notify ${session.id}: ${e.message}`));
  }

  /** Number of live sessions. */
  get size(): number {
    return this.registry.size;
  }

  /** True once shutdown has begun: new work is refused, and stored sessions are kept for the next process. */
  get closing(): boolean {
    return this.draining;
  }

  /** Most live sessions; a new one beyond is refused. */
  get maxSessions(): number {
    return this.options.maxSessions;
  }

  /** Whether other replicas share the sessions (and may hold a session's stream). */
  get replicated(): boolean {
    return this.options.bus !== undefined;
  }

  /** Whether sessions are kept across restarts (dev mode). */
  get restores(): boolean {
    return this.options.store !== undefined;
  }

  /**
   * The live session `id` as `principal` may see it (a session opened with one token is invisible to
   * requests made with another). One this process does not know yet is restored from the store, once
   * however many requests ask at the same time; for legacy SSE, the client's stream must come back first.
   */
  async find(id: string, kind: LiveSession['kind'], principal: string | undefined): Promise<LiveSession | undefined> {
    // A session being restored is registered before its handshake is replayed: wait until it is whole.
    await this.restoring.get(id);
    if (this.registry.get(id) || !this.options.store) return this.live(id, kind, principal);
    if (kind === 'streamable') {
      await this.restoreOnce(id);
    } else if (kind === 'sse') {
      // Its stream may be coming back here: worth waiting for, but only for the principal that opened it.
      const stored = await this.options.store.get(id);
      if (stored?.kind === 'sse' && stored.principal === principal) await this.registry.waitFor(id, RECONNECT_WAIT_MS);
    }
    return this.live(id, kind, principal);
  }

  /** The session `id` if this process has it live and `principal` may use it; nothing is restored. */
  live(id: string, kind: LiveSession['kind'], principal: string | undefined): LiveSession | undefined {
    const session = this.registry.get(id);
    if (session?.kind !== kind || session.principal !== principal) return undefined;
    this.keepStored(session);
    return session;
  }

  /**
   * A new Streamable HTTP session for an `initialize` request. It is saved first, before the SDK sees the
   * request: a store that cannot take it (Redis down) refuses the session with a 503 rather than leaving
   * it known to one replica only. It is registered once the SDK accepts the initialize.
   */
  async openStreamable(params: InitializeParams, principal: string | undefined): Promise<SessionTransport<StreamableTransport>> {
    const id = randomUUID();
    const kept = await this.save(id, 'streamable', params, principal);
    const transport = this.streamable(id, principal, 'opened', kept);
    await this.options.connect(transport);
    return transport;
  }

  /** One request of the stateless 2025-era mode: a transport with no session, closed after the response. */
  async oneShot(): Promise<SessionTransport<StreamableTransport>> {
    const transport = this.track(new SessionTransport(this.options.sdk.streamable({ sessionIdGenerator: undefined })));
    await this.options.connect(transport);
    return transport;
  }

  /**
   * A legacy SSE stream on `res`: a new session (undefined when sessions are full), or, when the
   * EventSource comes back with the id of a session stored for the same principal (`Last-Event-ID`),
   * that session restored under the same id.
   */
  async openSse(res: ServerResponse, principal: string | undefined, lastEventId: string | undefined): Promise<LiveSession | undefined> {
    const stored = this.options.store && lastEventId && !this.registry.get(lastEventId) ? await this.options.store.get(lastEventId) : undefined;
    const restoring = stored?.kind === 'sse' && stored.principal === principal ? stored : undefined;
    if (!restoring && this.registry.size >= this.options.maxSessions) return undefined;
    const transport = this.track(new SessionTransport(new SseServerTransport(SSE_MESSAGES_PATH, res, restoring?.id ?? randomUUID())));
    const id = transport.inner.sessionId;
    // The stream is the session: it counts as open for as long as the session lives.
    const session: LiveSession = { id, kind: 'sse', transport, activity: { last: Date.now(), streams: 1, kept: restoring }, principal };
    // Registered only once restored, so that POSTs waiting for this session find it whole.
    if (!restoring) this.register(session);
    await this.options.connect(transport);
    if (this.options.store) transport.inner.write(`retry: ${SSE_RETRY_MS}\nevent: session\nid: ${id}\ndata: ${id}\n\n`);
    // Comments keep idle proxies from dropping a quiet stream; EventSources ignore them.
    if (this.options.keepAliveMs > 0) {
      const keepAlive = setInterval(() => transport.inner.write(': keepalive\n\n'), this.options.keepAliveMs);
      keepAlive.unref();
      transport.use({ closed: () => clearInterval(keepAlive) });
    }
    if (!restoring) {
      this.options.log.debug(`session ${id} opened (sse)`);
    } else if (await this.replayed(transport, restoring, 'nowhere', (message) => transport.receive(message))) {
      this.register(session);
    }
    // Its client may post to any replica: those send the messages here, where its stream is.
    const bus = this.options.bus;
    if (bus && !transport.closed) {
      const stop = await bus.subscribe(sseChannel(id, principal), (payload) => {
        const { message, authInfo } = payload as { message: JSONRPCMessage; authInfo?: unknown };
        if (!transport.closed) void this.post(session as Extract<LiveSession, { kind: 'sse' }>, message, { authInfo });
      });
      transport.use({ closed: () => void stop() });
    }
    return session;
  }

  /** A message a legacy SSE client posted to its session. An `initialize` is saved first (dev mode). */
  async post(session: Extract<LiveSession, { kind: 'sse' }>, message: JSONRPCMessage, extra: MessageExtraInfo): Promise<void> {
    session.activity.last = Date.now();
    if (isInitializeRequest(message)) session.activity.kept = await this.save(session.id, 'sse', message.params, session.principal);
    session.transport.receive(message, extra);
  }

  /**
   * A legacy SSE message for session `id`: delivered here when this process holds its stream, else sent
   * to the replica that does. @returns false when no process holds it (the client must reconnect)
   */
  async postSse(id: string, principal: string | undefined, message: JSONRPCMessage, extra: MessageExtraInfo): Promise<boolean> {
    const bus = this.options.bus;
    // The caller's authInfo goes along, token included, so that the handler there sees what it would see here.
    // Pub/sub keeps nothing, and Redis is inside the trust boundary already: it holds the sessions and their principals.
    if (bus && !this.registry.get(id) && (await bus.publish(sseChannel(id, principal), { message, authInfo: extra.authInfo })) > 0) return true;
    const session = await this.find(id, 'sse', principal);
    if (session?.kind !== 'sse') return false;
    await this.post(session, message, extra);
    return true;
  }

  /** A WebSocket: one session for as long as the socket is open. */
  async openSocket(socket: Transport & { sessionId: string }, principal: string | undefined): Promise<void> {
    const transport = this.track(new SessionTransport(socket));
    // Registered once connected: a socket whose server failed to start is no session.
    await this.options.connect(transport);
    this.register({ id: socket.sessionId, kind: 'ws', transport, activity: { last: Date.now(), streams: 1 }, principal });
    this.options.log.debug(`session ${socket.sessionId} opened (websocket)`);
  }

  /** New work is refused from now on; resolves true when the requests in flight are done, false at the deadline. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    clearInterval(this.sweeper);
    if (this.inflight.size === 0) return true;
    this.options.log.info(`draining ${this.inflight.size} request(s) in flight`);
    return this.inflight.idle(timeoutMs);
  }

  /** Close every session, which ends its streams. Stored sessions stay stored, for the next process. */
  async close(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweeper);
    this.stopRecovery?.();
    await this.registry.closeAll();
  }

  /** A session transport that counts its requests, reports list changes, and ends its session when it closes. */
  private track<T extends Transport>(transport: SessionTransport<T>, id?: string): SessionTransport<T> {
    const { onListChanged } = this.options;
    transport.use(this.inflight.hook()).use({
      outbound: (message) => {
        if (onListChanged && isListChanged(message)) onListChanged(message.method);
      },
      closed: () => this.ended(transport, id),
    });
    return this.options.bus ? transport.use(this.answersFindTheirReplica(transport)) : transport;
  }

  /**
   * A request the server sends the client (sampling, elicitation, roots) carries this replica in its id,
   * since the client's answer may be posted to any replica: one that gets an answer meant for another
   * sends it there (`reply:<replica>`), and the one that asked gives it back its own id.
   */
  private answersFindTheirReplica(transport: SessionTransport): SessionHook {
    const mine = `${REPLY_PREFIX}${this.replica}:`;
    return {
      outbound: (message) => (isJSONRPCRequest(message) ? { ...message, id: `${mine}${JSON.stringify(message.id)}` } : undefined),
      inbound: (message) => {
        const id = (message as { id?: unknown }).id;
        if (isJSONRPCRequest(message) || typeof id !== 'string' || !id.startsWith(REPLY_PREFIX)) return undefined;
        if (id.startsWith(mine)) return { ...message, id: JSON.parse(id.slice(mine.length)) as RequestId } as JSONRPCMessage;
        const replica = id.slice(REPLY_PREFIX.length, id.indexOf(':', REPLY_PREFIX.length));
        this.options.bus!.publish(`mcp:reply:${replica}`, { session: transport.sessionId, message }).catch((e: Error) => this.options.log.debug(`answer to another replica: ${e.message}`));
        return false;
      },
    };
  }

  /**
   * A session's event store that never fails a message: while Redis is down, a message goes out live all the
   * same, under an id that cannot be resumed from (a resume from it is refused, as for any unknown id).
   */
  private resumable(events: EventStore): EventStore {
    let unsaved = 0;
    return {
      storeEvent: (streamId, message) =>
        events.storeEvent(streamId, message).catch((e: Error) => {
          this.options.log.debug(`event store: ${e.message}`);
          return `${streamId}|unsaved-${++unsaved}`;
        }),
      getStreamIdForEventId: events.getStreamIdForEventId?.bind(events),
      replayEventsAfter: (lastEventId, options) => events.replayEventsAfter(lastEventId, options),
    };
  }

  /** A store with a TTL keeps a session for as long as it is used: renewed at most every tenth of the TTL. */
  private keepStored(session: LiveSession): void {
    const store = this.options.store;
    const now = Date.now();
    if (!store?.touch || now - (session.activity.stored ?? now - this.options.ttlMs) < this.options.ttlMs / 10) return;
    const { activity } = session;
    activity.stored = now;
    store
      .touch(session.id)
      // Lost by the store (Redis restarted empty): saved again from what this replica kept, so the others find it.
      .then((found) => (found || !activity.kept ? undefined : store.set(activity.kept)))
      .catch((e: Error) => {
        // Tried again on the next request: the store may be back by then.
        activity.stored = undefined;
        this.options.log.debug(`session store: ${e.message}`);
      });
  }

  /** Make a session findable, unless its transport closed meanwhile (a client gone while it was opened). */
  private register(session: LiveSession): void {
    if (!session.transport.closed) this.registry.add(session);
  }

  /** A Streamable HTTP transport under `id`, registered once its initialize (the client's, or our replay) is accepted. */
  private streamable(id: string, principal: string | undefined, how: 'opened' | 'restored', kept: StoredSession): SessionTransport<StreamableTransport> {
    const transport: SessionTransport<StreamableTransport> = this.track(
      new SessionTransport(
        this.options.sdk.streamable({
          sessionIdGenerator: () => id,
          keepAliveMs: this.options.keepAliveMs,
          ...(this.options.events ? { eventStore: this.resumable(this.options.events.forSession(id)) } : {}),
          onsessioninitialized: (sessionId) => {
            this.register({ id: sessionId, kind: 'streamable', transport, activity: { last: Date.now(), streams: 0, kept }, principal });
            this.options.log.debug(`session ${sessionId} ${how} (streamable http)`);
          },
        }),
      ),
      id,
    );
    return transport;
  }

  private restoreOnce(id: string): Promise<LiveSession | undefined> {
    let pending = this.restoring.get(id);
    if (!pending) {
      pending = this.restore(id).finally(() => this.restoring.delete(id));
      this.restoring.set(id, pending);
    }
    return pending;
  }

  /** Rebuild a stored Streamable HTTP session: a transport with its old id, its handshake replayed. */
  private async restore(id: string): Promise<LiveSession | undefined> {
    const stored = await this.options.store?.get(id);
    if (stored?.kind !== 'streamable') return undefined;
    const transport = this.streamable(stored.id, stored.principal, 'restored', stored);
    await this.options.connect(transport);
    // The replay goes through the SDK transport's own entry, which must see the handshake to accept the session.
    const post = (message: JSONRPCMessage, headers: Record<string, string>) =>
      transport.inner
        .handleRequest(
          new Request('http://localhost/mcp', {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
            body: JSON.stringify(message),
          }),
          { parsedBody: message },
        )
        // Read to its end, so that the SDK closes this exchange itself (cancelled, it would write into a closed stream).
        .then((response) => void response.text().catch(() => undefined));
    const whole = await this.replayed(transport, stored, 'to the replay', (message) =>
      post(message, isJSONRPCNotification(message) ? { 'mcp-session-id': stored.id, 'mcp-protocol-version': stored.protocolVersion } : {}),
    );
    return whole ? this.registry.get(id) : undefined;
  }

  /**
   * Replay a stored session's handshake into the new server, keep the answer from the client, and
   * tell the client on its first request to refetch its lists (the new code may offer others).
   * A replay that fails closes the transport: the client is told its session is gone, and starts anew.
   */
  private async replayed(
    transport: SessionTransport,
    stored: StoredSession,
    answerGoes: 'to the replay' | 'nowhere',
    inject: (message: JSONRPCMessage) => Promise<void> | void,
  ): Promise<boolean> {
    // Streamable HTTP's answer goes back on the replayed request's own (in-memory) exchange, which ends with it;
    // on an SSE session's stream it would reach the client, so it goes nowhere.
    transport.use({ outbound: (message) => (this.replays.answer(message) && answerGoes === 'nowhere' ? false : undefined) });
    try {
      const result = await this.replays.ask(async (request) => void (await inject(request)), 'initialize', stored.initializeParams);
      await inject(INITIALIZED);
      const notices = listChangedNotifications(result['capabilities'] as Record<string, unknown> | undefined);
      transport.use(notifyOnFirstRequest(transport, notices, (e) => this.options.log.debug(`list_changed after restore: ${e.message}`)));
    } catch (error) {
      this.options.log.warn(`session ${stored.id} could not be restored: ${(error as Error).message}`);
      await transport.close();
      return false;
    }
    this.options.log.info(`session ${stored.id} restored (${stored.kind === 'sse' ? 'sse' : 'streamable http'}, ${stored.initializeParams.clientInfo.name})`);
    return !transport.closed;
  }

  private async save(id: string, kind: StoredSession['kind'], params: InitializeParams, principal: string | undefined): Promise<StoredSession> {
    const stored: StoredSession = { id, kind, protocolVersion: negotiatedVersion(params.protocolVersion), initializeParams: params, createdAt: Date.now(), principal };
    await this.options.store?.set(stored);
    return stored;
  }

  /** A session ended on its own (DELETE, the client went away, expiry): forget it, here and in the store. */
  private ended(transport: SessionTransport, chosen?: string): void {
    // A session the SDK refused (a bad initialize) never got its id, but was saved under the one chosen for it.
    const id = transport.sessionId ?? chosen;
    // Another transport may hold the id by now (a client that came back): that session lives on.
    const holder = id === undefined ? undefined : this.registry.get(id)?.transport;
    if (id === undefined || (holder !== undefined && holder !== transport)) return;
    this.registry.delete(id);
    // Ended on another replica: that one has told the store and everyone else.
    if (this.endedElsewhere.delete(transport)) return;
    // At shutdown sessions stay stored: the next process (or another replica) restores them.
    if (this.draining) return;
    // Idle here is not idle everywhere: a store with a TTL of its own (Redis) expires the session when no replica uses it.
    if (this.expired.delete(transport) && this.options.store?.touch) return;
    this.options.store?.delete(id).catch((e: Error) => this.options.log.warn(`session store: ${e.message}`));
    this.options.events?.forget?.(id).catch((e: Error) => this.options.log.debug(`event store: ${e.message}`));
    this.options.bus?.publish(ENDED, { id }).catch((e: Error) => this.options.log.debug(`tell other replicas: ${e.message}`));
  }
}
