/** Stable codes carried by every error this package throws. */
export type ErrorCode =
  | 'INVALID_TRANSPORT'
  | 'INVALID_PORT'
  | 'INVALID_HOST'
  | 'INVALID_LOG_LEVEL'
  | 'INVALID_OPTION'
  | 'PORT_IN_USE'
  | 'LISTEN_FAILED'
  | 'ALREADY_STARTED'
  | 'CLOSED'
  | 'SDK_MISSING'
  | 'AUTH_DISCOVERY_FAILED'
  | 'STORE_UNAVAILABLE'
  | 'AUTH_UNAVAILABLE';

/** Base class: every error has a `name`, a stable `code` and an optional `cause`. */
export class McpTransportError extends Error {
  override readonly name: string = 'McpTransportError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** One problem found in the configuration; a {@link ConfigError} lists them all. */
export interface ConfigProblem {
  code: ErrorCode;
  /** The env variable or option at fault, e.g. `MCP_HTTP_PORT`. */
  source: string;
  /** One line that names the value and the fix. */
  message: string;
}

/**
 * Bad configuration: its message is one line meant for a human (no stack needed), naming the
 * variable and the fix. When several values are wrong, `problems` holds each and `code` is the first's.
 */
export class ConfigError extends McpTransportError {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: ConfigProblem[], options?: { cause?: unknown }) {
    const first = problems[0];
    if (!first) throw new TypeError('ConfigError needs at least one problem');
    super(first.code, problems.map((p) => p.message).join('; '), options);
    this.problems = Object.freeze([...problems]);
  }

  /** A ConfigError for a single problem. */
  static of(code: ErrorCode, source: string, message: string, cause?: unknown): ConfigError {
    return new ConfigError([{ code, source, message }], { cause });
  }
}

/** Misuse of a lifecycle: `start()` twice, or after `close()`. */
export class LifecycleError extends McpTransportError {
  override readonly name = 'LifecycleError';
}

/**
 * A shared session store (Redis) did not answer in time, is unreachable, or answered with an error. The
 * message is one line naming the store and its URL without credentials; `cause` is the client's error.
 * It is meant for the server's log: a client should be told only that the service is unavailable for now.
 */
export class StoreUnavailableError extends McpTransportError {
  override readonly name = 'StoreUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
  }
}

/**
 * An access token could not be checked at all, which is no fault of the token: the issuer's keys could not be
 * fetched, or (thrown by your `verifyAccessToken`) the introspection endpoint did not answer. The client gets
 * 503 with `Retry-After`, not 401, so that it keeps its token and retries instead of signing in again. The
 * message goes to the log (any token in it cut out), never to the client.
 */
export class AuthUnavailableError extends McpTransportError {
  override readonly name = 'AuthUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('AUTH_UNAVAILABLE', message, options);
  }
}
