import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResultResponse, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/**
 * Counts requests a server has received and not yet answered, across all session transports, so
 * that shutdown can drain: finish what is in flight before closing.
 */
export class InflightTracker {
  private count = 0;
  private readonly waiters = new Set<() => void>();

  /** Requests in flight now. */
  get size(): number {
    return this.count;
  }

  /** Watch a connected transport (call after the server has set its handlers). */
  track(transport: Transport): void {
    const pending = new Set<RequestId>();
    const deliver = transport.onmessage;
    transport.onmessage = (message, extra) => {
      if (isJSONRPCRequest(message) && !pending.has(message.id)) {
        pending.add(message.id);
        this.count++;
      } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled' && pending.delete(message.params?.['requestId'] as RequestId)) {
        // A cancelled request gets no response (MCP spec): it is no longer in flight.
        this.settle(1);
      }
      deliver?.(message, extra);
    };
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      if ((isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) && pending.delete(message.id as RequestId)) this.settle(1);
      return send(message, options);
    };
    const onclose = transport.onclose;
    transport.onclose = () => {
      onclose?.();
      this.settle(pending.size);
      pending.clear();
    };
  }

  /** Resolve true once nothing is in flight, or false when `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onIdle);
        resolve(value);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.waiters.add(onIdle);
    });
  }

  private settle(n: number): void {
    this.count -= n;
    if (this.count === 0) for (const waiter of [...this.waiters]) waiter();
  }
}
