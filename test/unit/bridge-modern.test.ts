import { PassThrough } from 'node:stream';
import { eraOf, isModernVersion } from '../../src/era.js';
import { ParamHeaderBook, encodeHeaderValue, modernHeaders } from '../../src/bridge/request-headers.js';
import { StdioLink } from '../../src/bridge/stdio.js';
import type { JSONRPCMessage } from '../../src/jsonrpc.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' };

describe('eraOf', () => {
  it.each([
    [{ id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }, 'legacy'],
    [{ id: 1, method: 'server/discover', params: { _meta: META } }, 'modern'],
    [{ id: 1, method: 'server/discover' }, 'modern'],
    [{ id: 1, method: 'tools/list', params: { _meta: META } }, 'modern'],
    // A modern claim wins over the method, as for a dual-era server.
    [{ id: 1, method: 'initialize', params: { _meta: META } }, 'modern'],
    [{ method: 'notifications/cancelled', params: { requestId: 1, _meta: META } }, 'modern'],
    [{ id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2025-11-25' } } }, undefined],
    [{ id: 1, method: 'ping' }, undefined],
    [{ method: 'notifications/initialized' }, undefined],
    [{ id: 1, result: {} }, undefined],
  ])('%j is %s', (message, era) => {
    expect(eraOf({ jsonrpc: '2.0', ...message } as JSONRPCMessage)).toBe(era);
  });

  it.each([
    ['2026-07-28', true],
    ['2027-01-01', true],
    ['2025-11-25', false],
    ['DRAFT-2026-v1', false],
    [20260728, false],
  ])('isModernVersion(%j) is %s', (version, modern) => {
    expect(isModernVersion(version)).toBe(modern);
  });
});

describe('encodeHeaderValue', () => {
  it.each([
    ['us-west1', 'us-west1'],
    ['a b', 'a b'],
    ['', ''],
    ['Hello, 世界', '=?base64?SGVsbG8sIOS4lueVjA==?='],
    [' padded ', '=?base64?IHBhZGRlZCA=?='],
    ['line1\nline2', '=?base64?bGluZTEKbGluZTI=?='],
    ['=?base64?literal?=', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?='],
  ])('%j → %j', (value, encoded) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
  });
});

describe('modernHeaders', () => {
  const book = new ParamHeaderBook();
  book.learn({
    result: {
      tools: [
        {
          name: 'execute_sql',
          inputSchema: {
            type: 'object',
            properties: {
              region: { type: 'string', 'x-mcp-header': 'Region' },
              options: { type: 'object', properties: { dryRun: { type: 'boolean', 'x-mcp-header': 'Dry-Run' }, limit: { type: 'integer', 'x-mcp-header': 'Limit' } } },
              query: { type: 'string' },
            },
          },
        },
        // Invalid: a number parameter, and a duplicate name: no Mcp-Param headers for these tools.
        { name: 'bad-type', inputSchema: { type: 'object', properties: { ratio: { type: 'number', 'x-mcp-header': 'Ratio' } } } },
        { name: 'duplicate', inputSchema: { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'X' }, b: { type: 'string', 'x-mcp-header': 'x' } } } },
      ],
    },
  });
  const call = (name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0' as const, id: 1, method: 'tools/call', params: { name, arguments: args, _meta: META } });

  it('mirrors the version, the method and the name', () => {
    expect(modernHeaders({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } }, book)).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' });
    expect(modernHeaders({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///é', _meta: META } }, book)).toMatchObject({ 'mcp-name': '=?base64?ZmlsZTovLy/DqQ==?=' });
    expect(modernHeaders({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'p', _meta: META } }, book)).toMatchObject({ 'mcp-name': 'p' });
  });

  it('adds the Mcp-Param headers a tool declares, omitting absent and null values', () => {
    expect(modernHeaders(call('execute_sql', { region: 'us-west1', options: { dryRun: false, limit: 42 }, query: 'SELECT 1' }), book)).toEqual({
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'execute_sql',
      'mcp-param-region': 'us-west1',
      'mcp-param-dry-run': 'false',
      'mcp-param-limit': '42',
    });
    expect(Object.keys(modernHeaders(call('execute_sql', { region: null, query: 'q' }), book)).filter((h) => h.startsWith('mcp-param-'))).toEqual([]);
  });

  it('adds none for a tool whose declarations break the rules, or one never listed', () => {
    for (const name of ['bad-type', 'duplicate', 'unknown']) {
      expect(Object.keys(modernHeaders(call(name, { ratio: 0.5, a: 'a', b: 'b' }), book)).filter((h) => h.startsWith('mcp-param-'))).toEqual([]);
    }
  });

  it('adds nothing to a message that names no version', () => {
    expect(modernHeaders({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, book)).toEqual({});
  });
});

describe('StdioLink', () => {
  it('reads one message per line, across chunks and CRLF, and reports lines that are not JSON-RPC', async () => {
    const drained = () => new Promise((resolve) => setImmediate(resolve));
    const stdin = new PassThrough();
    const link = new StdioLink(stdin, new PassThrough());
    const messages: unknown[] = [];
    const errors: string[] = [];
    link.onmessage = (m) => messages.push(m);
    link.onerror = (e) => errors.push(e.message);
    link.start();
    stdin.write('{"jsonrpc":"2.0","id":1,');
    stdin.write('"method":"ping"}\r\n\n{"jsonrpc":"2.0","method":"n"}\nnot json\n{"id":2}\n');
    await drained();
    expect(messages).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', method: 'n' },
    ]);
    expect(errors).toEqual([expect.stringMatching(/^not JSON/), expect.stringMatching(/^not a JSON-RPC message/)]);
    link.close();
    stdin.write('{"jsonrpc":"2.0","method":"late"}\n');
    await drained();
    expect(messages).toHaveLength(2);
  });

  it('writes each message as one line', async () => {
    const stdout = new PassThrough();
    const link = new StdioLink(new PassThrough(), stdout);
    await link.send({ jsonrpc: '2.0', id: 1, result: {} });
    expect(stdout.read().toString()).toBe('{"jsonrpc":"2.0","id":1,"result":{}}\n');
  });
});
