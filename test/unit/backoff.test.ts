import { DEFAULT_BACKOFF, nextDelay } from '../../src/bridge/backoff.js';

const mid = () => 0.5; // no jitter
describe('nextDelay', () => {
  it('grows exponentially from the initial delay', () => {
    expect([0, 1, 2, 3].map((a) => nextDelay(a, { initialDelayMs: 100, factor: 2, maxDelayMs: 10_000 }, mid))).toEqual([100, 200, 400, 800]);
  });

  it('is capped at maxDelayMs, jitter included', () => {
    expect(nextDelay(50, { initialDelayMs: 100, factor: 2, maxDelayMs: 1000 }, mid)).toBe(1000);
    expect(nextDelay(50, { initialDelayMs: 100, factor: 2, maxDelayMs: 1000, jitter: 0.5 }, () => 1)).toBe(1000);
  });

  it('spreads by ±jitter', () => {
    const options = { initialDelayMs: 100, factor: 1, maxDelayMs: 1000, jitter: 0.2 };
    expect(nextDelay(0, options, () => 0)).toBe(80);
    expect(nextDelay(0, options, () => 1)).toBe(120);
    const samples = Array.from({ length: 200 }, () => nextDelay(0, options));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(80);
    expect(Math.max(...samples)).toBeLessThanOrEqual(120);
    expect(new Set(samples).size).toBeGreaterThan(5);
  });

  it('uses the defaults when no options are given', () => {
    expect(nextDelay(0, {}, mid)).toBe(DEFAULT_BACKOFF.initialDelayMs);
    expect(nextDelay(100, {}, mid)).toBe(DEFAULT_BACKOFF.maxDelayMs);
  });

  it.each([
    [{ initialDelayMs: -1 }, 'initialDelayMs'],
    [{ factor: 0.5 }, 'factor'],
    [{ initialDelayMs: 100, maxDelayMs: 50 }, 'maxDelayMs'],
    [{ jitter: 2 }, 'jitter'],
  ])('rejects %j naming the option', (options, name) => {
    expect(() => nextDelay(0, options)).toThrow(new RegExp(name));
  });
});
