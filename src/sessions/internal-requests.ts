import { isJSONRPCErrorResponse, isJSONRPCResultResponse, type JSONRPCMessage, type JSONRPCRequest } from '../jsonrpc.js';

/**
 * Requests of our own (a probe, a replayed `initialize`) sent on a connection the client also uses:
 * their ids carry a prefix no client uses, their answers are taken here and never reach the client,
 * and each waits at most `timeoutMs`.
 */
export class InternalRequests {
  private readonly waiting = new Map<string, (outcome: JSONRPCMessage | Error) => void>();
  private count = 0;

  constructor(
    private readonly prefix: string,
    private readonly timeoutMs: number,
  ) {}

  /** Send `method` through `send` and resolve with its result; reject on an error answer or the deadline. */
  ask(send: (request: JSONRPCRequest) => Promise<void>, method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = `${this.prefix}${++this.count}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`${method} got no answer within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
      const settle = (outcome: JSONRPCMessage | Error) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (outcome instanceof Error) reject(outcome);
        else if (isJSONRPCResultResponse(outcome)) resolve(outcome.result);
        else reject(new Error(`${method} failed: ${isJSONRPCErrorResponse(outcome) ? outcome.error.message : 'no result'}`));
      };
      this.waiting.set(id, settle);
      send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }).catch(settle);
    });
  }

  /** Take `message` if it answers one of ours. @returns whether it did (then nobody else should see it) */
  answer(message: JSONRPCMessage): boolean {
    if (!isJSONRPCResultResponse(message) && !isJSONRPCErrorResponse(message)) return false;
    const settle = typeof message.id === 'string' ? this.waiting.get(message.id) : undefined;
    settle?.(message);
    return settle !== undefined;
  }
}
