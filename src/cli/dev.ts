import { fstatSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { createBridge, type Bridge } from '../bridge/bridge.js';
import { loadConfig } from '../config.js';
import { DevProxy } from '../dev/proxy.js';
import { startNodemon, type NodemonHandle } from '../dev/nodemon.js';
import { ConfigError } from '../errors.js';
import { baseUrl, listenOn } from '../http/listen.js';
import { createLogger } from '../log.js';

/** What `mcp-http-transport dev` was asked to do. */
export interface DevOptions {
  /** The server command, run with MCP_TRANSPORT=http and MCP_DEV_MODE=1. */
  command: string[];
  /** @default [cwd] */
  watch: string[];
  /** Comma list of extensions to watch. @default DEFAULT_EXTENSIONS */
  ext?: string;
  /** The public port clients use. @default MCP_HTTP_PORT or 3000 */
  port?: number;
  /** @default MCP_HTTP_HOST or localhost */
  host?: string;
  /** Speak MCP on stdio through the bridge. @default when stdin is a pipe */
  bridge?: boolean;
  verbose: boolean;
}

/** Watched by default: JavaScript and TypeScript sources and JSON (nodemon alone skips .ts under `--exec tsx`). */
export const DEFAULT_EXTENSIONS = 'js,mjs,cjs,json,ts,mts,cts,tsx';

export const DEV_USAGE = `Usage: mcp-http-transport dev [options] -- <server command...>

Runs your server under nodemon in HTTP mode and restarts it on every save. Clients keep their
sessions across restarts; calls made during a restart wait and then run on the new code.

Options:
  --watch DIR     watch this directory or file (repeatable; default: the current directory)
  --ext LIST      extensions to watch (default: js,mjs,cjs,json,ts,mts,cts,tsx)
  --port N        the public port clients connect to (default: MCP_HTTP_PORT or 3000)
  --host H        where to listen (default: MCP_HTTP_HOST or localhost)
  --bridge        speak MCP over stdio, bridged to the server (default when stdin is a pipe)
  --no-bridge     never bridge stdio
  --verbose       debug logs

Examples:
  mcp-http-transport dev -- node server.js
  mcp-http-transport dev --watch src --ext ts -- tsx src/server.ts`;

/** Parse `dev` arguments. @throws ConfigError (exit 2) for bad usage */
export function parseDevArgs(argv: readonly string[]): DevOptions {
  const options: DevOptions = { command: [], watch: [], verbose: false };
  const usage = (message: string) => ConfigError.of('INVALID_OPTION', 'dev', `${message} (see mcp-http-transport dev --help)`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw usage(`${arg} needs a value`);
      return v;
    };
    if (arg === '--') {
      options.command = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('-')) {
      options.command = argv.slice(i);
      break;
    }
    switch (arg) {
      case '--watch':
        options.watch.push(value());
        break;
      case '--ext':
        options.ext = value();
        break;
      case '--port': {
        const raw = value();
        const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
        if (!(port >= 0 && port <= 65535)) throw usage(`--port ${raw} is not a port: use a whole number from 0 to 65535`);
        options.port = port;
        break;
      }
      case '--host':
        options.host = value();
        break;
      case '--bridge':
        options.bridge = true;
        break;
      case '--no-bridge':
        options.bridge = false;
        break;
      case '--verbose':
        options.verbose = true;
        break;
      default:
        throw usage(`unknown option ${arg}`);
    }
  }
  if (options.command.length === 0) throw usage('the server command is missing, e.g. mcp-http-transport dev -- node server.js');
  return options;
}

