import { createHash, timingSafeEqual } from 'node:crypto';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthInfo, AuthResult, Authenticate, Rejection } from '../auth-info.js';
import { isLoopbackHostname } from '../config.js';
import type { Logger } from '../log.js';

/** Write a JSON-RPC error body with an HTTP status. The id is null: the request may not have parsed. */
export function sendJsonRpcError(res: Response, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).set(headers).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

function hostnameOf(hostHeader: string): string | undefined {
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Answer with a rejection as a JSON-RPC error body. */
export function sendRejection(res: Response, rejection: Rejection): void {
  sendJsonRpcError(res, rejection.status, rejection.code, rejection.message, rejection.headers);
}

/** While draining, new work waits for the next process; `mcp-draining` tells the dev proxy (or a load balancer) to retry elsewhere. */
export const DRAINING: Rejection = {
  status: 503,
  code: -32000,
  message: 'Service Unavailable: the server is restarting',
  headers: { 'Retry-After': '1', 'mcp-draining': '1' },
};

/** A new session when `maxSessions` are live. */
export function sessionsFull(maxSessions: number): Rejection {
  return { status: 503, code: -32000, message: `Service Unavailable: ${maxSessions} sessions are open (MCP_MAX_SESSIONS); retry later`, headers: { 'Retry-After': '5' } };
}

/**
 * The Host check as a plain function, for places that are not express routes (the WebSocket upgrade):
 * a 403 rejection unless the Host header is loopback or listed (DNS-rebinding protection). Entries
 * match the whole header (`name:port`) or just its host name. A missing header is refused.
 */
export function hostCheck(allowedHosts: readonly string[]): (hostHeader: string | undefined) => Rejection | undefined {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return (hostHeader) => {
    const header = (hostHeader ?? '').toLowerCase();
    const hostname = hostnameOf(header);
    if (hostname !== undefined && (isLoopbackHostname(hostname) || allowed.has(header) || allowed.has(hostname))) return undefined;
    return { status: 403, code: -32000, message: `Forbidden: Host header ${JSON.stringify(header)} is not allowed (add it to MCP_ALLOWED_HOSTS)` };
  };
}

/** The Origin check as a plain function: a 403 rejection when an Origin is present and neither loopback nor listed (`*` allows any). */
export function originCheck(allowedOrigins: readonly string[]): (origin: string | undefined) => Rejection | undefined {
  const normalise = (o: string) => o.trim().toLowerCase().replace(/\/+$/, '');
  const allowed = new Set(allowedOrigins.map(normalise));
  return (origin) => {
    if (origin === undefined || allowed.has('*') || allowed.has(normalise(origin)) || isLoopbackOrigin(origin)) return undefined;
    return { status: 403, code: -32000, message: `Forbidden: Origin ${JSON.stringify(origin)} is not allowed (add it to MCP_ALLOWED_ORIGINS)` };
  };
}

/**
 * The static bearer-token check (MCP_AUTH_TOKEN) as a plain function. With no tokens configured every request passes with no
 * principal. Otherwise `Authorization: Bearer <token>` must match one of the comma-separated tokens
 * (compared in constant time, length included): the principal is the matching token's index; anything
 * else gets a 401 rejection with `WWW-Authenticate: Bearer`.
 */
export function bearerCheck(tokens: string | undefined): (authorization: string | undefined) => AuthResult {
  if (tokens === undefined) return () => ({ principal: undefined });
  // Hashing first gives equal-length buffers, so timingSafeEqual leaks neither content nor length.
  const expected = tokens
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => createHash('sha256').update(t).digest());
  return (authorization) => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    // Every token is compared, so the time taken does not depend on which one matched.
    const index = expected.reduce((found, e, i) => (timingSafeEqual(given, e) ? i : found), -1);
    if (match && index >= 0) return { principal: String(index) };
    return { rejection: { status: 401, code: -32001, message: 'Unauthorized: send Authorization: Bearer <MCP_AUTH_TOKEN>', headers: { 'WWW-Authenticate': 'Bearer' } } };
  };
}

/** What {@link requestCheck} checks: the same settings as the express guards. */
export interface RequestCheckOptions {
  /** Extra Host values besides loopback ones (MCP_ALLOWED_HOSTS plus the names the server is bound to). */
  allowedHosts: readonly string[];
  /** Extra Origins besides loopback ones (MCP_ALLOWED_ORIGINS). */
  allowedOrigins: readonly string[];
  /** The bearer check ({@link bearerCheck} of MCP_AUTH_TOKEN, or OAuth's), or undefined for none. */
  authenticate: Authenticate | undefined;
}

