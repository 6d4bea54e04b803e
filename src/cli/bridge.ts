import { bridgeOptionProblems, createBridge, type BridgeField, type BridgeOptions, type UpstreamTransport } from '../bridge/bridge.js';
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

It speaks the client's protocol era: a 2025 client (initialize) keeps one session, a 2026-07-28
client (server/discover, the version in every request's _meta) has each request relayed on its own.
Either way it hides upstream restarts: it reconnects, replays a 2025 client's initialize if the
server forgot the session, re-opens 2026-07-28 subscriptions/listen streams, and holds calls meanwhile
(up to 30 s). A call in flight when the server went away is sent again if a repeat is harmless
(reads, and tools the server annotated readOnlyHint or idempotentHint); any other fails at once: its
outcome is unknown.

Options:
  --transport T     auto (default: Streamable HTTP, falling back to legacy SSE), http or sse
  --header "K: V"   send this header upstream (repeatable)
  --token T         send Authorization: Bearer T (default: MCP_AUTH_TOKEN)
  --max-backoff MS  longest wait between reconnect attempts (default 50)
  --queue-timeout MS
                    how long a call waits for the upstream to come back (default 30000)
  --verbose         log to stderr (quiet by default)`;

/** The flag each bridge option comes from, so that a bad value is reported as the user typed it. */
const FLAGS: Partial<Record<BridgeField, string>> = {
  'backoff.maxDelayMs': '--max-backoff',
  queueTimeoutMs: '--queue-timeout',
  transport: '--transport',
  url: '<url>',
};

/** Parse `bridge` arguments. @throws ConfigError (exit 2) for bad usage or a bad value, naming the flag */
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
  const parsed: BridgeCliOptions = { url, transport, headers, verbose, maxBackoffMs, queueTimeoutMs };
  // The bridge's own checks, run now so that a bad value exits 2 before anything starts.
  const problems = bridgeOptionProblems(bridgeOptions(parsed), FLAGS);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => ({ ...p, message: `${p.message} (see mcp-http-transport bridge --help)` })));
  return parsed;
}

/** The library options for what the command line asked. */
function bridgeOptions(options: BridgeCliOptions): BridgeOptions {
  return {
    url: options.url,
    transport: options.transport,
    headers: options.headers,
    // The first delay never exceeds the cap the user chose.
    backoff: options.maxBackoffMs === undefined ? undefined : { maxDelayMs: options.maxBackoffMs, initialDelayMs: Math.min(20, options.maxBackoffMs) },
    queueTimeoutMs: options.queueTimeoutMs,
  };
}

/** Relay stdio to the upstream until stdin closes. Resolves to the exit code. */
export async function runBridge(options: BridgeCliOptions): Promise<number> {
  const bridge = createBridge({ ...bridgeOptions(options), log: createLogger(options.verbose ? 'debug' : 'warn') });
  await bridge.start();
  const code = await new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(130));
    process.once('SIGTERM', () => resolve(143));
    void bridge.closed.then(() => resolve(0));
  });
  await bridge.close();
  return code;
}
