import type { RequestHandler } from 'express';
import { isJSONRPCMessage } from '../jsonrpc.js';
import type { SessionOwner } from '../sessions/owner.js';
import { sendJsonRpcError, sendRejection, sessionsFull } from './guards.js';

/**
 * Legacy HTTP+SSE (protocol 2024-11-05): `GET /sse` opens a session, `POST /messages/?sessionId=` feeds it.
 *
 * In dev mode each stream also carries `retry:` and an event whose id is the session id. A client's
 * EventSource then reconnects quickly after a restart with `Last-Event-ID: <session id>`, and the new
 * process restores that session under the same id.
 */
export function sseHandlers(owner: SessionOwner): { open: RequestHandler; post: RequestHandler } {
  return {
    open: async (req, res) => {
      // express routes HEAD to GET handlers; a HEAD must not open a session whose stream nobody reads.
      if (req.method === 'HEAD') return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed: open the stream with GET', { Allow: 'GET' });
      const previous = owner.restores ? req.header('last-event-id') : undefined;
      const session = await owner.openSse(res, res.locals['principal'] as string | undefined, previous);
      // Undefined only when sessions are full.
      if (!session) sendRejection(res, sessionsFull(owner.maxSessions));
    },
    post: async (req, res) => {
      const id = req.query['sessionId'];
      if (typeof id !== 'string' || id === '') return sendJsonRpcError(res, 400, -32000, 'Bad Request: the sessionId query parameter is required');
      const principal = res.locals['principal'] as string | undefined;
      const gone = () => sendJsonRpcError(res, 404, -32001, 'Session not found: reconnect to GET /sse');
      // An unknown session is answered before the body is judged, unless another replica may hold it.
      if (!owner.replicated && !(await owner.find(id, 'sse', principal))) return gone();
      if (!req.is('application/json')) return sendJsonRpcError(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
      if (!isJSONRPCMessage(req.body)) return sendJsonRpcError(res, 400, -32600, 'Invalid Request: the body is not a JSON-RPC message');
      const extra = { authInfo: (req as { auth?: unknown }).auth, requestInfo: { headers: req.headers } };
      // The stream may be on another replica: the owner sends the message there.
      if (!(await owner.postSse(id, principal, req.body, extra))) return gone();
      res.status(202).end('Accepted');
    },
  };
}
