import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG, loadConfig, parseConfig } from '../../src/index.js';
import { emptyDir } from '../helpers.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('defaults to stdio on localhost:3000 at info level', () => {
    expect(parseConfig({})).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG).toMatchObject({ transportMode: 'stdio', host: 'localhost', port: 3000, logLevel: 'info', stateless: false });
  });

  it('reads every variable from env', () => {
    const config = parseConfig({
      MCP_TRANSPORT: 'http',
      MCP_HTTP_HOST: '127.0.0.1',
      MCP_HTTP_PORT: '0',
      MCP_HTTP_STATELESS: '1',
      MCP_AUTH_TOKEN: 's3cret',
      MCP_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      MCP_ALLOWED_HOSTS: 'box.lan,box.lan:8080',
      MCP_LOG_LEVEL: 'DEBUG',
      MCP_DEV_MODE: 'true',
      MCP_SESSION_FILE: '/tmp/s.json',
      MCP_MAX_SESSIONS: '10',
      MCP_SESSION_TTL: '60',
      MCP_SSE_KEEPALIVE: '0',
      MCP_REDIS_URL: 'redis://127.0.0.1:6379/2',
    });
    expect(config).toEqual({
      ...DEFAULT_CONFIG,
      transportMode: 'http',
      host: '127.0.0.1',
      port: 0,
      stateless: true,
      authToken: 's3cret',
      allowedOrigins: ['https://a.example', 'https://b.example'],
      allowedHosts: ['box.lan', 'box.lan:8080'],
      logLevel: 'debug',
      devMode: true,
      sessionFile: '/tmp/s.json',
      maxSessions: 10,
      sessionTtlSeconds: 60,
      keepAliveSeconds: 0,
      redisUrl: 'redis://127.0.0.1:6379/2',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets explicit options beat env, and env beat defaults', () => {
    const config = parseConfig({ MCP_TRANSPORT: 'stdio', MCP_HTTP_PORT: '4000', MCP_LOG_LEVEL: 'warn' }, { transportMode: 'http', port: 5000 });
    expect(config.transportMode).toBe('http');
    expect(config.port).toBe(5000);
    expect(config.logLevel).toBe('warn');
    expect(config.host).toBe(DEFAULT_CONFIG.host);
  });

  it('keeps idle sessions longer in dev mode unless a TTL is given', () => {
    expect(parseConfig({}).sessionTtlSeconds).toBe(1800);
    expect(parseConfig({ MCP_DEV_MODE: '1' }).sessionTtlSeconds).toBe(86_400);
    expect(parseConfig({ MCP_DEV_MODE: '1', MCP_SESSION_TTL: '5' }).sessionTtlSeconds).toBe(5);
  });

  it('turns on debug logs in dev mode unless a level is given', () => {
    expect(parseConfig({ MCP_DEV_MODE: '1' }).logLevel).toBe('debug');
    expect(parseConfig({ MCP_DEV_MODE: '1', MCP_LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
  });

  it.each([
    [{ MCP_TRANSPORT: 'foo' }, 'INVALID_TRANSPORT', 'MCP_TRANSPORT=foo', 'use stdio or http'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_PORT: 'abc' }, 'INVALID_PORT', 'MCP_HTTP_PORT=abc', '0 to 65535'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_PORT: '70000' }, 'INVALID_PORT', 'MCP_HTTP_PORT=70000', '0 to 65535'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_PORT: '-1' }, 'INVALID_PORT', 'MCP_HTTP_PORT=-1', '0 to 65535'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: '' }, 'INVALID_HOST', 'MCP_HTTP_HOST is empty', 'such as localhost'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: 'http://localhost:3000' }, 'INVALID_HOST', 'MCP_HTTP_HOST=http://localhost:3000', 'not a URL'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: 'localhost:3000' }, 'INVALID_HOST', 'MCP_HTTP_HOST=localhost:3000', 'put the port in MCP_HTTP_PORT'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_STATELESS: 'perhaps' }, 'INVALID_OPTION', 'MCP_HTTP_STATELESS=perhaps', 'use 1 or 0'],
    [{ MCP_TRANSPORT: 'http', MCP_MAX_SESSIONS: '0' }, 'INVALID_OPTION', 'MCP_MAX_SESSIONS=0', 'at least 1'],
    [{ MCP_TRANSPORT: 'http', MCP_SESSION_TTL: '1h' }, 'INVALID_OPTION', 'MCP_SESSION_TTL=1h', 'whole number'],
    [{ MCP_LOG_LEVEL: 'loud' }, 'INVALID_LOG_LEVEL', 'MCP_LOG_LEVEL=loud', 'error, warn, info, debug'],
    [{ MCP_DEV_MODE: 'maybe' }, 'INVALID_OPTION', 'MCP_DEV_MODE=maybe', 'use 1 or 0'],
    [{ MCP_TRANSPORT: 'http', MCP_REDIS_URL: 'localhost:6379' }, 'INVALID_OPTION', 'MCP_REDIS_URL=localhost:6379 is not a Redis URL', 'use redis://host:port'],
    [{ MCP_TRANSPORT: 'http', MCP_REDIS_URL: 'http://cache:6379' }, 'INVALID_OPTION', 'MCP_REDIS_URL=http://cache:6379 is not a Redis URL', 'rediss:// for TLS'],
    [{ MCP_TRANSPORT: 'http', MCP_REDIS_URL: 'redis://cache:6379/sessions' }, 'INVALID_OPTION', 'MCP_REDIS_URL=redis://cache:6379/sessions names a database that is not a number', 'redis://host:port/db'],
  ])('rejects %j with a one-line ConfigError naming the variable and the fix', (env, code, names, fix) => {
    const error = configError(() => parseConfig(env));
    expect(error.code).toBe(code);
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain(names);
    expect(error.message).toContain(fix);
    expect(error.message).not.toContain('\n');
  });

  it('reports every problem at once', () => {
    const error = configError(() => parseConfig({ MCP_TRANSPORT: 'foo', MCP_HTTP_PORT: 'abc' }));
    expect(error.problems.map((p) => p.source)).toEqual(['MCP_TRANSPORT', 'MCP_HTTP_PORT']);
    expect(error.code).toBe('INVALID_TRANSPORT');
  });

  it('checks explicit options too', () => {
    expect(configError(() => parseConfig({}, { transportMode: 'http', port: 70000 })).message).toContain('port=70000');
    expect(configError(() => parseConfig({}, { transportMode: 'http', host: '127.0.0.1:80' })).message).toContain('host=127.0.0.1:80 is not a host');
    expect(configError(() => parseConfig({}, { transportMode: 'ws' as never })).code).toBe('INVALID_TRANSPORT');
    expect(configError(() => parseConfig({}, { logLevel: 'verbose' as never })).message).toContain('logLevel=verbose is not a log level');
    expect(configError(() => parseConfig({}, { transportMode: 'http', redis: 'cache:6379' })).message).toContain('redis=cache:6379 is not a Redis URL');
    expect(configError(() => parseConfig({}, { transportMode: 'http', redis: '' })).message).toContain('redis is empty');
  });

  it.each([
    ['redis://localhost', 'redis://localhost'],
    ['redis://127.0.0.1:6380/3', 'redis://127.0.0.1:6380/3'],
    ['rediss://:s3cret@cache.internal:6380', 'rediss://:s3cret@cache.internal:6380'],
    [' REDIS://user:pw@cache/0 ', 'REDIS://user:pw@cache/0'],
  ])('accepts MCP_REDIS_URL=%j', (value, expected) => {
    expect(parseConfig({ MCP_TRANSPORT: 'http', MCP_REDIS_URL: value }).redisUrl).toBe(expected);
  });

  it('leaves Redis off for an empty MCP_REDIS_URL, and lets the redis option win', () => {
    expect(parseConfig({ MCP_TRANSPORT: 'http', MCP_REDIS_URL: '' }).redisUrl).toBeUndefined();
    expect(parseConfig({ MCP_REDIS_URL: 'redis://a:1' }, { redis: 'redis://b:2' }).redisUrl).toBe('redis://b:2');
  });

  it('never shows the Redis password in an error or a warning', () => {
    for (const [url, shown] of [
      ['http://admin:s3cret@cache:6379', 'MCP_REDIS_URL=http://cache:6379'],
      ['redis://:s3cret@cache/db1', 'MCP_REDIS_URL=redis://cache/db1'],
      ['admin:s3cret@cache:6379', 'MCP_REDIS_URL=cache:6379'],
    ] as const) {
      const error = configError(() => parseConfig({ MCP_TRANSPORT: 'http', MCP_REDIS_URL: url }));
      expect(error.message).toContain(shown);
      expect(error.message).not.toContain('s3cret');
      const [warning] = parseConfig({ MCP_REDIS_URL: url }).warnings;
      expect(warning).toMatch(/^MCP_REDIS_URL=.* \(ignored: stdio mode does not use MCP_REDIS_URL\)$/);
      expect(warning).not.toContain('s3cret');
    }
  });

  it.each(['http', 'HTTP', 'Http', ' http '])('accepts MCP_TRANSPORT=%j in any case', (value) => {
    expect(parseConfig({ MCP_TRANSPORT: value }).transportMode).toBe('http');
  });

  it('accepts MCP_LOG_LEVEL and boolean values in any case', () => {
    expect(parseConfig({ MCP_TRANSPORT: 'STDIO', MCP_LOG_LEVEL: 'Warn', MCP_DEV_MODE: 'TRUE' })).toMatchObject({ transportMode: 'stdio', logLevel: 'warn', devMode: true });
  });

  it('accepts IPv6 and named hosts', () => {
    expect(parseConfig({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: '::1' }).host).toBe('::1');
    expect(parseConfig({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: 'fe80::1%lo0' }).host).toBe('fe80::1%lo0');
    expect(parseConfig({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: 'box.lan' }).host).toBe('box.lan');
  });

  it('in stdio mode, turns bad HTTP-only settings into warnings, one line each naming the variable', () => {
    const config = parseConfig({ MCP_HTTP_PORT: 'abc', MCP_HTTP_HOST: 'http://x', MCP_MAX_SESSIONS: '0', MCP_SSE_KEEPALIVE: 'x' });
    expect(config.transportMode).toBe('stdio');
    expect(config.port).toBe(DEFAULT_CONFIG.port);
    expect(config.warnings).toHaveLength(4);
    for (const [warning, variable] of config.warnings.map((w, i) => [w, ['MCP_HTTP_HOST', 'MCP_HTTP_PORT', 'MCP_MAX_SESSIONS', 'MCP_SSE_KEEPALIVE'][i]!])) {
      expect(warning).toMatch(new RegExp(`^${variable}=.* \\(ignored: stdio mode does not use ${variable}\\)$`));
      expect(warning).not.toContain('\n');
    }
    expect(Object.isFrozen(config.warnings)).toBe(true);
    expect(parseConfig({}).warnings).toEqual([]);
  });

  it('in stdio mode, still rejects the settings stdio uses, and lists only those', () => {
    const error = configError(() => parseConfig({ MCP_LOG_LEVEL: 'loud', MCP_HTTP_PORT: 'abc' }));
    expect(error.problems.map((p) => p.source)).toEqual(['MCP_LOG_LEVEL']);
  });

  it('rejects every bad value when the transport itself is bad, since it cannot tell which are used', () => {
    expect(configError(() => parseConfig({ MCP_TRANSPORT: 'ws', MCP_HTTP_PORT: 'abc' })).problems).toHaveLength(2);
  });
});

describe('loadConfig', () => {
  it('reads .env from cwd under the real env, without touching process.env', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, '.env'), 'MCP_TRANSPORT=http\nMCP_HTTP_PORT=4321\nUNRELATED_SECRET=x\n');
    const config = loadConfig({}, { cwd: dir, env: { MCP_HTTP_PORT: '1234' } });
    expect(config.transportMode).toBe('http');
    expect(config.port).toBe(1234);
    expect(process.env['UNRELATED_SECRET']).toBeUndefined();
  });

  it('is fine without a .env file', () => {
    expect(loadConfig({}, { cwd: emptyDir(), env: {} })).toEqual(DEFAULT_CONFIG);
  });
});
