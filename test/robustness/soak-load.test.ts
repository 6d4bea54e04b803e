import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { INIT, STREAM_HEADERS, connectClient, lowLevelServer, openRawSse, startHttp, textOf, waitFor } from '../helpers.js';

const SOAK_SESSIONS = 1000;
const SOAK_SSE = 100;
/**
 * After a warm-up round, the JS heap (after a full GC) may grow at most this much over the soak: a leak of
 * even 4 KiB per session would exceed it. RSS, which never shrinks back, gets a looser bound.
 */
const HEAP_BOUND = 4 * 1024 * 1024;
const RSS_BOUND = 256 * 1024 * 1024;
const LOAD_CLIENTS = 200;
const LOAD_CALLS = 50;

const handles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
const gc = (globalThis as { gc?: () => void }).gc;
const heapAfterGc = () => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};

describe('soak and load', () => {
  it(`opens and closes ${SOAK_SESSIONS} Streamable HTTP and ${SOAK_SSE} SSE sessions, and returns to baseline`, async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer() });
    try {
      expect(gc).toBeDefined(); // npm test runs jest with --expose-gc
      const one = async (i: number) => {
        const init = await fetch(`${url}/mcp`, { method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(INIT) });
        const id = init.headers.get('mcp-session-id')!;
        await init.text();
        const headers = { ...STREAM_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
        await (await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
        const call = await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: `s${i}` } } }) });
        expect(await call.text()).toContain(`\\"text\\":\\"s${i}\\"`);
        expect((await fetch(`${url}/mcp`, { method: 'DELETE', headers })).status).toBe(200);
      };
      const deadline = Date.now() + 90_000;
      let opened = 0;
      const round = async (sessions: number, sse: number) => {
        for (let i = 0; i < sessions && Date.now() < deadline; i += 20) {
          await Promise.all(Array.from({ length: 20 }, (_, k) => one(i + k)));
          opened += 20;
        }
        for (let i = 0; i < sse; i += 10) (await Promise.all(Array.from({ length: 10 }, () => openRawSse(url)))).forEach((s) => s.close());
        await waitFor(() => manager.stats.sessions === 0 && manager.stats.attached === 0 && manager.stats.inflight === 0, 'every session to be freed');
      };
      await round(300, 20); // warm-up: JIT, caches, connection pools
      const baseline = { handles: handles(), heap: heapAfterGc(), rss: process.memoryUsage().rss };
      opened = 0;
      await round(SOAK_SESSIONS, SOAK_SSE);
      expect(opened).toBe(SOAK_SESSIONS); // not cut short by the deadline
      await waitFor(() => handles() <= baseline.handles, 'open handles to return to baseline');
      const growth = { heap: heapAfterGc() - baseline.heap, rss: process.memoryUsage().rss - baseline.rss };
      const mib = (bytes: number) => `${bytes < 0 ? '-' : '+'}${(Math.abs(bytes) / 1048576).toFixed(1)} MiB`;
      process.stderr.write(
        `soak: ${SOAK_SESSIONS + SOAK_SSE} sessions; JS heap after GC ${mib(growth.heap)} (bound ${HEAP_BOUND / 1048576} MiB); RSS ${mib(growth.rss)} (bound ${RSS_BOUND / 1048576} MiB)\n`,
      );
      expect(growth.heap).toBeLessThan(HEAP_BOUND);
      expect(growth.rss).toBeLessThan(RSS_BOUND);
    } finally {
      await manager.close();
    }
  }, 120_000);

  it(`holds ${LOAD_CLIENTS} concurrent sessions × ${LOAD_CALLS} calls, every answer correct and routed to its session`, async () => {
    const { manager, url } = await startHttp({ server: lowLevelServer() });
    const clients: Client[] = [];
    try {
      for (let i = 0; i < LOAD_CLIENTS; i += 25) clients.push(...(await Promise.all(Array.from({ length: 25 }, (_, k) => connectClient(url, 'streamable', `load-${i + k}`)))));
      expect(manager.sessionCount).toBe(LOAD_CLIENTS);
      const deadline = Date.now() + 90_000;
      let right = 0;
      await Promise.all(
        clients.map(async (client, c) => {
          for (let i = 0; i < LOAD_CALLS && Date.now() < deadline; i++) {
            const answer = JSON.parse(textOf(await client.callTool({ name: 'echo', arguments: { text: `${c}:${i}` } })));
            if (answer.text === `${c}:${i}` && answer.sessionId === client.transport!.sessionId) right++;
          }
        }),
      );
      expect(right).toBe(LOAD_CLIENTS * LOAD_CALLS);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await manager.close();
    }
  }, 120_000);
});
