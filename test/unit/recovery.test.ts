import { Hold } from '../../src/recovery/hold.js';
import { decide, notBackMessage, outcomeUnknownMessage, toolName, type Progress, type ToolHints } from '../../src/recovery/policy.js';
import { ToolHintsBook } from '../../src/recovery/tool-hints.js';

const call = (name: string) => ({ method: 'tools/call', params: { name, arguments: {} } });

describe('decide', () => {
  it.each<[string, { method: string; params?: unknown }, Progress, ToolHints | undefined, 'resend' | 'fail']>([
    // Never reached a server: always safe to send again.
    ['unsent tools/call, unknown tool', call('write'), 'unsent', undefined, 'resend'],
    ['unsent tools/call, annotated false', call('write'), 'unsent', { readOnlyHint: false, idempotentHint: false }, 'resend'],
    ['unsent resources/subscribe', { method: 'resources/subscribe' }, 'unsent', undefined, 'resend'],
    ['unsent sampling/createMessage', { method: 'sampling/createMessage' }, 'unsent', undefined, 'resend'],
    // Running reads: repeated as today.
    ['running ping', { method: 'ping' }, 'running', undefined, 'resend'],
    ['running tools/list', { method: 'tools/list' }, 'running', undefined, 'resend'],
    ['running resources/list', { method: 'resources/list' }, 'running', undefined, 'resend'],
    ['running resources/templates/list', { method: 'resources/templates/list' }, 'running', undefined, 'resend'],
    ['running prompts/list', { method: 'prompts/list' }, 'running', undefined, 'resend'],
    ['running resources/read', { method: 'resources/read' }, 'running', undefined, 'resend'],
    ['running prompts/get', { method: 'prompts/get' }, 'running', undefined, 'resend'],
    ['running completion/complete', { method: 'completion/complete' }, 'running', undefined, 'resend'],
    // Running tool calls: only when the server said a repeat is harmless.
    ['running tools/call, readOnlyHint true', call('read'), 'running', { readOnlyHint: true }, 'resend'],
    ['running tools/call, idempotentHint true', call('put'), 'running', { idempotentHint: true }, 'resend'],
    ['running tools/call, both true', call('get'), 'running', { readOnlyHint: true, idempotentHint: true }, 'resend'],
    ['running tools/call, both false', call('write'), 'running', { readOnlyHint: false, idempotentHint: false }, 'fail'],
    ['running tools/call, annotations missing', call('write'), 'running', {}, 'fail'],
    ['running tools/call, tool never listed', call('write'), 'running', undefined, 'fail'],
    // Running anything else may have side effects.
    ['running resources/subscribe', { method: 'resources/subscribe' }, 'running', undefined, 'fail'],
    ['running resources/unsubscribe', { method: 'resources/unsubscribe' }, 'running', undefined, 'fail'],
    ['running sampling/createMessage', { method: 'sampling/createMessage' }, 'running', undefined, 'fail'],
    ['running logging/setLevel', { method: 'logging/setLevel' }, 'running', undefined, 'fail'],
    ['running resources/subscribe with read-only hints (hints are for tools only)', { method: 'resources/subscribe' }, 'running', { readOnlyHint: true }, 'fail'],
  ])('%s → %s', (_name, request, progress, hints, expected) => {
    expect(decide(request, progress, hints)).toBe(expected);
  });
});

