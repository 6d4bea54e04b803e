import type { JSONRPCMessage } from '../jsonrpc.js';
import { claimedVersion } from '../era.js';

/**
 * The HTTP headers a 2026-07-28 Streamable HTTP POST mirrors from its body (spec: "Request
 * Metadata"), which a stdio client never sends: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
 * and the `Mcp-Param-*` headers a tool's `inputSchema` asks for with `x-mcp-header`.
 */

/** The body field `Mcp-Name` mirrors, per method (the `tasks/*` rows are the tasks extension's). */
const NAME_SOURCE: Readonly<Record<string, string>> = Object.freeze({
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
});

/** RFC 9110 `token`: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';

/** One parameter a tool mirrors into a header: where it sits in the arguments, and the header's name part. */
interface ParamHeader {
  path: readonly string[];
  name: string;
}

/**
 * A header value as the spec's Value Encoding wants it: plain when it is visible ASCII (or inner
 * spaces and tabs) and cannot be mistaken for the Base64 sentinel, else `=?base64?…?=` of its UTF-8.
 */
export function encodeHeaderValue(value: string): string {
  const plain = /^([\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?)?$/.test(value) && !(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX));
  return plain ? value : `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${SENTINEL_SUFFIX}`;
}

/**
 * The `x-mcp-header` declarations of every tool a server listed, learnt from `tools/list` results as
 * they pass by (like the tool hints), so that a `tools/call` carries the `Mcp-Param-*` headers the
 * server checks. A tool whose declarations break the spec's constraints gets none: the server then
 * rejects its calls with `HeaderMismatch`, which reaches the client unchanged.
 */
export class ParamHeaderBook {
  private readonly tools = new Map<string, readonly ParamHeader[]>();

  /** Learn from any JSON-RPC message: only a result carrying a `tools` array counts. */
  learn(message: unknown): void {
    const tools = (message as { result?: { tools?: unknown } } | undefined)?.result?.tools;
    if (!Array.isArray(tools)) return;
    for (const tool of tools as { name?: unknown; inputSchema?: unknown }[]) {
      if (typeof tool?.name !== 'string') continue;
      const found: ParamHeader[] = [];
      const valid = collect(tool.inputSchema, [], found) && new Set(found.map((h) => h.name.toLowerCase())).size === found.length;
      if (valid && found.length > 0) this.tools.set(tool.name, found);
      else this.tools.delete(tool.name);
    }
  }

  /** The `Mcp-Param-*` headers for a `tools/call` of `tool` with `args`. */
  headers(tool: string, args: unknown): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const { path, name } of this.tools.get(tool) ?? []) {
      let value: unknown = args;
      for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
      const text = typeof value === 'string' ? value : typeof value === 'boolean' || (typeof value === 'number' && Number.isSafeInteger(value)) ? String(value) : undefined;
      if (text !== undefined) headers[`mcp-param-${name.toLowerCase()}`] = encodeHeaderValue(text);
    }
    return headers;
  }
}

/**
 * Walk a schema through `properties` chains only (the one place the spec allows the annotation),
 * collecting declarations. @returns false when a declaration is malformed
 */
function collect(schema: unknown, path: readonly string[], found: ParamHeader[]): boolean {
  if (typeof schema !== 'object' || schema === null) return true;
  const node = schema as { properties?: unknown; 'x-mcp-header'?: unknown; type?: unknown };
  if (path.length > 0 && node['x-mcp-header'] !== undefined) {
    const name = node['x-mcp-header'];
    if (typeof name !== 'string' || !TOKEN.test(name) || !['string', 'integer', 'boolean'].includes(node.type as string)) return false;
    found.push({ path, name });
  }
  if (typeof node.properties !== 'object' || node.properties === null) return true;
  return Object.entries(node.properties as Record<string, unknown>).every(([key, child]) => collect(child, [...path, key], found));
}

/**
 * The headers of a 2026-07-28 POST carrying `message`: the version it names, its method, and the
 * `Mcp-Name` (and, for a `tools/call`, `Mcp-Param-*`) values its body holds. Nothing for a message
 * that names no version.
 */
export function modernHeaders(message: JSONRPCMessage, params: ParamHeaderBook): Record<string, string> {
  const version = claimedVersion(message);
  if (version === undefined || !('method' in message)) return {};
  const headers: Record<string, string> = { 'mcp-protocol-version': version, 'mcp-method': message.method };
  const field = Object.hasOwn(NAME_SOURCE, message.method) ? NAME_SOURCE[message.method]! : undefined;
  const name = field === undefined ? undefined : message.params?.[field];
  if (typeof name === 'string') headers['mcp-name'] = encodeHeaderValue(name);
  if (message.method === 'tools/call' && typeof name === 'string') Object.assign(headers, params.headers(name, message.params?.['arguments']));
  return headers;
}
