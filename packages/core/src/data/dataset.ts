import { ArgumentError, DataError, formatShape, ShapeError } from '../errors.js';

/** A host-side data matrix: `rows` examples of `cols` features, row-major. */
export interface Dataset {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
  /** Where the data came from, for error messages (a file name, `mnist:train`). */
  readonly source?: string;
}

/** Wraps a row-major array as a {@link Dataset}, checking that the shape fits. */
export function createDataset(
  data: Float32Array | Float64Array | ArrayLike<number>,
  rows: number,
  cols: number,
  source?: string,
): Dataset {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new ShapeError(`dataset shape must be two positive integers, got ${formatShape([rows, cols])}`);
  }
  if (data.length !== rows * cols) {
    throw new ShapeError(
      `dataset${source ? ` ${source}` : ''}: ${data.length} values do not fill ${formatShape([rows, cols])} (${rows * cols})`,
    );
  }
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
  return source === undefined ? { data: f32, rows, cols } : { data: f32, rows, cols, source };
}

/** Builds a dataset from an array of equally long rows. */
export function datasetFromRows(rows: ReadonlyArray<ArrayLike<number>>, source?: string): Dataset {
  if (rows.length === 0) throw new ShapeError('dataset has no rows');
  const cols = rows[0]!.length;
  const data = new Float32Array(rows.length * cols);
  rows.forEach((row, i) => {
    if (row.length !== cols) {
      throw new ShapeError(`row ${i} has ${row.length} values, row 0 has ${cols}`);
    }
    for (let j = 0; j < cols; j++) data[i * cols + j] = row[j]!;
  });
  return createDataset(data, rows.length, cols, source);
}

/** A plain array, null or a number where a typed array or a Dataset was expected: what came, in words. */
export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a plain array';
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return typeof x;
}

/** What came where a Dataset (or DataSource) was expected, but is not one. */
export function describeNonDataset(x: unknown): string {
  if (ArrayBuffer.isView(x)) return `a bare ${describeValue(x)}`;
  if (x !== null && typeof x === 'object' && !Array.isArray(x))
    return `an object whose rows and cols are ${JSON.stringify((x as Dataset).rows) ?? 'missing'} and ${JSON.stringify((x as Dataset).cols) ?? 'missing'}`;
  return describeValue(x);
}

/** Whether `x` has the shape of a Dataset or a DataSource: an object with whole-number rows and cols. */
export function hasRowsAndCols(x: unknown): boolean {
  return (
    x !== null &&
    typeof x === 'object' &&
    !ArrayBuffer.isView(x) &&
    !Array.isArray(x) &&
    Number.isInteger((x as Dataset).rows) &&
    Number.isInteger((x as Dataset).cols)
  );
}

function where(ds: Dataset): string {
  return ds.source ? ` in ${ds.source}` : '';
}

/** Throws a {@link DataError} naming the first NaN or infinite value. */
export function assertFinite(ds: Dataset): void {
  const { data, cols } = ds;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x)) {
      const row = Math.floor(i / cols);
      const column = i % cols;
      throw new DataError(`non-finite value ${x}${where(ds)} at row ${row}, column ${column}`, {
        row,
        column,
        value: x,
      });
    }
  }
}

/** Bernoulli units take values in [0, 1] (probabilities or binary data). */
export function assertUnitInterval(ds: Dataset): void {
  assertFinite(ds);
  const { data, cols } = ds;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x < 0 || x > 1) {
      const row = Math.floor(i / cols);
      const column = i % cols;
      throw new DataError(
        `value ${x}${where(ds)} at row ${row}, column ${column} is outside [0, 1], which Bernoulli units require`,
        { row, column, value: x },
      );
    }
  }
}

/** Exact enumeration and KL need binary data: every value 0 or 1. */
export function assertBinary(ds: Dataset): void {
  assertFinite(ds);
  const { data, cols } = ds;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x !== 0 && x !== 1) {
      const row = Math.floor(i / cols);
      const column = i % cols;
      throw new DataError(`value ${x}${where(ds)} at row ${row}, column ${column} is not binary (0 or 1)`, {
        row,
        column,
        value: x,
      });
    }
  }
}

/** {@link assertColumns}, and at least one row: a figure that is a mean over the examples needs one. */
export function assertExamples(ds: Dataset, cols: number, what: string): void {
  assertColumns(ds, cols, what);
  if (!(ds.rows >= 1)) throw new ShapeError(`${what}: the data have no rows (a mean over none is undefined)`);
}

export function assertColumns(ds: Dataset, cols: number, what: string): void {
  if (!hasRowsAndCols(ds))
    throw new ArgumentError(
      `${what}: expected a Dataset { data: Float32Array, rows, cols } (createDataset(values, rows, cols)), got ${describeNonDataset(ds)}`,
    );
  const values = ds.data as unknown;
  if (!(values instanceof Float32Array || values instanceof Float64Array))
    throw new ArgumentError(
      `${what}: a Dataset's data must be a Float32Array or a Float64Array, got ${describeValue(values)} (createDataset converts)`,
    );
  if (ds.cols !== cols) {
    throw new ShapeError(`${what}: data${where(ds)} has ${ds.cols} columns, the model has ${cols} visible units`);
  }
}

/** Mean of each column, in float64. */
export function columnMeans(ds: Dataset): Float64Array {
  const means = new Float64Array(ds.cols);
  for (let i = 0; i < ds.rows; i++) {
    const base = i * ds.cols;
    for (let j = 0; j < ds.cols; j++) means[j]! += ds.data[base + j]!;
  }
  for (let j = 0; j < ds.cols; j++) means[j]! /= ds.rows;
  return means;
}

/**
 * Bars and stripes (MacKay 2003): an n x n image whose rows are all equal (stripes) or whose columns are
 * all equal (bars). There are 2^(n+1) - 2 distinct patterns (the all-zero and all-one images count once);
 * this returns each distinct pattern once, a standard enumerable benchmark for RBMs.
 */
export function barsAndStripes(n: number): Dataset {
  const patterns = new Map<string, Float32Array>();
  for (let mask = 0; mask < 1 << n; mask++) {
    const bars = new Float32Array(n * n);
    const stripes = new Float32Array(n * n);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        bars[r * n + c] = (mask >> c) & 1;
        stripes[r * n + c] = (mask >> r) & 1;
      }
    }
    patterns.set(bars.join(''), bars);
    patterns.set(stripes.join(''), stripes);
  }
  return datasetFromRows([...patterns.values()], `bars-and-stripes ${n}x${n}`);
}
