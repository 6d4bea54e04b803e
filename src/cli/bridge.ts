import { createBridge, type UpstreamTransport } from '../bridge/bridge.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';

/** What `mcp-http-transport bridge` was asked to do. */
export interface BridgeCliOptions {
  url: URL;
  transport: UpstreamTransport;
  maxBackoffMs?: number;
  queueTimeoutMs?: number;
  headers: Record<string, string>;
  verbose: boolean;
}

export const BRIDGE_USAGE = `Usage: mcp-http-transport bridge <url> [options]

A stdio MCP server (for clients that only launch local commands, like Claude Desktop) that relays
everything to an MCP server over HTTP.

It keeps the client's session across upstream restarts: it reconnects, replays the client's
initialize if the server forgot the session, holds calls meanwhile (up to 30 s), retries calls that
only read, and fails others at once with a clear error.

Options:
  --transport T     auto (default: Streamable HTTP, falling back to legacy SSE), http or sse
  --header "K: V"   send this header upstream (repeatable)
  --token T         send Authorization: Bearer T (default: MCP_AUTH_TOKEN)
  --max-backoff MS  longest wait between reconnect attempts (default 50)
  --queue-timeout MS
                    how long a call waits for the upstream to come back (default 30000)
  --verbose         log to stderr (quiet by default)`;

/** Parse `bridge` arguments. @throws ConfigError (exit 2) for bad usage */
export function parseBridgeArgs(argv: readonly string[]): BridgeCliOptions {
  const usage = (message: string) => ConfigError.of('INVALID_OPTION', 'bridge', `${message} (see mcp-http-transport bridge --help)`);
  const headers: Record<string, string> = {};
  let url: URL | undefined;
  let verbose = false;
  let transport: UpstreamTransport = 'auto';
  let maxBackoffMs: number | undefined;
  let queueTimeoutMs: number | undefined;
  const millis = (flag: string, raw: string) => {
    if (!/^\d+$/.test(raw)) throw usage(`${flag} ${raw} is not a whole number of milliseconds`);
    return Number(raw);
  };
  const token = process.env['MCP_AUTH_TOKEN'];
  if (token) headers['authorization'] = `Bearer ${token}`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw usage(`${arg} needs a value`);
      return v;
    };
    if (arg === '--header') {
      const [name, ...rest] = value().split(':');
      if (!name?.trim() || rest.length === 0) throw usage(`--header wants "Name: value"`);
      headers[name.trim().toLowerCase()] = rest.join(':').trim();
    } else if (arg === '--token') headers['authorization'] = `Bearer ${value()}`;
    else if (arg === '--verbose') verbose = true;
    else if (arg === '--max-backoff') maxBackoffMs = millis(arg, value());
    else if (arg === '--queue-timeout') queueTimeoutMs = millis(arg, value());
    else if (arg === '--transport') {
      const t = value();
      if (t !== 'auto' && t !== 'http' && t !== 'sse') throw usage(`--transport ${t} is not one of auto, http, sse`);
      transport = t;
    }
    else if (arg.startsWith('-')) throw usage(`unknown option ${arg}`);
    else if (url) throw usage(`one URL only, got ${arg} as well`);
    else {
      try {
        url = new URL(arg);
      } catch {
        throw usage(`${arg} is not a URL: use e.g. http://localhost:3000/mcp`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`${arg} is not an http(s) URL`);
    }
  }
  if (!url) throw usage('the upstream URL is missing, e.g. mcp-http-transport bridge http://localhost:3000/mcp');
  return { url, transport, headers, verbose, maxBackoffMs, queueTimeoutMs };
}

/** Relay stdio to the upstream until stdin closes. Resolves to the exit code. */
export async function runBridge(options: BridgeCliOptions): Promise<number> {
  const bridge = createBridge({
    url: options.url,
    transport: options.transport,
    headers: options.headers,
    backoff: options.maxBackoffMs === undefined ? undefined : { maxDelayMs: options.maxBackoffMs, initialDelayMs: Math.min(20, options.maxBackoffMs) },
    queueTimeoutMs: options.queueTimeoutMs,
    log: createLogger(options.verbose ? 'debug' : 'warn'),
  });
  await bridge.start();
  const code = await new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(130));
    process.once('SIGTERM', () => resolve(143));
    void bridge.closed.then(() => resolve(0));
  });
  await bridge.close();
  return code;
}