/**
 * Host (403), then Origin (403), then the token (401/403), in the order the express guards run, as one
 * function of the request headers. For requests that never reach express, such as WebSocket upgrades.
 */
export function requestCheck(options: RequestCheckOptions): (req: { headers: { host?: string; origin?: string; authorization?: string } }) => Promise<AuthResult> {
  const host = hostCheck(options.allowedHosts);
  const origin = originCheck(options.allowedOrigins);
  return async (req) => {
    const rejection = host(req.headers.host) ?? origin(req.headers.origin);
    if (rejection) return { rejection };
    return options.authenticate ? options.authenticate(req.headers.authorization) : { principal: undefined };
  };
}

/**
 * 403 unless the Host header is loopback or listed (DNS-rebinding protection). Entries match the
 * whole header (`name:port`) or just its host name.
 */
export function hostGuard(allowedHosts: readonly string[]): RequestHandler {
  const check = hostCheck(allowedHosts);
  return (req, res, next) => {
    const rejected = check(req.headers.host);
    if (!rejected) return next();
    sendRejection(res, rejected);
  };
}

/** 403 when an Origin header is present and neither loopback nor listed (`*` allows any). */
export function originGuard(allowedOrigins: readonly string[]): RequestHandler {
  const check = originCheck(allowedOrigins);
  return (req, res, next) => {
    const rejected = check(req.headers.origin);
    if (!rejected) return next();
    sendRejection(res, rejected);
  };
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHostname(url.hostname);
  } catch {
    return false;
  }
}

/**
 * The bearer check as express middleware: a rejection is answered (401, 403), a caller goes on with its
 * principal in `res.locals.principal`, so that sessions are bound to it, and its `authInfo` in `req.auth`,
 * where the SDK transports and our own take it from for handlers (`extra.authInfo`).
 */
export function authGuard(authenticate: Authenticate | undefined): RequestHandler {
  if (authenticate === undefined) return (_req, _res, next) => next();
  return (req, res, next) => {
    const result = authenticate(req.headers.authorization);
    // The static token check answers at once, so only OAuth's (keys, introspection) costs a promise per request.
    if (result instanceof Promise) return result.then((settled) => admit(settled, req, res, next));
    admit(result, req, res, next);
  };
}

function admit(result: AuthResult, req: Request, res: Response, next: NextFunction): void {
  if ('rejection' in result) return sendRejection(res, result.rejection);
  res.locals['principal'] = result.principal;
  if (result.authInfo) (req as { auth?: AuthInfo }).auth = result.authInfo;
  next();
}

/**
 * The last middleware: body-parser failures and anything a route threw become JSON-RPC error
 * bodies with the right status, so nothing reaches express's HTML error page.
 */
export function errorHandler(log: Logger, maxBodyBytes: number): ErrorRequestHandler {
  return (err: { type?: string; status?: number; message?: string }, _req, res, _next) => {
    switch (err.type) {
      case 'entity.too.large':
        return sendJsonRpcError(res, 413, -32000, `Payload Too Large: request bodies are limited to ${maxBodyBytes} bytes`);
      case 'entity.parse.failed':
        return sendJsonRpcError(res, 400, -32700, 'Parse error: the body is not valid JSON');
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return sendJsonRpcError(res, 415, -32000, `Unsupported Media Type: ${err.message ?? 'bad charset or encoding'}`);
    }
    // The shared session store (Redis) did not answer in time: a clear 503 the client may retry, never a hang.
    if ((err as { code?: string }).code === 'STORE_UNAVAILABLE') {
      // Where the store is (host, port) is for the operator's log, not for clients.
      log.warn(err.message ?? 'the session store is unavailable');
      return sendJsonRpcError(res, 503, -32000, 'Service Unavailable: the session store (Redis) does not answer; retry shortly', { 'Retry-After': '1' });
    }
    const status = err.status ?? 500;
    if (status >= 400 && status < 500) return sendJsonRpcError(res, status, -32000, err.message ?? 'Bad Request');
    log.error(`request failed: ${err.message ?? String(err)}`);
    sendJsonRpcError(res, 500, -32603, 'Internal error');
  };
}

/** 503 for a new session when `maxSessions` are live. Returns true when it answered. */
export function refuseWhenFull(res: Response, live: number, maxSessions: number): boolean {
  if (live < maxSessions) return false;
  sendRejection(res, sessionsFull(maxSessions));
  return true;
}

/** Mark a session used by this request; a GET (a stream) keeps it busy until the stream closes. */
export function trackActivity(activity: { last: number; streams: number }, req: { method?: string }, res: Response): void {
  activity.last = Date.now();
  if (req.method !== 'GET') return;
  activity.streams++;
  res.once('close', () => {
    activity.streams--;
    activity.last = Date.now();
  });
}
