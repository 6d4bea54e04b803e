import { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResultResponse, type RequestId } from '../jsonrpc.js';
import type { SessionHook } from './session.js';

/**
 * Counts requests the server has received and not yet answered, across all sessions, so that
 * shutdown can drain: finish what is in flight before closing.
 */
export class InflightCounter {
  private count = 0;
  private readonly waiters = new Set<() => void>();

  /** Requests in flight now. */
  get size(): number {
    return this.count;
  }

  /** Begin a request that is not on a session transport (a 2026-07-28 one); call the result when it ends. */
  begin(): () => void {
    this.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.settle(1);
    };
  }

  /** A hook that counts one session's requests. */
  hook(): SessionHook {
    const pending = new Set<RequestId>();
    return {
      inbound: (message) => {
        if (isJSONRPCRequest(message) && !pending.has(message.id)) {
          pending.add(message.id);
          this.count++;
        } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled' && pending.delete(message.params?.['requestId'] as RequestId)) {
          // A cancelled request gets no response (MCP spec): it is no longer in flight.
          this.settle(1);
        }
      },
      outbound: (message) => {
        if ((isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) && pending.delete(message.id as RequestId)) this.settle(1);
      },
      closed: () => {
        this.settle(pending.size);
        pending.clear();
      },
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
