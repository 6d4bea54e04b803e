import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, MessageExtraInfo, Transport } from '../jsonrpc.js';

/**
 * Legacy HTTP+SSE (protocol 2024-11-05), server side: one `GET /sse` stream carries every message to
 * the client, whose messages arrive as POSTs to `endpoint?sessionId=<id>`.
 *
 * Ours rather than the SDK's: SDK v2 has no SSE transport, so a project with only v2 installed would
 * have none, and v1's picks its session id itself, while a restored session must keep its old one.
 * It is the wire format and nothing else; the session owner decides what the messages mean.
 */
export class SseServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  readonly sessionId: string;
  private closed = false;

  constructor(
    private readonly endpoint: string,
    private readonly res: ServerResponse,
    sessionId: string = randomUUID(),
  ) {
    this.sessionId = sessionId;
    res.on('close', () => this.ended());
  }

  /** Send the headers and the `endpoint` event that tells the client where to POST. */
  async start(): Promise<void> {
    this.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' });
    this.write(`event: endpoint\ndata: ${this.endpoint}?sessionId=${encodeURIComponent(this.sessionId)}\n\n`);
  }

  /** Write raw SSE text (a comment, a `retry:` field) on the stream. */
  write(text: string): void {
    if (!this.closed) this.res.write(text);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error('the SSE stream is closed');
    this.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  async close(): Promise<void> {
    this.res.end();
    this.ended();
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
