import { getRequestListener } from '@hono/node-server';
import type { Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import { isInitializeRequest, isJSONRPCRequest, type JSONRPCMessage } from '../jsonrpc.js';
import type { StreamableTransport } from '../sdk.js';
import type { SessionOwner } from '../sessions/owner.js';
import type { SessionTransport } from '../sessions/session.js';
import { refuseWhenFull, sendJsonRpcError, trackActivity } from './guards.js';

const messagesOf = (body: unknown): unknown[] => (Array.isArray(body) ? body : [body]);

/**
 * Hand an express request to a transport. The web-standard transport is used (through the adapter
 * the SDK's own node transport uses) because its `handleRequest` also takes requests built in
 * memory, which is how a restored session replays its handshake.
 */
export function serveWeb(handle: (request: Request) => Promise<Response>, req: ExpressRequest, res: ExpressResponse): Promise<void> {
  handlers.set(req, handle);
  return webListener(req, res) as Promise<void>;
}

/** One adapter for every request (building one per request costs); each request's handler waits here for it. */
const handlers = new WeakMap<object, (request: Request) => Promise<Response>>();
const webListener = getRequestListener((request, env) => handlers.get(env.incoming)!(request), { overrideGlobalObjects: false });

function serve(owner: SessionOwner, transport: SessionTransport<StreamableTransport>, req: ExpressRequest, res: ExpressResponse): Promise<void> {
  // A client that drops a POST before its answer has given up on those requests: cancel them, so
  // the handlers see their abort signal instead of running on for nobody.
  if (req.method === 'POST') {
    const ids = messagesOf(req.body).flatMap((m) => (isJSONRPCRequest(m) ? [m.id] : []));
    if (ids.length > 0) {
      res.once('close', () => {
        if (res.writableFinished) return;
        for (const requestId of ids) transport.receive({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'The client disconnected' } });
      });
    }
  }
  // Counted from here, not only once the SDK hands the message on: with an event store it first awaits a write,
  // and a drain that began meanwhile would close the stream under it.
  return serveWeb((web) => {
    const admitted = owner.inflight.begin();
    return transport.inner.handleRequest(web, { parsedBody: req.body, authInfo: (req as { auth?: unknown }).auth }).finally(admitted);
  }, req, res);
}

/** The 2025-era Streamable HTTP endpoint (`POST`, `GET`, `DELETE /mcp`), per MCP spec 2025-11-25: routes to the session owner. */
export function streamableHandler(owner: SessionOwner, stateless: boolean): RequestHandler {
  if (stateless) {
    return async (req, res) => {
      // Without sessions there is no stream to GET and nothing to DELETE.
      if (req.method !== 'POST') return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed: this server is stateless; use POST', { Allow: 'POST' });
      const transport = await owner.oneShot();
      res.on('close', () => void transport.close());
      await serve(owner, transport, req, res);
    };
  }

  return async (req, res) => {
    const id = req.header('mcp-session-id');
    const principal = res.locals['principal'] as string | undefined;
    // A fresh initialize starts a new session even when it carries a stale id: that is how clients recover.
    const initialize = req.method === 'POST' ? (messagesOf(req.body).find(isInitializeRequest) as JSONRPCMessage | undefined) : undefined;
    if (initialize && isInitializeRequest(initialize) && (id === undefined || !owner.live(id, 'streamable', principal))) {
      if (refuseWhenFull(res, owner.size, owner.maxSessions)) return;
      const transport = await owner.openStreamable(initialize.params, principal);
      await serve(owner, transport, req, res);
      // An initialize the SDK refused (bad Accept, say) leaves a transport nobody can reach: free it.
      if (transport.sessionId === undefined) await transport.close();
      return;
    }
    if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
      return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed', { Allow: 'GET, POST, DELETE' });
    }
    if (id === undefined) return sendJsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required (initialize first)');
    const session = await owner.find(id, 'streamable', principal);
    if (session?.kind !== 'streamable') return sendJsonRpcError(res, 404, -32001, 'Session not found: send a new initialize request without Mcp-Session-Id');
    trackActivity(session.activity, req, res);
    return serve(owner, session.transport, req, res);
  };
}
