import { connectClient, lowLevelServer, openRawSse, startHttp, STREAM_HEADERS, INIT, textOf, waitFor } from '../helpers.js';

describe('faults', () => {
  it('a client that drops its POST mid-request gets its handler cancelled; other sessions carry on', async () => {
    const state = { cancelled: 0 };
    const { manager, url } = await startHttp({ server: lowLevelServer(state) });
    const bystander = await connectClient(url, 'sse');
    try {
      const init = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
      const headers = { ...STREAM_HEADERS, 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
      await init.text();
      const controller = new AbortController();
      const slow = await fetch(`${url}/mcp`, { method: 'POST', headers, signal: controller.signal, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow' } }) });
      expect(slow.status).toBe(200);
      await waitFor(() => manager.stats.inflight === 1, 'the slow call to run');
      controller.abort();
      await waitFor(() => state.cancelled === 1 && manager.stats.inflight === 0, 'the handler to be cancelled and freed');
      expect(JSON.parse(textOf(await bystander.callTool({ name: 'echo', arguments: { text: 'fine' } }))).text).toBe('fine');
    } finally {
      await bystander.close();
      await manager.close();
    }
  });

  it('a legacy SSE client that goes away mid-stream frees its session and cancels its running call', async () => {
    const state = { cancelled: 0 };
    const { manager, url } = await startHttp({ server: lowLevelServer(state) });
    const bystander = await connectClient(url, 'streamable');
    try {
      const sse = await openRawSse(url);
      const post = (body: object) => fetch(`${url}${sse.endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await post(INIT);
      await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await post({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'slow' } });
      await waitFor(() => manager.stats.inflight === 1, 'the slow call to run');
      expect(manager.stats.sessions).toBe(2);
      sse.close();
      await waitFor(() => state.cancelled === 1 && manager.stats.inflight === 0 && manager.stats.sessions === 1 && manager.stats.attached === 1, 'the session to be freed');
      expect(JSON.parse(textOf(await bystander.callTool({ name: 'echo', arguments: { text: 'fine' } }))).text).toBe('fine');
    } finally {
      await bystander.close();
      await manager.close();
    }
  });

  it('a handler that throws or rejects becomes a JSON-RPC error, on every transport kind', async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer() });
    try {
      for (const kind of ['streamable', 'sse'] as const) {
        const client = await connectClient(url, kind);
        await expect(client.callTool({ name: 'fail' })).rejects.toThrow('the tool failed on purpose');
        expect(JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: 'ok' } }))).text).toBe('ok');
        await client.close();
      }
    } finally {
      await manager.close();
    }
  });
});
