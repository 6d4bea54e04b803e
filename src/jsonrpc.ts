/**
 * JSON-RPC messages and the MCP `Transport` shape, declared structurally.
 *
 * Both SDK lines (`@modelcontextprotocol/sdk` 1.x and `@modelcontextprotocol/server` 2.x) are optional
 * peers, so nothing here may import either at runtime, and the public types must not name them: a
 * project with only one line installed still type-checks. Both lines' transports and servers fit
 * these shapes.
 */

export type RequestId = string | number;

export interface JSONRPCRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
}

export interface JSONRPCNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
}

export interface JSONRPCResultResponse {
  jsonrpc: '2.0';
  id: RequestId;
  result: Record<string, unknown>;
}

export interface JSONRPCErrorResponse {
  jsonrpc: '2.0';
  id?: RequestId | null;
  error: { code: number; message: string; data?: unknown };
}

export type JSONRPCMessage = JSONRPCRequest | JSONRPCNotification | JSONRPCResultResponse | JSONRPCErrorResponse;

/** What a transport passes along with a message (auth, the HTTP request); opaque to us. */
export interface MessageExtraInfo {
  authInfo?: unknown;
  requestInfo?: unknown;
}

export interface TransportSendOptions {
  relatedRequestId?: RequestId;
  resumptionToken?: string;
  onresumptiontoken?: (token: string) => void;
}

/** The SDK's `Transport` interface, as both lines declare it. */
export interface Transport {
  start(): Promise<void>;
  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void>;
  close(): Promise<void>;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  sessionId?: string;
}

/** The client's `initialize` params, kept to restore a session. */
export interface InitializeParams {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: { name: string; version: string; [key: string]: unknown };
  [key: string]: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is RequestId => typeof value === 'string' || typeof value === 'number';

export function isJSONRPCRequest(value: unknown): value is JSONRPCRequest {
  return isObject(value) && value['jsonrpc'] === '2.0' && typeof value['method'] === 'string' && isId(value['id']);
}

export function isJSONRPCNotification(value: unknown): value is JSONRPCNotification {
  return isObject(value) && value['jsonrpc'] === '2.0' && typeof value['method'] === 'string' && !('id' in value);
}

export function isJSONRPCResultResponse(value: unknown): value is JSONRPCResultResponse {
  return isObject(value) && value['jsonrpc'] === '2.0' && isId(value['id']) && isObject(value['result']);
}

export function isJSONRPCErrorResponse(value: unknown): value is JSONRPCErrorResponse {
  return isObject(value) && value['jsonrpc'] === '2.0' && isObject(value['error']) && typeof value['error']['code'] === 'number';
}

/** Any well-formed JSON-RPC 2.0 message. */
export function isJSONRPCMessage(value: unknown): value is JSONRPCMessage {
  return isJSONRPCRequest(value) || isJSONRPCNotification(value) || isJSONRPCResultResponse(value) || isJSONRPCErrorResponse(value);
}

export function isInitializeRequest(value: unknown): value is JSONRPCRequest & { params: InitializeParams } {
  return isJSONRPCRequest(value) && value.method === 'initialize' && isObject(value.params) && typeof value.params['protocolVersion'] === 'string';
}

/** A `notifications/{tools,prompts,resources}/list_changed`: what clients refetch a list on. */
export function isListChanged(value: unknown): value is JSONRPCNotification {
  return isJSONRPCNotification(value) && /^notifications\/(tools|prompts|resources)\/list_changed$/.test(value.method);
}
