import { isRetrySafe } from '../safe-methods.js';

/**
 * How far a request got before the server behind it was lost:
 * - `unsent`: no server took it (connection refused, `503 mcp-draining`, no response headers), so it never ran;
 * - `running`: a server accepted it and may have run it, in part or whole.
 */
export type Progress = 'unsent' | 'running';

/** What to do with an interrupted request: send it again once a server is back, or answer it with an error now. */
export type Decision = 'resend' | 'fail';

/** The tool annotations that say a repeat is harmless (MCP spec, `ToolAnnotations`). */
export interface ToolHints {
  readOnlyHint?: boolean;
  idempotentHint?: boolean;
}

/** The part of a JSON-RPC request the policy looks at. */
export interface RequestShape {
  method: string;
  params?: unknown;
}

/**
 * The one recovery rule, shared by the dev proxy and the bridge. Pure.
 * - A request that never reached a server is always sent again.
 * - A running request is sent again only when a repeat is harmless: the read-only methods
 *   ({@link isRetrySafe}), or a `tools/call` whose tool the server annotated `readOnlyHint: true` or
 *   `idempotentHint: true`. Missing annotations take the spec's defaults (false), so such a call fails.
 * @param hints the annotations of the tool a `tools/call` names, as the server listed them, if known
 */
export function decide(request: RequestShape, progress: Progress, hints?: ToolHints): Decision {
  if (progress === 'unsent' || isRetrySafe(request.method)) return 'resend';
  if (request.method === 'tools/call' && (hints?.readOnlyHint === true || hints?.idempotentHint === true)) return 'resend';
  return 'fail';
}

/** The name a `tools/call` request names, if any. */
export function toolName(request: RequestShape): string | undefined {
  const name = (request.params as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * The error message for a request that failed under {@link decide}: it names the tool and says the
 * outcome is unknown, since the call may or may not have run.
 */
export function outcomeUnknownMessage(request: RequestShape): string {
  const tool = request.method === 'tools/call' ? toolName(request) : undefined;
  const what = tool !== undefined ? `tool "${tool}"` : request.method;
  const why =
    tool !== undefined
      ? 'the tool is not annotated readOnlyHint or idempotentHint, so it was not re-sent'
      : 'it may have side effects, so it was not re-sent';
  return `the server stopped while ${what} was running: the outcome is unknown (it may or may not have run); ${why}. Call it again if that is safe.`;
}

/**
 * The error message for a request held while no server answered, past its deadline.
 * @param advice what to do about it, for whoever reads the error (dev: fix the code and save)
 */
export function notBackMessage(request: RequestShape, timeoutMs: number, advice = "check the server's output, fix the error and save"): string {
  return `the server did not come back within ${timeoutMs / 1000} s; ${request.method} was not sent. ${advice[0]!.toUpperCase()}${advice.slice(1)}.`;
}

/** JSON-RPC error code used for recovery errors (implementation-defined server error range). */
export const RECOVERY_ERROR_CODE = -32000;
