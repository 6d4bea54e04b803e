import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { MCPTransportManager } from '../../src/index.js';
import { startAuthServer, type AuthServer } from '../auth-server.js';
import { ROOT, emptyDir, highLevelServer, startHttp, textOf } from '../helpers.js';

const run = promisify(execFile);
const INSPECTOR = join(ROOT, 'node_modules', '@modelcontextprotocol', 'inspector', 'clients', 'launcher', 'build', 'index.js');
const MCP_REMOTE = join(ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');

describe('real external clients', () => {
  let manager: MCPTransportManager;
  let base: string;

  beforeAll(async () => {
    // Default host (localhost, both loopbacks), as a user would run it.
    ({ manager } = await startHttp({ server: highLevelServer(), host: 'localhost' }));
    base = manager.url!;
  });
  afterAll(() => manager.close());

  describe('MCP Inspector CLI v2', () => {
    const inspector = async (...args: string[]) => {
      const { stdout } = await run(process.execPath, [INSPECTOR, '--cli', ...args], { cwd: emptyDir(), timeout: 60_000 });
      return JSON.parse(stdout) as Record<string, unknown>;
    };

    it.each([
      ['/mcp', 'http'],
      ['/sse', 'sse'],
    ])('lists and calls tools on %s (--transport %s)', async (path, transport) => {
      const listed = await inspector(`${base}${path}`, '--transport', transport, '--method', 'tools/list');
      expect((listed['tools'] as { name: string }[]).map((t) => t.name)).toEqual(['echo']);
      const called = await inspector(`${base}${path}`, '--transport', transport, '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', `text=via-${transport}`);
      expect(JSON.parse(textOf(called)).text).toBe(`via-${transport}`);
    });
  });

  describe('MCP Inspector CLI v2 against an OAuth resource server', () => {
    let oauth: MCPTransportManager;
    let auth: AuthServer;
    let url: string;
    beforeAll(async () => {
      auth = await startAuthServer(() => `${url}/mcp`);
      ({ manager: oauth, url } = await startHttp({ server: highLevelServer(), authIssuer: auth.issuer }));
    });
    afterAll(async () => {
      await oauth?.close();
      await auth?.close();
    });
    const inspector = (...args: string[]) => run(process.execPath, [INSPECTOR, '--cli', `${url}/mcp`, '--transport', 'http', '--method', 'tools/list', ...args], { cwd: emptyDir(), timeout: 60_000 });

    it('lists tools with a bearer token; without one it knows to sign in (our 401 challenge)', async () => {
      const { stdout } = await inspector('--header', `Authorization: Bearer ${await auth.mint({ sub: 'inspector-user' })}`);
      expect((JSON.parse(stdout)['tools'] as { name: string }[]).map((t) => t.name)).toEqual(['echo']);
      const refused = await inspector().then(
        () => undefined,
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
      // Our 401 told it to sign in (it would start the browser flow on a terminal), rather than fail the connection.
      expect(refused).toContain('auth_required');
    });
  });

  describe('mcp-remote 0.15, driven by an SDK Client over stdio', () => {
    it.each([
      ['/mcp', 'http-only'],
      ['/sse', 'sse-only'],
    ])('lists and calls tools on %s with --transport %s', async (path, mode) => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [MCP_REMOTE, `${base}${path}`, '--transport', mode],
        env: { ...process.env, MCP_REMOTE_CONFIG_DIR: emptyDir() } as Record<string, string>,
        cwd: emptyDir(),
        stderr: 'pipe',
      });
      const client = new Client({ name: 'via-mcp-remote', version: '1.0.0' });
      await client.connect(transport);
      try {
        expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
        expect(JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: mode } }))).text).toBe(mode);
      } finally {
        await client.close();
      }
    });
  });
});
