import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isJSONRPCRequest,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type InitializeRequest,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';

/** The id of the `initialize` replayed to restore a session; its response never reaches the client. */
export const RESTORE_REQUEST_ID = 'mcp-http-transport/restore';

/** The replayed `initialize` request and `initialized` notification for stored params. */
export function replayedHandshake(params: InitializeRequest['params']): { initialize: JSONRPCRequest; initialized: JSONRPCNotification } {
  return {
    initialize: { jsonrpc: '2.0', id: RESTORE_REQUEST_ID, method: 'initialize', params },
    initialized: { jsonrpc: '2.0', method: 'notifications/initialized' },
  };
}

/** The version the SDK server settles on for a client's requested version. */
export function negotiatedVersion(requested: string): string {
  return SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/**
 * The `list_changed` notifications a restored client needs so that it refetches what the new code
 * offers: tools always, resources and prompts when the server declares them.
 */
export function listChangedNotifications(capabilities: ServerCapabilities | undefined): JSONRPCNotification[] {
  const kinds = ['tools', ...(['resources', 'prompts'] as const).filter((k) => capabilities?.[k] !== undefined)];
  return kinds.map((kind) => ({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` }));
}

/**
 * Send `notifications` on the stream of the first request the client makes, just before that
 * request reaches the server: that stream is certain to be open, unlike the optional GET stream.
 */
export function notifyOnFirstRequest(transport: Transport, notifications: JSONRPCNotification[], onError: (error: Error) => void): void {
  const deliver = transport.onmessage;
  let sent = false;
  // Wrappers stack on `onmessage`, so this one stays in place rather than unhooking itself.
  transport.onmessage = (message, extra) => {
    if (!sent && isJSONRPCRequest(message)) {
      sent = true;
      for (const n of notifications) transport.send(n, { relatedRequestId: message.id }).catch(onError);
    }
    deliver?.(message, extra);
  };
}
