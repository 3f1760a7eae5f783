import { DataError } from '../errors.js';
import type { VisibleUnits, VisibleUnitType } from '../model/units.js';
import type { Dataset } from './dataset.js';

/**
 * Random access to the rows of a data set that need not fit in memory (a file read in mini-batches).
 * The trainer asks for the rows of one batch at a time, in the order of its seeded permutation.
 */
export interface DataSource {
  readonly rows: number;
  readonly cols: number;
  /** Named in error messages (a file path, `mnist:train`). */
  readonly source?: string;
  /** Copies rows `indices[0], indices[1], ...` into `out` (indices.length * cols values, row-major). */
  readRows(indices: ArrayLike<number>, out: Float32Array): Promise<void> | void;
  /** Releases files or buffers. */
  close?(): Promise<void> | void;
  /**
   * Where row `row` (0-based index), column `column` (0-based) sits, in the words of the source's own file:
   * `line 3, column 1` for a CSV file. Without it messages say `row R, column C` (0-based indices).
   */
  locate?(row: number, column: number): string;
  /**
   * The units whose values `readRows` checks itself, as {@link checkBatch} does (throwing its DataError):
   * a trainer of such units then leaves the check to the source (the CLI's reader does it off the main
   * thread). Units with checks of their own (`checkRows`, softmax groups) are checked by the trainer still.
   */
  readonly checks?: VisibleUnits;
}

/** The largest magnitude accepted for Gaussian units: beyond it (v - a)^2 / 2 sigma^2 is meaningless in float32. */
export const GAUSSIAN_MAX_VALUE = 1e8;

/** 0, 1, ..., n - 1: the indices of every row. */
export function identityIndices(n: number): Uint32Array {
  return Uint32Array.from({ length: n }, (_, i) => i);
}

export function isDataSource(x: Dataset | DataSource): x is DataSource {
  return typeof (x as DataSource).readRows === 'function';
}

/** An in-memory {@link Dataset} as a {@link DataSource}. */
export function datasetSource(ds: Dataset): DataSource {
  const { data, rows, cols } = ds;
  const source: DataSource = {
    rows,
    cols,
    readRows(indices, out) {
      for (let r = 0; r < indices.length; r++) {
        const src = indices[r]! * cols;
        out.set(data.subarray(src, src + cols), r * cols);
      }
    },
  };
  return ds.source === undefined ? source : { ...source, source: ds.source };
}

/**
 * Checks a batch read from a source: every value finite, and in [0, 1] as Bernoulli units require.
 * The error names the row of the data set (not of the batch) and the column.
 */
export function checkBatch(
  values: Float32Array | Float64Array,
  indices: ArrayLike<number>,
  cols: number,
  source?: string,
  units: VisibleUnits | VisibleUnitType = 'bernoulli',
  locate?: (row: number, column: number) => string,
): void {
  const gaussian = (typeof units === 'string' ? units : units.name) === 'gaussian';
  for (let i = 0; i < indices.length * cols; i++) {
    const x = values[i]!;
    if (gaussian ? Math.abs(x) <= GAUSSIAN_MAX_VALUE : x >= 0 && x <= 1) continue;
    const row = indices[Math.floor(i / cols)]!;
    const column = i % cols;
    const where = source ? ` in ${source}` : '';
    const at = locate ? locate(row, column) : `row ${row}, column ${column}`;
    throw new DataError(
      !Number.isFinite(x)
        ? `non-finite value ${x}${where} at ${at}`
        : gaussian
          ? `value ${x}${where} at ${at} is larger in magnitude than ${GAUSSIAN_MAX_VALUE}, which Gaussian units take (standardise the columns)`
          : `value ${x}${where} at ${at} is outside [0, 1], which Bernoulli units require`,
      { row, column, value: x },
    );
  }
  if (typeof units !== 'string') units.checkRows?.(values, indices.length, (r) => indices[r]!, source);
}

/** Column means of a source, read in chunks of `chunk` rows (float64). */
export async function sourceColumnMeans(
  src: DataSource,
  chunk = 1024,
  units: VisibleUnits | VisibleUnitType = 'bernoulli',
): Promise<Float64Array> {
  const means = new Float64Array(src.cols);
  const buf = new Float32Array(chunk * src.cols);
  for (let start = 0; start < src.rows; start += chunk) {
    const n = Math.min(chunk, src.rows - start);
    const idx = Uint32Array.from({ length: n }, (_, i) => start + i);
    const view = buf.subarray(0, n * src.cols);
    await src.readRows(idx, view);
    checkBatch(view, idx, src.cols, src.source, units, src.locate?.bind(src));
    for (let r = 0; r < n; r++) for (let j = 0; j < src.cols; j++) means[j]! += view[r * src.cols + j]!;
  }
  for (let j = 0; j < src.cols; j++) means[j]! /= src.rows;
  return means;
}

/** Reads the first `n` rows of a source into memory. */
export async function readHead(src: DataSource, n: number): Promise<Dataset> {
  const rows = Math.min(n, src.rows);
  const data = new Float32Array(rows * src.cols);
  await src.readRows(
    Uint32Array.from({ length: rows }, (_, i) => i),
    data,
  );
  return src.source === undefined ? { data, rows, cols: src.cols } : { data, rows, cols: src.cols, source: src.source };
}
