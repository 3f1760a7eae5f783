/**
 * The serial task queue of a backend whose device works asynchronously (gpu.js on WebGPU or in a worker
 * pool, ONNX Runtime's `run`): tasks run in the order they were pushed; a task runs at once while nothing
 * is pending, and one that returns a promise makes later tasks wait for it. So synchronous work runs eagerly
 * and asynchronous work is chained without the caller awaiting each op; only `settled` (a backend's `read`)
 * waits.
 *
 * A task that fails asynchronously is reported by `settled`. With `failures: 'sticky'` (default) it poisons
 * the queue: later pushes and every `settled` throw it, since the values the task would have produced are
 * missing (a lost device). With `failures: 'once'` it is thrown by the next `settled` only, and the queue
 * goes on (a failed run whose inputs and outputs are still whole, as ONNX Runtime's).
 */
export class SerialQueue {
  private tail: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;

  constructor(private readonly failures: 'sticky' | 'once' = 'sticky') {}

  /** Whether nothing is in flight (an op may then run at once). */
  get idle(): boolean {
    return this.tail === null;
  }

  push(task: () => unknown): void {
    if (this.failures === 'sticky') this.check();
    if (this.tail === null) {
      const result = task();
      if (result instanceof Promise) this.track(result);
    } else {
      this.track(this.tail.then(task));
    }
  }

  /** Resolves when every task pushed so far has run; rejects with the first failure (see the class). */
  async settled(): Promise<void> {
    while (this.tail !== null) await this.tail;
    this.check();
  }

  private check(): void {
    const failure = this.failure;
    if (!failure) return;
    if (this.failures === 'once') this.failure = null;
    throw failure.error instanceof Error ? failure.error : new Error(String(failure.error));
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
