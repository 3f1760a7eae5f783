import { ArgumentError, formatShape, ShapeError } from '../errors.js';
import type { MatMulOptions, Tensor } from './types.js';

/**
 * Shape checks that every backend shares, so that a wrong shape gives the same typed error everywhere.
 */

const shapeOf = (t: Tensor) => formatShape([t.rows, t.cols]);

export function checkDimensions(rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new ShapeError(`tensor shape must be two positive integers, got ${formatShape([rows, cols])}`);
  }
}

export function checkData(rows: number, cols: number, length: number): void {
  if (length !== rows * cols) {
    throw new ShapeError(`data of length ${length} does not fill shape ${formatShape([rows, cols])} (${rows * cols})`);
  }
}

/** Returns (m, k, n) of out[m, n] = op(a)[m, k] op(b)[k, n], or throws a ShapeError naming the shapes. */
export function checkMatMul(
  out: Tensor,
  a: Tensor,
  b: Tensor,
  options: MatMulOptions = {},
): { m: number; k: number; n: number } {
  const m = options.transposeA ? a.cols : a.rows;
  const k = options.transposeA ? a.rows : a.cols;
  const kb = options.transposeB ? b.cols : b.rows;
  const n = options.transposeB ? b.rows : b.cols;
  const desc = () =>
    `matMul: ${shapeOf(a)}${options.transposeA ? '^T' : ''} x ${shapeOf(b)}${options.transposeB ? '^T' : ''} -> ${shapeOf(out)}`;
  if (k !== kb) throw new ShapeError(`${desc()}: inner dimensions ${k} and ${kb} differ`);
  if (out.rows !== m || out.cols !== n) throw new ShapeError(`${desc()}: out must be ${formatShape([m, n])}`);
  if (out === a || out === b) throw new ArgumentError('matMul: out must not alias an input');
  return { m, k, n };
}

/** How b broadcasts against a in a binary op. */
export type Broadcast = 'full' | 'row' | 'column' | 'scalar';

export function checkBinary(out: Tensor, a: Tensor, b: Tensor): Broadcast {
  if (out.rows !== a.rows || out.cols !== a.cols) {
    throw new ShapeError(`binary op: out ${shapeOf(out)} must match a ${shapeOf(a)}`);
  }
  if (b.rows === a.rows && b.cols === a.cols) return 'full';
  if (b.rows === 1 && b.cols === 1) return 'scalar';
  if (b.rows === 1 && b.cols === a.cols) return 'row';
  if (b.cols === 1 && b.rows === a.rows) return 'column';
  throw new ShapeError(
    `binary op: b ${shapeOf(b)} does not broadcast against a ${shapeOf(a)} (use [m, n], [1, n], [m, 1] or [1, 1])`,
  );
}

export function checkSame(what: string, ...ts: Tensor[]): void {
  const first = ts[0];
  if (!first) return;
  for (const t of ts) {
    if (t.rows !== first.rows || t.cols !== first.cols) {
      throw new ShapeError(`${what}: shapes ${ts.map(shapeOf).join(', ')} must be equal`);
    }
  }
}

export function checkReduce(what: string, out: Tensor, x: Tensor, axis: 0 | 1): void {
  const rows = axis === 0 ? 1 : x.rows;
  const cols = axis === 0 ? x.cols : 1;
  if (axis !== 0 && axis !== 1) throw new ArgumentError(`${what}: axis must be 0 or 1, got ${String(axis)}`);
  if (out.rows !== rows || out.cols !== cols) {
    throw new ShapeError(
      `${what} over axis ${axis} of ${shapeOf(x)}: out must be ${formatShape([rows, cols])}, got ${shapeOf(out)}`,
    );
  }
}

/**
 * Shapes of `gather(out, x, index)` (out [k, n] from x [m, n] by index [k, 1]) or, with `scatter`,
 * `scatterAdd(out, index, x)` (x [k, n] into out [m, n]): `rows` is the other tensor ([m, n]), `picked` the
 * [k, n] one. Returns m, the bound of every index.
 */
export function checkIndexed(what: 'gather' | 'scatterAdd', rows: Tensor, picked: Tensor, index: Tensor): number {
  const desc = () =>
    what === 'gather'
      ? `gather: rows ${shapeOf(index)} of ${shapeOf(rows)} -> ${shapeOf(picked)}`
      : `scatterAdd: ${shapeOf(picked)} into rows ${shapeOf(index)} of ${shapeOf(rows)}`;
  if (index.cols !== 1) throw new ShapeError(`${desc()}: the index must be a column [k, 1]`);
  if (picked.rows !== index.rows || picked.cols !== rows.cols)
    throw new ShapeError(
      `${desc()}: ${what === 'gather' ? 'out' : 'x'} must be ${formatShape([index.rows, rows.cols])}`,
    );
  if (rows === picked || index === picked || index === rows)
    throw new ArgumentError(`${what}: out, x and index must be three tensors`);
  return rows.rows;
}

/**
 * Row `i` of an index column as a row number below `limit`, or an ArgumentError naming the position and the
 * value (for backends that hold their indices on the host).
 */
export function checkIndex(what: string, value: number, i: number, limit: number): number {
  if (!(Number.isInteger(value) && value >= 0 && value < limit))
    throw new ArgumentError(`${what}: index[${i}] is ${value}, not a row number in [0, ${limit})`);
  return value;
}

/**
 * The argument checks as one object, for backends: `check.matMul(out, a, b, options)`,
 * `check.binary(out, a, b)`, ... (each is also exported under its own name).
 */
export const check = {
  dimensions: checkDimensions,
  data: checkData,
  matMul: checkMatMul,
  binary: checkBinary,
  same: checkSame,
  reduce: checkReduce,
  indexed: checkIndexed,
  index: checkIndex,
} as const;
