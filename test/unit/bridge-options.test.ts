import { PassThrough } from 'node:stream';
import { DEFAULT_BRIDGE_OPTIONS, createBridge, resolveBridgeOptions, type BridgeOptions } from '../../src/bridge/bridge.js';
import { parseBridgeArgs } from '../../src/cli/bridge.js';
import { ConfigError } from '../../src/errors.js';

const url = 'http://127.0.0.1:3000/mcp';

/** The problems a ConfigError lists, or 'no error'. */
function problemsOf(run: () => unknown): { source: string; message: string }[] | 'no error' {
  try {
    run();
    return 'no error';
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    expect(error.code).toBe('INVALID_OPTION');
    return error.problems.map(({ source, message }) => ({ source, message }));
  }
}

describe('bridge options', () => {
  it.each<[string, Partial<BridgeOptions>, string, RegExp]>([
    ['a factor below 1', { backoff: { factor: 0.5 } }, 'backoff.factor', /^backoff\.factor=0\.5 .*at least 1/],
    ['an infinite factor', { backoff: { factor: Infinity } }, 'backoff.factor', /^backoff\.factor=Infinity /],
    ['a negative initial delay', { backoff: { initialDelayMs: -1 } }, 'backoff.initialDelayMs', /^backoff\.initialDelayMs=-1 .*from 0/],
    ['a negative max delay', { backoff: { maxDelayMs: -5 } }, 'backoff.maxDelayMs', /^backoff\.maxDelayMs=-5 /],
    ['a max delay below the initial one', { backoff: { initialDelayMs: 100, maxDelayMs: 50 } }, 'backoff.maxDelayMs', /^backoff\.maxDelayMs=50 is less than backoff\.initialDelayMs \(100\)/],
    ['a max delay below the default initial one', { backoff: { maxDelayMs: 10 } }, 'backoff.maxDelayMs', /less than backoff\.initialDelayMs \(20, the default\)/],
    ['a delay too long for a timer', { backoff: { maxDelayMs: 2 ** 31 } }, 'backoff.maxDelayMs', /to 2147483647/],
    ['jitter above 1', { backoff: { jitter: 2 } }, 'backoff.jitter', /^backoff\.jitter=2 .*from 0 to 1/],
    ['negative jitter', { backoff: { jitter: -0.1 } }, 'backoff.jitter', /^backoff\.jitter=-0\.1 /],
    ['a negative queue timeout', { queueTimeoutMs: -1 }, 'queueTimeoutMs', /^queueTimeoutMs=-1 /],
    ['a NaN queue timeout', { queueTimeoutMs: NaN }, 'queueTimeoutMs', /^queueTimeoutMs=NaN /],
    ['a queue timeout given as text', { queueTimeoutMs: '100' as unknown as number }, 'queueTimeoutMs', /^queueTimeoutMs="100" /],
    ['a fractional queue bound', { maxQueue: 1.5 }, 'maxQueue', /^maxQueue=1\.5 .*whole number/],
    ['a negative queue bound', { maxQueue: -1 }, 'maxQueue', /^maxQueue=-1 /],
    ['a zero probe timeout', { probeTimeoutMs: 0 }, 'probeTimeoutMs', /^probeTimeoutMs=0 .*from 1/],
    ['a string for hold', { hold: 'no' as unknown as boolean }, 'hold', /^hold="no" .*true or false/],
    ['an unknown transport', { transport: 'ws' as never }, 'transport', /^transport="ws" .*auto, http or sse/],
    ['a URL that is not one', { url: 'localhost:3000' }, 'url', /^url="localhost:3000" is not an http\(s\) URL/],
    ['a relative URL', { url: '/mcp' }, 'url', /^url="\/mcp" is not a URL/],
    ['a non-http URL', { url: 'ftp://example.com/mcp' }, 'url', /is not an http\(s\) URL/],
  ])('rejects %s, naming the field', (_name, options, source, message) => {
    expect(problemsOf(() => resolveBridgeOptions({ url, ...options }))).toEqual([{ source, message: expect.stringMatching(message) }]);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(() => resolveBridgeOptions({ url: 'nope', backoff: { factor: 0, jitter: 3 }, maxQueue: -1 }));
    expect(problems !== 'no error' && problems.map((p) => p.source)).toEqual(['url', 'maxQueue', 'backoff.factor', 'backoff.jitter']);
  });

  it.each<[string, Partial<BridgeOptions>]>([
    ['nothing but the URL', {}],
    ['a URL object', { url: new URL(url) }],
    ['edge values', { backoff: { initialDelayMs: 0, maxDelayMs: 0, factor: 1, jitter: 0 }, queueTimeoutMs: 0, maxQueue: 0, probeTimeoutMs: 1, hold: false }],
    ['jitter 1 and a constant delay', { backoff: { initialDelayMs: 50, maxDelayMs: 50, factor: 1, jitter: 1 } }],
    ['undefined fields (the defaults)', { backoff: { factor: undefined }, queueTimeoutMs: undefined, hold: undefined }],
  ])('accepts %s', (_name, options) => {
    expect(problemsOf(() => resolveBridgeOptions({ url, ...options }))).toBe('no error');
  });

  it('merges the defaults once', () => {
    const settings = resolveBridgeOptions({ url, backoff: { maxDelayMs: 1000, factor: undefined } });
    expect(settings).toEqual({ ...DEFAULT_BRIDGE_OPTIONS, url: new URL(url), backoff: { ...DEFAULT_BRIDGE_OPTIONS.backoff, maxDelayMs: 1000 } });
    expect(settings.hold).toBe(true);
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('createBridge throws the ConfigError itself, before anything starts (not a RangeError at the first reconnect)', () => {
    const streams = { stdin: new PassThrough(), stdout: new PassThrough() };
    expect(() => createBridge({ url, ...streams, backoff: { factor: 0.5 } })).toThrow(ConfigError);
    expect(() => createBridge({ url, ...streams, backoff: { factor: 0.5 } })).toThrow(/backoff\.factor=0\.5/);
    expect(() => createBridge({ url, ...streams })).not.toThrow();
  });
});

describe('bridge command-line values', () => {
  it.each<[string[], string, RegExp]>([
    [['--max-backoff', String(2 ** 31)], '--max-backoff', /^--max-backoff 2147483648 is not a valid delay.*\(see mcp-http-transport bridge --help\)$/],
    [['--queue-timeout', '99999999999'], '--queue-timeout', /^--queue-timeout 99999999999 is not a valid queue timeout/],
  ])('%j is reported naming the flag', (args, source, message) => {
    expect(problemsOf(() => parseBridgeArgs([url, ...args]))).toEqual([{ source, message: expect.stringMatching(message) }]);
  });

  it('reports both flags at once', () => {
    const problems = problemsOf(() => parseBridgeArgs([url, '--max-backoff', String(2 ** 31), '--queue-timeout', String(2 ** 31)]));
    expect(problems !== 'no error' && problems.map((p) => p.source)).toEqual(['--queue-timeout', '--max-backoff']);
  });

  it.each([[['--max-backoff', '0']], [['--max-backoff', '5']], [['--max-backoff', '60000', '--queue-timeout', '0']]])('accepts %j', (args) => {
    expect(problemsOf(() => parseBridgeArgs([url, ...args]))).toBe('no error');
  });
});
