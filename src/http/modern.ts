import type { RequestHandler } from 'express';
import type { TransportConfig } from '../config.js';
import { isListChanged, type JSONRPCMessage } from '../jsonrpc.js';
import type { ServerFactory } from '../server-like.js';
import type { InflightCounter } from '../sessions/inflight.js';
import { claimedVersion, LEGACY_PROTOCOL_VERSIONS } from '../era.js';
import type { ModernHandler, ModernKit } from '../sdk.js';
import { sendJsonRpcError } from './guards.js';
import { serveWeb } from './streamable.js';

/**
 * 2026-07-28 requests on `/mcp`: stateless, served by SDK v2's own modern handler (a fresh instance
 * from the user's factory per request). Guards, the body cap and draining have run before this.
 *
 * Without that handler (an SDK v1 server, or one shared v2 instance, which SDK v2 ties to a single
 * era) the request gets what a 2025-era server answers for a protocol version it does not know: a 400
 * whose body is not a modern error, which tells a dual-era client to fall back to `initialize`.
 */
export function modernRoute(handler: ModernHandler | undefined, inflight: InflightCounter): RequestHandler {
  if (!handler) {
    return (req, res) => {
      const requested = req.header('mcp-protocol-version') ?? claimedVersion(Array.isArray(req.body) ? req.body[0] : req.body) ?? 'unknown';
      sendJsonRpcError(res, 400, -32000, `Bad Request: Unsupported protocol version: ${requested} (supported versions: ${LEGACY_PROTOCOL_VERSIONS.join(', ')})`);
    };
  }
  return async (req, res) => {
    // A listen stream stays open for as long as the client wants its notifications: it is not work to drain.
    const listening = (req.body as { method?: unknown } | undefined)?.method === 'subscriptions/listen';
    const done = listening ? undefined : inflight.begin();
    if (done) res.once('close', done);
    await serveWeb((web) => handler.fetch(web, { parsedBody: req.body, authInfo: (req as { auth?: unknown }).auth }), req, res);
  };
}

/**
 * SDK v2's modern handler over the user's factory. Each instance it builds is handed over observed: a
 * `list_changed` the instance sends itself (its own `sendToolListChanged()`) has no stream of its own
 * on a 2026-07-28 request, so it is reported to `onListChanged`, which puts it on the listen streams.
 */
export function createModernHandler(
  kit: ModernKit,
  factory: ServerFactory,
  config: TransportConfig,
  onListChanged: (method: string) => void,
  onerror: (error: Error) => void,
): ModernHandler {
  const observe = (message: JSONRPCMessage) => {
    if (isListChanged(message)) onListChanged(message.method);
  };
  return kit.createMcpHandler(async (context) => observed(await factory(context), observe), {
    legacy: 'reject',
    maxRequestBodySize: config.maxBodyBytes,
    keepAliveMs: config.keepAliveSeconds * 1000,
    onerror,
  });
}

/**
 * The same server, seen through a proxy whose `connect` wraps the transport the SDK gives it, so that
 * what the server sends is observed on the way out. Nothing of the user's object is changed.
 */
function observed<T extends object>(product: T, observe: (message: JSONRPCMessage) => void): T {
  const forward = <O extends object>(target: O, replace: (prop: string | symbol) => unknown) => {
    // Methods are bound once each, so that reading one twice gives the same function; callbacks set on the
    // object itself (`onclose`) come back as they were set, since the SDK compares them with what it set.
    const bound = new Map<unknown, unknown>();
    return new Proxy(target, {
      get(t, prop) {
        const replaced = replace(prop);
        if (replaced !== undefined) return replaced;
        const value = Reflect.get(t, prop, t) as unknown;
        if (typeof value !== 'function' || Object.prototype.hasOwnProperty.call(t, prop)) return value;
        if (!bound.has(value)) bound.set(value, (value as (...args: unknown[]) => unknown).bind(t));
        return bound.get(value);
      },
    });
  };
  const sending = (transport: { send(message: JSONRPCMessage, options?: unknown): Promise<void> }) =>
    forward(transport, (prop) =>
      prop === 'send'
        ? (message: JSONRPCMessage, options?: unknown) => {
            observe(message);
            return transport.send(message, options);
          }
        : undefined,
    );
  const server = product as T & { connect(transport: never): Promise<void> };
  return forward(server, (prop) => (prop === 'connect' ? (transport: never) => server.connect(sending(transport) as never) : undefined));
}
