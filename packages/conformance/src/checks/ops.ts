import { RandomStream, Streams } from '@rbmjs/core';
import {
  type BinaryOp,
  fillUniforms,
  type MatMulOptions,
  RbmError,
  ShapeError,
  type UnaryOp,
  uniformityFailures,
} from '@rbmjs/core/backend';

import { type ConformanceCheck, randomArray } from './context.js';

/** The interface, every op against the float64 reference, and the randomness. */

const MATMUL_SHAPES: ReadonlyArray<[number, number, number]> = [
  [1, 1, 1],
  [1, 7, 3],
  [5, 1, 9],
  [4, 4, 4],
  [7, 13, 5],
  [17, 33, 65],
  [100, 50, 31],
  [3, 1500, 2],
  [1, 1030, 9],
];

const ELEMENTWISE_SHAPES: ReadonlyArray<[number, number]> = [
  [1, 1],
  [1, 13],
  [9, 1],
  [17, 33],
  [64, 65],
];

/** Inputs where sigmoid and softplus are hard: large |x|, the float32 exp overflow edge, zero. */
const EXTREMES = [0, -0, 1e-8, -1e-8, 1, -1, 15, -15, 30, -30, 88, -88, 89, -89, 100, -100, 1000, -1000, 1e30, -1e30];

export const interfaceChecks: ConformanceCheck[] = [
  {
    group: 'interface',
    name: 'declares version, precision and randomness',
    run(c) {
      const be = c.backend;
      c.equal(be.apiVersion, 1, 'apiVersion');
      c.that(['float32', 'float64'].includes(be.precision), `precision ${be.precision}`);
      c.that(['host', 'philox'].includes(be.randomness), `randomness ${be.randomness}`);
      c.that(typeof be.name === 'string', 'name is a string');
    },
  },
  {
    group: 'interface',
    name: 'round-trips data; read returns a copy',
    async run(c) {
      const be = c.backend;
      const data = randomArray(35, 1);
      const t = be.tensor(5, 7, data);
      const back = await be.read(t);
      c.equal(Array.from(back), Array.from(data), 'read after tensor()');
      back[0] = 123;
      c.equal((await be.read(t))[0], data[0], 'read returns a copy');
      be.write(t, randomArray(35, 2));
      c.equal(Array.from(await be.read(t)), Array.from(randomArray(35, 2)), 'read after write()');
      be.dispose(t);
      const z = be.tensor(2, 3);
      c.equal(Array.from(await be.read(z)), [0, 0, 0, 0, 0, 0], 'a new tensor is zero');
      be.dispose(z);
    },
  },
  {
    group: 'interface',
    name: 'rejects wrong shapes with a typed error that names them',
    run(c) {
      const be = c.backend;
      c.throws(() => be.tensor(2, 3, new Float32Array(5)), ShapeError, 'tensor(2, 3) with 5 values');
      c.throws(() => be.tensor(0, 3), ShapeError, 'tensor(0, 3)');
      const a = be.tensor(2, 3);
      const b = be.tensor(4, 5);
      const out = be.tensor(2, 5);
      c.throws(() => be.matMul(out, a, b), ShapeError, 'matMul 2x3 by 4x5', /inner dimensions 3 and 4/);
      c.throws(() => be.binary('add', a, a, b), ShapeError, 'add 2x3 and 4x5');
      c.throws(() => be.sum(out, a, 0), ShapeError, 'sum into the wrong shape');
      c.throws(() => be.write(a, new Float32Array(7)), ShapeError, 'write 7 values to 2x3');
      for (const t of [a, b, out]) be.dispose(t);
    },
  },
  {
    group: 'interface',
    name: 'refuses a disposed tensor',
    run(c) {
      const t = c.backend.tensor(1, 1);
      c.backend.dispose(t);
      c.throws(() => c.backend.fill(t, 1), RbmError, 'fill a disposed tensor');
    },
  },
];

