import { ConfigError, type ConfigProblem } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';

/** Which HTTP transport the upstream speaks. `auto` tries Streamable HTTP, then falls back to legacy SSE. */
export type UpstreamTransport = 'auto' | 'http' | 'sse';

/** Options of `createBridge`. Checked once, when the bridge is created. */
export interface BridgeOptions {
  /** The upstream MCP endpoint, e.g. `http://localhost:3000/mcp` (or `/sse`). An http(s) URL. */
  url: string | UrlLike;
  /** @default 'auto' */
  transport?: UpstreamTransport;
  /** Extra HTTP headers for every upstream request (e.g. Authorization). @default {} */
  headers?: Record<string, string>;
  /** Reconnect backoff limits. @default DEFAULT_BACKOFF */
  backoff?: BackoffOptions;
  /** How long a request may wait for the upstream to come back before it fails. @default 30000 */
  queueTimeoutMs?: number;
  /** Most messages held while the upstream is down; more fail at once. A whole number. @default 1000 */
  maxQueue?: number;
  /** How long a liveness probe (`ping`) may take. @default 5000 */
  probeTimeoutMs?: number;
  /**
   * Whether the bridge holds requests while the upstream is unavailable. With `false` it never does:
   * once a connection attempt has failed (and until one succeeds) every request is answered at once
   * with a JSON-RPC error, and requests caught by a loss (or sent before the first connection) wait
   * for one connection attempt only. For an upstream that holds requests itself, such as the
   * `mcp-http-transport dev` proxy, so that only one layer holds a request. Messages that are not
   * requests (notifications, answers to the server) are still queued and delivered on reconnect.
   * @default true
   */
  hold?: boolean;
  /** @default a stderr logger at `warn` */
  log?: Logger;
  /** Where the client's frames come from: a Node readable stream. @default process.stdin */
  stdin?: BridgeReadable;
  /** Where frames to the client go, a Node writable stream; nothing else is ever written there. @default process.stdout */
  stdout?: BridgeWritable;
}

/** A WHATWG `URL`, named by the part the bridge reads, so that the public types need no DOM or Node lib. */
export interface UrlLike {
  readonly href: string;
}

/**
 * The part of a Node readable stream the bridge uses, written structurally so that the public types
 * need no `@types/node`.
 */
export interface BridgeReadable {
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** When present, the bridge pauses the stream on close if nothing else reads it. */
  pause?(): unknown;
  listenerCount?(event: string): number;
}

/** The part of a Node writable stream the bridge uses. */
export interface BridgeWritable {
  write(chunk: string): boolean;
  once(event: string, listener: (...args: any[]) => void): unknown;
}

/** The bridge's settings once defaults are merged and every value checked. */
export interface BridgeSettings {
  /** A `URL`. */
  readonly url: UrlLike;
  readonly transport: UpstreamTransport;
  readonly headers: Readonly<Record<string, string>>;
  readonly backoff: Readonly<Required<BackoffOptions>>;
  readonly queueTimeoutMs: number;
  readonly maxQueue: number;
  readonly probeTimeoutMs: number;
  readonly hold: boolean;
}

/** The defaults of every optional setting, merged once by {@link resolveBridgeOptions}. */
export const DEFAULT_BRIDGE_OPTIONS: Readonly<Omit<BridgeSettings, 'url'>> = Object.freeze({
  transport: 'auto',
  headers: Object.freeze({}),
  backoff: DEFAULT_BACKOFF,
  queueTimeoutMs: 30_000,
  maxQueue: 1000,
  probeTimeoutMs: 5000,
  hold: true,
});

/** A checked setting, by its path in {@link BridgeOptions} (`backoff.factor`). */
export type BridgeField =
  | 'url'
  | 'transport'
  | 'headers'
  | 'hold'
  | 'queueTimeoutMs'
  | 'maxQueue'
  | 'probeTimeoutMs'
  | 'backoff.initialDelayMs'
  | 'backoff.factor'
  | 'backoff.maxDelayMs'
  | 'backoff.jitter';

/** Longest delay a Node timer honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Every problem in `options`, each a one-line message naming the field, the value and the fix.
 * @param names how a field is called where its value came from: the CLI passes its flags
 *   (`--max-backoff`), so the message names what the user typed. Defaults to the option's path.
 */
