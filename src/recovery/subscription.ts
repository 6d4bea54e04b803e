import { SUBSCRIPTION_ID_META_KEY } from '../era.js';
import type { JSONRPCNotification, RequestId } from '../jsonrpc.js';

/** The `list_changed` notification for each flag of an acknowledged `subscriptions/listen` filter. */
const LIST_FLAGS = [
  ['toolsListChanged', 'notifications/tools/list_changed'],
  ['promptsListChanged', 'notifications/prompts/list_changed'],
  ['resourcesListChanged', 'notifications/resources/list_changed'],
] as const;

/**
 * The filter a server honored, when `message` is its `notifications/subscriptions/acknowledged` for
 * the `subscriptions/listen` request `id`; undefined for any other message.
 */
export function acknowledgedFilter(message: unknown, id: RequestId): Record<string, unknown> | undefined {
  const m = message as { id?: unknown; method?: unknown; params?: { notifications?: unknown; _meta?: Record<string, unknown> } } | undefined;
  if (m?.method !== 'notifications/subscriptions/acknowledged' || m.id !== undefined || m.params?._meta?.[SUBSCRIPTION_ID_META_KEY] !== id) return undefined;
  const honored = m.params.notifications;
  return typeof honored === 'object' && honored !== null ? (honored as Record<string, unknown>) : {};
}

/**
 * What a subscription re-opened on a restarted server tells the client, instead of a second
 * acknowledgement: the `list_changed` (and `resources/updated`) notifications its honored filter
 * covers, since what the new server offers may have changed, so that the client refetches.
 */
export function refetchNotices(id: RequestId, honored: Record<string, unknown>): JSONRPCNotification[] {
  const _meta = { [SUBSCRIPTION_ID_META_KEY]: id };
  const notices: JSONRPCNotification[] = LIST_FLAGS.filter(([flag]) => honored[flag] === true).map(([, method]) => ({ jsonrpc: '2.0', method, params: { _meta } }));
  const uris = Array.isArray(honored['resourceSubscriptions']) ? (honored['resourceSubscriptions'] as unknown[]) : [];
  for (const uri of uris) if (typeof uri === 'string') notices.push({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri, _meta } });
  return notices;
}
