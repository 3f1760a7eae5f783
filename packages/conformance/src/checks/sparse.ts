import { ArgumentError, ShapeError } from '@rbmjs/core/backend';

import { type CheckContext, type ConformanceCheck, randomArray } from './context.js';

/**
 * The sparse ops, gather and scatterAdd, against the float64 reference: the ops of a sparse batch (a rated
 * item's weight rows gathered by index, its gradient added back into them), including repeated indices (two
 * users in a batch rating one item), the first and last rows, and index columns longer than gpu.js's
 * 1,000-iteration loop cap.
 */

/** x [m, n] and k indices: every index in [0, m), the first and the last row among them, repeats for k > m. */
const SHAPES: ReadonlyArray<[m: number, n: number, k: number]> = [
  [1, 1, 1],
  [1, 5, 4],
  [7, 3, 5],
  [9, 33, 40],
  [300, 17, 64],
  [50, 10, 1200],
];

/** k row numbers in [0, m): seeded, with row 0 first and row m - 1 last. */
export function indexColumn(m: number, k: number, seed: number): Float32Array {
  const u = randomArray(k, seed, 0, 1);
  const index = Float32Array.from(u, (x) => Math.min(m - 1, Math.floor(x * m)));
  index[0] = 0;
  if (k > 1) index[k - 1] = m - 1;
  return index;
}

const group = 'ops against the float64 reference';

export const sparseChecks: ConformanceCheck[] = [
  {
    group,
    name: 'gather: rows by index, exactly, with repeats',
    async run(c: CheckContext) {
      const { backend: be, ref } = c;
      let seed = 500;
      for (const [m, n, k] of SHAPES) {
        const [x, rx] = c.pair(m, n, randomArray(m * n, seed++, -5, 5));
        const [index, rindex] = c.pair(k, 1, indexColumn(m, k, seed++));
        const out = be.tensor(k, n);
        const rout = ref.tensor(k, n);
        be.gather(out, x, index);
        ref.gather(rout, rx, rindex);
        // A gather moves values: no rounding at all.
        c.close(`gather ${k} of the rows of ${m}x${n}`, await be.read(out), await ref.read(rout), () => 0);
        for (const t of [x, index, out]) be.dispose(t);
        for (const t of [rx, rindex, rout]) ref.dispose(t);
      }
    },
  },
  {
    group,
    name: 'scatterAdd: rows added by index, repeats summed, into what out held',
    async run(c: CheckContext) {
      const { backend: be, ref } = c;
      let seed = 600;
      for (const [m, n, k] of SHAPES) {
        const outData = randomArray(m * n, seed++, -5, 5);
        const xData = randomArray(k * n, seed++, -5, 5);
        const indexData = indexColumn(m, k, seed++);
        const [out, rout] = c.pair(m, n, outData);
        const [x, rx] = c.pair(k, n, xData);
        const [index, rindex] = c.pair(k, 1, indexData);
        be.scatterAdd(out, index, x);
        ref.scatterAdd(rout, rindex, rx);
        // A sum of the repeats of each row in some order: ~(count + 2) u sum |terms|.
        const count = new Float64Array(m);
        for (const r of indexData) count[r]!++;
        const absOut = ref.tensor(m, n, outData.map(Math.abs));
        const absX = ref.tensor(k, n, xData.map(Math.abs));
        ref.scatterAdd(absOut, rindex, absX);
        const bound = await ref.read(absOut);
        c.close(
          `scatterAdd ${k} rows into ${m}x${n}`,
          await be.read(out),
          await ref.read(rout),
          (i) => (count[Math.floor(i / n)]! + 2) * c.eps * bound[i]! + c.tiny,
        );
        for (const t of [out, x, index]) be.dispose(t);
        for (const t of [rout, rx, rindex, absOut, absX]) ref.dispose(t);
      }
    },
  },
  {
    group,
    name: 'gather and scatterAdd refuse wrong shapes and aliases with a typed error',
    run(c: CheckContext) {
      const be = c.backend;
      const x = be.tensor(4, 3);
      const index = be.tensor(2, 1, Float32Array.of(0, 3));
      const wide = be.tensor(2, 2);
      const out = be.tensor(2, 3);
      const rows = be.tensor(2, 3);
      try {
        c.throws(() => be.gather(out, x, wide), ShapeError, 'gather with a [2, 2] index', /column/);
        c.throws(() => be.gather(wide, x, index), ShapeError, 'gather into [2, 2] from [4, 3]', /\[2, 3\]/);
        c.throws(() => be.scatterAdd(x, index, wide), ShapeError, 'scatterAdd [2, 2] into [4, 3]');
        c.throws(() => be.scatterAdd(x, wide, rows), ShapeError, 'scatterAdd with a [2, 2] index');
        c.throws(() => be.gather(x, x, index), ShapeError, 'gather into x');
        c.throws(() => be.scatterAdd(rows, index, rows), ArgumentError, 'scatterAdd x into itself');
      } finally {
        for (const t of [x, index, wide, out, rows]) be.dispose(t);
      }
    },
  },
];
