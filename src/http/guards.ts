import { createHash, timingSafeEqual } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from '../log.js';

/** Write a JSON-RPC error body with an HTTP status. The id is null: the request may not have parsed. */
export function sendJsonRpcError(res: Response, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).set(headers).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (bracketed or not). */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
}

function hostnameOf(hostHeader: string): string | undefined {
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * 403 unless the Host header is loopback or listed (DNS-rebinding protection). Entries match the
 * whole header (`name:port`) or just its host name.
 */
export function hostGuard(allowedHosts: readonly string[]): RequestHandler {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return (req, res, next) => {
    const header = (req.headers.host ?? '').toLowerCase();
    const hostname = hostnameOf(header);
    if (hostname !== undefined && (isLoopbackHostname(hostname) || allowed.has(header) || allowed.has(hostname))) return next();
    sendJsonRpcError(res, 403, -32000, `Forbidden: Host header ${JSON.stringify(header)} is not allowed (add it to MCP_ALLOWED_HOSTS)`);
  };
}

/** 403 when an Origin header is present and neither loopback nor listed (`*` allows any). */
export function originGuard(allowedOrigins: readonly string[]): RequestHandler {
  const normalise = (o: string) => o.trim().toLowerCase().replace(/\/+$/, '');
  const allowed = new Set(allowedOrigins.map(normalise));
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || allowed.has('*') || allowed.has(normalise(origin)) || isLoopbackOrigin(origin)) return next();
    sendJsonRpcError(res, 403, -32000, `Forbidden: Origin ${JSON.stringify(origin)} is not allowed (add it to MCP_ALLOWED_ORIGINS)`);
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
 * 401 unless `Authorization: Bearer <token>` matches one of the comma-separated tokens. Compared in
 * constant time, length included. The matching token's index is left in `res.locals.principal`, so
 * that sessions can be bound to the token that opened them.
 */
export function authGuard(tokens: string | undefined): RequestHandler {
  if (tokens === undefined) return (_req, _res, next) => next();
  // Hashing first gives equal-length buffers, so timingSafeEqual leaks neither content nor length.
  const expected = tokens
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => createHash('sha256').update(t).digest());
  return (req, res, next) => {
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    // Every token is compared, so the time taken does not depend on which one matched.
    const index = expected.reduce((found, e, i) => (timingSafeEqual(given, e) ? i : found), -1);
    if (match && index >= 0) {
      res.locals['principal'] = String(index);
      return next();
    }
    sendJsonRpcError(res, 401, -32001, 'Unauthorized: send Authorization: Bearer <MCP_AUTH_TOKEN>', { 'WWW-Authenticate': 'Bearer' });
  };
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
    const status = err.status ?? 500;
    if (status >= 400 && status < 500) return sendJsonRpcError(res, status, -32000, err.message ?? 'Bad Request');
    log.error(`request failed: ${err.message ?? String(err)}`);
    sendJsonRpcError(res, 500, -32603, 'Internal error');
  };
}

/** 503 for a new session when `maxSessions` are live. Returns true when it answered. */
export function refuseWhenFull(res: Response, live: number, maxSessions: number): boolean {
  if (live < maxSessions) return false;
  sendJsonRpcError(res, 503, -32000, `Service Unavailable: ${maxSessions} sessions are open (MCP_MAX_SESSIONS); retry later`, { 'Retry-After': '5' });
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
