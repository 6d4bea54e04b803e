import { existsSync, fstatSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, delimiter, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBridge, type Bridge } from '../bridge/bridge.js';
import { loadConfig, type TransportConfig } from '../config.js';
import { DevProxy } from '../dev/proxy.js';
import { Supervisor, type Generation } from '../dev/supervisor.js';
import { ConfigError } from '../errors.js';
import { baseUrl, listenOn } from '../http/listen.js';
import { createLogger, type Logger } from '../log.js';
import type { ReloadOutcome } from '../dev/hot/host.js';

/** What `mcp-http-transport dev` was asked to do. */
export interface DevOptions {
  /** The server command, run with MCP_TRANSPORT=http and MCP_DEV_MODE=1. */
  command: string[];
  /** Files or directories to watch. @default MCP_WATCH (comma list), else [cwd] */
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
  /** Reload changed modules inside this process instead of restarting the server. @default false */
  hot?: boolean;
}

/** Watched by default: JavaScript and TypeScript sources and JSON. */
export const DEFAULT_EXTENSIONS = 'js,mjs,cjs,json,ts,mts,cts,tsx';

export const DEV_USAGE = `Usage: mcp-http-transport dev [options] -- <server command...>

Runs your server in HTTP mode and restarts it on every save. The new code starts beside the old,
which finishes the calls it is running; new calls go to the new code as soon as it is up. Clients
keep their sessions. If the new code fails to start, the old one keeps serving.

Options:
  --watch PATH    watch this directory or file (repeatable; default: MCP_WATCH, a comma list, or
                  the current directory; node_modules and .git are never watched)
  --ext LIST      extensions to watch (default: js,mjs,cjs,json,ts,mts,cts,tsx)
  --port N        the public port clients connect to (default: MCP_HTTP_PORT or 3000)
  --host H        where to listen (default: MCP_HTTP_HOST or localhost)
  --bridge        speak MCP over stdio, bridged to the server (default when stdin is a pipe)
  --no-bridge     never bridge stdio
  --hot           reload the changed modules inside this process, in milliseconds, keeping every
                  connection and the state of modules you did not change (needs vite; the command
                  must be node <entry> or tsx <entry>)
  --verbose       debug logs

Examples:
  mcp-http-transport dev -- node server.js
  mcp-http-transport dev --hot -- tsx src/server.ts
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
      case '--hot':
        options.hot = true;
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

/** Changes arriving within this window make one restart (editors write a file in several steps). */
const SETTLE_MS = 10;

/**
 * Run dev mode until a signal, or until stdin closes in bridge mode. Resolves to the exit code.
 * Nothing but MCP frames (in bridge mode) ever reaches stdout: the server's output goes to stderr.
 */
export async function runDev(options: DevOptions): Promise<number> {
  const cwd = process.cwd();
  const watch = watchedPaths(options, cwd);
  const config = asFlags(() => loadConfig({ transportMode: 'http', port: options.port, host: options.host, logLevel: options.verbose ? 'debug' : undefined }));
  const log = createLogger(config.logLevel);
  const say = (line: string) => process.stderr.write(`mcp-http-transport dev: ${line}\n`);
  const startedAt = Date.now();
  const bridged = options.bridge ?? stdinIsPipe();
  if (options.hot) return runHot(options, { cwd, watch, config, log, say, bridged, startedAt });

  const proxy = new DevProxy({ log });
  const knobs = { port: options.port !== undefined ? '--port' : 'MCP_HTTP_PORT', host: options.host !== undefined ? '--host' : 'MCP_HTTP_HOST' };
  const listeners: HttpServer[] = await listenOn(proxy.handle, config.host, config.port, log, knobs);
  const url = baseUrl(config.host, listeners)!;

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MCP_TRANSPORT: 'http',
    MCP_DEV_MODE: '1',
    MCP_HTTP_HOST: '127.0.0.1',
    MCP_SESSION_FILE: join(tmpdir(), 'mcp-http-transport', `dev-${(listeners[0]!.address() as { port: number }).port}.json`),
    // The server's own status lines (its internal URL, its shutdowns) are noise here: dev prints one line per reload.
    MCP_LOG_LEVEL: options.verbose ? 'debug' : (process.env['MCP_LOG_LEVEL'] ?? 'warn'),
    // So that `tsx server.ts` finds the project's own tsx, as it would in an npm script.
    PATH: [resolve(cwd, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(delimiter),
  };
  /** Restarts after an unexpected stop, since the last save: one, so that a server that dies at once does not loop. */
  let restartsSinceSave = 0;
  const restarts = new WeakSet<Generation>();
  const supervisor = new Supervisor({
    command: options.command,
    env,
    cwd,
    onOutput: (line) => process.stderr.write(`${line}\n`),
    onServing: (server, generation) => void serving(server, generation),
    onStartFailed: (generation, reason) => {
      const after = proxy.target ? 'the previous version keeps serving' : `nothing is serving yet: requests wait up to 30 s`;
      say(`✗ the ${generation.number === 1 ? 'server' : 'new code'} failed to start: ${reason} · ${after}; fix it and save`);
    },
    onLost: (server) => {
      proxy.down();
      // A save's new code is already starting: it will serve, and restarting would only supersede it.
      if (supervisor.starting) return say(`✗ the server (pid ${server.pid}) stopped unexpectedly; the new code is starting`);
      if (restartsSinceSave++ > 0) return say(`✗ the server (pid ${server.pid}) stopped unexpectedly again; it restarts on the next save`);
      say(`✗ the server (pid ${server.pid}) stopped unexpectedly; starting it again`);
      restarts.add(supervisor.launch());
    },
  });
  const serving = async (server: { pid: number; port: number }, generation: Generation) => {
    const took = Date.now() - generation.since;
    const { restored, lost, listening } = await proxy.switchTo(server);
    if (generation.number === 1) {
      say(`ready in ${took} ms · ${url}/mcp (Streamable HTTP) · ${url}/sse (SSE)`);
      if (!bridged) printBanner(url, say);
      return;
    }
    const sessions =
      `${restored} session${restored === 1 ? '' : 's'} restored${lost ? ` · ${lost} lost` : ''}` +
      (listening ? ` · ${listening} subscription${listening === 1 ? '' : 's'} followed` : '');
    say(`${restarts.has(generation) ? 'restarted' : 'reloaded'} in ${took} ms · ${sessions}`);
  };
  await supervisor.start();

  const watcher = await watchSources(options, cwd, watch, log, (_files, since) => {
    restartsSinceSave = 0;
    supervisor.launch(since);
  });
  say(`watching ${watch.map((w) => relative(cwd, w) || '.').join(', ')} (${options.ext ?? DEFAULT_EXTENSIONS}) · running ${options.command.join(' ')}`);
  supervisor.launch(startedAt);

  let bridge: Bridge | undefined;
  if (bridged) {
    // The proxy holds requests while no server runs: the bridge must not hold them a second time.
    bridge = createBridge({ url: `${url}/mcp`, headers: config.authToken ? { authorization: `Bearer ${config.authToken}` } : {}, log, hold: false });
    await bridge.start();
  }

  const exitCode = await new Promise<number>((resolveExit) => {
    process.once('SIGINT', () => resolveExit(130));
    process.once('SIGTERM', () => resolveExit(143));
    process.once('SIGHUP', () => resolveExit(129));
    void bridge?.closed.then(() => resolveExit(0));
  });
  // Stop everything we started: the bridge's session, held requests, the public port, every server process.
  await watcher.close();
  // With nothing serving, the bridge's goodbye (DELETE /mcp) would wait at the proxy's hold: stop holding first.
  if (!proxy.target) proxy.close();
  await bridge?.close();
  proxy.close();
  await Promise.all(
    listeners.map((server) => {
      server.closeAllConnections();
      return new Promise((resolveClose) => server.close(resolveClose));
    }),
  );
  await supervisor.close();
  say('stopped');
  return exitCode;
}

/**
 * Watch the sources with chokidar (node_modules and .git never) and call `onChange` once per save:
 * changes within {@link SETTLE_MS} make one, timed from its first change.
 * @returns once the initial scan is done, so that the next save is seen
 */
async function watchSources(options: DevOptions, cwd: string, watch: string[], log: Logger, onChange: (files: string[], since: number) => void): Promise<{ close(): Promise<void> }> {
  const extensions = new Set((options.ext ?? DEFAULT_EXTENSIONS).split(',').map((e) => `.${e.trim().replace(/^\./, '')}`));
  let settle: NodeJS.Timeout | undefined;
  let since = 0;
  const files = new Set<string>();
  const { watch: watchFiles } = await import('chokidar');
  const watcher = watchFiles(watch, {
    cwd,
    ignoreInitial: true,
    ignored: (path) => path.split(sep).some((part) => part === 'node_modules' || part === '.git'),
  });
  const touched = (path: string) => {
    const name = basename(path);
    // Sources, and what --hot cannot apply in place (package.json, .env) so that it restarts.
    if (!extensions.has(extname(path)) && name !== 'package.json' && !name.startsWith('.env')) return;
    log.debug(`changed: ${path}`);
    // Timed from the save that brought the code, not from an earlier one that broke it.
    if (settle === undefined) since = Date.now();
    files.add(resolve(cwd, path));
    clearTimeout(settle);
    settle = setTimeout(() => {
      settle = undefined;
      const changed = [...files];
      files.clear();
      onChange(changed, since);
    }, SETTLE_MS);
  };
  watcher.on('all', (_event, path) => touched(path));
  // chokidar drops a second change to a file within 50 ms of the first (a format-on-save, or a save
  // right after a hot reload): the raw fs.watch events see every write.
  watcher.on('raw', (event, path, details) => {
    const watchedPath = (details as { watchedPath?: string } | undefined)?.watchedPath;
    if (event !== 'change' || !path || !watchedPath) return;
    touched(watchedPath.endsWith(`${sep}${path}`) ? watchedPath : join(watchedPath, path));
  });
  await new Promise<void>((ready) => watcher.once('ready', ready));
  return {
    close: async () => {
      clearTimeout(settle);
      await watcher.close();
    },
  };
}

/** What `runDev` has settled before it starts serving. */
interface DevContext {
  cwd: string;
  watch: string[];
  config: TransportConfig;
  log: Logger;
  say: (line: string) => void;
  bridged: boolean;
  startedAt: number;
}

/**
 * `dev --hot`: the entry runs in this process through Vite's module runner (src/dev/hot/). The
 * public port and, when a client launched us, stdio are served here, by managers whose server is the
 * host's stand-in; each save swaps the user's new server in behind every session.
 */
async function runHot(options: DevOptions, { cwd, watch, config, log, say, bridged, startedAt }: DevContext): Promise<number> {
  const [runner, entry, ...args] = options.command;
  if (!runner || !/^(node|tsx)$/.test(basename(runner)) || entry === undefined || entry.startsWith('-')) {
    throw ConfigError.of('INVALID_OPTION', '--hot', `dev --hot runs your entry itself: give it as -- node <entry> or -- tsx <entry>, not ${options.command.join(' ')}`);
  }
  const { HotHost } = await import('../dev/hot/host.js');
  const { MCPTransportManager } = await import('../manager.js');
  const host = new HotHost({ entry, cwd, warn: (line) => say(`⚠ ${line}`) });
  // The user's code runs in this process: its failures are reported, and dev goes on serving the code that works.
  process.on('unhandledRejection', (reason) => say(`⚠ unhandled rejection in your code: ${(reason as Error)?.stack ?? String(reason)}`));
  process.on('uncaughtException', (error) => say(`⚠ uncaught exception in your code: ${error.stack ?? error.message}`));
  const serving = { hotHost: true, handleSignals: false, logLevel: options.verbose ? ('debug' as const) : ('warn' as const) };
  const http = new MCPTransportManager({
    ...serving,
    server: host.facade,
    transportMode: 'http',
    host: config.host,
    port: config.port,
    authToken: config.authToken,
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
    sessionTtlSeconds: 86_400,
  });
  await http.start();
  const url = http.url!;
  let stdio: InstanceType<typeof MCPTransportManager> | undefined;
  if (bridged) {
    // The entry runs in this process, where fd 1 carries MCP frames: the transport writes there on a stream of its
    // own, and everything else written to process.stdout (console.log, console.dir, loggers) goes to stderr.
    const { createWriteStream } = await import('node:fs');
    const frames = createWriteStream('', { fd: 1, autoClose: false });
    process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
    stdio = new MCPTransportManager({ ...serving, server: host.facade, transportMode: 'stdio', stdioOut: frames });
  }
  process.argv = [process.execPath, resolve(cwd, entry), ...args];
  say(`watching ${watch.map((w) => relative(cwd, w) || '.').join(', ')} (${options.ext ?? DEFAULT_EXTENSIONS}) · running ${entry} in process (hot)`);
  const report = (outcome: ReloadOutcome, first = false) => {
    if (outcome.kind === 'failed') {
      return say(`✗ ${first ? 'the entry failed to load' : 'hot reload failed'}: ${outcome.error} · ${first ? 'nothing is serving yet' : 'the previous code keeps serving'}; fix it and save`);
    }
    const kept = `${outcome.sessions} session${outcome.sessions === 1 ? '' : 's'} kept`;
    if (first) {
      say(`ready in ${Date.now() - startedAt} ms (hot) · ${url}/mcp (Streamable HTTP) · ${url}/sse (SSE)`);
      if (!bridged) printBanner(url, say);
    } else if (outcome.kind === 'hot') say(`hot-reloaded ${outcome.files.join(', ')} in ${outcome.ms} ms · ${kept}`);
    else say(`restarted${outcome.reason ? ` (${outcome.reason})` : ''} in ${outcome.ms} ms · ${kept}`);
  };
  const watcher = await watchSources(options, cwd, watch, log, (files, since) => void host.reload(files, since).then((o) => report(o)));
  report(await host.start(), true);
  // Started once the first load is done: the stdio session connects at once, and needs a server then.
  await stdio?.start();

  const exitCode = await new Promise<number>((resolveExit) => {
    process.once('SIGINT', () => resolveExit(130));
    process.once('SIGTERM', () => resolveExit(143));
    process.once('SIGHUP', () => resolveExit(129));
    if (stdio) process.stdin.once('end', () => resolveExit(0));
  });
  await watcher.close();
  await Promise.all([http.close(), stdio?.close()]);
  await host.close();
  say('stopped');
  return exitCode;
}

/** Run `load`, naming `--host`/`--port` in its errors where the user gave a flag rather than a variable. */
function asFlags<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const flag: Record<string, string> = { host: '--host', port: '--port' };
    throw new ConfigError(
      error.problems.map((p) => (flag[p.source] ? { ...p, source: flag[p.source]!, message: p.message.replace(new RegExp(`^${p.source}=`), `${flag[p.source]} `).replace('MCP_HTTP_PORT', '--port') } : p)),
      { cause: error },
    );
  }
}

/** The paths to watch, made absolute; a missing one is an error naming it as the user wrote it. */
function watchedPaths(options: DevOptions, cwd: string): string[] {
  const fromEnv = options.watch.length === 0 && process.env['MCP_WATCH'] !== undefined;
  const given = options.watch.length > 0 ? options.watch : fromEnv ? process.env['MCP_WATCH']!.split(',').map((s) => s.trim()).filter(Boolean) : [];
  if (given.length === 0) return [cwd];
  const problems = given
    .filter((path) => !existsSync(resolve(cwd, path)))
    .map((path) => ({
      code: 'INVALID_OPTION' as const,
      source: fromEnv ? 'MCP_WATCH' : '--watch',
      message: `${fromEnv ? `MCP_WATCH=${process.env['MCP_WATCH']}` : `--watch ${path}`}: ${resolve(cwd, path)} does not exist; watch a directory or file of your project`,
    }));
  if (problems.length > 0) throw new ConfigError(problems);
  return given.map((path) => resolve(cwd, path));
}

/** How to connect each client; the stdio config uses absolute paths, so it works before the package is published. */
function printBanner(url: string, say: (line: string) => void): void {
  const bin = fileURLToPath(new URL('../../bin/mcp-http-transport.js', import.meta.url));
  const desktop = JSON.stringify({ mcpServers: { 'my-server': { command: process.execPath, args: [bin, 'bridge', `${url}/mcp`] } } });
  say(`connect your client to ${url}/mcp (or ${url}/sse for legacy SSE clients):
  Claude Code:  claude mcp add --transport http my-server ${url}/mcp
  Cursor:       { "mcpServers": { "my-server": { "url": "${url}/mcp" } } }
  Inspector:    npx @modelcontextprotocol/inspector@2 --cli ${url}/mcp --method tools/list
  Claude Desktop (stdio): ${desktop}`);
}
