import {
  annealedImportanceSampling,
  barsAndStripes,
  createDataset,
  type Dataset,
  exactLogPartition,
  jointRows,
  RandomStream,
  RBM,
  Streams,
  Trainer,
  type TrainOptions,
} from '@rbmjs/core';
import {
  assertBackend,
  type Backend,
  type BinaryOp,
  createReferenceBackend,
  fillUniforms,
  type HostArray,
  type MatMulOptions,
  RbmError,
  ShapeError,
  type Tensor,
  type UnaryOp,
} from '@rbmjs/core/backend';
import { instrument } from './instrument.js';
import { describeMismatch, firstMismatch, tinyNormal, unitRoundoff } from './tolerance.js';

/**
 * The conformance checks, as plain data: each is a name, a group and an async function of a
 * {@link CheckContext}. Nothing here imports a test framework, so the same checks run under vitest in Node
 * (`describeBackend`, suite.ts) and in a browser (`runChecks`, the demo's check.html). A check that cannot
 * run on a backend says so with {@link CheckContext.skip} and a reason; it is reported as skipped, never
 * dropped.
 *
 * Every numeric comparison is against core's float64 reference backend, with a bound derived from the
 * backend's precision (u = 2^-24 for float32): matrix products within (2k + 4) u sum|a||b|, elementwise
 * functions within (8 + 2|x|) u relative (log: plus 2^-21 absolute, the WGSL/GLSL accuracy of log),
 * reductions within (n + 2) u scale n, trained parameters within 1e3 u + 1e-6.
 */

export interface ConformanceCheck {
  readonly group: string;
  readonly name: string;
  /** Time limit under vitest, in ms (default: the runner's). */
  readonly timeoutMs?: number;
  run(ctx: CheckContext): Promise<void> | void;
}

export interface CheckOptions {
  /** Extra slack on every tolerance (default 1). */
  readonly toleranceScale?: number;
  /**
   * Largest inner dimension the matMul sweep uses (default 1500: above gpu.js's 1000-iteration loop cap).
   * Shapes beyond it are reported as skipped.
   */
  readonly maxInner?: number;
}

/** A check failed: the message says what, where and by how much. */
export class CheckFailure extends Error {}

/** A check cannot run on this backend; the reason is reported. */
export class CheckSkipped extends Error {}

export class CheckContext {
  readonly backend: Backend;
  /** The float64 reference backend. */
  readonly ref: Backend;
  readonly options: Required<CheckOptions>;
  /** The worst |actual - expected| / bound seen (at most 1 when the check passes), and where. */
  worst = 0;
  where = '';
  /** Parts of the check skipped, with their reasons (the check still passes on the rest). */
  readonly skipped: string[] = [];

  constructor(backend: Backend, ref: Backend, options: CheckOptions = {}) {
    this.backend = backend;
    this.ref = ref;
    this.options = { toleranceScale: options.toleranceScale ?? 1, maxInner: options.maxInner ?? 1500 };
  }

  /** The unit roundoff of the backend's precision, times the tolerance scale. */
  get eps(): number {
    return unitRoundoff(this.backend.precision) * this.options.toleranceScale;
  }

  get tiny(): number {
    return tinyNormal(this.backend.precision);
  }

  /** Uploads the same data to the backend and the reference. */
  pair(rows: number, cols: number, data?: HostArray): [Tensor, Tensor] {
    return [this.backend.tensor(rows, cols, data), this.ref.tensor(rows, cols, data)];
  }

  /** Fails unless every element is within its bound; records the worst ratio. */
  close(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, bound: (i: number) => number): void {
    // firstMismatch asks for the bound only where the values differ: the ratio is taken there, in one pass.
    const mismatch = firstMismatch(actual, expected, (i) => {
      const b = bound(i);
      const r = Math.abs(actual[i]! - expected[i]!) / b;
      if (r > this.worst) [this.worst, this.where] = [r, what];
      return b;
    });
    if (mismatch) {
      this.worst = Number.POSITIVE_INFINITY;
      this.where = what;
      throw new CheckFailure(describeMismatch(what, mismatch));
    }
  }

  /** Fails with `message` unless `condition`. */
  that(condition: boolean, message: string): void {
    if (!condition) throw new CheckFailure(message);
  }

