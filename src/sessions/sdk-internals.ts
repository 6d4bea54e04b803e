import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';

/**
 * The one place that touches SDK private fields. `SSEServerTransport` picks a random session id in
 * its constructor and offers no way to choose it; a restored legacy SSE session must keep its old
 * id, because the client goes on posting to `/messages/?sessionId=<old id>`.
 * Throws if the SDK's internals have changed (a test checks this against the installed SDK).
 */
export function setSseSessionId(transport: SSEServerTransport, id: string): void {
  const internals = transport as unknown as { _sessionId?: unknown };
  if (typeof internals._sessionId !== 'string') {
    throw new Error('mcp-http-transport: SSEServerTransport no longer keeps its id in _sessionId; session restore needs updating for this SDK version');
  }
  internals._sessionId = id;
  if (transport.sessionId !== id) throw new Error('mcp-http-transport: SSEServerTransport.sessionId did not follow _sessionId; session restore needs updating');
}
