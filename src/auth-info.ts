/**
 * What a handler learns about the caller, as `extra.authInfo`. The shape of the SDK's `AuthInfo` (both
 * lines), declared here so that this package's types need neither SDK, plus `subject`.
 */
export interface AuthInfo {
  /** The access token, as the client sent it. */
  token: string;
  /** The OAuth client the token was issued to: its `client_id` claim, else its `sub`. */
  clientId: string;
  /** Every scope the token grants (its `scope` and `scp` claims). */
  scopes: string[];
  /** When the token expires, in seconds since the epoch (its `exp` claim). */
  expiresAt?: number;
  /** The RFC 8707 resource the token is for (a `URL`; typed by shape, as the public types need no DOM or Node lib). */
  resource?: { readonly href: string };
  /**
   * Whom the token speaks for: its `sub` claim. Sessions are bound to it. The SDK's type has no such
   * field, so it is in `extra.subject` too, where typed handler code can read it.
   */
  subject?: string;
  /** Anything else: `subject`, `issuer`, and the token's verified `claims` for JWTs. */
  extra?: Record<string, unknown>;
}

/**
 * Checks an access token this package cannot check itself (an opaque token, through the authorization
 * server's introspection endpoint) and describes it. Throw (anything) for a token that is not valid; the
 * client gets 401 `invalid_token`. The verifier must also check that the token is meant for this server:
 * `context.audience` is the audience configured (`MCP_AUTH_AUDIENCE`, or this server's `/mcp` URL).
 */
export type VerifyAccessToken = (token: string, context: { audience: string }) => Promise<AuthInfo>;

/** Why a request is refused: the HTTP status, the JSON-RPC error code and message, and any extra headers. */
export interface Rejection {
  status: number;
  code: number;
  message: string;
  headers?: Record<string, string>;
}

/**
 * Who is calling, once authenticated: the principal a session is bound to (another principal gets 404 on
 * it), and for OAuth what handlers see as `extra.authInfo`.
 */
export interface Caller {
  principal: string | undefined;
  authInfo?: AuthInfo;
}

/** A request's credentials judged: its caller, or why it is refused. */
export type AuthResult = Caller | { rejection: Rejection };

/**
 * The one bearer check, of the `Authorization` header: the static tokens ({@link bearerCheck}) or OAuth
 * (`src/auth/oauth.ts`). Used by the express guard and by the WebSocket upgrade alike.
 */
export type Authenticate = (authorization: string | undefined) => AuthResult | Promise<AuthResult>;
