import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import dotenv from 'dotenv';
import type { VerifyAccessToken } from './auth-info.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

/** How the server is reached. */
export type TransportMode = 'stdio' | 'http';

/** Settings that may come from options or the environment. Options win over env, env over defaults. */
export interface TransportConfigOptions {
  /** `stdio` or `http`. Env `MCP_TRANSPORT`. @default 'stdio' */
  transportMode?: TransportMode;
  /**
   * Where HTTP listens. `localhost` listens on both 127.0.0.1 and ::1, so clients reach it whichever
   * address their resolver prefers. Env `MCP_HTTP_HOST`. @default 'localhost'
   */
  host?: string;
  /** HTTP port; `0` picks a free one. Env `MCP_HTTP_PORT`. @default 3000 */
  port?: number;
  /** Stateless Streamable HTTP: no sessions, one transport per request. Env `MCP_HTTP_STATELESS=1`. @default false */
  stateless?: boolean;
  /** When set, every HTTP request needs `Authorization: Bearer <token>`. Env `MCP_AUTH_TOKEN`. @default undefined */
  authToken?: string;
  /**
   * OAuth: the authorization server whose access tokens (JWTs) this server accepts, exactly as its tokens'
   * `iss` claim spells it (`https://YOUR_TENANT.auth0.com/`, `https://host/realms/REALM`). Its signing keys
   * are found through its RFC 8414 or OpenID metadata at startup, unless `authJwksUrl` is set. `https://`
   * is required, except on loopback. Not together with `authToken`. Env `MCP_AUTH_ISSUER`. @default undefined
   */
  authIssuer?: string;
  /** OAuth: where the issuer's JWKS is; skips discovery at startup. Env `MCP_AUTH_JWKS_URL`. @default from the issuer's metadata */
  authJwksUrl?: string;
  /**
   * OAuth: the audience (`aud`) every token must name. Replaces the default; when it is an http(s) URL,
   * it is also the resource advertised in the metadata (set it to the public URL behind a proxy).
   * Env `MCP_AUTH_AUDIENCE`. @default this server's URL, `http://<host>:<port>/mcp`
   */
  authAudience?: string;
  /** OAuth: scopes every request needs. Env `MCP_AUTH_SCOPES`, comma or space separated. @default [] (none) */
  authScopes?: readonly string[];
  /**
   * OAuth with tokens checked by your code (opaque tokens, by introspection) instead of as JWTs. Needs
   * `authIssuer`, which the metadata advertises. Library only. @default undefined
   */
  verifyAccessToken?: VerifyAccessToken;
  /** Origins accepted besides loopback ones (`*` accepts any). Env `MCP_ALLOWED_ORIGINS`, comma list. @default [] */
  allowedOrigins?: readonly string[];
  /** Host headers accepted besides loopback ones (`name` or `name:port`). Env `MCP_ALLOWED_HOSTS`, comma list. @default [] */
  allowedHosts?: readonly string[];
  /** `error`, `warn`, `info` or `debug`; logs always go to stderr. Env `MCP_LOG_LEVEL`. @default 'info' */
  logLevel?: LogLevel;
  /** Dev behaviour (session restore, verbose logs). Env `MCP_DEV_MODE=1`. @default false */
  devMode?: boolean;
  /**
   * Where dev mode saves sessions so that the next process can restore them. Env `MCP_SESSION_FILE`.
   * @default `<tmpdir>/mcp-http-transport/sessions-<port>.json`
   */
  sessionFile?: string;
  /** Largest accepted request body in bytes; larger ones get 413. @default 4194304 (4 MiB) */
  maxBodyBytes?: number;
  /** Most live HTTP sessions; a new one beyond gets 503 with Retry-After. Env `MCP_MAX_SESSIONS`. @default 1000 */
  maxSessions?: number;
  /**
   * Seconds a session may stay idle (no request, no open stream) before it is closed. Env `MCP_SESSION_TTL`.
   * @default 1800 (30 min), or 86400 (a day) in dev mode
   */
  sessionTtlSeconds?: number;
  /** Seconds between keep-alive comments on idle SSE streams, for proxies that drop quiet connections; 0 turns them off. Env `MCP_SSE_KEEPALIVE`. @default 15 */
  keepAliveSeconds?: number;
  /**
   * Keep sessions in Redis, so that several replicas behind a load balancer serve any session:
   * `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. HTTP only; needs the optional
   * `redis` package (node-redis 5 or 6), which is loaded only when this is set. Env `MCP_REDIS_URL`.
   * `MCPTransportManager` also takes a node-redis client of yours here.
   * @default undefined (sessions stay in this process)
   */
  redis?: string;
  /**
   * Set by `mcp-http-transport dev` for the server processes it runs: where to announce the internal
   * port once listening, and from where to take the order to drain. Not for users. Env `MCP_DEV_CONTROL`.
   * @default undefined
   */
  devControl?: string;
}

