import type { HostArray, Trace } from '@rbmjs/core/backend';

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
