import type { HostArray, Trace } from '@rbmjs/core/backend';

/**
 * The host side of the ONNX Runtime backend's asynchronous runs: a queue that keeps issue order (ops issued
 * while a run is in flight wait behind it), and a pool of arrays for the uploads that traces record.
 */
export class RunQueue {
  private tail: Promise<void> | null = null;
  private failure: unknown;

  /** Whether nothing is in flight (an op may then run at once). */
  get idle(): boolean {
    return this.tail === null;
  }

  /** Runs `task` now when nothing is in flight, else after what is. A failure is thrown by {@link settle}. */
  enqueue(task: () => void | Promise<void>): void {
    if (this.tail === null) {
      const r = task();
      if (r instanceof Promise) this.track(r);
    } else {
      this.track(this.tail.then(task));
    }
  }

  /** Resolves once everything enqueued has run; rejects with the first failure since the last settle. */
  async settle(): Promise<void> {
    while (this.tail !== null) await this.tail;
    if (this.failure !== undefined) {
      const error = this.failure;
      this.failure = undefined;
      throw error instanceof Error ? error : new Error(String(error));
    }
  }

  private track(p: Promise<void>): void {
    const t: Promise<void> = p.then(
      () => {
        if (this.tail === t) this.tail = null;
      },
      (error: unknown) => {
        this.failure ??= error;
        if (this.tail === t) this.tail = null;
      },
    );
    this.tail = t;
  }
}

/**
 * Arrays for the copies of uploads a trace records, by length, taken back once their unit has run: a run of
 * training steps uploads a batch per step, and fresh arrays of that size cost page faults.
 */
export class UploadPool {
  private readonly free = new Map<number, Float32Array[]>();

  /** A private copy of `data` (Trace's `copy`). */
  readonly copy = (data: HostArray): Float32Array => {
    const buf = this.free.get(data.length)?.pop() ?? new Float32Array(data.length);
    buf.set(data);
    return buf;
  };

  /** Takes back the upload arrays of a trace whose unit has run (at most 64 of a length are kept). */
  release(t: Trace): void {
    for (const op of t.ops) {
      if (op.kind !== 'write') continue;
      const pool = this.free.get(op.data.length) ?? [];
      this.free.set(op.data.length, pool);
      if (pool.length < 64) pool.push(op.data);
    }
  }
}
