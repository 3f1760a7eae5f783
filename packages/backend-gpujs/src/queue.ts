/**
 * Runs steps in the order they were pushed. A step runs at once while nothing is pending; a step that
 * returns a promise makes later steps wait for it. So synchronous kernels (cpu, GL) run eagerly, and
 * asynchronous ones (webgpu, threaded webasm) are chained without the caller awaiting each op.
 *
 * A step that fails asynchronously poisons the queue: later pushes and `settled` throw that error (the
 * values it would have produced are missing, so nothing after it can be trusted).
 */
export class SerialQueue {
  private tail: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;

  push(step: () => unknown): void {
    this.check();
    if (this.tail === null) {
      const result = step();
      if (result instanceof Promise) this.track(result);
    } else {
      this.track(this.tail.then(step));
    }
  }

  /** Resolves when every step pushed so far has run; rejects with the first failure. */
  async settled(): Promise<void> {
    while (this.tail !== null) await this.tail;
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }

  private track(p: Promise<unknown>): void {
    const t: Promise<void> = p.then(
      () => {
        if (this.tail === t) this.tail = null;
      },
      (error: unknown) => {
        this.failure ??= { error };
        if (this.tail === t) this.tail = null;
      },
    );
    this.tail = t;
  }
}
