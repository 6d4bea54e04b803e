import express, { type Express } from 'express';
import type { TransportConfig } from '../config.js';
import { authGuard, errorHandler, hostGuard, originGuard, sendJsonRpcError } from './guards.js';
import { sseHandlers } from './sse.js';
import { streamableHandler, type StreamableRouteOptions } from './streamable.js';

/** What {@link createApp} needs besides the config. */
export interface AppOptions extends Omit<StreamableRouteOptions, 'stateless'> {
  config: TransportConfig;
  /** Host names the server listens on, accepted in the Host header besides loopback ones. */
  boundHosts?: readonly string[];
}

/**
 * The express app: guards first (Host/Origin 403, token 401) so nothing unauthorised is parsed,
 * then the body limit (413/400), then the routes. Every error leaves as a JSON-RPC error body.
 */
export function createApp({ config, boundHosts = [], ...routes }: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(hostGuard([...config.allowedHosts, ...boundHosts]));
  app.use(originGuard(config.allowedOrigins));
  app.use(authGuard(config.authToken));
  app.use(express.json({ limit: config.maxBodyBytes, strict: false }));

  const startedAt = Date.now();
  app.get('/health', (_req, res) => {
    res.json({
      status: 'ok',
      transport: 'http',
      stateless: config.stateless,
      sessions: routes.registry.size,
      uptime: Math.round((Date.now() - startedAt) / 1000),
    });
  });
  app.all('/mcp', streamableHandler({ ...routes, stateless: config.stateless }));
  const sse = sseHandlers(routes);
  app.get('/sse', sse.open);
  app.post('/messages', sse.post);

  app.use((req, res) => {
    const known = ['/health', '/sse', '/messages', '/messages/'].includes(req.path);
    if (known) sendJsonRpcError(res, 405, -32000, `Method Not Allowed: ${req.method} ${req.path}`);
    else sendJsonRpcError(res, 404, -32601, `Not Found: ${req.path} (MCP is served at /mcp and /sse)`);
  });
  app.use(errorHandler(routes.log, config.maxBodyBytes));
  return app;
}