/** The resolved, frozen configuration. */
export type TransportConfig = Readonly<
  Required<Omit<TransportConfigOptions, 'authToken' | 'sessionFile' | 'devControl' | 'redis' | 'authIssuer' | 'authJwksUrl' | 'authAudience' | 'verifyAccessToken'>>
> & {
  readonly authToken: string | undefined;
  readonly authIssuer: string | undefined;
  readonly authJwksUrl: string | undefined;
  readonly authAudience: string | undefined;
  readonly verifyAccessToken: VerifyAccessToken | undefined;
  readonly redisUrl: string | undefined;
  readonly devControl: string | undefined;
  readonly sessionFile: string | undefined;
  /**
   * Bad values that were ignored because the chosen transport does not use them (an invalid
   * `MCP_HTTP_PORT` in stdio mode), one line each naming the variable. The manager logs them as warnings.
   */
  readonly warnings: readonly string[];
};

/** The defaults, merged once by {@link parseConfig}. */
export const DEFAULT_CONFIG: TransportConfig = Object.freeze({
  transportMode: 'stdio',
  host: 'localhost',
  port: 3000,
  stateless: false,
  authToken: undefined,
  authIssuer: undefined,
  authJwksUrl: undefined,
  authAudience: undefined,
  authScopes: Object.freeze([]),
  verifyAccessToken: undefined,
  sessionFile: undefined,
  devControl: undefined,
  redisUrl: undefined,
  allowedOrigins: [],
  allowedHosts: [],
  logLevel: 'info',
  devMode: false,
  maxBodyBytes: 4 * 1024 * 1024,
  maxSessions: 1000,
  sessionTtlSeconds: 1800,
  keepAliveSeconds: 15,
  warnings: Object.freeze([]),
});

/**
 * The settings a stdio server uses (the log level, and dev mode for its default). A bad value of any
 * other setting only matters over HTTP, so in stdio mode it is a warning, not an error: a variable
 * such as MCP_HTTP_PORT set globally for dev must not stop a stdio server.
 */
const STDIO_SETTINGS: ReadonlySet<keyof TransportConfig> = new Set(['transportMode', 'logLevel', 'devMode']);

const DEV_SESSION_TTL_SECONDS = 86_400;

type Env = Readonly<Record<string, string | undefined>>;

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

const list = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * Resolve configuration from an env map and explicit options. Pure: reads nothing else.
 * @throws ConfigError listing every bad value at once, each naming its variable and the fix
 */
