import { MCPTransportManager } from '../../src/index.js';
import { emptyDir, freePort, lowLevelServer, waitFor, bridgeLibrary } from '../helpers.js';

const library = bridgeLibrary;

async function upstream(port: number) {
  const manager = new MCPTransportManager({ server: lowLevelServer(), transportMode: 'http', host: '127.0.0.1', port, handleSignals: false, env: {}, cwd: emptyDir(), logLevel: 'error' });
  await manager.start();
  return manager;
}

describe('bridge queue while the upstream is down', () => {
  it('turns a request queued past the deadline into a clear JSON-RPC error, and bounds the queue', async () => {
    const port = await freePort();
    const manager = await upstream(port);
    const { bridge, stdin, send, answer, logs } = library(`http://127.0.0.1:${port}/mcp`, { queueTimeoutMs: 300, maxQueue: 2 });
    await bridge.start();
    try {
      send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'lib', version: '1' } } });
      expect((await answer(1)).result).toBeDefined();
      send({ method: 'notifications/initialized' });
      send({ id: 2, method: 'tools/list' });
      expect((await answer(2)).result).toBeDefined();

      await manager.close(); // and it does not come back
      await waitFor(() => logs.some((l) => l.startsWith('upstream lost')), 'the bridge to notice');
      send({ id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'late' } } });
      send({ id: 4, method: 'tools/list' });
      send({ id: 5, method: 'tools/list' });
      // Whatever did not fit the queue fails at once; the rest when the deadline passes.
      const errors = await Promise.all([3, 4, 5].map(answer));
      const messages = errors.map((e) => e.error?.message ?? 'no error');
      expect(messages.filter((m) => /within 0.3 s; (tools\/call|tools\/list) was not sent/.test(m))).toHaveLength(2);
      expect(messages.filter((m) => /2 messages are already waiting/.test(m))).toHaveLength(1);
    } finally {
      stdin.end();
      await bridge.closed;
      await manager.close();
    }
  });

  it('with hold: false, answers a request at once while the upstream is unavailable, and relays again once it is back', async () => {
    const port = await freePort();
    let manager = await upstream(port);
    // A long deadline: an answer that comes quickly cannot be the queue's.
    const { bridge, stdin, send, answer, logs } = library(`http://127.0.0.1:${port}/mcp`, { hold: false, queueTimeoutMs: 60_000 });
    await bridge.start();
    try {
      send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'lib', version: '1' } } });
      expect((await answer(1)).result).toBeDefined();
      send({ method: 'notifications/initialized' });

      await manager.close();
      await waitFor(() => logs.some((l) => l.startsWith('upstream lost')), 'the bridge to notice');
      const sentAt = Date.now();
      send({ id: 2, method: 'tools/list' });
      expect((await answer(2)).error?.message).toMatch(/the upstream MCP server is unavailable \(.*\); tools\/list was not sent, and this bridge holds no requests/);
      expect(Date.now() - sentAt).toBeLessThan(2000);

      manager = await upstream(port);
      await waitFor(() => logs.some((l) => l.startsWith('upstream reconnected')), 'the bridge to reconnect', 20_000);
      send({ id: 3, method: 'tools/list' });
      expect((await answer(3)).result).toMatchObject({ tools: expect.any(Array) });
    } finally {
      stdin.end();
      await bridge.closed;
      await manager.close();
    }
  });

  it('answers ping itself and refuses other requests before initialize', async () => {
    const { bridge, stdin, send, answer } = library('http://127.0.0.1:9/mcp');
    await bridge.start();
    send({ id: 1, method: 'ping' });
    send({ id: 2, method: 'tools/list' });
    expect((await answer(1)).result).toEqual({});
    expect((await answer(2)).error?.message).toMatch(/initialize first/);
    stdin.end();
    await bridge.closed;
  });
});
