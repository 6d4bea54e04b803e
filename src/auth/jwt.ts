import type { FlattenedJWSInput, JWSHeaderParameters, JWTPayload } from 'jose';
import { AuthUnavailableError, ConfigError } from '../errors.js';
import { isLoopbackHostname } from '../config.js';
import type { AuthInfo } from '../auth-info.js';

/**
 * Signature algorithms accepted: RSA, ECDSA P-256 and Ed25519 (`EdDSA`, and its fully specified name).
 * Never `none`, and never HMAC: an `HS256` token "signed" with the issuer's public key is refused before any key is looked up.
 */
const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];

/** How far `exp` and `nbf` may be off, in seconds: clocks of the issuer and this host drift a little. */
export const CLOCK_TOLERANCE_S = 30;

/**
 * At most one JWKS fetch per this many ms for a token whose `kid` is unknown: a rotated key is accepted
 * within this long of being published, and a flood of made-up `kid`s costs the issuer one fetch per period.
 */
const JWKS_COOLDOWN_MS = 3_000;

/** Keys are fetched again after this long even when every `kid` is known, so that a removed key stops working. */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/** How long a discovery or JWKS fetch may take. */
const FETCH_TIMEOUT_MS = 5_000;

/** The most a discovery document or a JWKS may weigh: real ones are a few KB. */
const MAX_FETCH_BYTES = 512 * 1024;

/** A token refused, with a reason fit to send to the client (`error_description`): it never holds the token or its claims. */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';

  constructor(readonly description: string) {
    super(description);
  }
}

/** What {@link createJwtVerifier} needs. */
export interface JwtVerifierOptions {
  /** `iss`, exactly. */
  issuer: string;
  /** Where the keys are; found through the issuer's metadata when undefined. */
  jwksUrl: string | undefined;
  /** Read on every check: the default audience is known only once the server listens. */
  audience: () => string;
}

/**
 * A verifier of JWT access tokens (RFC 9068) issued by `issuer`: signature against the issuer's JWKS,
 * `iss` exact, `aud` naming the audience, `exp` and `nbf` within {@link CLOCK_TOLERANCE_S}. `exp`, `aud`,
 * and one of `sub` or `client_id` are required. jose is loaded here, so that only OAuth servers load it.
 * @throws ConfigError (AUTH_DISCOVERY_FAILED) when `jwksUrl` is undefined and the issuer's metadata cannot be had
 */
export async function createJwtVerifier(options: JwtVerifierOptions): Promise<(token: string) => Promise<AuthInfo>> {
  const jose = await import('jose');
  const jwksUrl = options.jwksUrl ?? (await discoverJwksUrl(options.issuer));
  const remote = jose.createRemoteJWKSet(new URL(jwksUrl), {
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    timeoutDuration: FETCH_TIMEOUT_MS,
    [jose.customFetch]: boundedFetch,
  });
  // A key that cannot be fetched is the issuer's outage, not a bad token: told apart here, where it happens.
  const keys = (header: JWSHeaderParameters, token: FlattenedJWSInput) =>
    remote(header, token).catch((error: Error & { code?: string }) => {
      if (['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_NOT_SUPPORTED', 'ERR_JOSE_ALG_NOT_ALLOWED'].includes(error.code ?? '')) throw error;
      throw new AuthUnavailableError(`the issuer's keys (${jwksUrl}) could not be fetched: ${error.message}`, { cause: error });
    });
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience(),
        algorithms: JWT_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'aud'],
      }));
    } catch (error) {
      throw error instanceof AuthUnavailableError ? error : new TokenRejectedError(describe(error as Error & { code?: string; claim?: string; reason?: string }));
    }
    return authInfoOf(token, payload);
  };
}

/** The handler's view of a verified token. */
function authInfoOf(token: string, claims: JWTPayload): AuthInfo {
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const words = (value: unknown): string[] => (typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const subject = text(claims.sub);
  const clientId = text(claims['client_id']) ?? subject;
  if (clientId === undefined) throw new TokenRejectedError('the token has neither a sub nor a client_id claim');
  // `scope` (RFC 9068) is a space-separated string; `scp` is an array (Okta) or a string (Entra ID).
  const scopes = [...new Set([...words(claims['scope']), ...words(claims['scp'])].filter(Boolean))];
  return { token, clientId, scopes, expiresAt: claims.exp, subject, extra: { subject, issuer: claims.iss, claims } };
}

/** Why jose refused a token, in words that hold neither the token nor its claims' values. */
function describe(error: Error & { code?: string; claim?: string; reason?: string }): string {
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = /^[a-z_]{1,20}$/i.test(error.claim ?? '') ? error.claim : 'a';
      if (error.reason === 'missing') return `the token has no ${claim} claim`;
      if (claim === 'aud') return 'the token is not meant for this server (aud)';
      if (claim === 'iss') return 'the token is from another issuer (iss)';
      if (claim === 'nbf') return 'the token is not valid yet (nbf)';
      return `the token's ${claim} claim is not valid`;
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return `the token's signing algorithm is not accepted (use RS256, ES256 or EdDSA)`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'the token signature is not valid';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return "no signing key of the authorization server matches the token's kid";
    default:
      return 'the token is not a valid JWT';
  }
}

