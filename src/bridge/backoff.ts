/** Limits of the bridge's reconnect backoff. */
export interface BackoffOptions {
  /** Delay before the first retry. @default 20 */
  initialDelayMs?: number;
  /** Growth per attempt. @default 1.5 */
  factor?: number;
  /** Cap on any delay. @default 50 */
  maxDelayMs?: number;
  /** Random spread, as a fraction of the delay (0.2 = ±20 %), so many bridges don't retry in step. @default 0.2 */
  jitter?: number;
}

/**
 * The defaults, merged once by {@link nextDelay}. Upstreams are usually local servers restarting in
 * about half a second, and an attempt on a closed port costs next to nothing, so retries stay
 * frequent: the client's held calls go through within ~50 ms of the server being back.
 */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = Object.freeze({ initialDelayMs: 20, factor: 1.5, maxDelayMs: 50, jitter: 0.2 });

/**
 * The delay before retry number `attempt` (0-based): capped exponential growth with jitter.
 * Pure: `random` is injectable for tests.
 * @throws RangeError naming the option when a limit is invalid
 */
export function nextDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialDelayMs, factor, maxDelayMs, jitter } = { ...DEFAULT_BACKOFF, ...options };
  if (!(initialDelayMs >= 0)) throw new RangeError(`backoff initialDelayMs must be >= 0, got ${initialDelayMs}`);
  if (!(factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${factor}`);
  if (!(maxDelayMs >= initialDelayMs)) throw new RangeError(`backoff maxDelayMs must be >= initialDelayMs, got ${maxDelayMs}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff jitter must be between 0 and 1, got ${jitter}`);
  const base = Math.min(maxDelayMs, initialDelayMs * factor ** Math.max(0, attempt));
  const spread = base * jitter * (2 * random() - 1);
  return Math.round(Math.min(maxDelayMs, Math.max(0, base + spread)));
}
