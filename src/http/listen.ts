import { createServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, McpTransportError } from '../errors.js';
import type { Logger } from '../log.js';

const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** The settings a listen error names, as the user wrote them. @default the env variables */
export interface ListenKnobs {
  port: string;
  host: string;
}

const ENV_KNOBS: ListenKnobs = { port: 'MCP_HTTP_PORT', host: 'MCP_HTTP_HOST' };

/**
 * Listen with `handler` on `host:port`. `localhost` listens on both 127.0.0.1 and ::1 (same port),
 * so clients reach it whichever address their resolver prefers; ::1 is skipped if unavailable.
 * @throws ConfigError for a port in use or a host that is not ours, naming the variable and the fix
 */
export async function listenOn(handler: RequestListener, host: string, port: number, log: Logger, knobs: ListenKnobs = ENV_KNOBS): Promise<HttpServer[]> {
  const hosts = host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
  const servers: HttpServer[] = [];
  for (const [i, address] of hosts.entries()) {
    const server = createServer(handler);
    // Bounds on a slow or stalled client sending its request (responses and streams are not limited).
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    trackAccepted(server);
    const actualPort = i === 0 ? port : (servers[0]!.address() as AddressInfo).port;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(actualPort, address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    } catch (error) {
      if (i === 0) throw listenError(error as NodeJS.ErrnoException, host, address, port, knobs);
      log.debug(`not listening on ${address}:${actualPort} as well: ${(error as Error).message}`);
    }
  }
  return servers;
}

/** Per listener, when it last accepted a connection. */
const lastAccepted = new WeakMap<HttpServer, number>();

function trackAccepted(server: HttpServer): void {
  server.on('connection', () => lastAccepted.set(server, Date.now()));
}

/**
 * Resolve once none of `servers` has accepted a connection for `quietMs` (at most `maxMs` from now). Closing
 * a listener resets the connections the kernel has queued for it but Node has not accepted yet: a load
 * balancer that still sends to a draining replica would see those requests fail. It stops sending after the
 * first 503 `mcp-draining` (or its health check); once no connection comes in, closing loses none.
 */
export async function untilQuiet(servers: readonly HttpServer[], quietMs: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const last = Math.max(0, ...servers.map((s) => lastAccepted.get(s) ?? 0));
    const wait = Math.min(last + quietMs, deadline) - Date.now();
    if (wait <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** `http://host:port` for the first listener, as clients should write it. */
export function baseUrl(host: string, servers: readonly HttpServer[]): string | undefined {
  const address = servers[0]?.address() as AddressInfo | null | undefined;
  if (!address) return undefined;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${address.port}`;
}

function listenError(error: NodeJS.ErrnoException, host: string, address: string, port: number, knobs: ListenKnobs): McpTransportError {
  const where = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return ConfigError.of('PORT_IN_USE', knobs.port, `port ${port} is already in use on ${address}: stop the other server or set ${knobs.port} to a free port (0 picks one)`, error);
    case 'EACCES':
      return ConfigError.of('INVALID_PORT', knobs.port, `no permission to listen on ${where}: use ${knobs.port} above 1023`, error);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return ConfigError.of('INVALID_HOST', knobs.host, `${knobs.host}${knobs.host.startsWith('-') ? ' ' : '='}${host} is not an address of this machine: use localhost or 127.0.0.1`, error);
    default:
      return new McpTransportError('LISTEN_FAILED', `cannot listen on ${where}: ${error.message}`, { cause: error });
  }
}
