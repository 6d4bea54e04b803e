import { isJSONRPCRequest, type JSONRPCMessage, type JSONRPCRequest } from '../jsonrpc.js';
import { notBackMessage, RECOVERY_ERROR_CODE } from '../recovery/policy.js';
import type { BridgeSettings } from './options.js';
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

/** Why a request is refused at once while the upstream is down and `hold` is false. Both eras say it alike. */
export function unavailableText(request: JSONRPCRequest, lastFailure: string): string {
  return `the upstream MCP server is unavailable (${lastFailure}); ${request.method} was not sent, and this bridge holds no requests (hold: false)`;
}

/** Why a request is refused at once: `maxQueue` requests already wait for the upstream. */
export function queueFullText(settings: BridgeSettings): string {
  return `the upstream MCP server is unreachable and ${settings.maxQueue} messages are already waiting`;
}

/** Why a request that waited `queueTimeoutMs` for the upstream fails. */
export function notBackText(request: JSONRPCRequest, settings: BridgeSettings): string {
  return notBackMessage(request, settings.queueTimeoutMs, `check that the upstream at ${settings.url.href} is running`);
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
