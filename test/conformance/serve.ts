/**
 * Serves the conformance "everything" server on 127.0.0.1 and an ephemeral port, one target per process:
 *
 *   node --import tsx test/conformance/serve.ts sdk        SDK v2's own createMcpHandler(factory) on node:http
 *   node --import tsx test/conformance/serve.ts ours v2    MCPTransportManager (HTTP) serving the same v2 factory
 *   node --import tsx test/conformance/serve.ts ours v1    MCPTransportManager serving one shared SDK v1 Server
 *
 * Prints one line of JSON, `{"url":"http://127.0.0.1:PORT/mcp"}`, once it listens; stops on SIGTERM,
 * SIGINT or when its stdin ends. `ours` loads the manager from src (through tsx) unless
 * CONFORMANCE_MANAGER=dist asks for the build in dist/ (run `npm run build` first).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { createMcpHandler, hostHeaderValidationResponse, localhostAllowedHostnames, localhostAllowedOrigins, originValidationResponse, type McpHttpHandler } from '@modelcontextprotocol/server';
import { everythingFactory, type ListChangedNotifier } from './server.js';
import { createEverythingServerV1 } from './server-v1.js';

/** What this script needs of MCPTransportManager; declared by shape so the script survives its rewrites. */
interface ManagerLike {
  start(): Promise<void>;
  close(): Promise<void> | void;
  readonly url: string | undefined;
  /** A notifier for subscriptions/listen streams, if the manager exposes one. */
  readonly notify?: ReturnType<ListChangedNotifier>;
}
type ManagerModule = { MCPTransportManager: new (options: Record<string, unknown>) => ManagerLike };

async function serveSdk(): Promise<{ url: string; stop: () => Promise<void> }> {
  let handler: McpHttpHandler | undefined;
  handler = createMcpHandler(everythingFactory({ listChanged: () => handler?.notify }));
  const hostnames = localhostAllowedHostnames();
  const origins = localhostAllowedOrigins();
  // The handler is validation-free by design; its documentation puts these two checks in front of it.
  const listener = getRequestListener((request) => hostHeaderValidationResponse(request, hostnames) ?? originValidationResponse(request, origins) ?? handler!.fetch(request));
  const http = createServer(listener);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: async () => {
      await handler!.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

async function serveOurs(server: 'v1' | 'v2'): Promise<{ url: string; stop: () => Promise<void> }> {
  const from = process.env['CONFORMANCE_MANAGER'] === 'dist' ? '../../dist/index.js' : '../../src/index.ts';
  const { MCPTransportManager } = (await import(new URL(from, import.meta.url).href)) as ManagerModule;
  let manager: ManagerLike | undefined;
  const cwd = mkdtempSync(join(tmpdir(), 'mcp-conformance-'));
  const source = server === 'v1' ? createEverythingServerV1() : everythingFactory({ listChanged: () => manager?.notify });
  manager = new MCPTransportManager({
    server: source,
    transportMode: 'http',
    host: '127.0.0.1',
    port: 0,
    handleSignals: false,
    env: {},
    cwd,
    logLevel: 'error',
  });
  await manager.start();
  const base = manager.url;
  if (!base) throw new Error('the manager started without a URL');
  return {
    url: `${base.replace(/\/$/, '')}/mcp`,
    stop: async () => {
      await manager!.close();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const [target, server = 'v2'] = process.argv.slice(2);
  if (target !== 'sdk' && target !== 'ours') throw new Error('usage: serve.ts sdk | ours [v2|v1]');
  if (server !== 'v1' && server !== 'v2') throw new Error(`unknown server ${server}: v2 or v1`);
  if (target === 'sdk' && server !== 'v2') throw new Error("the SDK's createMcpHandler serves v2 servers only");
  const served = target === 'sdk' ? await serveSdk() : await serveOurs(server);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    served.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdin.once('end', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: served.url })}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
