import { isJSONRPCRequest, type JSONRPCMessage } from '../jsonrpc.js';
import { RECOVERY_ERROR_CODE } from '../recovery/policy.js';
import type { Downstream } from './stdio.js';

/**
 * One era's relay from the client to the upstream: the 2025 era's session (`legacy.ts`) or the
 * 2026-07-28 era's stateless requests (`modern.ts`). The bridge picks one per client.
 */
export interface Upstream {
  /** A message from the client. */
  fromClient(message: JSONRPCMessage): void;
  /** Stop relaying and free everything (the 2025 relay also ends its upstream session). Safe to call twice. */
  close(): Promise<void>;
  /** The upstream transport in use, once known. */
  readonly transport: 'http' | 'sse' | undefined;
}

/** Answer the client's request `message` (if it is one) with a bridge error saying `text`. */
export function replyError(downstream: Downstream, message: JSONRPCMessage, text: string): void {
  if (!isJSONRPCRequest(message)) return;
  void downstream.send({ jsonrpc: '2.0', id: message.id, error: { code: RECOVERY_ERROR_CODE, message: `mcp-http-transport bridge: ${text}` } }).catch(() => undefined);
}

/**
 * Before a client has opened its session (`initialize`, or for 2026-07-28 a request naming its
 * version), only `ping` is answered (here); any other request gets the spec's "not initialized".
 */
export function answerBeforeSession(downstream: Downstream, message: JSONRPCMessage): void {
  if (!isJSONRPCRequest(message)) return;
  if (message.method === 'ping') void downstream.send({ jsonrpc: '2.0', id: message.id, result: {} }).catch(() => undefined);
  else void downstream.send({ jsonrpc: '2.0', id: message.id, error: { code: -32002, message: 'Server not initialized: send initialize first' } }).catch(() => undefined);
}

/** The system error code under a fetch failure, e.g. `ECONNREFUSED`. */
export function connectionCode(error: unknown): string | undefined {
  return (error as { cause?: { code?: string } })?.cause?.code;
}

/** An error's message, with the system error code under it when there is one. */
export function errorText(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string } };
  return e?.cause?.code ? `${e.message} (${e.cause.code})` : String(e?.message ?? error);
}
