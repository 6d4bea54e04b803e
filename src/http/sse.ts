import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { RequestHandler } from 'express';
import type { StreamableRouteOptions } from './streamable.js';
import { sendJsonRpcError } from './guards.js';

/** The path legacy SSE clients are told to POST to. `/messages` is accepted as well. */
export const SSE_MESSAGES_PATH = '/messages/';

/** Legacy HTTP+SSE (protocol 2024-11-05): `GET /sse` opens a session, `POST /messages/?sessionId=` feeds it. */
export function sseHandlers({ registry, connect, log }: Omit<StreamableRouteOptions, 'stateless'>): { open: RequestHandler; post: RequestHandler } {
  return {
    open: async (_req, res) => {
      const transport = new SSEServerTransport(SSE_MESSAGES_PATH, res);
      const id = transport.sessionId;
      registry.add({ id, kind: 'sse', transport });
      transport.onclose = () => {
        registry.delete(id);
        log.debug(`session ${id} closed (sse)`);
      };
      log.debug(`session ${id} opened (sse)`);
      await connect(transport);
    },
    post: async (req, res) => {
      const id = req.query['sessionId'];
      if (typeof id !== 'string' || id === '') return sendJsonRpcError(res, 400, -32000, 'Bad Request: the sessionId query parameter is required');
      const session = registry.get(id);
      if (session?.kind !== 'sse') return sendJsonRpcError(res, 404, -32001, 'Session not found: reconnect to GET /sse');
      await session.transport.handlePostMessage(req, res, req.body);
    },
  };
}
