import { randomUUID } from 'node:crypto';
import { getRequestListener } from '@hono/node-server';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest, isJSONRPCRequest, type InitializeRequest, type ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import { listChangedNotifications, negotiatedVersion, notifyOnFirstRequest, replayedHandshake } from '../sessions/restore.js';
import type { StoredSession } from '../sessions/store.js';
import type { SessionContext } from './context.js';
import { refuseWhenFull, sendJsonRpcError, trackActivity } from './guards.js';

type StreamableTransport = WebStandardStreamableHTTPServerTransport;

const isInitialize = (body: unknown) => (Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body));

/**
 * Hand an express request to a transport. The web-standard transport is used (through the
 * adapter the SDK's own node transport uses) because its public `handleRequest` also accepts
 * requests built in memory, which is how a restored session replays its handshake.
 */
function serve(transport: StreamableTransport, req: ExpressRequest, res: ExpressResponse): Promise<void> {
  // A client that drops a POST before its answer has given up on those requests: cancel them, so
  // the handlers see their abort signal instead of running on for nobody.
  if (req.method === 'POST') {
    const ids = (Array.isArray(req.body) ? req.body : [req.body]).flatMap((m: unknown) => (isJSONRPCRequest(m) ? [m.id] : []));
    if (ids.length > 0) {
      res.once('close', () => {
        if (res.writableFinished) return;
        for (const requestId of ids) transport.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'The client disconnected' } });
      });
    }
  }
  const listener = getRequestListener((web) => transport.handleRequest(web, { parsedBody: req.body, authInfo: (req as { auth?: never }).auth }), {
    overrideGlobalObjects: false,
  });
  return listener(req, res) as Promise<void>;
}

/** The Streamable HTTP endpoint (`POST`, `GET`, `DELETE /mcp`), per MCP spec 2025-11-25. */
export function streamableHandler(ctx: SessionContext, stateless: boolean): RequestHandler {
  const { registry, log } = ctx;

  if (stateless) {
    return async (req, res) => {
      // Without sessions there is no stream to GET and nothing to DELETE.
      if (req.method !== 'POST') return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed: this server is stateless; use POST', { Allow: 'POST' });
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await ctx.connect(transport);
      res.on('close', () => void transport.close());
      await serve(transport, req, res);
    };
  }

  const open = (id: string | undefined, initializeParams: InitializeRequest['params'] | undefined, principal?: string): StreamableTransport => {
    const transport: StreamableTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id ?? randomUUID(),
      keepAliveMs: ctx.keepAliveMs,
      onsessioninitialized: async (sessionId) => {
        registry.add({ id: sessionId, kind: 'streamable', transport, activity: { last: Date.now(), streams: 0 }, principal });
        log.debug(`session ${sessionId} opened (streamable http)`);
        // Saved before the client learns its id, so that even a crash right after cannot lose it.
        if (initializeParams && ctx.store) {
          const protocolVersion = negotiatedVersion(initializeParams.protocolVersion);
          await ctx.store.set({ id: sessionId, kind: 'streamable', protocolVersion, initializeParams, createdAt: Date.now(), principal });
        }
      },
    });
    transport.onclose = () => ctx.forget(transport.sessionId);
    return transport;
  };

  /** Replay a stored session's handshake into a new transport with the same id. */
  const restore = async (stored: StoredSession): Promise<StreamableTransport> => {
    const transport = open(stored.id, undefined, stored.principal);
    await ctx.connect(transport);
    const { initialize, initialized } = replayedHandshake(stored.initializeParams);
    const post = (body: object, headers: Record<string, string> = {}) =>
      transport.handleRequest(
        new Request('http://localhost/mcp', {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
          body: JSON.stringify(body),
        }),
        { parsedBody: body },
      );
    const answer = await (await post(initialize)).text();
    const capabilities = parseCapabilities(answer);
    await post(initialized, { 'mcp-session-id': stored.id, 'mcp-protocol-version': stored.protocolVersion });
    notifyOnFirstRequest(transport, listChangedNotifications(capabilities), (e) => log.debug(`list_changed after restore: ${e.message}`));
    log.info(`session ${stored.id} restored (streamable http, ${stored.initializeParams.clientInfo.name})`);
    return transport;
  };

  // Two requests of one session may arrive together after a restart (a POST and the GET stream).
  const restoring = new Map<string, Promise<StreamableTransport | undefined>>();
  const restoreOnce = (id: string) => {
    let pending = restoring.get(id);
    if (!pending) {
      pending = (async () => {
        const stored = await ctx.store?.get(id);
        return stored?.kind === 'streamable' ? restore(stored) : undefined;
      })().finally(() => restoring.delete(id));
      restoring.set(id, pending);
    }
    return pending;
  };

  return async (req, res) => {
    const id = req.header('mcp-session-id');
    const principal = res.locals['principal'] as string | undefined;
    const found = id === undefined ? undefined : registry.get(id);
    // A session opened with one token is invisible to requests made with another.
    const session = found?.principal === principal ? found : undefined;
    if (session?.kind === 'streamable') {
      trackActivity(session.activity, req, res);
      return serve(session.transport, req, res);
    }

    // A fresh initialize starts a new session even when it carries a stale id: that is how clients recover.
    if (req.method === 'POST' && isInitialize(req.body)) {
      if (refuseWhenFull(res, registry.size, ctx.maxSessions)) return;
      const params = (Array.isArray(req.body) ? req.body.find(isInitializeRequest) : req.body).params as InitializeRequest['params'];
      const transport = open(undefined, params, principal);
      await ctx.connect(transport);
      await serve(transport, req, res);
      // An initialize the SDK refused (bad Accept, say) leaves a transport nobody can reach: free it.
      if (transport.sessionId === undefined) await transport.close();
      return;
    }
    if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
      return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed', { Allow: 'GET, POST, DELETE' });
    }
    if (id === undefined) return sendJsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required (initialize first)');
    const restored = ctx.store && !found ? await restoreOnce(id) : undefined;
    if (restored) {
      const activity = registry.get(id)?.activity;
      if (activity) trackActivity(activity, req, res);
      return serve(restored, req, res);
    }
    sendJsonRpcError(res, 404, -32001, 'Session not found: send a new initialize request without Mcp-Session-Id');
  };
}

/** The server capabilities from the SSE-framed initialize response of a replayed handshake. */
function parseCapabilities(sse: string): ServerCapabilities | undefined {
  for (const line of sse.split('\n')) {
    if (!line.startsWith('data:')) continue;
    try {
      return (JSON.parse(line.slice(5)) as { result?: { capabilities?: ServerCapabilities } }).result?.capabilities;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
