import {
  type Backend,
  barsAndStripes,
  createReferenceBackend,
  type HostArray,
  type MatMulOptions,
  RandomStream,
  RBM,
  type Tensor,
  Trainer,
  type UnaryOp,
} from '@rbmjs/core';

/**
 * A backend checked in the browser it runs in, against core's float64 reference: the ops the RBM uses
 * (matrix products up to a 1500-term inner dimension, elementwise functions at their extremes, reductions,
 * Bernoulli draws) and short training runs on the same random numbers. The full conformance suite runs in
 * Node (vitest); this is its subset for the engines that only exist in browsers (WebGL, WebGPU).
 *
 * Tolerances follow the suite's: matrix products within 2 k u sum|a||b| (the standard bound, u = 2^-24),
 * elementwise functions within (8 + 2|x|) u relative (log: plus 2^-21 absolute), trained parameters within
 * 1e3 u + 1e-6.
 */

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** The worst |actual - expected| / bound of the check (at most 1 when it passes). */
  readonly worst: number;
  readonly detail: string;
}

const U = 2 ** -24;

function uniforms(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const u = new Float32Array(n);
  new RandomStream(seed, 77).uniform(u);
  for (let i = 0; i < n; i++) u[i] = lo + (hi - lo) * u[i]!;
  return u;
}

/** Worst ratio |x - y| / bound over elements (Infinity on NaN or length mismatch). */
function worstRatio(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: (i: number) => number): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const [x, y] = [actual[i]!, expected[i]!];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const r = Math.abs(x - y) / bound(i);
    worst = Math.max(worst, Number.isNaN(r) ? Infinity : r);
  }
  return worst;
}

/** Reads `out`, then frees it and the other tensors of the computation. */
async function readAndFree(b: Backend, out: Tensor, ...others: Tensor[]): Promise<HostArray> {
  try {
    return await b.read(out);
  } finally {
    for (const t of [out, ...others]) b.dispose(t);
  }
}

async function compare(
  be: Backend,
  ref: Backend,
  run: (b: Backend) => Promise<ArrayLike<number>>,
  bound: (expected: ArrayLike<number>) => (i: number) => number,
): Promise<number> {
  const [x, y] = await Promise.all([run(be), run(ref)]);
  return worstRatio(x, y, bound(y));
}

const MATMUL_SHAPES: ReadonlyArray<[number, number, number]> = [
  [1, 1, 1],
  [7, 13, 5],
  [17, 33, 65],
  [3, 1500, 2],
  [100, 50, 31],
];

async function matMuls(be: Backend, ref: Backend): Promise<CheckResult> {
  let worst = 0;
  let where = '';
  for (const [m, k, n] of MATMUL_SHAPES) {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
    ] as const) {
      const options: MatMulOptions = { transposeA: ta, transposeB: tb, alpha: 0.5, beta: 2 };
      const a = uniforms(m * k, m + k);
      const b = uniforms(k * n, k + n + 1);
      const c = uniforms(m * n, 3);
      const product = (x: Backend, abs: boolean) => {
        const A = x.tensor(ta ? k : m, ta ? m : k, abs ? a.map(Math.abs) : a);
        const B = x.tensor(tb ? n : k, tb ? k : n, abs ? b.map(Math.abs) : b);
        const C = x.tensor(m, n, abs ? c.map(Math.abs) : c);
        x.matMul(C, A, B, options);
        return readAndFree(x, C, A, B);
      };
      const scale = await product(ref, true); // sum |a||b| (times alpha) + beta |c|
      const r = await compare(
        be,
        ref,
        (x) => product(x, false),
        () => (i) => 2 * (k + 2) * U * scale[i]! + 1e-30,
      );
      if (r > worst) [worst, where] = [r, `${m}x${k}x${n}${ta ? ' A^T' : ''}${tb ? ' B^T' : ''}`];
    }
  }
  return { name: 'matMul', ok: worst <= 1, worst, detail: where || 'exact' };
}

const EXTREMES = [0, 1e-8, -1e-8, 1, -1, 15, -15, 30, -30, 88, -88, 100, -100, 1000, -1000];

