import type { RequestHandler } from 'express';
import type { InflightCounter } from '../sessions/inflight.js';
import { LEGACY_PROTOCOL_VERSIONS, PROTOCOL_VERSION_META_KEY, type ModernHandler } from '../sdk.js';
import { sendJsonRpcError } from './guards.js';
import { serveWeb } from './streamable.js';

/**
 * 2026-07-28 requests on `/mcp`: stateless, served by SDK v2's own modern handler (a fresh instance
 * from the user's factory per request). Guards, the body cap and draining have run before this.
 *
 * Without that handler (an SDK v1 server, or one shared v2 instance, which SDK v2 ties to a single
 * era) the request gets what a 2025-era server answers for a protocol version it does not know: a 400
 * whose body is not a modern error, which tells a dual-era client to fall back to `initialize`.
 */
export function modernRoute(handler: ModernHandler | undefined, inflight: InflightCounter): RequestHandler {
  if (!handler) {
    return (req, res) => {
      const requested = req.header('mcp-protocol-version') ?? claimedVersion(req.body) ?? 'unknown';
      sendJsonRpcError(res, 400, -32000, `Bad Request: Unsupported protocol version: ${requested} (supported versions: ${LEGACY_PROTOCOL_VERSIONS.join(', ')})`);
    };
  }
  return async (req, res) => {
    // A listen stream stays open for as long as the client wants its notifications: it is not work to drain.
    const listening = (req.body as { method?: unknown } | undefined)?.method === 'subscriptions/listen';
    const done = listening ? undefined : inflight.begin();
    if (done) res.once('close', done);
    await serveWeb((web) => handler.fetch(web, { parsedBody: req.body, authInfo: (req as { auth?: unknown }).auth }), req, res);
  };
}

function claimedVersion(body: unknown): string | undefined {
  const first = Array.isArray(body) ? body[0] : body;
  const claimed = (first as { params?: { _meta?: Record<string, unknown> } } | undefined)?.params?._meta?.[PROTOCOL_VERSION_META_KEY];
  return typeof claimed === 'string' ? claimed : undefined;
}
