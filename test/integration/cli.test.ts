import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, emptyDir, exited } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Run the real bin (from dist/) in an empty directory with no MCP_* variables but `env`. */
async function run(args: string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));
  const child = spawn(process.execPath, [BIN, ...args], { cwd: emptyDir(), env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const { code } = await exited(child);
  return { code, stdout, stderr };
}

describe('the CLI', () => {
  describe('help goes to stdout and exits 0', () => {
    it.each([['--help'], ['-h'], ['help'], ['help', '--help']])('%s', async (...args) => {
      const result = await run(args);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^Usage: mcp-http-transport <command>\n/);
      expect(result.stdout).toContain('Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.');
    });

    it.each([
      [['dev', '--help'], 'Usage: mcp-http-transport dev [options] -- <server command...>'],
      [['dev', '--watch', 'src', '-h', '--', 'node', 'server.js'], 'Usage: mcp-http-transport dev'],
      [['help', 'dev'], 'Usage: mcp-http-transport dev'],
      [['bridge', '--help'], 'Usage: mcp-http-transport bridge <url> [options]'],
      [['bridge', 'http://localhost:1/mcp', '-h'], 'Usage: mcp-http-transport bridge'],
      [['help', 'bridge'], 'Usage: mcp-http-transport bridge'],
      [['config', '--help'], 'Usage: mcp-http-transport config'],
      [['help', 'config'], 'Usage: mcp-http-transport config'],
      [['version', '--help'], 'Usage: mcp-http-transport version'],
    ])('%j', async (args, first) => {
      const result = await run(args);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout.startsWith(`${first}`)).toBe(true);
    });
  });

  it('prints the version on stdout', async () => {
    for (const args of [['version'], ['--version'], ['-v']]) expect(await run(args)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('without a command, prints the usage on stderr and exits 2', async () => {
    const result = await run([]);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^Usage: mcp-http-transport <command>\n/);
  });

  describe('a usage error is one line on stderr, exit 2, nothing on stdout', () => {
    it.each([
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['--frobnicate'], 'unknown command "--frobnicate"'],
      [['help', 'frobnicate'], 'help takes one command name'],
      [['config', 'extra'], 'config takes no arguments, got extra'],
      [['version', 'extra'], 'version takes no arguments'],
      [['dev', '--frobnicate', '--', 'node', 'server.js'], 'unknown option --frobnicate'],
      [['dev'], 'the server command is missing'],
      [['bridge'], 'bridge'],
    ])('%j', async (args, says) => {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.endsWith('\n')).toBe(true);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(says)]);
      expect(result.stderr).toMatch(/^mcp-http-transport: .*\(see mcp-http-transport [\w -]*help\)\n$/);
    });
  });

  describe('config', () => {
    it('prints one line and exits 2 for a bad value the transport uses', async () => {
      const result = await run(['config'], { MCP_TRANSPORT: 'http', MCP_HTTP_PORT: 'abc' });
      expect(result).toEqual({ code: 2, stdout: '', stderr: 'mcp-http-transport: MCP_HTTP_PORT=abc is not a port: use a whole number from 0 to 65535 (0 picks a free port)\n' });
    });

    it('in stdio mode, prints the settings and a warning line for a bad HTTP-only value', async () => {
      const result = await run(['config'], { MCP_TRANSPORT: 'STDIO', MCP_HTTP_PORT: 'abc' });
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ transportMode: 'stdio', port: 3000 });
      expect(result.stderr).toBe(
        'mcp-http-transport: warning: MCP_HTTP_PORT=abc is not a port: use a whole number from 0 to 65535 (0 picks a free port) (ignored: stdio mode does not use MCP_HTTP_PORT)\n',
      );
    });

    it('prints the resolved settings, hiding the token and the Redis password', async () => {
      const result = await run(['config'], { MCP_TRANSPORT: 'Http', MCP_AUTH_TOKEN: 'secret-value', MCP_REDIS_URL: 'redis://:secret-value@cache:6379/1' });
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      const printed = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(printed).toMatchObject({ transportMode: 'http', port: 3000, authToken: '(set)', redisUrl: 'redis://cache:6379/1' });
      expect(printed).not.toHaveProperty('warnings');
      expect(result.stdout).not.toContain('secret-value');
    });
  });
});