  equal<T>(actual: T, expected: T, what: string): void {
    // Non-finite numbers as themselves (JSON would print -Infinity as null).
    const show = (x: unknown) =>
      JSON.stringify(x, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
    const a = show(actual);
    const e = show(expected);
    if (a !== e) throw new CheckFailure(`${what}: got ${a}, expected ${e}`);
  }

  /** Fails unless `fn` throws an error of class `type` whose message matches `pattern` (when given). */
  throws(fn: () => unknown, type: abstract new (...args: never[]) => Error, what: string, pattern?: RegExp): void {
    try {
      fn();
    } catch (error) {
      this.that(error instanceof type, `${what}: threw ${String(error)}, expected a ${type.name}`);
      if (pattern) this.that(pattern.test((error as Error).message), `${what}: message ${String(error)}`);
      return;
    }
    throw new CheckFailure(`${what}: did not throw`);
  }

  /** Skips the whole check with a reason. */
  skip(reason: string): never {
    throw new CheckSkipped(reason);
  }
}

/** Deterministic test inputs: uniform in [lo, hi), rounded to float32. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const u = new Float32Array(n);
  new RandomStream(seed, Streams.conformance).uniform(u);
  for (let i = 0; i < n; i++) u[i] = lo + (hi - lo) * u[i]!;
  return u;
}

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

const interfaceChecks: ConformanceCheck[] = [
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

const opChecks: ConformanceCheck[] = [
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

const randomnessChecks: ConformanceCheck[] = [
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
      const x = await be.read(u);
      let mean = 0;
      for (const v of x) mean += v;
      mean /= n;
      let variance = 0;
      let lag = 0;
      for (let i = 0; i < n; i++) {
        c.that(x[i]! >= 0 && x[i]! < 1, `uniform ${i} is ${x[i]}, outside [0, 1)`);
        variance += (x[i]! - mean) ** 2;
        if (i > 0) lag += (x[i]! - mean) * (x[i - 1]! - mean);
      }
      variance /= n;
      lag /= (n - 1) * variance;
      c.that(Math.abs(mean - 0.5) < 6 * Math.sqrt(1 / 12 / n), `mean ${mean}`);
      c.that(Math.abs(variance - 1 / 12) < 6 * Math.sqrt(1 / 180 / n), `variance ${variance}`);
      c.that(Math.abs(lag) < 6 / Math.sqrt(n), `lag-1 correlation ${lag}`);
      be.dispose(u);
    },
  },
];

const TRAINING_RUNS: Array<[string, Partial<TrainOptions>]> = [
  ['CD-1', { method: 'cd', k: 1 }],
  [
    'CD-3 with momentum, L2, L1 and sparsity',
    { method: 'cd', k: 3, momentum: 0.5, l2: 1e-3, l1: 1e-4, sparsity: { target: 0.1, cost: 0.01 } },
  ],
  ['PCD-2 with sampled positive phase', { method: 'pcd', k: 2, chains: 5, positivePhase: 'samples' }],
  ['PCD-1 centred', { method: 'pcd', k: 1, centering: { rate: 0.1 } }],
  ['PT-1 over 3 temperatures', { method: 'pt', k: 1, chains: 6, tempering: { betas: [1, 0.7, 0.4] } }],
  ['FPCD-2 with fast weights', { method: 'fpcd', k: 2, chains: 5, fastWeights: { learningRate: 0.1, decay: 0.9 } }],
  ['CD-1, Gaussian visible units with learned variances', { method: 'cd', k: 1, learnVariance: true }],
  // Softmax units: bars vs stripes with a 2-unit label group (a classification RBM).
  ['PCD-2, a softmax label group', { method: 'pcd', k: 2, chains: 5, objective: 'generative' }],
  ['hybrid: exact log p(y | x) + 0.5 CD-1', { method: 'cd', k: 1, objective: 'hybrid', hybridWeight: 0.5 }],
  ['discriminative: the exact gradient of log p(y | x)', { objective: 'discriminative' }],
];

/** Bars and stripes 3x3 with a one-hot label (bars, stripes) appended: rows [x, e_y] of 11 units. */
function labelledBarsAndStripes(): Dataset {
  const x = barsAndStripes(3);
  const labels = Array.from({ length: x.rows }, (_, r) => {
    const row = x.data.subarray(r * 9, r * 9 + 9);
    const bars = [0, 1, 2].every((c) => row[c] === row[3 + c] && row[c] === row[6 + c]);
    return bars ? 0 : 1;
  });
  return jointRows(x, labels, 2);
}

/**
 * Trains the same model with the same options and randomness on backends `a` and `b` (3 epochs of 14
 * examples at batch 4: full batches and a last one of 2) and compares the parameters and the last
 * reconstruction error. `after` runs before anything is disposed (to count what was used).
 */
async function trainSideBySide(
  c: CheckContext,
  label: string,
  extra: Partial<TrainOptions>,
  [a, b]: [Backend, Backend],
  versus: string,
  after?: () => void,
): Promise<void> {
  const gaussian = extra.learnVariance === true;
  const labelled = extra.objective !== undefined;
  const data = labelled ? labelledBarsAndStripes() : barsAndStripes(3);
  const opts: TrainOptions = { epochs: 3, batchSize: 4, learningRate: 0.05, seed: 11, ...extra };
  const init = {
    numVisible: data.cols,
    numHidden: 6,
    seed: 3,
    data,
    ...(gaussian ? { visibleUnits: 'gaussian' as const } : {}),
    ...(labelled ? { visibleUnits: 'softmax' as const, softmaxGroups: [2] } : {}),
  };
  const m1 = RBM.create(a, init);
  const m2 = RBM.create(b, init);
  const t1 = new Trainer(m1, data, opts);
  const t2 = new Trainer(m2, data, opts);
  try {
    const h1 = await t1.run();
    const h2 = await t2.run();
    after?.();
    const [p1, p2] = [await m1.parameters(), await m2.parameters()];
    for (const key of ['weights', 'visibleBias', 'hiddenBias'] as const) {
      c.close(`${label} ${key}${versus}`, p1[key], p2[key], () => 1e3 * c.eps + 1e-6);
    }
    const [e1, e2] = [h1.at(-1)!.reconstructionError, h2.at(-1)!.reconstructionError];
    c.that(Math.abs(e1 - e2) < 5e-4, `${label}: reconstruction error ${e1}, ${e2}${versus}`);
  } finally {
    t1.dispose();
    t2.dispose();
    m1.dispose();
    m2.dispose();
  }
}

const trainingChecks: ConformanceCheck[] = TRAINING_RUNS.map(([label, extra]) => ({
  group: 'training agrees with the reference on the same randomness',
  name: `${label}: parameters after several epochs`,
  run: (c: CheckContext) => trainSideBySide(c, label, extra, [c.backend, c.ref], ' vs the reference'),
}));

const stateChecks: ConformanceCheck[] = [
  {
    group: 'checkpoints',
    name: 'a run resumed from exported state ends like an uninterrupted one',
    async run(c) {
      const be = c.backend;
      const data = barsAndStripes(3);
      const opts: TrainOptions = {
        epochs: 4,
        batchSize: 4,
        learningRate: 0.1,
        momentum: 0.5,
        method: 'pcd',
        k: 2,
        chains: 6,
        seed: 9,
      };
      const init = { numVisible: 9, numHidden: 5, seed: 2, data };
      const straight = RBM.create(be, init);
      const t0 = new Trainer(straight, data, opts);
      await t0.run();
      const first = RBM.create(be, init);
      const t1 = new Trainer(first, data, opts);
      await t1.trainEpoch();
      const state = await t1.exportState();
      const resumed = RBM.fromParameters(be, await first.parameters());
      const t2 = new Trainer(resumed, data, opts);
      t2.importState(state);
      await t2.run();
      // Host state is float32: bit-identical on float32 backends, float32 rounding on float64 ones.
      c.close('resumed W', await be.read(resumed.W), await be.read(straight.W), () =>
        be.precision === 'float32' ? 0 : 1e-6,
      );
      for (const t of [t0, t1, t2]) t.dispose();
      for (const r of [straight, first, resumed]) r.dispose();
    },
  },
  {
    group: 'resources',
    name: 'no leaked tensors over epochs; readbacks do not grow with the number of batches',
    async run(c) {
      const counted = async (rows: number) => {
        const { backend: be, counters } = instrument(c.backend);
        const data = createDataset(
          randomArray(rows * 12, 5, 0, 1).map((x) => (x > 0.5 ? 1 : 0)),
          rows,
          12,
        );
        const model = RBM.create(be, { numVisible: 12, numHidden: 5, data });
        const baseline = counters.live;
        const trainer = new Trainer(model, data, { epochs: 3, batchSize: 10, method: 'pcd', k: 2, seed: 1 });
        await trainer.trainEpoch();
        const afterOne = counters.live;
        const readsBefore = counters.reads;
        await trainer.trainEpoch();
        await trainer.trainEpoch();
        const readsPerEpoch = (counters.reads - readsBefore) / 2;
        c.equal(counters.live, afterOne, 'tensors allocated per epoch after the first');
        trainer.dispose();
        c.equal(counters.live, baseline, 'tensors left after Trainer.dispose()');
        model.dispose();
        c.equal(counters.live, 0, 'tensors left after RBM.dispose()');
        return readsPerEpoch;
      };
      const few = await counted(40); // 4 batches per epoch
      const many = await counted(205); // 21 batches, the last one partial
      c.equal(many, few, 'readbacks per epoch with 21 batches, against 4 batches');
      c.that(few <= 3, `${few} readbacks per epoch, expected at most 3`);
    },
  },
  {
    group: 'exact evaluation',
    name: 'log Z of a 10x12 model matches the reference',
    async run(c) {
      const init = { numVisible: 10, numHidden: 12, seed: 9, weightScale: 0.5 };
      const model = RBM.create(c.backend, init);
      const refModel = RBM.create(c.ref, init);
      try {
        const got = await exactLogPartition(model, { chunkSize: 64 });
        const want = await exactLogPartition(refModel);
        c.close('log Z', [got.logZ], [want.logZ], () => 1e4 * c.eps * Math.abs(want.logZ) + 1e-9);
      } finally {
        model.dispose();
        refModel.dispose();
      }
    },
  },
];

/** The same backend with whole-step execution hidden: every op runs one by one. */
function opByOp(backend: Backend): Backend {
  return new Proxy(backend, { get: (t, p, r) => (p === 'fuse' ? undefined : Reflect.get(t, p, r)) });
}

/** The same backend counting the fused units it is asked to run. */
function countingFuse(backend: Backend): { backend: Backend; units: () => number } {
  let units = 0;
  const fuse = backend.fuse?.bind(backend);
  const wrapped = new Proxy(backend, {
    get: (t, p, r) =>
      p === 'fuse' && fuse
        ? (label: string, body: () => void) => {
            units++;
            fuse(label, body);
          }
        : Reflect.get(t, p, r),
  });
  return { backend: wrapped, units: () => units };
}

/** Skips unless the backend offers whole-step execution. */
function needsFuse(c: CheckContext): void {
  if (!c.backend.fuse) c.skip(`${c.backend.name} runs op by op (no fuse): nothing compiled to compare`);
}

const wholeStepGroup = 'whole-step execution agrees with op-by-op execution on the same randomness';

const wholeStepChecks: ConformanceCheck[] = [
  ...TRAINING_RUNS.map(([label, extra]) => ({
    group: wholeStepGroup,
    name: `${label}: compiled training steps`,
    async run(c: CheckContext) {
      needsFuse(c);
      const fused = countingFuse(c.backend);
      await trainSideBySide(c, label, extra, [fused.backend, opByOp(c.backend)], ', compiled vs op by op', () =>
        c.that(fused.units() >= 12, `${label}: ${fused.units()} fused units for 12 steps`),
      );
    },
  })),
  {
    group: wholeStepGroup,
    name: 'every op alone as a compiled unit, with infinities, NaN, broadcasts, in-place writes',
    async run(c: CheckContext) {
      needsFuse(c);
      const be = c.backend;
      const plain = opByOp(be);
      const special = Float32Array.of(-100, -20, -1, -1e-8, 0, 1e-8, 1, 20, 100, Infinity, -Infinity, Number.NaN);
      const made: Tensor[] = [];
      const t = (rows: number, cols: number, data?: HostArray) => {
        const x = be.tensor(rows, cols, data);
        made.push(x);
        return x;
      };
      // Runs `op` (which writes `out`) once in a unit and once op by op, from the same inputs, and compares.
      const same = async (what: string, out: Tensor, op: (b: Backend) => void, inputs: Tensor[] = []) => {
        const saved = await Promise.all([out, ...inputs].map((x) => be.read(x)));
        be.fuse!(what, () => op(be));
        const compiled = await be.read(out);
        [out, ...inputs].forEach((x, i) => {
          be.write(x, saved[i]!);
        });
        op(plain);
        const expected = await be.read(out);
        // float32 kernels of two engines: transcendental functions and sums may differ in the last bits.
        c.close(`${what}, compiled vs op by op`, compiled, expected, (i) => 64 * c.eps * Math.abs(expected[i]!) + 1e-6);
      };
      try {
        const x = t(1, 12, special);
        const y = t(1, 12);
        for (const op of ['sigmoid', 'softplus', 'exp', 'log', 'square', 'sign', 'neg'] as const) {
          await same(`unary ${op}`, y, (b) => b.unary(op, y, x));
        }
        const a = t(3, 4, randomArray(12, 31));
        const out = t(3, 4);
        const bs: Array<[string, Tensor]> = [
          ['full', t(3, 4, randomArray(12, 32))],
          ['row', t(1, 4, randomArray(4, 33))],
          ['column', t(3, 1, randomArray(3, 34))],
          ['scalar', t(1, 1, Float32Array.of(0.7))],
        ];
        for (const op of ['add', 'sub', 'mul'] as const) {
          for (const [kind, b] of bs) await same(`binary ${op} (${kind})`, out, (k) => k.binary(op, out, a, b));
          // In place: out is a.
          await same(`binary ${op} in place`, out, (k) => {
            k.copy(out, a);
            k.binary(op, out, out, bs[1]![1]);
          });
        }
        const nan = t(
          3,
          4,
          Float32Array.from(randomArray(12, 35), (v, i) => (i === 5 ? Number.NaN : v)),
        );
        for (const [alpha, beta] of [
          [0.5, -2],
          [1, 1],
          [0, 1],
          [1, 0],
        ] as const) {
          await same(`axpby ${alpha}, ${beta} with a NaN`, out, (k) => k.axpby(out, alpha, a, beta, nan));
        }
        const p = t(3, 4, randomArray(12, 36, 0, 1));
        const u = t(3, 4, randomArray(12, 37, 0, 1));
        await same('bernoulli', out, (k) => k.bernoulli(out, p, u));
        await same('fill', out, (k) => k.fill(out, 3.5));
        await same('copy', out, (k) => k.copy(out, p));
        const m = t(4, 5, randomArray(20, 38));
        const wide = t(3, 5);
        const tall = t(5, 3);
        for (const alpha of [1, 0.5]) {
          for (const beta of [0, 1, 0.25]) {
            await same(`matMul a b, alpha ${alpha}, beta ${beta}`, wide, (k) => k.matMul(wide, a, m, { alpha, beta }), [
              wide,
            ]);
            await same(`matMul a^T b^T, alpha ${alpha}, beta ${beta}`, tall, (k) =>
              k.matMul(tall, m, a, { transposeA: true, transposeB: true, alpha, beta }),
            );
          }
        }
        // Sums with a row of -Infinity, one with +Infinity and one with NaN.
        const rows = Float32Array.from(randomArray(20, 39));
        rows.fill(-Infinity, 0, 5);
        rows[7] = Infinity;
        rows[13] = Number.NaN;
        const r = t(4, 5, rows);
        for (const axis of [0, 1] as const) {
          const o = axis === 0 ? t(1, 5) : t(4, 1);
          await same(`sum over axis ${axis}`, o, (k) => k.sum(o, r, axis));
          await same(`logSumExp over axis ${axis}`, o, (k) => k.logSumExp(o, r, axis));
        }
        // A chain with a tensor allocated and freed inside the unit, and numbers that change between calls.
        for (const lr of [0.1, 0.3]) {
          await same(`a chain, lr ${lr}`, wide, (k) => {
            const h = k.tensor(3, 5);
            k.matMul(h, a, m, { alpha: lr });
            k.unary('sigmoid', h, h);
            k.axpby(wide, 0.9, wide, lr, h);
            k.dispose(h);
          });
        }
      } finally {
        for (const x of made) be.dispose(x);
      }
    },
  },
  {
    group: wholeStepGroup,
    name: 'Gibbs sweeps (RBM.sample) and AIS transitions',
    async run(c: CheckContext) {
      needsFuse(c);
      const init = { numVisible: 10, numHidden: 8, seed: 5, weightScale: 0.8 };
      const fused = countingFuse(c.backend);
      const m1 = RBM.create(fused.backend, init);
      const m2 = RBM.create(opByOp(c.backend), init);
      try {
        const options = { chains: 16, steps: 25, seed: 4 };
        const [s1, s2] = [await m1.sample(options), await m2.sample(options)];
        c.that(fused.units() >= 25, `${fused.units()} fused units for 25 sweeps`);
        c.close('sample probabilities, compiled vs op by op', s1.probabilities, s2.probabilities, () => 1e3 * c.eps);
        // A state flips only where a probability and its uniform agree to the last bits: allow 1 in 100.
        let flips = 0;
        for (let i = 0; i < s1.states.length; i++) if (s1.states[i] !== s2.states[i]) flips++;
        c.that(flips <= s1.states.length / 100, `${flips} of ${s1.states.length} sampled states differ`);
        const schedule = Float64Array.from({ length: 201 }, (_, i) => i / 200);
        const ais = { runs: 32, schedule, seed: 8 };
        const before = fused.units();
        const [a1, a2] = [await annealedImportanceSampling(m1, ais), await annealedImportanceSampling(m2, ais)];
        c.that(fused.units() - before >= 200, `${fused.units() - before} fused units for 200 AIS steps`);
        c.close('AIS log Z, compiled vs op by op', [a1.logZ], [a2.logZ], () => 1e3 * c.eps * Math.abs(a2.logZ) + 1e-5);
      } finally {
        m1.dispose();
        m2.dispose();
      }
    },
  },
];

/** Every check, in the order they run. */
export const CHECKS: readonly ConformanceCheck[] = [
  ...interfaceChecks,
  ...opChecks,
  ...randomnessChecks,
  ...trainingChecks,
  ...wholeStepChecks,
  ...stateChecks,
];

export interface CheckResult {
  readonly group: string;
  readonly name: string;
  readonly status: 'pass' | 'fail' | 'skip';
  /** The worst |actual - expected| / bound of the check's comparisons (at most 1 when it passes). */
  readonly worst: number;
  /** Where the worst was, why it failed, or why it was skipped; parts skipped are listed too. */
  readonly detail: string;
  readonly seconds: number;
}

/** A float64 reference backend for {@link runCheck}. */
export function createRef(): Backend {
  return createReferenceBackend();
}

/** Runs one check and reports its outcome (never throws). */
export async function runCheck(
  check: ConformanceCheck,
  backend: Backend,
  ref: Backend,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const c = new CheckContext(backend, ref, options);
  const t0 = typeof performance === 'undefined' ? Date.now() : performance.now();
  const done = (status: CheckResult['status'], detail: string): CheckResult => {
    const t1 = typeof performance === 'undefined' ? Date.now() : performance.now();
    const parts = c.skipped.length > 0 ? `; skipped: ${c.skipped.join('; ')}` : '';
    return {
      group: check.group,
      name: check.name,
      status,
      worst: c.worst,
      detail: detail + parts,
      seconds: (t1 - t0) / 1000,
    };
  };
  try {
    await check.run(c);
    return done('pass', c.where ? `worst at ${c.where}` : 'exact');
  } catch (error) {
    if (error instanceof CheckSkipped) return done('skip', error.message);
    return done('fail', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Runs the checks (default: all) on `backend` against a fresh float64 reference, one after another, and
 * reports each. `onResult` sees each result as it comes (for a page that shows progress).
 */
export async function runChecks(
  backend: Backend,
  options: CheckOptions & {
    readonly checks?: readonly ConformanceCheck[];
    readonly onResult?: (result: CheckResult) => void;
  } = {},
): Promise<CheckResult[]> {
  assertBackend(backend);
  const ref = createRef();
  const results: CheckResult[] = [];
  try {
    for (const check of options.checks ?? CHECKS) {
      const result = await runCheck(check, backend, ref, options);
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    ref.destroy();
  }
  return results;
}
