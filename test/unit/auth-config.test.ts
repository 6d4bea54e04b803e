/** The OAuth settings of issue 13, as parseConfig judges them: one line per problem, naming the variables. */
import { ConfigError, parseConfig } from '../../src/index.js';

function problem(env: Record<string, string>, options = {}): string {
  try {
    parseConfig({ MCP_TRANSPORT: 'http', ...env }, options);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('OAuth settings', () => {
  it('reads MCP_AUTH_ISSUER, MCP_AUTH_JWKS_URL, MCP_AUTH_AUDIENCE and MCP_AUTH_SCOPES (comma or space separated)', () => {
    const config = parseConfig({
      MCP_AUTH_ISSUER: 'https://tenant.auth0.com/',
      MCP_AUTH_JWKS_URL: 'https://tenant.auth0.com/.well-known/jwks.json',
      MCP_AUTH_AUDIENCE: 'https://mcp.example.com/mcp',
      MCP_AUTH_SCOPES: 'mcp:read, mcp:write  admin',
    });
    expect(config).toMatchObject({
      authIssuer: 'https://tenant.auth0.com/',
      authJwksUrl: 'https://tenant.auth0.com/.well-known/jwks.json',
      authAudience: 'https://mcp.example.com/mcp',
      authScopes: ['mcp:read', 'mcp:write', 'admin'],
    });
    expect(parseConfig({}).authScopes).toEqual([]);
  });

  it('options of the same names win over env', () => {
    expect(parseConfig({ MCP_AUTH_ISSUER: 'https://a.example/' }, { authIssuer: 'https://b.example/', authScopes: ['x'] })).toMatchObject({ authIssuer: 'https://b.example/', authScopes: ['x'] });
  });

  it('refuses MCP_AUTH_TOKEN with MCP_AUTH_ISSUER, naming both, in one line', () => {
    const message = problem({ MCP_AUTH_TOKEN: 'sekrit', MCP_AUTH_ISSUER: 'https://tenant.auth0.com/' });
    expect(message).toContain('MCP_AUTH_TOKEN');
    expect(message).toContain('MCP_AUTH_ISSUER');
    expect(message).not.toContain('\n');
    expect(message).not.toContain('sekrit');
    expect(problem({}, { authToken: 't', authIssuer: 'https://a.example/' })).toMatch(/^authToken and authIssuer are both set/);
    expect(problem({ MCP_AUTH_TOKEN: 't' }, { authIssuer: 'https://a.example/', verifyAccessToken: async () => ({ token: '', clientId: '', scopes: [] }) })).toMatch(/MCP_AUTH_TOKEN and authIssuer/);
  });

  it.each([
    ['http://auth.example.com/', /uses http:\/\/ on a host that is not loopback: use https:\/\//],
    ['http://10.0.0.5:8080/realms/x', /not loopback/],
    ['ftp://auth.example.com/', /is not a URL/],
    ['auth.example.com', /is not a URL/],
    ['https://auth.example.com/?tenant=1', /query or fragment/],
  ])('refuses the issuer %s', (issuer, why) => {
    expect(problem({ MCP_AUTH_ISSUER: issuer })).toMatch(why);
    expect(problem({ MCP_AUTH_ISSUER: issuer })).toMatch(/^MCP_AUTH_ISSUER=/);
  });

  it.each(['http://127.0.0.1:8080', 'http://localhost:9000/realms/dev', 'http://[::1]:9000/', 'https://tenant.auth0.com/'])('accepts the issuer %s', (issuer) => {
    expect(parseConfig({ MCP_TRANSPORT: 'http', MCP_AUTH_ISSUER: issuer }).authIssuer).toBe(issuer);
  });

  it('refuses an http JWKS URL off loopback too', () => {
    expect(problem({ MCP_AUTH_ISSUER: 'https://a.example/', MCP_AUTH_JWKS_URL: 'http://a.example/jwks' })).toMatch(/^MCP_AUTH_JWKS_URL=.*not loopback/);
  });

  // Both end up in every WWW-Authenticate challenge: a value that cannot be there made each 401 a 500.
  it.each([
    [{ MCP_AUTH_AUDIENCE: 'https://' }, /^MCP_AUTH_AUDIENCE=https:\/\/ is not a valid URL/],
    [{ MCP_AUTH_AUDIENCE: 'https://mcp example.com/mcp' }, /^MCP_AUTH_AUDIENCE=.* is not a valid URL/],
    [{ MCP_AUTH_SCOPES: 'mcp:read mcp→write' }, /^MCP_AUTH_SCOPES has the scope "mcp→write": a scope is printable ASCII/],
    [{ MCP_AUTH_SCOPES: 'mcp:read,"admin"' }, /^MCP_AUTH_SCOPES has the scope "\\"admin\\""/],
  ])('refuses %j, which no challenge could carry', (env, why) => {
    expect(problem({ MCP_AUTH_ISSUER: 'https://a.example/', ...env })).toMatch(why);
  });

  it('accepts an audience that is an API name, not a URL, and scopes with every character RFC 6749 allows', () => {
    expect(parseConfig({ MCP_AUTH_ISSUER: 'https://a.example/', MCP_AUTH_AUDIENCE: 'my-api', MCP_AUTH_SCOPES: 'read:all https://a.example/scope.x!#$[]~' })).toMatchObject({
      authAudience: 'my-api',
      authScopes: ['read:all', 'https://a.example/scope.x!#$[]~'],
    });
    expect(problem({}, { authIssuer: 'https://a.example/', authScopes: ['two words'] })).toMatch(/^authScopes has the scope "two words"/);
  });

  it.each(['MCP_AUTH_JWKS_URL', 'MCP_AUTH_AUDIENCE', 'MCP_AUTH_SCOPES'])('refuses %s without MCP_AUTH_ISSUER', (variable) => {
    expect(problem({ [variable]: 'https://x.example/a' })).toBe(`${variable} is set but MCP_AUTH_ISSUER is not: set MCP_AUTH_ISSUER to your authorization server's issuer URL`);
  });

  it('only warns in stdio mode, which does not use them', () => {
    const config = parseConfig({ MCP_AUTH_TOKEN: 't', MCP_AUTH_ISSUER: 'http://auth.example.com/' });
    expect(config.warnings.join('\n')).toMatch(/both set.*ignored/);
  });
});