describe('recovery messages', () => {
  it('names the tool and says the outcome is unknown', () => {
    const message = outcomeUnknownMessage(call('send_email'));
    expect(message).toContain('tool "send_email"');
    expect(message).toMatch(/outcome is unknown \(it may or may not have run\)/);
    expect(message).toMatch(/readOnlyHint or idempotentHint/);
  });

  it('names the method when the request is not a tool call', () => {
    expect(outcomeUnknownMessage({ method: 'resources/subscribe' })).toMatch(/while resources\/subscribe was running: the outcome is unknown/);
  });

  it('says how long the server was waited for', () => {
    expect(notBackMessage({ method: 'tools/list' }, 300)).toMatch(/within 0.3 s; tools\/list was not sent\. Check the server's output, fix the error and save\.$/);
    expect(notBackMessage({ method: 'ping' }, 1000, 'check that the upstream is running')).toMatch(/ping was not sent\. Check that the upstream is running\.$/);
  });

  it.each([
    [call('x'), 'x'],
    [{ method: 'tools/call', params: { name: 42 } }, undefined],
    [{ method: 'tools/call' }, undefined],
  ])('toolName(%j) is %j', (request, expected) => {
    expect(toolName(request)).toBe(expected);
  });
});

describe('ToolHintsBook', () => {
  const page = (...tools: unknown[]) => ({ jsonrpc: '2.0', id: 1, result: { tools } });

  it('learns from tools/list results and ignores every other message', () => {
    const book = new ToolHintsBook();
    book.learn({ jsonrpc: '2.0', id: 1, result: { content: [] } });
    book.learn({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    book.learn({ jsonrpc: '2.0', id: 2, error: { code: -1, message: 'no' } });
    book.learn(undefined);
    book.learn(page({ name: 'read', annotations: { readOnlyHint: true } }, { name: 'plain' }, { annotations: { readOnlyHint: true } }));
    expect(book.get('read')).toEqual({ readOnlyHint: true, idempotentHint: false });
    expect(book.get('plain')).toEqual({ readOnlyHint: false, idempotentHint: false });
    expect(book.get('never-listed')).toBeUndefined();
    expect(book.get(undefined)).toBeUndefined();
  });

  it('adds up the pages of a paginated listing', () => {
    const book = new ToolHintsBook();
    book.learn({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'a', annotations: { readOnlyHint: true } }], nextCursor: '2' } });
    book.learn(page({ name: 'b', annotations: { idempotentHint: true } }));
    expect(book.get('a')).toEqual({ readOnlyHint: true, idempotentHint: false });
    expect(book.get('b')).toEqual({ readOnlyHint: false, idempotentHint: true });
  });

  it('replaces a tool by its later listing (new code may drop an annotation)', () => {
    const book = new ToolHintsBook();
    book.learn(page({ name: 'a', annotations: { readOnlyHint: true } }));
    book.learn(page({ name: 'a' }));
    expect(book.get('a')).toEqual({ readOnlyHint: false, idempotentHint: false });
    book.learn(page({ name: 'a', annotations: { idempotentHint: true, readOnlyHint: 'yes' } }));
    expect(book.get('a')).toEqual({ readOnlyHint: false, idempotentHint: true });
  });
});

describe('Hold', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('releases waiters in arrival order, and lets later ones straight through', async () => {
    const hold = new Hold();
    const order: string[] = [];
    const waits = ['a', 'b', 'c'].map((name) => hold.wait(10_000).then((open) => order.push(`${name}:${open}`)));
    expect(hold.size).toBe(3);
    expect(hold.open).toBe(false);
    hold.release();
    await Promise.all(waits);
    expect(order).toEqual(['a:true', 'b:true', 'c:true']);
    expect(hold.size).toBe(0);
    expect(hold.open).toBe(true);
    await expect(hold.wait(0)).resolves.toBe(true);
  });

  it('resolves false at the deadline, and only for the waiter whose deadline passed', async () => {
    const hold = new Hold();
    const short = hold.wait(100);
    const long = hold.wait(1000);
    jest.advanceTimersByTime(99);
    expect(hold.size).toBe(2);
    jest.advanceTimersByTime(1);
    await expect(short).resolves.toBe(false);
    expect(hold.size).toBe(1);
    hold.release();
    await expect(long).resolves.toBe(true);
    expect(jest.getTimerCount()).toBe(0); // a released waiter's deadline is cleared
  });

  it('lets a waiter whose signal aborts go at once, leaving the others waiting', async () => {
    const hold = new Hold();
    const controller = new AbortController();
    const gone = hold.wait(10_000, controller.signal);
    const stays = hold.wait(10_000);
    controller.abort();
    await expect(gone).resolves.toBe(false);
    expect(hold.size).toBe(1);
    await expect(hold.wait(10_000, controller.signal)).resolves.toBe(false); // aborted already: no wait
    hold.release();
    await expect(stays).resolves.toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('aborts every waiter at once, and waits again after shut', async () => {
    const hold = new Hold(true);
    await expect(hold.wait(10)).resolves.toBe(true);
    hold.shut();
    const waits = [hold.wait(10_000), hold.wait(10_000)];
    hold.abort();
    await expect(Promise.all(waits)).resolves.toEqual([false, false]);
    expect(hold.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });
});