export function bridgeOptionProblems(options: BridgeOptions, names: Partial<Record<BridgeField, string>> = {}): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const bad = new Set<BridgeField>();
  const fail = (field: BridgeField, value: unknown, fix: string) => {
    bad.add(field);
    const name = names[field] ?? field;
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    // A flag is shown as typed (`--max-backoff 99`), an option as `name=value`.
    problems.push({ code: 'INVALID_OPTION', source: name, message: `${name}${name.startsWith('--') ? ' ' : '='}${shown} ${fix}` });
  };
  const millis = (field: BridgeField, value: unknown, min: number, what: string) => {
    if (value === undefined) return;
    if (typeof value !== 'number' || !(value >= min && value <= MAX_TIMER_MS)) {
      fail(field, value, `is not a valid ${what}: use a number of milliseconds from ${min} to ${MAX_TIMER_MS}`);
    }
  };

  if (options.url === undefined || options.url === null) fail('url', options.url, 'is missing: use e.g. http://localhost:3000/mcp');
  else {
    let url: URL | undefined;
    try {
      url = new URL(typeof options.url === 'string' ? options.url : options.url.href);
    } catch {
      fail('url', String(options.url), 'is not a URL: use e.g. http://localhost:3000/mcp');
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') fail('url', String(options.url), 'is not an http(s) URL: use e.g. http://localhost:3000/mcp');
  }
  const { transport, headers, hold, maxQueue } = options;
  if (transport !== undefined && transport !== 'auto' && transport !== 'http' && transport !== 'sse') fail('transport', transport, 'is not a transport: use auto, http or sse');
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Object.values(headers).some((v) => typeof v !== 'string'))) {
    fail('headers', JSON.stringify(headers), 'is not a map of header names to strings');
  }
  if (hold !== undefined && typeof hold !== 'boolean') fail('hold', hold, 'is not a boolean: use true or false');
  millis('queueTimeoutMs', options.queueTimeoutMs, 0, 'queue timeout');
  millis('probeTimeoutMs', options.probeTimeoutMs, 1, 'probe timeout');
  if (maxQueue !== undefined && !(Number.isInteger(maxQueue) && maxQueue >= 0)) fail('maxQueue', maxQueue, 'is not a valid queue bound: use a whole number, 0 or more');

  const backoff = options.backoff ?? {};
  millis('backoff.initialDelayMs', backoff.initialDelayMs, 0, 'delay');
  millis('backoff.maxDelayMs', backoff.maxDelayMs, 0, 'delay');
  if (backoff.factor !== undefined && !(typeof backoff.factor === 'number' && backoff.factor >= 1 && Number.isFinite(backoff.factor))) {
    fail('backoff.factor', backoff.factor, 'is not a valid growth factor: use a number of at least 1 (1 keeps the delay constant)');
  }
  if (backoff.jitter !== undefined && !(typeof backoff.jitter === 'number' && backoff.jitter >= 0 && backoff.jitter <= 1)) {
    fail('backoff.jitter', backoff.jitter, 'is not a valid jitter: use a fraction from 0 to 1 (0.2 spreads delays by ±20 %)');
  }
  // Compared once both are valid, with the defaults filled in: the pair is what must agree.
  const initial = backoff.initialDelayMs ?? DEFAULT_BACKOFF.initialDelayMs;
  const max = backoff.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs;
  if (!bad.has('backoff.initialDelayMs') && !bad.has('backoff.maxDelayMs') && max < initial) {
    const initialName = names['backoff.initialDelayMs'] ?? 'backoff.initialDelayMs';
    const initialText = backoff.initialDelayMs === undefined ? `${initial}, the default` : String(initial);
    fail('backoff.maxDelayMs', max, `is less than ${initialName} (${initialText}): use a value of at least ${initial}, or lower ${initialName}`);
  }
  return problems;
}

/**
 * Merge the defaults into `options` once and check every value.
 * @throws ConfigError listing every bad value at once, each naming its field and the fix
 */
export function resolveBridgeOptions(options: BridgeOptions): BridgeSettings {
  const problems = bridgeOptionProblems(options);
  if (problems.length > 0) throw new ConfigError(problems);
  const d = DEFAULT_BRIDGE_OPTIONS;
  return Object.freeze({
    url: new URL(typeof options.url === 'string' ? options.url : options.url.href),
    transport: options.transport ?? d.transport,
    headers: Object.freeze({ ...(options.headers ?? d.headers) }),
    backoff: Object.freeze({ ...DEFAULT_BACKOFF, ...withoutUndefined(options.backoff ?? {}) }),
    queueTimeoutMs: options.queueTimeoutMs ?? d.queueTimeoutMs,
    maxQueue: options.maxQueue ?? d.maxQueue,
    probeTimeoutMs: options.probeTimeoutMs ?? d.probeTimeoutMs,
    hold: options.hold ?? d.hold,
  });
}

/** `{ factor: undefined }` means the default, not "no factor". */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