/**
 * Where `issuer`'s metadata may be, in the order the MCP authorization spec tries them: RFC 8414 (path
 * inserted after the host), then OpenID Connect Discovery (path inserted, then appended).
 */
function discoveryUrls(issuer: string): string[] {
  const { origin, pathname } = new URL(issuer);
  const path = pathname.replace(/\/+$/, '');
  if (path === '') return [`${origin}/.well-known/oauth-authorization-server`, `${origin}/.well-known/openid-configuration`];
  return [`${origin}/.well-known/oauth-authorization-server${path}`, `${origin}/.well-known/openid-configuration${path}`, `${origin}${path}/.well-known/openid-configuration`];
}

/**
 * The issuer's `jwks_uri`, from the first metadata document found. The document must name exactly this
 * issuer (RFC 8414 §3.3), and its `jwks_uri` must be https (http on loopback only), as the issuer's.
 * @throws ConfigError (AUTH_DISCOVERY_FAILED), one line naming MCP_AUTH_ISSUER and what to do
 */
async function discoverJwksUrl(issuer: string): Promise<string> {
  const tried: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    let metadata: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await boundedFetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!response.ok) {
        tried.push(`${url}: ${response.status}${response.status >= 300 && response.status < 400 ? ' (a redirect, not followed)' : ''}`);
        await response.body?.cancel();
        continue;
      }
      metadata = (await response.json()) as typeof metadata;
    } catch (error) {
      tried.push(`${url}: ${(error as Error).name === 'TimeoutError' ? 'no answer' : (error as Error).message}`);
      continue;
    }
    const fail = (why: string) => {
      throw ConfigError.of('AUTH_DISCOVERY_FAILED', 'MCP_AUTH_ISSUER', `MCP_AUTH_ISSUER=${issuer}: ${why}`);
    };
    if (typeof metadata !== 'object' || metadata === null) fail(`${url} is not a metadata document`);
    if (metadata.issuer !== issuer) {
      fail(`the metadata at ${url} names the issuer ${JSON.stringify(metadata.issuer)}: set MCP_AUTH_ISSUER to exactly that (it is compared with each token's iss)`);
    }
    let jwks: URL | undefined;
    try {
      jwks = new URL(String(metadata.jwks_uri));
    } catch {
      fail(`the metadata at ${url} has no valid jwks_uri: set MCP_AUTH_JWKS_URL`);
    }
    if (!(jwks!.protocol === 'https:' || (jwks!.protocol === 'http:' && isLoopbackHostname(jwks!.hostname)))) {
      fail(`the metadata's jwks_uri ${jwks!.href} is not https: the keys must come over https (http on loopback only)`);
    }
    return jwks!.href;
  }
  throw ConfigError.of(
    'AUTH_DISCOVERY_FAILED',
    'MCP_AUTH_ISSUER',
    `MCP_AUTH_ISSUER=${issuer}: no authorization server metadata found (${tried.join('; ')}): check the issuer URL, or set MCP_AUTH_JWKS_URL to its JWKS`,
  );
}

/**
 * `fetch` for the issuer's documents (discovery metadata, the JWKS): no redirect is followed (one could leave
 * https, or the issuer), and the body is read whole here, at most {@link MAX_FETCH_BYTES}. The caller's
 * signal bounds the time. A response that is not a 200 comes back with its body dropped.
 */
async function boundedFetch(url: string | URL, init: RequestInit): Promise<Response> {
  const response = await fetch(url, { ...init, redirect: 'manual' });
  if (response.status !== 200 || !response.body) {
    await response.body?.cancel();
    return response;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    size += chunk.value.byteLength;
    if (size > MAX_FETCH_BYTES) {
      await reader.cancel();
      throw new Error(`the response is larger than ${MAX_FETCH_BYTES} bytes`);
    }
    chunks.push(chunk.value);
  }
  return new Response(Buffer.concat(chunks), { status: response.status, headers: response.headers });
}
