import type { JSONRPCMessage, MessageExtraInfo, Transport, TransportSendOptions } from '../jsonrpc.js';

/**
 * One observer of a session's traffic. Hooks run in the order they were added, on every message;
 * `false` stops a message there (it is ours, and neither the server nor the client should see it),
 * and a message returned goes on in place of the one given (an id rewritten, say).
 */
export interface SessionHook {
  /** A message from the client, before the server sees it. */
  inbound?(message: JSONRPCMessage): void | false | JSONRPCMessage;
  /** A message from the server, before it is written to the client. */
  outbound?(message: JSONRPCMessage, options?: TransportSendOptions): void | false | JSONRPCMessage;
  /** The transport closed (client gone, DELETE, shutdown). */
  closed?(): void;
}

/**
 * A session's transport as the server sees it. It wraps the SDK's (or our) per-session transport,
 * which it alone listens to, and lets the session owner observe the traffic through hooks: nothing
 * else sets the inner transport's callbacks, so there is no install order to get wrong.
 */
export class SessionTransport<T extends Transport = Transport> implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  private readonly hooks: SessionHook[] = [];
  private ended = false;

  /** Whether the inner transport has closed (its session is over). */
  get closed(): boolean {
    return this.ended;
  }

  constructor(readonly inner: T) {
    inner.onmessage = (message, extra) => this.receive(message, extra);
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => this.end();
  }

  /** The SDK reads this while it builds a handler's `extra`. */
  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  /** Observe the traffic from now on. */
  use(hook: SessionHook): this {
    this.hooks.push(hook);
    return this;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  /** A message for the server, from the client or of our own (a replayed handshake). */
  receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    for (const hook of this.hooks) {
      const next = hook.inbound?.(message);
      if (next === false) return;
      if (next) message = next;
    }
    this.onmessage?.(message, extra);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    for (const hook of this.hooks) {
      const next = hook.outbound?.(message, options);
      if (next === false) return;
      if (next) message = next;
    }
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const hook of this.hooks) hook.closed?.();
    this.onclose?.();
  }
}
