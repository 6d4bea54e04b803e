import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { MCPTransportManager } from '../../src/index.js';
import { ROOT, lowLevelServer, recordIncoming, startHttp, textOf, waitFor } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-http-transport.js');

describe.each(['/mcp', '/sse'])('bridge relays everything, both ways (upstream %s)', (path) => {
  const state = { cancelled: 0 };
  const server = lowLevelServer(state);
  let manager: MCPTransportManager;
  let client: Client;

  beforeAll(async () => {
    ({ manager } = await startHttp({ server }));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('MCP_') && v !== undefined)) as Record<string, string>;
    client = new Client({ name: 'relay', version: '1.0.0' }, { capabilities: { sampling: {}, roots: { listChanged: true }, elicitation: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled' } }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///a' }, { uri: 'file:///b' }] }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, 'bridge', `${manager.url}${path}`], env, stderr: 'ignore' }));
  });
  afterAll(async () => {
    await client.close();
    await manager.close();
  });

  it('requests and responses, including errors', async () => {
    expect((await client.listTools()).tools.length).toBe(7);
    expect(JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hé' } }))).text).toBe('hé');
    await expect(client.callTool({ name: 'fail' })).rejects.toThrow('the tool failed on purpose');
  });

  it('progress notifications, in order, before the response', async () => {
    // Counted on the wire (the SDK client may drop progress read together with the response: typescript-sdk #2580).
    const incoming = recordIncoming(client);
    const result = await client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, { onprogress: () => {} });
    expect(textOf(result)).toBe('done 3');
    const trace = incoming.map((m) => ('method' in m ? `progress ${m.params?.['progress']}` : 'response'));
    expect(trace.slice(-4)).toEqual(['progress 1', 'progress 2', 'progress 3', 'response']);
  });

  it('server-to-client requests: sampling, roots and elicitation', async () => {
    expect(textOf(await client.callTool({ name: 'sample' }))).toBe('sampled');
    expect(textOf(await client.callTool({ name: 'roots' }))).toBe('file:///a,file:///b');
    expect(textOf(await client.callTool({ name: 'elicit' }))).toBe('accept:Ada');
  });

  it('cancellation reaches the server handler', async () => {
    const before = state.cancelled;
    const controller = new AbortController();
    const pending = client.callTool({ name: 'slow' }, undefined, { signal: controller.signal });
    await waitFor(() => manager.sessionCount > 0, 'the session');
    setImmediate(() => controller.abort());
    await expect(pending).rejects.toThrow();
    await waitFor(() => state.cancelled === before + 1, 'the handler to be cancelled');
  });

  it('server notifications (list_changed)', async () => {
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await server.sendToolListChanged();
    await waitFor(() => changed === 1, 'tools/list_changed');
  });
});
