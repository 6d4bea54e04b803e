import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId, type Transport, type TransportSendOptions } from '../jsonrpc.js';

interface Session {
  readonly transport: Transport;
  /** Client request id -> the id the Server sees, for requests still running. */
  readonly inflight: Map<RequestId, number>;
}

interface Route {
  readonly session: Session;
  readonly clientId: RequestId;
}

/**
 * One SDK `Transport` facing a single `Server`, fanning out to many session transports.
 *
 * The SDK's `Protocol.connect` accepts one transport per Server, yet one user Server must serve
 * Claude and the Inspector at once. Client request ids are rewritten to ids unique across sessions,
 * and responses are routed back by id. Messages tied to a request (`relatedRequestId`: progress,
 * sampling, elicitation) go to that request's session; other notifications (list_changed, logging)
 * reach every session.
 */
export class SessionMultiplexer implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;

  private readonly sessions = new Set<Session>();
  private readonly routes = new Map<number, Route>();
  private nextId = 1;
  private dispatching: Session | undefined;
  private lastActive: Session | undefined;
  private closed = false;

  /**
   * The id of the session whose message is being dispatched. The SDK reads `transport.sessionId`
   * synchronously while it builds a handler's `extra`, so handlers see their own session's id.
   */
  get sessionId(): string | undefined {
    return this.dispatching?.transport.sessionId;
  }

  /** Number of attached session transports. */
  get size(): number {
    return this.sessions.size;
  }

  async start(): Promise<void> {}

  /** Attach a session transport and start it. Its `onclose` is chained, not replaced. */
  async attach(transport: Transport): Promise<void> {
    const session: Session = { transport, inflight: new Map() };
    this.sessions.add(session);
    const previousOnClose = transport.onclose;
    transport.onclose = () => {
      previousOnClose?.();
      this.detach(session);
    };
    transport.onerror = (error) => this.onerror?.(error);
    transport.onmessage = (message, extra) => this.receive(session, message, extra);
    await transport.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const route = this.routes.get(message.id as number);
      if (!route) return; // its session has gone; nobody is waiting
      this.routes.delete(message.id as number);
      route.session.inflight.delete(route.clientId);
      await route.session.transport.send({ ...message, id: route.clientId }, { ...options, relatedRequestId: route.clientId });
      return;
    }
    const related = options?.relatedRequestId;
    if (related !== undefined) {
      const route = this.routes.get(related as number);
      if (route) {
        await route.session.transport.send(message, { ...options, relatedRequestId: route.clientId });
        return;
      }
      if (isJSONRPCNotification(message)) return; // progress for a request whose caller has gone
    }
    if (isJSONRPCNotification(message)) {
      // One dead session must not stop the others from hearing about list changes.
      await Promise.all([...this.sessions].map((s) => s.transport.send(message).catch((error: unknown) => this.onerror?.(asError(error)))));
      return;
    }
    // A server-initiated request with no request behind it goes to the client heard from last.
    const target = this.lastActive ?? [...this.sessions].at(-1);
    if (!target) throw new Error(`No session is connected to receive ${(message as JSONRPCRequest).method}`);
    await target.transport.send(message, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of [...this.sessions]) this.detach(session);
    this.onclose?.();
  }

  private receive(session: Session, message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    this.lastActive = session;
    let forwarded = message;
    if (isJSONRPCRequest(message)) {
      const id = this.nextId++;
      this.routes.set(id, { session, clientId: message.id });
      session.inflight.set(message.id, id);
      forwarded = { ...message, id };
    } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      const serverId = session.inflight.get(message.params?.requestId as RequestId);
      if (serverId === undefined) return; // not a request of this session: ignore rather than cancel another's
      forwarded = { ...message, params: { ...message.params, requestId: serverId } };
    }
    this.dispatching = session;
    try {
      this.onmessage?.(forwarded, extra);
    } finally {
      this.dispatching = undefined;
    }
  }

  private detach(session: Session): void {
    if (!this.sessions.delete(session)) return;
    if (this.lastActive === session) this.lastActive = undefined;
    // Cancel what the gone client was waiting for, so handlers see their abort signal fire.
    for (const serverId of session.inflight.values()) {
      this.routes.delete(serverId);
      if (!this.closed) {
        this.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: serverId, reason: 'The client disconnected' },
        });
      }
    }
    session.inflight.clear();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