export function parseConfig(env: Env, options: TransportConfigOptions = {}): TransportConfig {
  const problems: (ConfigProblem & { setting: keyof TransportConfig })[] = [];
  const fail = (setting: keyof TransportConfig, code: ConfigProblem['code'], source: string, message: string): undefined => {
    problems.push({ setting, code, source, message });
    return undefined;
  };
  /** The option if given, else the env variable parsed (a parser calls `fail` and yields undefined). */
  const pick = <T>(option: T | undefined, variable: string, parse: (raw: string) => T | undefined): T | undefined => {
    if (option !== undefined) return option;
    const raw = env[variable];
    return raw === undefined ? undefined : parse(raw.trim());
  };
  const bool = (setting: keyof TransportConfig, variable: string) => (raw: string) =>
    TRUE.has(raw.toLowerCase()) ? true : FALSE.has(raw.toLowerCase()) ? false : fail(setting, 'INVALID_OPTION', variable, `${variable}=${raw} is not a boolean: use 1 or 0`);
  const badTransport = (source: string, raw: string) => fail('transportMode', 'INVALID_TRANSPORT', source, `${source}=${raw} is not a transport: use stdio or http`);
  const badPort = (source: string, raw: string) =>
    fail('port', 'INVALID_PORT', source, `${source}=${raw} is not a port: use a whole number from 0 to 65535 (0 picks a free port)`);
  const badLogLevel = (source: string, raw: string) =>
    fail('logLevel', 'INVALID_LOG_LEVEL', source, `${source}=${raw} is not a log level: use one of ${LOG_LEVELS.join(', ')}`);

  // Values are case-insensitive: MCP_TRANSPORT=HTTP means http.
  const transportMode = pick(options.transportMode, 'MCP_TRANSPORT', (raw) => {
    const mode = raw.toLowerCase();
    return mode === 'stdio' || mode === 'http' ? mode : badTransport('MCP_TRANSPORT', raw);
  });
  const host = pick(options.host, 'MCP_HTTP_HOST', (raw) => {
    const problem = hostProblem(raw);
    return problem ? fail('host', 'INVALID_HOST', 'MCP_HTTP_HOST', `MCP_HTTP_HOST${problem}`) : raw;
  });
  const port = pick(options.port, 'MCP_HTTP_PORT', (raw) => (/^\d+$/.test(raw) ? Number(raw) : badPort('MCP_HTTP_PORT', raw)));
  const stateless = pick(options.stateless, 'MCP_HTTP_STATELESS', bool('stateless', 'MCP_HTTP_STATELESS'));
  const authToken = pick(options.authToken, 'MCP_AUTH_TOKEN', (raw) => raw || undefined);
  const authIssuer = pick(options.authIssuer, 'MCP_AUTH_ISSUER', (raw) => raw || undefined);
  const authJwksUrl = pick(options.authJwksUrl, 'MCP_AUTH_JWKS_URL', (raw) => raw || undefined);
  const authAudience = pick(options.authAudience, 'MCP_AUTH_AUDIENCE', (raw) => raw || undefined);
  const authScopes = pick(options.authScopes, 'MCP_AUTH_SCOPES', (raw) => raw.split(/[\s,]+/).filter(Boolean));
  const allowedOrigins = pick(options.allowedOrigins, 'MCP_ALLOWED_ORIGINS', list);
  const allowedHosts = pick(options.allowedHosts, 'MCP_ALLOWED_HOSTS', list);
  const logLevel = pick(options.logLevel, 'MCP_LOG_LEVEL', (raw) =>
    (LOG_LEVELS as readonly string[]).includes(raw.toLowerCase()) ? (raw.toLowerCase() as LogLevel) : badLogLevel('MCP_LOG_LEVEL', raw),
  );
  const devMode = pick(options.devMode, 'MCP_DEV_MODE', bool('devMode', 'MCP_DEV_MODE'));
  const sessionFile = pick(options.sessionFile, 'MCP_SESSION_FILE', (raw) => raw || undefined);
  const devControl = pick(options.devControl, 'MCP_DEV_CONTROL', (raw) => raw || undefined);
  const whole = (setting: keyof TransportConfig, variable: string, min: number) => (raw: string) =>
    /^\d+$/.test(raw) && Number(raw) >= min ? Number(raw) : fail(setting, 'INVALID_OPTION', variable, `${variable}=${raw} is not a whole number of at least ${min}`);
  const maxSessions = pick(options.maxSessions, 'MCP_MAX_SESSIONS', whole('maxSessions', 'MCP_MAX_SESSIONS', 1));
  const sessionTtlSeconds = pick(options.sessionTtlSeconds, 'MCP_SESSION_TTL', whole('sessionTtlSeconds', 'MCP_SESSION_TTL', 1));
  const keepAliveSeconds = pick(options.keepAliveSeconds, 'MCP_SSE_KEEPALIVE', whole('keepAliveSeconds', 'MCP_SSE_KEEPALIVE', 0));
  const redisUrl = pick(options.redis, 'MCP_REDIS_URL', (raw) => raw || undefined);

  const config = { ...DEFAULT_CONFIG };
  const set = <K extends keyof TransportConfig>(key: K, value: TransportConfig[K] | undefined) => {
    if (value !== undefined) (config as Record<string, unknown>)[key] = value;
  };
  set('transportMode', transportMode);
  set('host', host);
  set('port', port);
  set('stateless', stateless);
  set('authToken', authToken);
  set('authIssuer', authIssuer);
  set('authJwksUrl', authJwksUrl);
  set('authAudience', authAudience);
  set('authScopes', authScopes);
  set('verifyAccessToken', options.verifyAccessToken);
  set('allowedOrigins', allowedOrigins);
  set('allowedHosts', allowedHosts);
  set('logLevel', logLevel ?? (devMode ? 'debug' : undefined));
  set('devMode', devMode);
  set('sessionFile', sessionFile);
  set('devControl', devControl);
  set('maxBodyBytes', options.maxBodyBytes);
  set('maxSessions', maxSessions);
  set('sessionTtlSeconds', sessionTtlSeconds ?? (devMode ? DEV_SESSION_TTL_SECONDS : undefined));
  set('keepAliveSeconds', keepAliveSeconds);
  set('redisUrl', redisUrl);

  // Explicit options are checked too: a typo in code deserves the same one-line answer as one in env.
  if (config.transportMode !== 'stdio' && config.transportMode !== 'http') badTransport('transportMode', String(config.transportMode));
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    badPort(options.port !== undefined ? 'port' : 'MCP_HTTP_PORT', String(config.port));
  }
  if (options.host !== undefined && hostProblem(options.host)) fail('host', 'INVALID_HOST', 'host', `host${hostProblem(options.host)}`);
  if (!(LOG_LEVELS as readonly string[]).includes(config.logLevel)) badLogLevel('logLevel', String(config.logLevel));
  if (!Number.isInteger(config.maxBodyBytes) || config.maxBodyBytes <= 0) {
    fail('maxBodyBytes', 'INVALID_OPTION', 'maxBodyBytes', `maxBodyBytes=${config.maxBodyBytes} must be a positive whole number of bytes`);
  }
  if (redisUrl !== undefined && redisUrlProblem(redisUrl)) {
    const source = options.redis !== undefined ? 'redis' : 'MCP_REDIS_URL';
    fail('redisUrl', 'INVALID_OPTION', source, `${source}${redisUrlProblem(redisUrl)}`);
  }
  authProblems(config, options, fail);
  // Only once the transport is known can a problem be judged harmless to it.
  const stdio = config.transportMode === 'stdio' && !problems.some((p) => p.setting === 'transportMode');
  const errors = stdio ? problems.filter((p) => STDIO_SETTINGS.has(p.setting)) : problems;
  if (errors.length > 0) throw new ConfigError(errors.map(({ code, source, message }) => ({ code, source, message })));
  const warnings = problems.filter((p) => !errors.includes(p)).map((p) => `${p.message} (ignored: stdio mode does not use ${p.source})`);
  return Object.freeze({
    ...config,
    authScopes: Object.freeze([...config.authScopes]),
    allowedOrigins: Object.freeze([...config.allowedOrigins]),
    allowedHosts: Object.freeze([...config.allowedHosts]),
    warnings: Object.freeze(warnings),
  });
}

