import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { FIXTURE, INIT, NODE_TS_ARGS, emptyDir, exited, spawnFixture, stop, textOf, waitFor } from '../helpers.js';

/** A directory whose .env asks for stdio with debug logs, as a developer's checkout might. */
function dirWithDotenv(): string {
  const dir = emptyDir();
  writeFileSync(join(dir, '.env'), 'MCP_TRANSPORT=stdio\nMCP_LOG_LEVEL=debug\nSOME_API_KEY=abc\n');
  return dir;
}

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;

describe('stdio mode', () => {
  it('serves an SDK Client over StdioClientTransport', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [...NODE_TS_ARGS, FIXTURE], cwd: dirWithDotenv(), env: cleanEnv(), stderr: 'pipe' });
    const client = new Client({ name: 'stdio-test', version: '0.0.1' });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'add', 'fail', 'whoami']);
      expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }))).toBe('42');
      expect(JSON.parse(textOf(await client.callTool({ name: 'whoami' })))).toEqual({ name: 'stdio-test', version: '0.0.1' });
    } finally {
      await client.close();
    }
  });

  it('writes nothing but protocol frames to stdout, even with a .env and MCP_LOG_LEVEL=debug', async () => {
    const child = spawnFixture({}, dirWithDotenv());
    try {
      const frames = [
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'héllo\nworld' } } },
        { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'fail', arguments: {} } },
        { jsonrpc: '2.0', id: 5, method: 'no/such/method' },
      ];
      for (const frame of frames) child.stdin!.write(`${JSON.stringify(frame)}\n`);
      await waitFor(() => [1, 2, 3, 4, 5].every((id) => child.stdoutText().includes(`"id":${id}}`) || child.stdoutText().includes(`"id":${id},`)), 'all five responses');
      child.stdin!.end();
      expect((await exited(child)).code).toBe(0);

      const stdout = child.stdoutText();
      expect(stdout.endsWith('\n')).toBe(true);
      const lines = stdout.slice(0, -1).split('\n');
      // Byte for byte: stdout is exactly these lines, each one a JSON-RPC message, and nothing else.
      expect(`${lines.join('\n')}\n`).toBe(stdout);
      const messages = lines.map((line) => JSON.parse(line) as { jsonrpc: string; id?: number });
      expect(messages.every((m) => m.jsonrpc === '2.0')).toBe(true);
      expect(messages.map((m) => m.id).sort()).toEqual([1, 2, 3, 4, 5]);
      expect(lines.map((l) => JSON.stringify(JSON.parse(l)))).toEqual(lines);
      // The debug logs went somewhere: stderr. The terminal hint did not: stdin is a pipe.
      expect(child.stderrText()).toContain('[mcp-http-transport] debug:');
      expect(child.stderrText()).not.toContain('waiting for a client');
    } finally {
      await stop(child);
    }
  });

  it('goes on despite bad HTTP-only settings, with one warning line on stderr for each, naming the variable', async () => {
    const child = spawnFixture({ MCP_HTTP_PORT: 'abc', MCP_HTTP_HOST: 'http://localhost:3000', MCP_MAX_SESSIONS: 'none' });
    try {
      child.stdin!.write(`${JSON.stringify(INIT)}\n`);
      await waitFor(() => child.stdoutText().includes('"id":1'), 'the initialize response');
      const warnings = child.stderrText().trim().split('\n');
      expect(warnings).toEqual([
        expect.stringMatching(/^\[mcp-http-transport\] warn: MCP_HTTP_HOST=http:\/\/localhost:3000 is not a host: .*\(ignored: stdio mode does not use MCP_HTTP_HOST\)$/),
        expect.stringMatching(/^\[mcp-http-transport\] warn: MCP_HTTP_PORT=abc is not a port: .*\(ignored: stdio mode does not use MCP_HTTP_PORT\)$/),
        expect.stringMatching(/^\[mcp-http-transport\] warn: MCP_MAX_SESSIONS=none .*\(ignored: stdio mode does not use MCP_MAX_SESSIONS\)$/),
      ]);
      child.stdin!.end();
      expect((await exited(child)).code).toBe(0);
    } finally {
      await stop(child);
    }
  });

  it('still exits 2 with one line for a bad setting that stdio uses', async () => {
    const child = spawnFixture({ MCP_LOG_LEVEL: 'loud', MCP_HTTP_PORT: 'abc' });
    expect((await exited(child)).code).toBe(2);
    expect(child.stderrText()).toBe('mcp-http-transport: MCP_LOG_LEVEL=loud is not a log level: use one of error, warn, info, debug\n');
  });

  // `script` runs the server on a pseudo-terminal, as a user typing the command would.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  (hasScript ? it : it.skip)('started on a terminal, says on stderr that it serves MCP on stdio and waits for a client', async () => {
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, ...NODE_TS_ARGS, FIXTURE].map(quote).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: emptyDir(), env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let terminal = '';
    child.stdout.on('data', (d: Buffer) => (terminal += d.toString()));
    try {
      await waitFor(() => terminal.includes('waiting for a client'), 'the terminal hint');
      expect(terminal).toContain('[mcp-http-transport] info: serving MCP on stdio, waiting for a client on stdin');
      expect(terminal).toContain('MCP_TRANSPORT=http');
      // Ctrl-D ends stdin on the terminal, which ends the server.
      child.stdin.end('\x04');
      expect((await exited(child)).code).toBe(0);
    } finally {
      await stop(child);
    }
  });
});