export const opChecks: ConformanceCheck[] = [
  {
    group: 'ops against the float64 reference',
    name: 'matMul over shapes, transposes, alpha and beta',
    timeoutMs: 120_000,
    async run(c) {
      const { backend: be, ref } = c;
      let seed = 10;
      for (const [m, k, n] of MATMUL_SHAPES) {
        if (k > c.options.maxInner) {
          c.skipped.push(`${m}x${k}x${n}: inner dimension ${k} above maxInner ${c.options.maxInner}`);
          seed += 36;
          continue;
        }
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            for (const [alpha, beta] of [
              [1, 0],
              [-0.5, 1],
              [2, 0.25],
            ] as const) {
              const aData = randomArray(m * k, seed++);
              const bData = randomArray(k * n, seed++);
              const cData = randomArray(m * n, seed++);
              const [a, ra] = transposeA ? c.pair(k, m, aData) : c.pair(m, k, aData);
              const [b, rb] = transposeB ? c.pair(n, k, bData) : c.pair(k, n, bData);
              const [out, rout] = c.pair(m, n, cData);
              const opts: MatMulOptions = { transposeA, transposeB, alpha, beta };
              be.matMul(out, a, b, opts);
              ref.matMul(rout, ra, rb, opts);
              // Error bound of a float dot product: ~k u sum|a||b|, plus rounding of beta*c and the result.
              const absA = ref.tensor(ra.rows, ra.cols, (await ref.read(ra)).map(Math.abs));
              const absB = ref.tensor(rb.rows, rb.cols, (await ref.read(rb)).map(Math.abs));
              const bound = ref.tensor(m, n, cData.map(Math.abs));
              ref.matMul(bound, absA, absB, { transposeA, transposeB, alpha: Math.abs(alpha), beta: Math.abs(beta) });
              const bnd = await ref.read(bound);
              c.close(
                `matMul ${m}x${k}x${n} tA=${transposeA} tB=${transposeB} alpha=${alpha} beta=${beta}`,
                await be.read(out),
                await ref.read(rout),
                (i) => (2 * k + 4) * c.eps * bnd[i]! + c.tiny,
              );
              for (const t of [a, b, out]) be.dispose(t);
              for (const t of [ra, rb, rout, absA, absB, bound]) ref.dispose(t);
            }
          }
        }
      }
    },
  },
  {
    group: 'ops against the float64 reference',
    name: 'matMul refuses an output that aliases an input',
    run(c) {
      const a = c.backend.tensor(3, 3);
      c.throws(() => c.backend.matMul(a, a, a), RbmError, 'matMul(a, a, a)');
      c.backend.dispose(a);
    },
  },
  {
    group: 'ops against the float64 reference',
    name: 'unary ops, including large |x| for sigmoid and softplus',
    async run(c) {
      const { backend: be, ref } = c;
      const ops: UnaryOp[] = ['sigmoid', 'softplus', 'exp', 'log', 'square', 'sign', 'neg'];
      let seed = 100;
      for (const op of ops) {
        for (const [rows, cols] of [...ELEMENTWISE_SHAPES, [1, EXTREMES.length] as [number, number]]) {
          let data: Float32Array;
          if (cols === EXTREMES.length && rows === 1) data = Float32Array.from(EXTREMES);
          else data = randomArray(rows * cols, seed++, -20, 20);
          if (op === 'log') data = data.map((x) => Math.abs(x) + 1e-3);
          if (op === 'exp' || op === 'square') data = data.map((x) => Math.max(-80, Math.min(80, x)));
          const [x, rx] = c.pair(rows, cols, data);
          const out = be.tensor(rows, cols);
          const rout = ref.tensor(rows, cols);
          be.unary(op, out, x);
          ref.unary(op, rout, rx);
          const expected = await ref.read(rout);
          // Relative error (8 + 2|x|) u: the WGSL accuracy bound for exp is 3 + 2|x| ulp, and log near 1 has an
          // absolute bound of 2^-21 there (GPU engines meet these; CPU engines do far better).
          const bound = (i: number) =>
            (8 + 2 * Math.abs(data[i]!)) * c.eps * Math.abs(expected[i]!) +
            (op === 'log' && be.precision === 'float32' ? 2 ** -21 : 0) +
            c.tiny;
          c.close(`unary ${op} on ${rows}x${cols}`, await be.read(out), expected, bound);
          be.unary(op, x, x); // in place
          c.close(`unary ${op} in place`, await be.read(x), expected, bound);
          be.dispose(x);
          be.dispose(out);
          ref.dispose(rx);
          ref.dispose(rout);
        }
      }
    },
  },
  {
    group: 'ops against the float64 reference',
    name: 'binary ops with every broadcast, and axpby',
    async run(c) {
      const { backend: be, ref } = c;
      let seed = 200;
      for (const op of ['add', 'sub', 'mul'] as BinaryOp[]) {
        for (const [rows, cols] of ELEMENTWISE_SHAPES) {
          for (const [br, bc] of [
            [rows, cols],
            [1, cols],
            [rows, 1],
            [1, 1],
          ] as const) {
            const [a, ra] = c.pair(rows, cols, randomArray(rows * cols, seed++, -3, 3));
            const [b, rb] = c.pair(br, bc, randomArray(br * bc, seed++, -3, 3));
            const out = be.tensor(rows, cols);
            const rout = ref.tensor(rows, cols);
            be.binary(op, out, a, b);
            ref.binary(op, rout, ra, rb);
            const expected = await ref.read(rout);
            const bound = (i: number) => 4 * c.eps * (Math.abs(expected[i]!) + 9) + c.tiny;
            c.close(`${op} ${rows}x${cols} with ${br}x${bc}`, await be.read(out), expected, bound);
            be.binary(op, a, a, b); // in place
            c.close(`${op} in place`, await be.read(a), expected, bound);
            for (const t of [a, b, out]) be.dispose(t);
            for (const t of [ra, rb, rout]) ref.dispose(t);
          }
        }
      }
      const [x, rx] = c.pair(7, 9, randomArray(63, seed++));
      const [y, ry] = c.pair(7, 9, randomArray(63, seed++));
      be.axpby(y, 0.9, y, -0.3, x);
      ref.axpby(ry, 0.9, ry, -0.3, rx);
      c.close('axpby', await be.read(y), await ref.read(ry), () => 8 * c.eps + c.tiny);
      be.dispose(x);
      be.dispose(y);
    },
  },
  {
    group: 'ops against the float64 reference',
    name: 'sum and logSumExp over both axes, long axes and extreme values',
    async run(c) {
      const { backend: be, ref } = c;
      let seed = 300;
      for (const [rows, cols] of [...ELEMENTWISE_SHAPES, [1500, 3], [2, 1500]] as Array<[number, number]>) {
        for (const axis of [0, 1] as const) {
          const scale = seed % 2 === 0 ? 1 : 1000;
          const data = randomArray(rows * cols, seed++, -scale, scale);
          const [x, rx] = c.pair(rows, cols, data);
          const orows = axis === 0 ? 1 : rows;
          const ocols = axis === 0 ? cols : 1;
          const inner = axis === 0 ? rows : cols;
          for (const op of ['sum', 'logSumExp'] as const) {
            const out = be.tensor(orows, ocols);
            const rout = ref.tensor(orows, ocols);
            be[op](out, x, axis);
            ref[op](rout, rx, axis);
            const expected = await ref.read(rout);
            const bound =
              op === 'sum'
                ? () => (inner + 2) * c.eps * scale * inner + c.tiny
                : (i: number) => (inner + 8) * c.eps * (Math.abs(expected[i]!) + 1) + c.tiny;
            c.close(`${op} axis ${axis} of ${rows}x${cols}`, await be.read(out), expected, bound);
            be.dispose(out);
          }
          be.dispose(x);
        }
      }
      // -Infinity entries (log 0) and a row of them.
      const [x, rx] = c.pair(2, 3, Float32Array.of(-Infinity, 0, 1, -Infinity, -Infinity, -Infinity));
      const out = be.tensor(2, 1);
      const rout = ref.tensor(2, 1);
      be.logSumExp(out, x, 1);
      ref.logSumExp(rout, rx, 1);
      const got = await be.read(out);
      const want = await ref.read(rout);
      c.that(Math.abs(got[0]! - want[0]!) < 5e-6, `logSumExp of [-inf, 0, 1]: ${got[0]}, expected ${want[0]}`);
      c.equal(got[1], Number.NEGATIVE_INFINITY, 'logSumExp of a row of -inf');
      be.dispose(x);
      be.dispose(out);
    },
  },
  {
    group: 'ops against the float64 reference',
    name: 'bernoulli is exactly u < p, fill and copy are exact',
    async run(c) {
      const be = c.backend;
      const p = Float32Array.of(0, 1, 0.5, 0.5, 0.25, 0.75, 1, 0);
      const u = Float32Array.of(0, 0.999999, 0.5, 0.4999999, 0.3, 0.7, 0, 0.5);
      const pt = be.tensor(2, 4, p);
      const ut = be.tensor(2, 4, u);
      const out = be.tensor(2, 4);
      be.bernoulli(out, pt, ut);
      c.equal(Array.from(await be.read(out)), [0, 1, 0, 1, 0, 1, 1, 0], 'bernoulli');
      be.fill(out, -2.5);
      c.equal(Array.from(await be.read(out)), Array(8).fill(-2.5), 'fill');
      be.copy(out, pt);
      c.equal(Array.from(await be.read(out)), Array.from(p), 'copy');
      for (const t of [pt, ut, out]) be.dispose(t);
    },
  },
];

export const randomnessChecks: ConformanceCheck[] = [
  {
    group: 'randomness',
    name: 'uniforms: exactly core Philox when declared, and the statistics of U[0, 1)',
    async run(c) {
      const be = c.backend;
      const rows = 300;
      const cols = 501;
      const n = rows * cols;
      const u = be.tensor(rows, cols);
      const stream = new RandomStream(2024, Streams.gibbs, 17);
      if (be.randomness === 'philox') {
        be.uniform!(u, { k0: stream.k0, k1: stream.k1, stream: stream.stream, offset: stream.offset });
        const expected = new Float32Array(n);
        fillUniforms(expected, stream.k0, stream.k1, stream.stream, stream.offset);
        c.close('uniform vs core Philox', await be.read(u), expected, () => 0);
      } else {
        const host = new Float32Array(n);
        stream.uniform(host);
        be.write(u, host);
      }
      // Statistics of what the backend now holds (what its sampler consumes).
      const failures = uniformityFailures(await be.read(u));
      c.that(failures.length === 0, `uniforms: ${failures.join('; ')}`);
      be.dispose(u);
    },
  },
];
