import type { TransportConfig } from '../config.js';
import type { Authenticate, AuthInfo, AuthResult, Rejection } from '../auth-info.js';
import type { Logger } from '../log.js';
import { AuthUnavailableError } from '../errors.js';
import { CLOCK_TOLERANCE_S, createJwtVerifier, TokenRejectedError } from './jwt.js';
import { metadataUrlFor, protectedResourceMetadata, type ProtectedResourceMetadata } from './metadata.js';

/** RFC 6750 §2.1 `b64token`, and a bound no real access token comes near. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_CHARS = 8192;

/**
 * This server as an OAuth 2.1 resource server (MCP authorization spec): it checks every request's access
 * token and advertises its authorization server in RFC 9728 metadata.
 */
export interface ResourceServer {
  /** The bearer check for every route (but the metadata) and every WebSocket upgrade. */
  readonly authenticate: Authenticate;
  /** The RFC 9728 document. */
  metadata(): ProtectedResourceMetadata;
  /** Called once the server listens at `baseUrl` (`http://localhost:3000`), which gives the default resource and audience. */
  listening(baseUrl: string): void;
}

/**
 * The resource server the config asks for (undefined without `MCP_AUTH_ISSUER`): JWTs checked against the
 * issuer's keys, or tokens checked by `verifyAccessToken`. Finds the issuer's keys through its metadata now,
 * unless `MCP_AUTH_JWKS_URL` is set; a failure is a one-line ConfigError.
 */
export async function createResourceServer(config: TransportConfig, log: Logger): Promise<ResourceServer | undefined> {
  const issuer = config.authIssuer;
  if (issuer === undefined) return undefined;
  let base: string | undefined;
  const ownUrl = () => `${base ?? 'http://localhost'}/mcp`;
  const audience = () => config.authAudience ?? ownUrl();
  // The resource clients ask tokens for is the audience when that is a URL (the public one, behind a proxy); a bare API name is no resource.
  const resource = () => (config.authAudience !== undefined && /^https?:\/\//i.test(config.authAudience) ? config.authAudience : ownUrl());
  const custom = config.verifyAccessToken;
  let verify: (token: string) => Promise<AuthInfo>;
  if (custom) {
    verify = (token) => custom(token, { audience: audience() });
  } else {
    verify = await createJwtVerifier({ issuer, jwksUrl: config.authJwksUrl, audience });
  }
  return {
    authenticate: bearerAuthenticator({ verify, scopes: config.authScopes, metadataUrl: () => metadataUrlFor(resource()), log }),
    metadata: () => protectedResourceMetadata(resource(), issuer, config.authScopes),
    listening: (url) => {
      base = url;
    },
  };
}

/** What {@link bearerAuthenticator} needs. */
interface BearerAuthenticatorOptions {
  /** Checks a token and describes it; throws for a token that is not valid. */
  verify: (token: string) => Promise<AuthInfo>;
  /** Scopes every request needs. */
  scopes: readonly string[];
  /** Where the RFC 9728 metadata is, for the `WWW-Authenticate` challenges. */
  metadataUrl: () => string;
  log: Logger;
}

/**
 * The OAuth bearer check (RFC 6750 §3, MCP authorization spec): no token is 401 with a challenge that
 * points at the metadata; a token refused is 401 `invalid_token`; a token without every required scope is
 * 403 `insufficient_scope`. The principal a session is bound to is the token's subject (`sub`, else its
 * client), so that a fresh token for the same subject keeps the session. The token is never logged, and
 * never part of an answer.
 */
function bearerAuthenticator({ verify, scopes, metadataUrl, log }: BearerAuthenticatorOptions): Authenticate {
  const challenge = (params: Record<string, string> = {}) => {
    const all = { resource_metadata: metadataUrl(), ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}), ...params };
    return `Bearer ${Object.entries(all)
      .map(([k, v]) => `${k}="${v.replace(/["\\]/g, '\\$&')}"`)
      .join(', ')}`;
  };
  const invalid = (description: string): AuthResult => {
    log.debug(`access token refused: ${description}`);
    return {
      rejection: {
        status: 401,
        code: -32001,
        message: `Unauthorized: ${description}`,
        headers: { 'WWW-Authenticate': challenge({ error: 'invalid_token', error_description: description }) },
      },
    };
  };
  return async (authorization) => {
    const [scheme, ...rest] = (authorization ?? '').trim().split(/ +/);
    if (scheme?.toLowerCase() !== 'bearer') {
      const rejection: Rejection = {
        status: 401,
        code: -32001,
        message: 'Unauthorized: send Authorization: Bearer <access token> (WWW-Authenticate names the metadata that says where to get one)',
        headers: { 'WWW-Authenticate': challenge() },
      };
      return { rejection };
    }
    const token = rest.length === 1 ? rest[0]! : '';
    if (token.length > MAX_TOKEN_CHARS || !TOKEN.test(token)) return invalid('the Authorization header is not Bearer followed by one token');
    let info: AuthInfo;
    try {
      info = await verify(token);
    } catch (error) {
      // No fault of the token (the issuer's keys, or your introspection, did not answer): the client keeps it and retries.
      if (error instanceof AuthUnavailableError) {
        log.warn(`an access token could not be checked: ${redact(error.message, token)}`);
        return { rejection: { status: 503, code: -32000, message: 'Service Unavailable: the access token cannot be checked now; retry shortly', headers: { 'Retry-After': '5' } } };
      }
      // Only our own reasons are sent as they are. A verifier of the user's may put the token anywhere in what it
      // throws (or characters no header can carry): its message is logged redacted, and the client told no more.
      if (error instanceof TokenRejectedError) return invalid(error.description);
      log.debug(`verifyAccessToken refused a token: ${redact(String((error as Error)?.message ?? error), token)}`);
      return invalid('the token is not valid');
    }
    const subject = info.subject ?? (typeof info.extra?.['subject'] === 'string' ? info.extra['subject'] : undefined);
    if (typeof info.clientId !== 'string' || info.clientId === '') return invalid('the token names no client');
    if (info.expiresAt !== undefined && (info.expiresAt + CLOCK_TOLERANCE_S) * 1000 <= Date.now()) return invalid('the token has expired');
    const granted = Array.isArray(info.scopes) ? info.scopes.filter((s): s is string => typeof s === 'string') : [];
    const missing = scopes.filter((s) => !granted.includes(s));
    if (missing.length > 0) {
      const description = `the token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')}`;
      log.debug(`access token of ${subject ?? info.clientId} refused: ${description}`);
      return {
        rejection: {
          status: 403,
          code: -32000,
          message: `Forbidden: ${description}`,
          headers: { 'WWW-Authenticate': challenge({ error: 'insufficient_scope', scope: scopes.join(' '), error_description: description }) },
        },
      };
    }
    const authInfo: AuthInfo = { ...info, scopes: granted, subject, extra: { ...info.extra, subject } };
    // Prefixed, so that a session saved under a static token's principal (its index) never matches a subject,
    // nor a token with no subject (a client's own) the subject of the same name.
    return { principal: subject !== undefined ? `oauth:sub:${subject}` : `oauth:client:${info.clientId}`, authInfo };
  };
}

function redact(text: string, token: string): string {
  return text.split(token).join('[token]');
}
