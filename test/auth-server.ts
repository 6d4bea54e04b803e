/**
 * A local OAuth authorization server for tests (issue 13): node:http on 127.0.0.1, an ephemeral port. It
 * serves RFC 8414 and/or OpenID metadata and a JWKS, mints JWT access tokens with jose, rotates its signing
 * key (publishes a new one), and counts every request it gets.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CryptoKey, JWK, JWTPayload } from 'jose';

export type Alg = 'RS256' | 'ES256' | 'EdDSA';

interface SigningKey {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface AuthServerOptions {
  /** Which discovery documents are served. @default 'oauth' (RFC 8414 only) */
  discovery?: 'oauth' | 'openid' | 'none';
  /** A path for the issuer, Keycloak style (`/realms/test`). @default '' */
  path?: string;
  /** The first signing key's algorithm. @default 'RS256' */
  alg?: Alg;
  /** What the metadata says the issuer is. @default the issuer */
  claimedIssuer?: string;
}

export interface MintOptions {
  /** Sign with this key instead of the current one (kid included). */
  key?: SigningKey;
  /** Claims to leave out (of the defaults `iss`, `sub`, `aud`, `exp`, `iat`, `client_id`). */
  omit?: string[];
}

export interface AuthServer {
  /** `http://127.0.0.1:<port><path>`: the `iss` of its tokens. */
  readonly issuer: string;
  readonly jwksUrl: string;
  /** Every request's path, in order. */
  readonly requests: string[];
  /** The key tokens are signed with now. */
  readonly current: SigningKey;
  /** A token with sensible defaults (`sub` alice, `exp` in 5 min), `claims` laid over them; undefined values remove a claim. */
  mint(claims?: JWTPayload, options?: MintOptions): Promise<string>;
  /** A fresh key of `alg`, not published. */
  newKey(alg?: Alg): Promise<SigningKey>;
  /** Publish a new key and sign with it from now on (the old one stays published). @returns the new key */
  rotate(alg?: Alg): Promise<SigningKey>;
  close(): Promise<void>;
}

let kids = 0;

/** Start an authorization server whose tokens are for `audience` by default. */
export async function startAuthServer(audience: () => string, options: AuthServerOptions = {}): Promise<AuthServer> {
  const jose = await import('jose');
  const newKey = async (alg: Alg = 'RS256'): Promise<SigningKey> => {
    const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
    const kid = `key-${++kids}`;
    return { kid, alg, privateKey, publicJwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
  };
  const published: SigningKey[] = [await newKey(options.alg)];
  const requests: string[] = [];
  const path = options.path ?? '';
  const discovery = options.discovery ?? 'oauth';
  let issuer = '';

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const metadata = { issuer: options.claimedIssuer ?? issuer, jwks_uri: `${issuer}/jwks`, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token` };
    if (url === `${path}/jwks`) return json({ keys: published.map((k) => k.publicJwk) });
    if (discovery === 'oauth' && url === `/.well-known/oauth-authorization-server${path}`) return json(metadata);
    if (discovery === 'openid' && url === `${path}/.well-known/openid-configuration`) return json(metadata);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;

  const auth: AuthServer = {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    requests,
    get current() {
      return published[published.length - 1]!;
    },
    async mint(claims = {}, mint = {}) {
      const key = mint.key ?? auth.current;
      const now = Math.floor(Date.now() / 1000);
      const defaults: JWTPayload = { iss: issuer, sub: 'alice', aud: audience(), client_id: 'test-client', iat: now, exp: now + 300, scope: 'mcp:read mcp:write' };
      const payload: JWTPayload = { ...defaults, ...claims };
      for (const claim of mint.omit ?? []) delete payload[claim];
      for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
      return new jose.SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey);
    },
    newKey,
    async rotate(alg = 'RS256') {
      const key = await newKey(alg);
      published.push(key);
      return key;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return auth;
}
