import { memo } from '../backend/scope.js';
import type { Backend } from '../backend/types.js';
import { checkBatch, type DataSource, identityIndices } from '../data/source.js';
import type { VisibleUnits, VisibleUnitType } from '../model/units.js';
import type { RandomStream } from '../random/stream.js';
import type { FamilyBatches } from './family.js';
import type { BatchWorkspace } from './step.js';

/**
 * The mini-batches of an epoch as the trainer consumes them: the seeded permutation, runs of batches read
 * (and checked) together for one unit of several steps, and the read-ahead of the next run while the backend
 * works on the current one.
 */

/** Rows a unit of several steps covers at most, and its steps at most (see {@link chunkSteps}). */
export const CHUNK_ROWS = 64;
export const MAX_CHUNK = 16;

/**
 * Steps per unit on `backend` at batch size `batchSize`: where the backend fuses, several small steps run as
 * one (a compiled call costs tens of microseconds and copies the parameters out once), up to
 * {@link CHUNK_ROWS} rows and {@link MAX_CHUNK} steps; one step per unit elsewhere. The steps and their
 * results are the same either way.
 */
export function chunkSteps(backend: Backend, batchSize: number): number {
  if (!backend.fuse) return 1;
  return Math.max(1, Math.min(MAX_CHUNK, Math.floor(CHUNK_ROWS / batchSize)));
}

/** A run of batches read for one unit: the workspace of their size, and each batch's rows. */
export interface Batches<W = BatchWorkspace> {
  readonly ws: W;
  readonly rows: Float32Array[];
}

export interface EpochBatchesOptions<W> {
  readonly batchSize: number;
  /** Steps per unit ({@link chunkSteps}). */
  readonly chunk: number;
  /** Batches between divergence checks (a run of batches does not cross one). */
  readonly checkInterval: number;
  /** The units to check values against, when the source does not check them itself. */
  readonly check: VisibleUnits | VisibleUnitType | undefined;
  /** The step's buffers for a batch of `size` rows. */
  readonly workspace: (size: number) => W;
}

export class EpochBatches<W = BatchWorkspace> implements FamilyBatches<Batches<W>> {
  private readonly data: DataSource;
  private readonly o: EpochBatchesOptions<W>;
  private readonly perm: Uint32Array;
  private readonly hostBuffers = new Map<number, Float32Array>();
  private readonly locate: ((row: number, column: number) => string) | undefined;
  private ahead: { batch: number; count: number; read: Promise<Batches<W>> } | undefined;

  constructor(data: DataSource, options: EpochBatchesOptions<W>) {
    this.data = data;
    this.o = options;
    this.perm = identityIndices(data.rows);
    this.locate = data.locate?.bind(data);
  }

  /** Batches in an epoch (the last may be short). */
  get count(): number {
    return Math.ceil(this.data.rows / this.o.batchSize);
  }

  /** The epoch's order: the identity, shuffled by `rng` when given. */
  order(rng: RandomStream | undefined): void {
    for (let i = 0; i < this.perm.length; i++) this.perm[i] = i;
    if (rng) rng.shuffle(this.perm);
  }

  /** Whether the divergence-check interval that began at `intervalStart` ends before batch `next`. */
  endsInterval(next: number, intervalStart: number): boolean {
    return (next - intervalStart) % this.o.checkInterval === 0;
  }

  /**
   * How many batches from `batch` run as one unit: up to `chunk`, all of one size (the epoch's short last
   * batch runs alone), and none past the end of the divergence-check interval that began at `intervalStart`.
   */
  runLength(batch: number, intervalStart: number): number {
    const full = Math.floor(this.data.rows / this.o.batchSize);
    const end = batch < full ? full : this.count;
    const toCheck = this.o.checkInterval - ((batch - intervalStart) % this.o.checkInterval);
    return Math.max(1, Math.min(this.o.chunk, end - batch, toCheck));
  }

  /**
   * Reads `count` consecutive batches from `batch` of the current order, all of one size, checked as they
   * arrive: one read for the run of steps that follows. A read begun by {@link readAhead} for the same run
   * is taken over.
   */
  async read(batch: number, count: number): Promise<Batches<W>> {
    const ahead = this.ahead?.batch === batch && this.ahead.count === count ? this.ahead.read : undefined;
    await this.settle();
    return ahead ?? this.readNow(batch, count);
  }

  /**
   * Begins reading the run after one that ends before `next` (a source that reads off the main thread, as
   * the CLI's does, overlaps it with the backend's work). Its buffer is free once the current run's uploads
   * were issued: uploads are copied. An error is thrown by the {@link read} that takes it over.
   */
  readAhead(next: number, intervalStart: number): void {
    if (next >= this.count) return;
    const start = this.endsInterval(next, intervalStart) ? next : intervalStart;
    const count = this.runLength(next, start);
    const read = this.readNow(next, count);
    read.catch(() => undefined);
    this.ahead = { batch: next, count, read };
  }

  /** Waits for a read begun ahead (before its buffer is read into again), dropping it. */
  async settle(): Promise<void> {
    await this.ahead?.read.catch(() => undefined);
    this.ahead = undefined;
  }

  private async readNow(batch: number, count: number): Promise<Batches<W>> {
    const { rows, cols } = this.data;
    const B = this.o.batchSize;
    const start = batch * B;
    const size = Math.min(B, rows - start);
    const ws = this.o.workspace(size);
    const indices = this.perm.subarray(start, start + count * size);
    const host = memo(this.hostBuffers, size, () => new Float32Array(this.o.chunk * size * cols)).subarray(
      0,
      indices.length * cols,
    );
    await this.data.readRows(indices, host);
    if (this.o.check) checkBatch(host, indices, cols, this.data.source, this.o.check, this.locate);
    return { ws, rows: Array.from({ length: count }, (_, i) => host.subarray(i * size * cols, (i + 1) * size * cols)) };
  }
}
