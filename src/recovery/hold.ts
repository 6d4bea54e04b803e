/**
 * A gate that requests wait at while no server answers: `wait()` resolves true when the gate opens,
 * or false at the deadline. Waiters are released in arrival order. The one hold mechanism, used by
 * the dev proxy and the bridge.
 */
export class Hold {
  private waiters = new Set<(open: boolean) => void>();
  private isOpen: boolean;

  constructor(open = false) {
    this.isOpen = open;
  }

  /** Whether requests pass straight through. */
  get open(): boolean {
    return this.isOpen;
  }

  /** How many requests are waiting. */
  get size(): number {
    return this.waiters.size;
  }

  /**
   * Resolve true once open (at once if open now), false after `timeoutMs`, or false as soon as
   * `signal` aborts (a request its client gave up on stops waiting, and stops counting in `size`).
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.isOpen) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const aborted = () => done(false);
      const done = (open: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.waiters.delete(done);
        resolve(open);
      };
      const timer = setTimeout(done, timeoutMs, false);
      timer.unref();
      signal?.addEventListener('abort', aborted, { once: true });
      this.waiters.add(done);
    });
  }

  /** Let everyone through, in arrival order, and new requests straight on. */
  release(): void {
    this.isOpen = true;
    for (const done of [...this.waiters]) done(true);
  }

  /** Make new requests wait again. */
  shut(): void {
    this.isOpen = false;
  }

  /** Fail every waiter now (closing down). */
  abort(): void {
    for (const done of [...this.waiters]) done(false);
  }
}
