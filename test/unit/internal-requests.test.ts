import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { InternalRequests } from '../../src/sessions/internal-requests.js';

describe('InternalRequests', () => {
  it('takes the answer to its own request and nothing else', async () => {
    const internal = new InternalRequests('ours/', 1000);
    const sent: JSONRPCRequest[] = [];
    const result = internal.ask(async (r) => void sent.push(r), 'ping');
    expect(sent).toEqual([{ jsonrpc: '2.0', id: 'ours/1', method: 'ping' }]);
    expect(internal.answer({ jsonrpc: '2.0', id: 1, result: {} })).toBe(false); // a client's
    expect(internal.answer({ jsonrpc: '2.0', method: 'notifications/progress' })).toBe(false);
    expect(internal.answer({ jsonrpc: '2.0', id: 'ours/1', result: { ok: true } })).toBe(true);
    await expect(result).resolves.toEqual({ ok: true });
    expect(internal.answer({ jsonrpc: '2.0', id: 'ours/1', result: {} })).toBe(false); // answered once
  });

  it('rejects on an error answer, a failed send, and the deadline', async () => {
    const internal = new InternalRequests('ours/', 30);
    const refused = internal.ask(async () => undefined, 'initialize');
    internal.answer({ jsonrpc: '2.0', id: 'ours/1', error: { code: -32600, message: 'nope' } });
    await expect(refused).rejects.toThrow('initialize failed: nope');
    await expect(internal.ask(() => Promise.reject(new Error('closed')), 'ping')).rejects.toThrow('closed');
    await expect(internal.ask(async () => undefined, 'tools/list')).rejects.toThrow('tools/list got no answer within 0.03 s');
  });
});
