import type { JSONRPCMessage, MessageExtraInfo, Transport, TransportSendOptions } from '../../jsonrpc.js';

/**
 * One end of an in-process transport pair. Unlike the SDK's InMemoryTransport it carries what the
 * session's real transport needs to route a message: `relatedRequestId` on the way out (so progress
 * reaches the right POST stream) and the request's `extra` (auth, headers) on the way in.
 */
export class LinkEnd implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo & { relatedRequestId?: TransportSendOptions['relatedRequestId'] }) => void;
  other!: LinkEnd;
  /** Where the session id comes from: read when asked, since a Streamable HTTP session gets its id after connecting. */
  sessionIdOf: () => string | undefined = () => undefined;
  private closed = false;

  get sessionId(): string | undefined {
    return this.sessionIdOf();
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage, options?: TransportSendOptions & MessageExtraInfo): Promise<void> {
    if (this.closed) throw new Error('the hot-reload link is closed');
    this.other.onmessage?.(message, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
    await this.other.close();
  }
}

/** Two connected ends: what one sends, the other receives. */
export function linkedPair(): [LinkEnd, LinkEnd] {
  const a = new LinkEnd();
  const b = new LinkEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}
