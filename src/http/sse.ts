import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { isInitializeRequest, isJSONRPCResultResponse, JSONRPCMessageSchema, type InitializeRequest, type InitializeResult } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandler } from 'express';
import { setSseSessionId } from '../sessions/sdk-internals.js';
import { listChangedNotifications, negotiatedVersion, replayedHandshake, RESTORE_REQUEST_ID } from '../sessions/restore.js';
import type { StoredSession } from '../sessions/store.js';
import type { SessionContext } from './context.js';
import { refuseWhenFull, sendJsonRpcError } from './guards.js';

/** The path legacy SSE clients are told to POST to. `/messages` is accepted as well. */
export const SSE_MESSAGES_PATH = '/messages/';

/**
 * In dev mode, how soon an EventSource reconnects after the stream drops (its default is 3 s).
 * Sent with the SSE `retry:` field.
 */
export const SSE_RETRY_MS = 200;

/** How long a POST for a stored session waits for its client's EventSource to come back. */
const RECONNECT_WAIT_MS = 10_000;

/**
 * Legacy HTTP+SSE (protocol 2024-11-05): `GET /sse` opens a session, `POST /messages/?sessionId=` feeds it.
 *
 * In dev mode each stream also carries `retry:` and an event whose id is the session id. A client's
 * EventSource then reconnects quickly after a restart with `Last-Event-ID: <session id>`, and the new
 * process restores that session under the same id.
 */
export function sseHandlers(ctx: SessionContext): { open: RequestHandler; post: RequestHandler } {
  const { registry, log } = ctx;

  /**
   * Keep the replayed initialize's response off the client's stream. Installed before the transport
   * is connected, so it sits under every other wrapper (in-flight tracking sees the response).
   */
  const interceptReplay = (transport: SSEServerTransport): Promise<InitializeResult | undefined> =>
    new Promise((resolve) => {
      const send = transport.send.bind(transport);
      // Wrappers stack on `send`, so this one stays in place rather than unhooking itself.
      let intercepted = false;
      transport.send = async (message) => {
        if (intercepted || !('id' in message) || message.id !== RESTORE_REQUEST_ID) return send(message);
        intercepted = true;
        resolve(isJSONRPCResultResponse(message) ? (message.result as InitializeResult) : undefined);
      };
    });

  /** Replay the stored handshake, then tell the client to refetch its lists. */
  const replay = async (transport: SSEServerTransport, stored: StoredSession, answered: Promise<InitializeResult | undefined>): Promise<void> => {
    const { initialize, initialized } = replayedHandshake(stored.initializeParams);
    await transport.handleMessage(initialize);
    const result = await answered;
    await transport.handleMessage(initialized);
    for (const n of listChangedNotifications(result?.capabilities)) await transport.send(n);
  };

  return {
    open: async (req, res) => {
      // express routes HEAD to GET handlers; a HEAD must not open a session whose stream nobody reads.
      if (req.method === 'HEAD') return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed: open the stream with GET', { Allow: 'GET' });
      const previous = req.header('last-event-id');
      const stored = ctx.store && previous && !registry.get(previous) ? await ctx.store.get(previous) : undefined;
      if (!stored && refuseWhenFull(res, registry.size, ctx.maxSessions)) return;
      const transport = new SSEServerTransport(SSE_MESSAGES_PATH, res);
      if (stored?.kind === 'sse') setSseSessionId(transport, stored.id);
      const id = transport.sessionId;
      let keepAlive: NodeJS.Timeout | undefined;
      // The stream is the session: it counts as open for as long as the session lives.
      const session = { id, kind: 'sse' as const, transport, activity: { last: Date.now(), streams: 1 }, principal: res.locals['principal'] as string | undefined };
      transport.onclose = () => {
        clearInterval(keepAlive);
        ctx.forget(id);
      };
      if (!stored) registry.add(session);
      const answered = stored ? interceptReplay(transport) : undefined;
      await ctx.connect(transport);
      if (ctx.store) res.write(`retry: ${SSE_RETRY_MS}\nevent: session\nid: ${id}\ndata: ${id}\n\n`);
      // Comments keep idle proxies from dropping a quiet stream; EventSources ignore them.
      keepAlive = ctx.keepAliveMs > 0 ? setInterval(() => res.write(': keepalive\n\n'), ctx.keepAliveMs) : undefined;
      keepAlive?.unref();
      if (stored?.kind === 'sse') {
        await replay(transport, stored, answered!);
        // Registered only now, so that POSTs waiting for this session find it fully restored.
        registry.add(session);
        log.info(`session ${id} restored (sse, ${stored.initializeParams.clientInfo.name})`);
      } else {
        log.debug(`session ${id} opened (sse)`);
      }
    },
    post: async (req, res) => {
      const id = req.query['sessionId'];
      if (typeof id !== 'string' || id === '') return sendJsonRpcError(res, 400, -32000, 'Bad Request: the sessionId query parameter is required');
      let session = registry.get(id);
      // After a restart, a client may post before its EventSource has reconnected: wait for it.
      if (!session && ctx.store && (await ctx.store.get(id))?.kind === 'sse') session = await registry.waitFor(id, RECONNECT_WAIT_MS);
      // A session opened with one token is invisible to requests made with another.
      if (session?.kind !== 'sse' || session.principal !== res.locals['principal']) return sendJsonRpcError(res, 404, -32001, 'Session not found: reconnect to GET /sse');
      session.activity.last = Date.now();
      // Checked here because the SDK's SSE transport answers these in plain text, not JSON-RPC.
      if (!req.is('application/json')) return sendJsonRpcError(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
      if (!JSONRPCMessageSchema.safeParse(req.body).success) return sendJsonRpcError(res, 400, -32600, 'Invalid Request: the body is not a JSON-RPC message');
      if (ctx.store && isInitializeRequest(req.body)) {
        const initializeParams = req.body.params as InitializeRequest['params'];
        await ctx.store.set({ id, kind: 'sse', protocolVersion: negotiatedVersion(initializeParams.protocolVersion), initializeParams, createdAt: Date.now(), principal: session.principal });
      }
      await session.transport.handlePostMessage(req, res, req.body);
    },
  };
}