/** Whether fd 0 is a pipe or socket: a client launched us and speaks MCP on stdio. */
function stdinIsPipe(): boolean {
  try {
    const stat = fstatSync(0);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * Run dev mode until a signal, or until stdin closes in bridge mode. Resolves to the exit code.
 * Nothing but MCP frames (in bridge mode) ever reaches stdout: nodemon and the server print to stderr.
 */
export async function runDev(options: DevOptions): Promise<number> {
  const config = loadConfig({ transportMode: 'http', port: options.port, host: options.host, logLevel: options.verbose ? 'debug' : undefined });
  const log = createLogger(config.logLevel);
  const say = (line: string) => process.stderr.write(`mcp-http-transport dev: ${line}\n`);
  const internalPort = await freePort();
  const startedAt = Date.now();
  let first = true;
  let reloadStarted: number | undefined;

  const proxy = new DevProxy({
    targetPort: internalPort,
    authToken: config.authToken,
    log,
    onReady: ({ downMs, restored, lost }) => {
      if (first) {
        first = false;
        return say(`ready in ${Date.now() - startedAt} ms · ${url}/mcp (Streamable HTTP) · ${url}/sse (SSE)`);
      }
      const took = reloadStarted === undefined ? downMs : Date.now() - reloadStarted;
      reloadStarted = undefined;
      say(`reloaded in ${took} ms · ${restored} session${restored === 1 ? '' : 's'} restored${lost ? ` · ${lost} lost` : ''}`);
    },
  });
  const listeners: HttpServer[] = await listenOn(proxy.handle, config.host, config.port, log);
  const url = baseUrl(config.host, listeners)!;

  const cwd = process.cwd();
  const watch = options.watch.length > 0 ? options.watch : [cwd];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MCP_TRANSPORT: 'http',
    MCP_DEV_MODE: '1',
    MCP_HTTP_HOST: '127.0.0.1',
    MCP_HTTP_PORT: String(internalPort),
    MCP_SESSION_FILE: join(tmpdir(), 'mcp-http-transport', `dev-${(listeners[0]!.address() as { port: number }).port}.json`),
    MCP_LOG_LEVEL: options.verbose ? 'debug' : (process.env['MCP_LOG_LEVEL'] ?? 'info'),
    // So that `tsx server.ts` finds the project's own tsx, as it would in an npm script.
    PATH: [resolve(cwd, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(delimiter),
  };
  const ext = options.ext ?? DEFAULT_EXTENSIONS;
  say(`watching ${watch.join(', ')} (${ext}) · running ${options.command.join(' ')}`);
  const nodemon: NodemonHandle = startNodemon({
    command: options.command,
    watch,
    ext,
    env,
    cwd,
    onOutput: (line) => process.stderr.write(`${line}\n`),
    onRestarting: () => {
      reloadStarted ??= Date.now();
      proxy.markDown();
    },
    onExited: (crashed) => {
      proxy.markDown();
      say(
        crashed
          ? `✗ the server crashed (see above); fix it and save. Requests wait up to 30 s meanwhile.`
          : 'the server exited; it restarts on the next save. Requests wait up to 30 s meanwhile.',
      );
    },
  });

  let bridge: Bridge | undefined;
  if (options.bridge ?? stdinIsPipe()) {
    bridge = createBridge({ url: `${url}/mcp`, headers: config.authToken ? { authorization: `Bearer ${config.authToken}` } : {}, log });
    await bridge.start();
  } else {
    printBanner(url, say);
  }

  const exitCode = await new Promise<number>((resolveExit) => {
    process.once('SIGINT', () => resolveExit(130));
    process.once('SIGTERM', () => resolveExit(143));
    process.once('SIGHUP', () => resolveExit(129));
    void bridge?.closed.then(() => resolveExit(0));
    void nodemon.exited.then((code) => resolveExit(code ?? 1));
  });
  // Stop everything we started: the bridge's session, the public port, and nodemon's whole tree.
  await bridge?.close();
  await Promise.all(
    listeners.map((server) => {
      server.closeAllConnections();
      return new Promise((resolveClose) => server.close(resolveClose));
    }),
  );
  await nodemon.stop();
  return exitCode;
}

function printBanner(url: string, say: (line: string) => void): void {
  say(`connect your client to ${url}/mcp (or ${url}/sse for legacy SSE clients):
  Claude Code:  claude mcp add --transport http my-server ${url}/mcp
  Cursor:       { "mcpServers": { "my-server": { "url": "${url}/mcp" } } }
  Inspector:    npx @modelcontextprotocol/inspector@2 --cli ${url}/mcp --method tools/list
  Claude Desktop (stdio): { "mcpServers": { "my-server": { "command": "npx", "args": ["mcp-http-transport", "bridge", "${url}/mcp"] } } }`);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as { port: number };
  await new Promise((done) => probe.close(done));
  return port;
}
