import {
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type InitializeParams,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
  type Transport,
  type TransportSendOptions,
} from '../../jsonrpc.js';
import { connectTo, type ServerLike, type ServerSource } from '../../server-like.js';
import { SessionMultiplexer } from '../../sessions/multiplex.js';
import { InternalRequests } from '../../sessions/internal-requests.js';
import { linkedPair, type LinkEnd } from './link.js';


const INTERNAL = 'mcp-http-transport/hot/';
/** How long an internal request (a replayed initialize, a probe) may take before the swap gives up on it. */
const INTERNAL_TIMEOUT_MS = 5000;

/**
 * One load of the user's code: the server it built, and how a session connects to it. A shared
 * instance is connected once, through a multiplexer; a factory builds one instance per session.
 */
export class Generation {
  private mux: SessionMultiplexer | undefined;
  private readonly instances = new Set<ServerLike>();
  /** Links open to this generation; once retired, it closes when the last one does. */
  private links = 0;
  private retired = false;

  constructor(
    readonly number: number,
    readonly source: ServerSource,
  ) {}

  /** Connect a fresh link end to this generation's server. */
  async connect(end: LinkEnd): Promise<void> {
    this.links++;
    end.onclose = chain(end.onclose, () => {
      if (--this.links === 0 && this.retired) void this.close();
    });
    if (typeof this.source === 'function') {
      const server = await this.source({ era: 'legacy' });
      this.instances.add(server);
      end.onclose = chain(end.onclose, () => {
        this.instances.delete(server);
        void server.close().catch(() => undefined);
      });
      return connectTo(server, end);
    }
    if (!this.mux) {
      this.mux = new SessionMultiplexer();
      await connectTo(this.source, this.mux);
    }
    await this.mux.attach(end);
  }

  /** No new session will use this generation: close it once the calls it runs are done. */
  retire(): void {
    this.retired = true;
    if (this.links === 0) void this.close();
  }

  /** Close the server(s) of this generation. */
  async close(): Promise<void> {
    if (typeof this.source !== 'function') await this.source.close().catch(() => undefined);
    await Promise.all([...this.instances].map((s) => s.close().catch(() => undefined)));
  }
}

/** A session's connection to one generation, with the requests it is still running. */
interface Backend {
  readonly generation: Generation;
  readonly end: LinkEnd;
  /** Client requests this generation is running. */
  readonly running: Set<RequestId>;
  /** Server→client requests: the id the client sees → the id the server used. */
  readonly asked: Map<string, RequestId>;
  retired: boolean;
  /** Closed by us (retired and done, or the session ended), not by the server. */
  dropped: boolean;
}

/**
 * Stands in for the user's server behind one session (HTTP, SSE or stdio): the session's transport is
 * connected to it as to a Server, and it relays to the current generation. On a swap it replays the
 * client's `initialize` on the new generation; requests already running finish on the old one, whose
 * link is closed once they have.
 */
export class HotSession {
  private transport: Transport | undefined;
  private current: Backend | undefined;
  private readonly backends = new Set<Backend>();
  private initialize: JSONRPCRequest | undefined;
  private readonly internal = new InternalRequests(INTERNAL, INTERNAL_TIMEOUT_MS);
  private closed = false;

  /**
   * @param generation the generation serving now
   * @param sessions where live sessions are kept, for swaps
   * @param ready resolves once a first generation exists (a session opened before waits for it)
   */
  constructor(
    private readonly generation: () => Generation,
    private readonly sessions: Set<HotSession>,
    private readonly ready: Promise<void>,
  ) {}

  /** Called by the manager, as it would call `Server.connect`. */
  async connect(transport: Transport): Promise<void> {
    await this.ready;
    this.transport = transport;
    transport.onmessage = (message, extra) => this.fromClient(message, extra);
    transport.onclose = chain(transport.onclose, () => void this.close());
    this.current = await this.open(this.generation());
    this.sessions.add(this);
    await transport.start();
  }

  /** Move to `generation`: replay the handshake there, then send new requests to it. */
  async swap(generation: Generation): Promise<void> {
    if (this.closed || this.current?.generation === generation) return;
    const next = await this.open(generation);
    if (this.initialize) {
      try {
        await this.ask(next, 'initialize', this.initialize.params);
        await next.end.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      } catch (error) {
        // The session stays on the code it has.
        await this.drop(next);
        throw error;
      }
    }
    const previous = this.current;
    this.current = next;
    if (previous) this.retire(previous);
  }

  /** Send a notification to the client (list_changed after a swap). */
  notify(method: string): void {
    void this.transport?.send({ jsonrpc: '2.0', method }).catch(() => undefined);
  }