async function unaries(be: Backend, ref: Backend): Promise<CheckResult> {
  let worst = 0;
  let where = '';
  const ops: UnaryOp[] = ['sigmoid', 'softplus', 'exp', 'log', 'square', 'sign', 'neg'];
  for (const op of ops) {
    const base = op === 'log' ? uniforms(64, 5, 1e-3, 10) : uniforms(64, 5, -20, 20);
    const input = op === 'exp' || op === 'log' ? base : Float32Array.from([...EXTREMES, ...base]);
    const apply = async (x: Backend) => {
      const t = x.tensor(1, input.length, input);
      x.unary(op, t, t);
      return x.read(t).finally(() => x.dispose(t));
    };
    // As in the suite: log near 1 may be off by 2^-21 absolute (the WGSL and GLSL accuracy of log).
    const absolute = op === 'log' ? 2 ** -21 : 1e-37;
    const r = await compare(
      be,
      ref,
      apply,
      (y) => (i) => (8 + 2 * Math.abs(input[i]!)) * U * Math.abs(y[i]!) + absolute,
    );
    if (r > worst) [worst, where] = [r, op];
  }
  return { name: 'unary', ok: worst <= 1, worst, detail: where || 'exact' };
}

async function reductions(be: Backend, ref: Backend): Promise<CheckResult> {
  let worst = 0;
  let where = '';
  const [m, n] = [37, 1100];
  const x = uniforms(m * n, 9, -30, 30);
  for (const op of ['sum', 'logSumExp'] as const) {
    for (const axis of [0, 1] as const) {
      const run = async (b: Backend) => {
        const X = b.tensor(m, n, x);
        const out = axis === 0 ? b.tensor(1, n) : b.tensor(m, 1);
        b[op](out, X, axis);
        return readAndFree(b, out, X);
      };
      const length = axis === 0 ? m : n;
      // A sum: within 2 length u sum|x| (recursive summation); log sum exp: within 2 (length + 8) u (|y| + 1).
      const absSum = (i: number) => {
        let t = 0;
        for (let j = 0; j < length; j++) t += Math.abs(x[axis === 0 ? j * n + i : i * n + j]!);
        return t;
      };
      const bound =
        op === 'sum'
          ? () => (i: number) => 2 * length * U * absSum(i) + 1e-30
          : (y: ArrayLike<number>) => (i: number) => 2 * (length + 8) * U * (Math.abs(y[i]!) + 1);
      const r = await compare(be, ref, run, bound);
      if (r > worst) [worst, where] = [r, `${op} axis ${axis}`];
    }
  }
  return { name: 'sum, logSumExp', ok: worst <= 1, worst, detail: where || 'exact' };
}

async function bernoulli(be: Backend, ref: Backend): Promise<CheckResult> {
  const p = uniforms(4096, 11, 0, 1);
  const u = uniforms(4096, 12, 0, 1);
  p[0] = u[0]!; // equal: u < p is false
  const run = async (b: Backend) => {
    const [P, V, out] = [b.tensor(64, 64, p), b.tensor(64, 64, u), b.tensor(64, 64)];
    b.bernoulli(out, P, V);
    return readAndFree(b, out, P, V);
  };
  const worst = await compare(be, ref, run, () => () => 0.5); // exact: any difference is 1
  return { name: 'bernoulli', ok: worst === 0, worst, detail: worst === 0 ? 'exact' : 'differs' };
}

async function training(be: Backend, ref: Backend): Promise<CheckResult> {
  let worst = 0;
  let where = '';
  const data = barsAndStripes(3);
  for (const method of ['cd', 'pcd'] as const) {
    const params = async (b: Backend) => {
      const model = RBM.create(b, { numVisible: 9, numHidden: 6, seed: 3, data });
      const trainer = new Trainer(model, data, { epochs: 3, batchSize: 4, learningRate: 0.05, seed: 11, method });
      await trainer.run();
      const p = await model.parameters();
      trainer.dispose();
      model.dispose();
      return Float64Array.from([...p.weights, ...p.visibleBias, ...p.hiddenBias]);
    };
    const r = await compare(be, ref, params, () => () => 1e3 * U + 1e-6);
    if (r > worst) [worst, where] = [r, method.toUpperCase()];
  }
  return { name: 'training (CD-1, PCD-1)', ok: worst <= 1, worst, detail: where || 'exact' };
}

/** Runs every check on `be` against a fresh float64 reference backend. */
export async function checkBackend(be: Backend): Promise<CheckResult[]> {
  const ref = createReferenceBackend();
  const results: CheckResult[] = [];
  for (const check of [matMuls, unaries, reductions, bernoulli, training]) {
    try {
      results.push(await check(be, ref));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      results.push({ name: check.name, ok: false, worst: Infinity, detail });
    }
  }
  ref.destroy();
  return results;
}