/**
 * What is wrong with a listen host, as the rest of a sentence that starts with its name; undefined when
 * it looks fine. Catches the usual slips (a URL, a port, an empty value); a name that does not resolve
 * is reported by `start()`.
 */
function hostProblem(host: string): string | undefined {
  const fix = 'set it to a host name or address only, such as localhost or 127.0.0.1';
  if (host === '') return ` is empty: ${fix}`;
  if (/[\s/]/.test(host)) return `=${host} is not a host: ${fix}${host.includes('://') ? ' (not a URL)' : ''}`;
  // One colon is a port (IPv6 addresses have at least two).
  if (/^[^:]+:\d*$/.test(host)) return `=${host} is not a host: ${fix}, and put the port in MCP_HTTP_PORT`;
  return undefined;
}

/**
 * The auth settings, judged together: one way to authenticate, OAuth settings only with an issuer, and
 * URLs that cannot be read or forged in transit (`https://`, or `http://` to this machine only).
 */
function authProblems(
  config: Pick<TransportConfig, 'authToken' | 'authIssuer' | 'authJwksUrl' | 'authAudience' | 'authScopes' | 'verifyAccessToken'>,
  options: TransportConfigOptions,
  fail: (setting: keyof TransportConfig, code: ConfigProblem['code'], source: string, message: string) => undefined,
): void {
  const name = (option: keyof TransportConfigOptions, variable: string) => (options[option] !== undefined ? option : variable);
  const issuer = name('authIssuer', 'MCP_AUTH_ISSUER');
  if (config.authToken !== undefined && (config.authIssuer !== undefined || config.verifyAccessToken !== undefined)) {
    const oauth = config.authIssuer !== undefined ? issuer : 'verifyAccessToken';
    const token = name('authToken', 'MCP_AUTH_TOKEN');
    fail('authToken', 'INVALID_OPTION', token, `${token} and ${oauth} are both set: use one, a static token (${token}) or OAuth (${oauth}), and unset the other`);
  }
  if (config.authIssuer === undefined) {
    const needIssuer: [keyof TransportConfigOptions, string, boolean][] = [
      ['authJwksUrl', 'MCP_AUTH_JWKS_URL', config.authJwksUrl !== undefined],
      ['authAudience', 'MCP_AUTH_AUDIENCE', config.authAudience !== undefined],
      ['authScopes', 'MCP_AUTH_SCOPES', config.authScopes.length > 0],
      ['verifyAccessToken', 'verifyAccessToken', config.verifyAccessToken !== undefined],
    ];
    for (const [option, variable, set] of needIssuer) {
      const source = name(option, variable);
      if (set) fail('authIssuer', 'INVALID_OPTION', source, `${source} is set but MCP_AUTH_ISSUER is not: set MCP_AUTH_ISSUER to your authorization server's issuer URL`);
    }
    return;
  }
  const url = (value: string, source: string, what: string) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      // Reported below.
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol)) return fail('authIssuer', 'INVALID_OPTION', source, `${source}=${value} is not a URL: set it to ${what}`);
    if (parsed.protocol === 'http:' && !isLoopbackHostname(parsed.hostname)) {
      return fail('authIssuer', 'INVALID_OPTION', source, `${source}=${value} uses http:// on a host that is not loopback: use https:// (http:// is for an authorization server on this machine only)`);
    }
    return parsed;
  };
  const parsed = url(config.authIssuer, issuer, 'the issuer URL, such as https://YOUR_TENANT.auth0.com/');
  // RFC 8414 §2: an issuer has no query or fragment.
  if (parsed && (parsed.search !== '' || parsed.hash !== '')) fail('authIssuer', 'INVALID_OPTION', issuer, `${issuer}=${config.authIssuer} has a query or fragment, which an issuer never has`);
  if (config.authJwksUrl !== undefined) url(config.authJwksUrl, name('authJwksUrl', 'MCP_AUTH_JWKS_URL'), "the URL of the issuer's JWKS");
  if (config.authJwksUrl !== undefined && config.verifyAccessToken !== undefined) {
    fail('authJwksUrl', 'INVALID_OPTION', name('authJwksUrl', 'MCP_AUTH_JWKS_URL'), `${name('authJwksUrl', 'MCP_AUTH_JWKS_URL')} is set with verifyAccessToken, which checks tokens itself: unset one`);
  }
  const audience = name('authAudience', 'MCP_AUTH_AUDIENCE');
  if (config.authAudience !== undefined && config.authAudience.trim() === '') fail('authAudience', 'INVALID_OPTION', audience, 'the audience is empty');
  // A URL audience is also the resource the challenges and the metadata name: it must be one.
  if (config.authAudience !== undefined && /^https?:\/\//i.test(config.authAudience) && !URL.canParse(config.authAudience)) {
    fail('authAudience', 'INVALID_OPTION', audience, `${audience}=${config.authAudience} is not a valid URL: set it to the URL clients use, such as https://mcp.example.com/mcp`);
  }
  // RFC 6749 §3.3 scope-token: the challenges quote them in WWW-Authenticate, where nothing else fits.
  const scopes = name('authScopes', 'MCP_AUTH_SCOPES');
  for (const scope of config.authScopes.filter((s) => !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) {
    fail('authScopes', 'INVALID_OPTION', scopes, `${scopes} has the scope ${JSON.stringify(scope)}: a scope is printable ASCII without spaces, " or \\`);
  }
}

