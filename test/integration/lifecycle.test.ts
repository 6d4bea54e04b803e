import { createServer, type Server as NetServer } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ConfigError, LifecycleError, MCPTransportManager } from '../../src/index.js';
import { connectClient, emptyDir, exited, lowLevelServer, portIsFree, spawnFixture, stop, waitFor, within } from '../helpers.js';

function manager(env: Record<string, string>, extra: Partial<ConstructorParameters<typeof MCPTransportManager>[0]> = {}) {
  return new MCPTransportManager({ server: lowLevelServer(), env, cwd: emptyDir(), handleSignals: false, logLevel: 'error', ...extra });
}

async function occupiedPort(): Promise<{ port: number; server: NetServer }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('configuration errors', () => {
  it.each([
    [{ MCP_TRANSPORT: 'foo' }, 'INVALID_TRANSPORT', 'MCP_TRANSPORT'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_PORT: 'abc' }, 'INVALID_PORT', 'MCP_HTTP_PORT'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_PORT: '70000' }, 'INVALID_PORT', 'MCP_HTTP_PORT'],
  ])('start() rejects %j with a ConfigError', async (env, code, variable) => {
    const error = await manager(env).start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe(code);
    expect((error as ConfigError).message).toContain(variable);
    expect((error as ConfigError).message).not.toContain('\n');
  });

  it('start() rejects a port in use with a ConfigError naming the port and the fix', async () => {
    const { port, server } = await occupiedPort();
    try {
      const error = await manager({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: '127.0.0.1', MCP_HTTP_PORT: String(port) }).start().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe('PORT_IN_USE');
      expect((error as ConfigError).message).toContain(`port ${port} is already in use`);
      expect((error as ConfigError).message).toContain('MCP_HTTP_PORT');
    } finally {
      server.close();
    }
  });

  it.each([
    [{ MCP_TRANSPORT: 'foo' }, 'MCP_TRANSPORT=foo is not a transport: use stdio or http'],
    [{ MCP_TRANSPORT: 'http', MCP_HTTP_PORT: '70000' }, 'MCP_HTTP_PORT=70000 is not a port'],
  ])('a server started with serve() prints one line for %j and exits 2', async (env, line) => {
    const child = spawnFixture(env);
    expect((await exited(child)).code).toBe(2);
    const stderr = child.stderrText();
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(line);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(child.stdoutText()).toBe('');
  });

  it('a server on a port in use prints one line and exits 2', async () => {
    const { port, server } = await occupiedPort();
    try {
      const child = spawnFixture({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: '127.0.0.1', MCP_HTTP_PORT: String(port) });
      expect((await exited(child)).code).toBe(2);
      expect(child.stderrText()).toBe(`mcp-http-transport: port ${port} is already in use on 127.0.0.1: stop the other server or set MCP_HTTP_PORT to a free port (0 picks one)\n`);
    } finally {
      server.close();
    }
  });
});

describe('lifecycle', () => {
  it('start() twice throws; close() twice is safe; start() after close() throws', async () => {
    const m = manager({}, { transportMode: 'http', host: '127.0.0.1', port: 0 });
    await m.start();
    await expect(m.start()).rejects.toBeInstanceOf(LifecycleError);
    const port = m.port!;
    await Promise.all([m.close(), m.close()]);
    await m.close();
    expect(await portIsFree(port)).toBe(true);
    await expect(m.start()).rejects.toMatchObject({ name: 'LifecycleError', code: 'CLOSED' });
  });

  it('close() before start() resolves', async () => {
    await expect(manager({}).close()).resolves.toBeUndefined();
  });

  it('close() ends open SSE and Streamable HTTP streams and frees the port', async () => {
    const m = manager({}, { transportMode: 'http', host: '127.0.0.1', port: 0 });
    await m.start();
    const clients = await Promise.all([connectClient(m.url!, 'sse'), connectClient(m.url!, 'streamable')]);
    const port = m.port!;
    await m.close();
    expect(m.sessionCount).toBe(0);
    expect(await portIsFree(port)).toBe(true);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('signals', () => {
  it.each([
    ['SIGINT', { code: 130, signal: null }],
    ['SIGTERM', { code: 143, signal: null }],
    ['SIGUSR2', { code: null, signal: 'SIGUSR2' }],
  ] as const)('%s closes sessions and the listener within 2 s', async (signal, expected) => {
    const child = spawnFixture({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: '127.0.0.1', MCP_HTTP_PORT: '0' });
    const clients: Client[] = [];
    try {
      const port = Number((await waitFor(() => /FIXTURE_PORT=(\d+)/.exec(child.stderrText()), 'the fixture to listen'))[1]);
      const url = `http://127.0.0.1:${port}`;
      clients.push(await connectClient(url, 'sse'), await connectClient(url, 'streamable'));
      child.kill(signal);
      // The deadline is the promise under test: a graceful exit, streams and all, within 2 s.
      const exit = await within(exited(child), 2000);
      expect(exit).toEqual(expected);
      expect(child.stderrText()).toContain(`${signal}: shutting down`);
      expect(await portIsFree(port)).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await stop(child);
    }
  });
});
