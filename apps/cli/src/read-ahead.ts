import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataError, type DataSource, RbmError, type RbmErrorCode, type VisibleUnits } from '@rbmjs/core';
import type { DataSpec } from './data.js';

/**
 * Training from a file at in-memory speed: the file's rows are read, binarised and checked on a worker
 * thread (`data-worker.ts`, which opens the same data with the same spec), so that while the backend runs a
 * training step on the main thread the next batches are read on the other core. The trainer asks for the
 * next run of batches before it waits on the current one (its read-ahead); this source makes that read
 * asynchronous. Memory stays bounded: one request at a time, in a shared buffer the size of the request.
 */

/** What the worker is told: the data to open, and which units' values it checks. */
export interface WorkerData {
  readonly spec: DataSpec;
  readonly checks?: VisibleUnits;
}

/** One request: the rows to read into `buffer` (float32, row-major). */
export interface ReadRequest {
  readonly id: number;
  readonly indices: Uint32Array;
  readonly buffer: SharedArrayBuffer;
}

/** The answer: done, or the error readRows threw, as its parts. */
export interface ReadReply {
  readonly id: number;
  readonly error?: {
    /** A DataError (with its place in the file). */
    readonly data: boolean;
    readonly code?: RbmErrorCode;
    readonly message: string;
    readonly where?: { row?: number | undefined; column?: number | undefined; value?: number | undefined };
  };
}

/** The worker's script beside this module in dist/ (absent when the sources run untranspiled, as in tests). */
function workerScript(): string | undefined {
  const path = fileURLToPath(new URL('./data-worker.js', import.meta.url));
  return existsSync(path) ? path : undefined;
}

/** An error from the worker, as the class the main thread would have thrown. */
function rebuild(e: NonNullable<ReadReply['error']>): Error {
  if (e.data) return new DataError(e.message, e.where ?? {});
  if (e.code) return new RbmError(e.code, e.message);
  return new Error(e.message);
}

/**
 * `source` (opened from `spec` on this thread) with its reads done on a worker thread, checked there for
 * `checks` units. Where no worker can be started, `source` itself.
 */
export function readAheadSource(source: DataSource, spec: DataSpec, checks?: VisibleUnits): DataSource {
  const script = workerScript();
  if (!script) return source;
  const worker = new Worker(script, { workerData: { spec, ...(checks ? { checks } : {}) } satisfies WorkerData });
  // The worker does not keep the process alive between reads.
  worker.unref();
  let failed: Error | undefined;
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  worker.on('message', (reply: ReadReply) => {
    const w = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (reply.error) w?.reject(rebuild(reply.error));
    else w?.resolve();
  });
  worker.on('error', (error) => {
    failed = error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  });
  let nextId = 0;
  let buffer = new SharedArrayBuffer(0);
  let tail: Promise<void> = Promise.resolve();
  const read = async (indices: ArrayLike<number>, out: Float32Array): Promise<void> => {
    if (failed) throw failed;
    const n = indices.length * source.cols;
    if (buffer.byteLength < 4 * n) buffer = new SharedArrayBuffer(4 * n);
    const id = nextId++;
    const done = new Promise<void>((resolve, reject) => waiting.set(id, { resolve, reject }));
    worker.ref();
    worker.postMessage({ id, indices: Uint32Array.from(indices), buffer } satisfies ReadRequest);
    try {
      await done;
    } finally {
      worker.unref();
    }
    out.set(new Float32Array(buffer, 0, n));
  };
  return {
    rows: source.rows,
    cols: source.cols,
    ...(source.source ? { source: source.source } : {}),
    ...(source.locate ? { locate: source.locate.bind(source) } : {}),
    ...(checks ? { checks } : {}),
    // One request at a time: the shared buffer is the request's.
    readRows(indices, out) {
      const r = tail.then(() => read(indices, out));
      tail = r.catch(() => undefined);
      return r;
    },
    async close() {
      await worker.terminate();
    },
  };
}
