import { isJSONRPCNotification, isJSONRPCRequest, type JSONRPCMessage } from './jsonrpc.js';

/**
 * Which protocol era a message belongs to:
 * - `modern`: 2026-07-28 and later, where every request names its version in `_meta` and there are
 *   no sessions (`server/discover`, `subscriptions/listen`);
 * - `legacy`: 2025-11-25 and earlier, where a session opens with `initialize`.
 */
export type Era = 'modern' | 'legacy';

/** The `_meta` key in which a 2026-07-28 message names its protocol version. */
export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
/** The `_meta` key that ties a notification to the `subscriptions/listen` request it belongs to. */
export const SUBSCRIPTION_ID_META_KEY = 'io.modelcontextprotocol/subscriptionId';
/** Protocol versions of the legacy era, newest first: everything a session-based (initialize) client may name. */
export const LEGACY_PROTOCOL_VERSIONS: readonly string[] = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];
/** The first protocol version of the modern era. */
export const FIRST_MODERN_PROTOCOL_VERSION = '2026-07-28';

/** Whether `version` is a protocol version of the modern era (a `YYYY-MM-DD` date from 2026-07-28 on). */
export function isModernVersion(version: unknown): version is string {
  return typeof version === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(version) && version >= FIRST_MODERN_PROTOCOL_VERSION;
}

/** The protocol version a request or notification names in its `_meta`, if any. */
export function claimedVersion(message: unknown): string | undefined {
  const meta = (message as { params?: { _meta?: unknown } } | null)?.params?._meta;
  if (typeof meta !== 'object' || meta === null) return undefined;
  const version = (meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY];
  return typeof version === 'string' ? version : undefined;
}

/**
 * The era a client's message opens, by the spec's rule for dual-era servers: a message whose `_meta`
 * names a modern version is modern, whatever its method (even `initialize`); `server/discover` is
 * modern; `initialize` is legacy. Anything else says nothing (undefined).
 */
export function eraOf(message: JSONRPCMessage): Era | undefined {
  if (isModernVersion(claimedVersion(message))) return 'modern';
  if (!isJSONRPCRequest(message)) return undefined;
  if (message.method === 'server/discover') return 'modern';
  if (message.method === 'initialize') return 'legacy';
  return undefined;
}

/**
 * Whether an HTTP request to `/mcp` belongs to the modern era, by the rule SDK v2's `isLegacyRequest`
 * applies (on the parsed body, so nothing is read twice). Only a POST of requests or notifications can
 * be modern; it is when a message carries the `_meta` version claim (whatever it names: the modern path
 * owns the answer to a version it does not serve), or when `MCP-Protocol-Version` names anything but a
 * legacy version. An `initialize` is legacy unless its claim names a modern version.
 */
export function isModernRequest(method: string, body: unknown, versionHeader: string | undefined): boolean {
  if (method !== 'POST') return false;
  const messages = (Array.isArray(body) ? body : [body]).filter((m) => isJSONRPCRequest(m) || isJSONRPCNotification(m));
  if (messages.length === 0) return false;
  const claims = messages.some((m) => {
    const meta = (m as { params?: { _meta?: unknown } }).params?._meta;
    if (typeof meta !== 'object' || meta === null || !(PROTOCOL_VERSION_META_KEY in meta)) return false;
    return (m as { method: string }).method !== 'initialize' || isModernVersion(claimedVersion(m));
  });
  return claims || (versionHeader !== undefined && !LEGACY_PROTOCOL_VERSIONS.includes(versionHeader));
}
