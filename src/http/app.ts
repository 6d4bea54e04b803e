import express, { type Express } from 'express';
import { METADATA_PATHS, type ProtectedResourceMetadata } from '../auth/metadata.js';
import type { TransportConfig } from '../config.js';
import type { Authenticate } from '../auth-info.js';
import { authGuard, DRAINING, errorHandler, hostGuard, originGuard, sendJsonRpcError, sendRejection } from './guards.js';
import { isModernRequest } from '../era.js';
import type { ModernHandler } from '../sdk.js';
import type { SessionOwner } from '../sessions/owner.js';
import { modernRoute } from './modern.js';
import { sseHandlers } from './sse.js';
import { streamableHandler } from './streamable.js';

/** What {@link createApp} needs. */
export interface AppOptions {
  config: TransportConfig;
  owner: SessionOwner;
  /** SDK v2's handler for 2026-07-28 requests, when the server is a factory of v2 servers. */
  modern?: ModernHandler;
  /** Host names the server listens on, accepted in the Host header besides loopback ones. */
  boundHosts?: readonly string[];
  /** The bearer check (static tokens or OAuth); none when undefined. */
  authenticate?: Authenticate;
  /** OAuth: the RFC 9728 document, served without a token at the well-known paths. */
  resourceMetadata?: () => ProtectedResourceMetadata;
}

/**
 * The express app: guards first (Host/Origin 403, token 401) so nothing unauthorised is parsed,
 * then the body limit (413/400), then the routes. Every error leaves as a JSON-RPC error body.
 */
export function createApp({ config, owner, modern, boundHosts = [], authenticate, resourceMetadata }: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    if (!owner.closing) return next();
    res.set('Connection', 'close');
    sendRejection(res, DRAINING);
  });
  app.use(hostGuard([...config.allowedHosts, ...boundHosts]));
  app.use(originGuard(config.allowedOrigins));
  // Clients read the metadata to learn where to get a token, so it needs none (but the Host and Origin checks hold).
  if (resourceMetadata) app.get([...METADATA_PATHS], (_req, res) => void res.set('Cache-Control', 'max-age=300').json(resourceMetadata()));
  app.use(authGuard(authenticate));
  app.use(express.json({ limit: config.maxBodyBytes, strict: false }));

  const startedAt = Date.now();
  app.get('/health', (_req, res) => {
    res.json({
      status: 'ok',
      transport: 'http',
      stateless: config.stateless,
      sessions: owner.size,
      uptime: Math.round((Date.now() - startedAt) / 1000),
      // Lets the dev proxy tell a restarted process from the one that is shutting down.
      pid: process.pid,
    });
  });
  // One endpoint, two eras: a request that claims the 2026-07-28 protocol is served statelessly, any other by its session.
  const legacy = streamableHandler(owner, config.stateless);
  const current = modernRoute(modern, owner.inflight);
  app.all('/mcp', (req, res, next) => (isModernRequest(req.method, req.body, req.header('mcp-protocol-version')) ? current : legacy)(req, res, next));
  const sse = sseHandlers(owner);
  app.get('/sse', sse.open);
  app.post('/messages', sse.post);

  app.use((req, res) => {
    const known = ['/health', '/sse', '/messages', '/messages/'].includes(req.path);
    if (known) sendJsonRpcError(res, 405, -32000, `Method Not Allowed: ${req.method} ${req.path}`);
    else sendJsonRpcError(res, 404, -32601, `Not Found: ${req.path} (MCP is served at /mcp and /sse)`);
  });
  app.use(errorHandler(owner.log, config.maxBodyBytes));
  return app;
}
