import type { ServerSource } from '../../server-like.js';

/**
 * Where `dev --hot` waits for the user's entry to hand over its server. Set on `globalThis`, so that it
 * is found whichever copy of this package the entry's module runner evaluates.
 */
export const HOT_HOOK = Symbol.for('mcp-http-transport.hot');

/** What `dev --hot` puts at {@link HOT_HOOK}. */
export interface HotHook {
  /** The entry's `serve()` or `MCPTransportManager.start()` hands over its server instead of listening. */
  register(source: ServerSource): void;
}

/** The hook, when this process is a `dev --hot` host loading the user's entry. */
export function hotHook(): HotHook | undefined {
  return (globalThis as Record<symbol, HotHook | undefined>)[HOT_HOOK];
}