/**
 * What is wrong with a Redis URL, as the rest of a sentence that starts with its name (credentials never
 * shown); undefined when it looks fine. A host that does not answer is the store's to report.
 */
function redisUrlProblem(url: string): string | undefined {
  const fix = 'use redis://host:port or redis://host:port/db (rediss:// for TLS)';
  if (url === '') return ` is empty: ${fix}`;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below with the rest.
  }
  const shown = redactUrl(url);
  if (!parsed || !/^rediss?:$/.test(parsed.protocol)) return `=${shown} is not a Redis URL: ${fix}`;
  if (!/^\/?(\d+)?$/.test(parsed.pathname)) return `=${shown} names a database that is not a number: ${fix}`;
  return undefined;
}

/** A URL fit for logs and messages: its user name and password removed (`redis://:secret@host` → `redis://host`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username !== '' || parsed.password !== '') {
      parsed.username = '';
      parsed.password = '';
      return parsed.toString();
    }
  } catch {
    // Not a URL: handled below.
  }
  // Not a URL, or one the parser read another way (`user:pass@host` has the scheme `user:`): drop whatever precedes an @ in the authority.
  return url.replace(/^([^/@]*\/\/)?[^/@]*@/, '$1');
}

/**
 * Read `.env` from `cwd` (silently, without touching `process.env`), lay `env` over it, and parse.
 * @throws ConfigError as {@link parseConfig}
 */
export function loadConfig(options: TransportConfigOptions = {}, { env = process.env, cwd = process.cwd() }: { env?: Env; cwd?: string } = {}): TransportConfig {
  return parseConfig({ ...readDotenv(cwd), ...env }, options);
}

function readDotenv(cwd: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(join(cwd, '.env'), 'utf8');
  } catch {
    return {};
  }
  // dotenv.parse never prints, unlike dotenv.config, which announces itself on stdout.
  return dotenv.parse(text);
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (bracketed or not). */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
}