  /** Stands in for `Server.close()`: close every link and the session transport. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sessions.delete(this);
    for (const backend of this.backends) {
      backend.dropped = true;
      await backend.end.close();
    }
    this.backends.clear();
    await this.transport?.close().catch(() => undefined);
  }

  private async open(generation: Generation): Promise<Backend> {
    const [end, serverEnd] = linkedPair();
    serverEnd.sessionIdOf = () => this.transport?.sessionId;
    const backend: Backend = { generation, end, running: new Set(), asked: new Map(), retired: false, dropped: false };
    end.onmessage = (message, extra) => this.fromServer(backend, message, extra);
    end.onclose = () => this.serverClosed(backend);
    try {
      await generation.connect(serverEnd);
    } catch (error) {
      backend.dropped = true;
      await end.close();
      throw error;
    }
    this.backends.add(backend);
    return backend;
  }

  /** The server side closed the link itself: its running requests will never be answered. */
  private serverClosed(backend: Backend): void {
    if (backend.dropped || this.closed) return;
    backend.dropped = true;
    this.backends.delete(backend);
    for (const id of backend.running) {
      void this.transport?.send({ jsonrpc: '2.0', id, error: { code: -32000, message: 'the server closed the connection while this request was running' } }).catch(() => undefined);
    }
    backend.running.clear();
    if (this.current === backend) void this.close();
  }

  private fromClient(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (isJSONRPCRequest(message)) {
      if (isInitializeRequest(message)) this.initialize = message;
      const backend = this.current!;
      backend.running.add(message.id);
      return void backend.end.send(message, extra).catch(() => undefined);
    }
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      // An answer to a server's request goes back to the generation that asked, with its own id.
      for (const backend of this.backends) {
        const id = backend.asked.get(String(message.id));
        if (id === undefined) continue;
        backend.asked.delete(String(message.id));
        return void backend.end.send({ ...message, id } as JSONRPCMessage, extra).catch(() => undefined);
      }
      return;
    }
    if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      const id = message.params?.['requestId'] as RequestId;
      const backend = [...this.backends].find((b) => b.running.has(id)) ?? this.current!;
      void backend.end.send(message, extra).catch(() => undefined);
      // A cancelled request gets no response: it must not keep a retired generation open.
      backend.running.delete(id);
      if (backend.retired && backend.running.size === 0) void this.drop(backend);
      return;
    }
    void this.current!.end.send(message, extra).catch(() => undefined);
  }

  private fromServer(backend: Backend, message: JSONRPCMessage, extra?: TransportSendOptions): void {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      if (this.internal.answer(message)) return;
      backend.running.delete(message.id as RequestId);
      void this.transport?.send(message, extra).catch(() => undefined);
      if (backend.retired && backend.running.size === 0) void this.drop(backend);
      return;
    }
    if (isJSONRPCRequest(message)) {
      // Two generations number their requests alike: the client sees ids that tell them apart.
      const id = `${INTERNAL}${backend.generation.number}/${message.id}`;
      backend.asked.set(id, message.id);
      return void this.transport?.send({ ...message, id }, extra).catch(() => undefined);
    }
    if (!isJSONRPCNotification(message)) return;
    // A retired generation's list_changed says nothing about the code now serving.
    if (backend.retired && message.method.endsWith('/list_changed')) return;
    let notification: JSONRPCNotification = message;
    if (message.method === 'notifications/cancelled') {
      // The server cancels one of its own requests: by the id the client knows it by.
      const asked = [...backend.asked].find(([, id]) => id === message.params?.['requestId'])?.[0];
      if (asked !== undefined) {
        backend.asked.delete(asked);
        notification = { ...message, params: { ...message.params, requestId: asked } };
      }
    }
    void this.transport?.send(notification, extra).catch(() => undefined);
  }

  private retire(backend: Backend): void {
    backend.retired = true;
    if (backend.running.size === 0) void this.drop(backend);
  }

  private async drop(backend: Backend): Promise<void> {
    backend.dropped = true;
    this.backends.delete(backend);
    await backend.end.close();
  }

  /** A request of our own on one backend, answered here (the replayed initialize). */
  private ask(backend: Backend, method: string, params: unknown): Promise<Record<string, unknown>> {
    return this.internal.ask((request) => backend.end.send(request), method, params as Record<string, unknown>);
  }
}

/** What a generation offers, per list, for telling which lists a swap changed. */
export type Offer = Partial<Record<'tools' | 'resources' | 'prompts', string>>;

/**
 * Ask a generation what it offers, through a session of our own: the lists its capabilities declare,
 * each as canonical JSON.
 */
export async function offerOf(generation: Generation): Promise<Offer> {
  const [end, serverEnd] = linkedPair();
  const internal = new InternalRequests(`${INTERNAL}probe/`, INTERNAL_TIMEOUT_MS);
  end.onmessage = (message) => void internal.answer(message);
  // A factory that throws, or a server that cannot initialize, fails the reload here, before any session moves.
  await generation.connect(serverEnd);
  const ask = (method: string, params: Record<string, unknown> = {}) => internal.ask((request) => end.send(request), method, params);
  try {
    const init = (await ask('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'mcp-http-transport-hot', version: '0' } } satisfies InitializeParams)) as {
      capabilities?: Record<string, unknown>;
    };
    await end.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const offer: Offer = {};
    for (const kind of ['tools', 'resources', 'prompts'] as const) {
      if (!init?.capabilities?.[kind]) continue;
      offer[kind] = JSON.stringify((await ask(`${kind}/list`).catch(() => undefined))?.[kind] ?? null);
    }
    return offer;
  } finally {
    await end.close();
  }
}

function chain(first: (() => void) | undefined, then: () => void): () => void {
  return () => {
    first?.();
    then();
  };
}
