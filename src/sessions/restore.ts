import { isJSONRPCRequest, type JSONRPCNotification } from '../jsonrpc.js';
import { LEGACY_PROTOCOL_VERSIONS } from '../era.js';
import type { SessionHook, SessionTransport } from './session.js';

/** The `initialized` notification that follows a replayed `initialize`. */
export const INITIALIZED: JSONRPCNotification = { jsonrpc: '2.0', method: 'notifications/initialized' };

/** The version the SDK server settles on for a client's requested version. */
export function negotiatedVersion(requested: string): string {
  return LEGACY_PROTOCOL_VERSIONS.includes(requested) ? requested : LEGACY_PROTOCOL_VERSIONS[0]!;
}

/**
 * The `list_changed` notifications a restored client needs so that it refetches what the new code
 * offers: tools always, resources and prompts when the server declares them.
 */
export function listChangedNotifications(capabilities: Record<string, unknown> | undefined): JSONRPCNotification[] {
  const kinds = ['tools', ...(['resources', 'prompts'] as const).filter((k) => capabilities?.[k] !== undefined)];
  return kinds.map((kind) => ({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` }));
}

/**
 * Send `notifications` on the stream of the first request the client makes, just before that
 * request reaches the server: that stream is certain to be open, unlike the optional GET stream.
 */
export function notifyOnFirstRequest(session: SessionTransport, notifications: JSONRPCNotification[], onError: (error: Error) => void): SessionHook {
  let sent = false;
  return {
    inbound: (message) => {
      if (sent || !isJSONRPCRequest(message)) return;
      sent = true;
      // Straight to the client: these are ours, not the server's, so no hook should take them for its own.
      for (const n of notifications) session.inner.send(n, { relatedRequestId: message.id }).catch(onError);
    },
  };
}

