import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';
import type { SessionRegistry } from '../sessions/registry.js';
import { sendJsonRpcError } from './guards.js';

/** What the `/mcp` handler needs. */
export interface StreamableRouteOptions {
  registry: SessionRegistry;
  /** Hand a new transport to the user's server (multiplexed or from the factory). */
  connect: (transport: Transport) => Promise<void>;
  stateless: boolean;
  log: Logger;
}

const isInitialize = (body: unknown) => (Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body));

/** The Streamable HTTP endpoint (`POST`, `GET`, `DELETE /mcp`), per MCP spec 2025-11-25. */
export function streamableHandler({ registry, connect, stateless, log }: StreamableRouteOptions): RequestHandler {
  if (stateless) {
    return async (req, res) => {
      // Without sessions there is no stream to GET and nothing to DELETE.
      if (req.method !== 'POST') return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed: this server is stateless; use POST', { Allow: 'POST' });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await connect(transport);
      res.on('close', () => void transport.close());
      await transport.handleRequest(req, res, req.body);
    };
  }

  return async (req, res) => {
    const id = req.header('mcp-session-id');
    const session = id === undefined ? undefined : registry.get(id);
    if (session?.kind === 'streamable') return session.transport.handleRequest(req, res, req.body);

    // A fresh initialize starts a new session even when it carries a stale id: that is how clients recover.
    if (req.method === 'POST' && isInitialize(req.body)) {
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (sessionId) => {
          registry.add({ id: sessionId, kind: 'streamable', transport });
          log.debug(`session ${sessionId} opened (streamable http)`);
        },
      });
      transport.onclose = () => {
        registry.delete(transport.sessionId);
        log.debug(`session ${transport.sessionId} closed`);
      };
      await connect(transport);
      await transport.handleRequest(req, res, req.body);
      // An initialize the SDK refused (bad Accept, say) leaves a transport nobody can reach: free it.
      if (transport.sessionId === undefined) await transport.close();
      return;
    }
    if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
      return sendJsonRpcError(res, 405, -32000, 'Method Not Allowed', { Allow: 'GET, POST, DELETE' });
    }
    if (id !== undefined) return sendJsonRpcError(res, 404, -32001, 'Session not found: send a new initialize request without Mcp-Session-Id');
    sendJsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required (initialize first)');
  };
}
