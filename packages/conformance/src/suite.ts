import {
  assertBackend,
  type Backend,
  type BinaryOp,
  barsAndStripes,
  createDataset,
  createReferenceBackend,
  exactLogPartition,
  fillUniforms,
  type HostArray,
  type MatMulOptions,
  RandomStream,
  RBM,
  RbmError,
  ShapeError,
  type Tensor,
  Trainer,
  type TrainOptions,
  type UnaryOp,
} from '@rbmjs/core';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { instrument } from './instrument.js';
import { describeMismatch, firstMismatch, tinyNormal, unitRoundoff } from './tolerance.js';

export interface ConformanceOptions {
  /**
   * Fail instead of skipping when the backend cannot start. Defaults to whether `name` (or `all`) is
   * listed in the comma-separated environment variable RBMJS_REQUIRE_BACKENDS, which CI sets.
   */
  readonly required?: boolean;
  /** Extra slack on every tolerance (default 1). */
  readonly toleranceScale?: number;
  /** Largest inner dimension in the matMul sweep (default 1500: above gpu.js's 1000-iteration loop cap). */
  readonly maxInner?: number;
}

/** Whether the environment requires this backend to run (CI lanes). */
export function isRequired(name: string): boolean {
  const list = (globalThis.process?.env?.RBMJS_REQUIRE_BACKENDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.includes('all') || list.includes(name);
}

/** Deterministic test inputs: uniform in [lo, hi), rounded to float32. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const u = new Float32Array(n);
  new RandomStream(seed, 77).uniform(u);
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

/**
 * The conformance suite: run it once per backend package, e.g.
 *
 *   describeBackend('js', () => createJsBackend());
 *
 * It compares every op with core's float64 reference backend over many shapes, with a tolerance derived
 * from the backend's precision; checks its random numbers; runs CD-k and PCD side by side with the
 * reference on the same randomness; and counts leaked tensors and host readbacks during training.
 */
export function describeBackend(
  name: string,
  create: () => Promise<Backend> | Backend,
  options: ConformanceOptions = {},
): void {
  const required = options.required ?? isRequired(name);
  const slack = options.toleranceScale ?? 1;
  const maxInner = options.maxInner ?? 1500;

  describe(`conformance: ${name}`, () => {
    let backend: Backend | undefined;
    let unavailable: string | undefined;
    const ref = createReferenceBackend();

    beforeAll(async () => {
      try {
        backend = assertBackend(await create());
      } catch (error) {
        unavailable = error instanceof Error ? error.message : String(error);
        if (required) {
          throw new Error(`backend ${name} is required (RBMJS_REQUIRE_BACKENDS) but cannot start: ${unavailable}`);
        }
        console.warn(`[conformance] skipping backend ${name}: ${unavailable}`);
      }
    });
    afterAll(() => backend?.destroy());

    /** Runs `fn` with the backend, or skips the test with the reason the backend could not start. */
    const test = (title: string, fn: (be: Backend) => Promise<void> | void, timeout?: number) =>
      it(
        title,
        async (ctx: TestContext) => {
          if (!backend) {
            ctx.skip(`backend ${name} unavailable: ${unavailable}`);
            return;
          }
          await fn(backend);
        },
        timeout,
      );

    const eps = () => unitRoundoff(backend!.precision) * slack;
    const tiny = () => tinyNormal(backend!.precision);

    /** Uploads the same data to the backend and the reference. */
    const pair = (be: Backend, rows: number, cols: number, data?: HostArray): [Tensor, Tensor] => [
      be.tensor(rows, cols, data),
      ref.tensor(rows, cols, data),
    ];

    describe('interface', () => {
      test('declares version, precision and randomness', (be) => {
        expect(be.apiVersion).toBe(1);
        expect(['float32', 'float64']).toContain(be.precision);
        expect(['host', 'philox']).toContain(be.randomness);
        expect(typeof be.name).toBe('string');
      });

      test('round-trips data; read returns a copy', async (be) => {
        const data = randomArray(35, 1);
        const t = be.tensor(5, 7, data);
        const back = await be.read(t);
        expect(Array.from(back)).toEqual(Array.from(data));
        back[0] = 123;
        expect((await be.read(t))[0]).toBe(data[0]);
        be.write(t, randomArray(35, 2));
        expect(Array.from(await be.read(t))).toEqual(Array.from(randomArray(35, 2)));
        be.dispose(t);
        const z = be.tensor(2, 3);
        expect(Array.from(await be.read(z))).toEqual([0, 0, 0, 0, 0, 0]);
        be.dispose(z);
      });

      test('rejects wrong shapes with a typed error that names them', (be) => {
        expect(() => be.tensor(2, 3, new Float32Array(5))).toThrow(ShapeError);
        expect(() => be.tensor(0, 3)).toThrow(ShapeError);
        const a = be.tensor(2, 3);
        const b = be.tensor(4, 5);
        const out = be.tensor(2, 5);
        expect(() => be.matMul(out, a, b)).toThrow(/inner dimensions 3 and 4/);
        expect(() => be.binary('add', a, a, b)).toThrow(ShapeError);
        expect(() => be.sum(out, a, 0)).toThrow(ShapeError);
        expect(() => be.write(a, new Float32Array(7))).toThrow(ShapeError);
        for (const t of [a, b, out]) be.dispose(t);
      });

      test('refuses a disposed tensor', (be) => {
        const t = be.tensor(1, 1);
        be.dispose(t);
        expect(() => be.fill(t, 1)).toThrow(RbmError);
      });
    });

    describe('ops against the float64 reference', () => {
      test('matMul over shapes, transposes, alpha and beta', async (be) => {
        let seed = 10;
        for (const [m, k, n] of MATMUL_SHAPES) {
          if (k > maxInner) continue;
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
                const [a, ra] = transposeA ? pair(be, k, m, aData) : pair(be, m, k, aData);
                const [b, rb] = transposeB ? pair(be, n, k, bData) : pair(be, k, n, bData);
                const [c, rc] = pair(be, m, n, cData);
                const opts: MatMulOptions = { transposeA, transposeB, alpha, beta };
                be.matMul(c, a, b, opts);
                ref.matMul(rc, ra, rb, opts);
                // Error bound of a float dot product: ~k u sum|a||b|, plus rounding of beta*c and the result.
                const absA = ref.tensor(ra.rows, ra.cols, (await ref.read(ra)).map(Math.abs));
                const absB = ref.tensor(rb.rows, rb.cols, (await ref.read(rb)).map(Math.abs));
                const bound = ref.tensor(m, n, cData.map(Math.abs));
                ref.matMul(bound, absA, absB, { transposeA, transposeB, alpha: Math.abs(alpha), beta: Math.abs(beta) });
                const expected = await ref.read(rc);
                const bnd = await ref.read(bound);
                const mismatch = firstMismatch(
                  await be.read(c),
                  expected,
                  (i) => (2 * k + 4) * eps() * bnd[i]! + tiny(),
                );
                expect(
                  mismatch,
                  describeMismatch(
                    `matMul ${m}x${k}x${n} tA=${transposeA} tB=${transposeB} alpha=${alpha} beta=${beta}`,
                    mismatch,
                  ),
                ).toBeUndefined();
                for (const t of [a, b, c]) be.dispose(t);
              }
            }
          }
        }
      }, 120_000);

      test('matMul refuses an output that aliases an input', (be) => {
        const a = be.tensor(3, 3);
        expect(() => be.matMul(a, a, a)).toThrow(RbmError);
        be.dispose(a);
      });

      test('unary ops, including large |x| for sigmoid and softplus', async (be) => {
        const ops: UnaryOp[] = ['sigmoid', 'softplus', 'exp', 'log', 'square', 'sign', 'neg'];
        let seed = 100;
        for (const op of ops) {
          for (const [rows, cols] of [...ELEMENTWISE_SHAPES, [1, EXTREMES.length] as [number, number]]) {
            let data: Float32Array;
            if (cols === EXTREMES.length && rows === 1) data = Float32Array.from(EXTREMES);
            else data = randomArray(rows * cols, seed++, -20, 20);
            if (op === 'log') data = data.map((x) => Math.abs(x) + 1e-3);
            if (op === 'exp' || op === 'square') data = data.map((x) => Math.max(-80, Math.min(80, x)));
            const [x, rx] = pair(be, rows, cols, data);
            const [out] = pair(be, rows, cols);
            const rout = ref.tensor(rows, cols);
            be.unary(op, out, x);
            ref.unary(op, rout, rx);
            const expected = await ref.read(rout);
            // Relative error (8 + 2|x|) u: the WGSL accuracy bound for exp is 3 + 2|x| ulp, and log near 1 has an
            // absolute bound of 2^-21 there (GPU engines meet these; CPU engines do far better).
            const bound = (i: number) =>
              (8 + 2 * Math.abs(data[i]!)) * eps() * Math.abs(expected[i]!) +
              (op === 'log' && be.precision === 'float32' ? 2 ** -21 : 0) +
              tiny();
            const m = firstMismatch(await be.read(out), expected, bound);
            expect(m, describeMismatch(`unary ${op} on ${rows}x${cols}`, m)).toBeUndefined();
            // In place.
            be.unary(op, x, x);
            const m2 = firstMismatch(await be.read(x), expected, bound);
            expect(m2, describeMismatch(`unary ${op} in place`, m2)).toBeUndefined();
            be.dispose(x);
            be.dispose(out);
          }
        }
      });

      test('binary ops with every broadcast, and axpby', async (be) => {
        let seed = 200;
        for (const op of ['add', 'sub', 'mul'] as BinaryOp[]) {
          for (const [rows, cols] of ELEMENTWISE_SHAPES) {
            for (const [br, bc] of [
              [rows, cols],
              [1, cols],
              [rows, 1],
              [1, 1],
            ] as const) {
              const [a, ra] = pair(be, rows, cols, randomArray(rows * cols, seed++, -3, 3));
              const [b, rb] = pair(be, br, bc, randomArray(br * bc, seed++, -3, 3));
              const out = be.tensor(rows, cols);
              const rout = ref.tensor(rows, cols);
              be.binary(op, out, a, b);
              ref.binary(op, rout, ra, rb);
              const expected = await ref.read(rout);
              const bound = (i: number) => 4 * eps() * (Math.abs(expected[i]!) + 9) + tiny();
              const m = firstMismatch(await be.read(out), expected, bound);
              expect(m, describeMismatch(`${op} ${rows}x${cols} with ${br}x${bc}`, m)).toBeUndefined();
              be.binary(op, a, a, b); // in place
              const m2 = firstMismatch(await be.read(a), expected, bound);
              expect(m2, describeMismatch(`${op} in place`, m2)).toBeUndefined();
              for (const t of [a, b, out]) be.dispose(t);
            }
          }
        }
        const [x, rx] = pair(be, 7, 9, randomArray(63, seed++));
        const [y, ry] = pair(be, 7, 9, randomArray(63, seed++));
        be.axpby(y, 0.9, y, -0.3, x);
        ref.axpby(ry, 0.9, ry, -0.3, rx);
        const expected = await ref.read(ry);
        const m = firstMismatch(await be.read(y), expected, () => 8 * eps() + tiny());
        expect(m, describeMismatch('axpby', m)).toBeUndefined();
        be.dispose(x);
        be.dispose(y);
      });

      test('sum and logSumExp over both axes, long axes and extreme values', async (be) => {
        let seed = 300;
        for (const [rows, cols] of [...ELEMENTWISE_SHAPES, [1500, 3], [2, 1500]] as Array<[number, number]>) {
          for (const axis of [0, 1] as const) {
            const scale = seed % 2 === 0 ? 1 : 1000;
            const data = randomArray(rows * cols, seed++, -scale, scale);
            const [x, rx] = pair(be, rows, cols, data);
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
                  ? () => (inner + 2) * eps() * scale * inner + tiny()
                  : (i: number) => (inner + 8) * eps() * (Math.abs(expected[i]!) + 1) + tiny();
              const m = firstMismatch(await be.read(out), expected, bound);
              expect(m, describeMismatch(`${op} axis ${axis} of ${rows}x${cols}`, m)).toBeUndefined();
              be.dispose(out);
            }
            be.dispose(x);
          }
        }
        // -Infinity entries (log 0) and a row of them.
        const [x, rx] = pair(be, 2, 3, Float32Array.of(-Infinity, 0, 1, -Infinity, -Infinity, -Infinity));
        const out = be.tensor(2, 1);
        const rout = ref.tensor(2, 1);
        be.logSumExp(out, x, 1);
        ref.logSumExp(rout, rx, 1);
        const got = await be.read(out);
        const want = await ref.read(rout);
        expect(got[0]).toBeCloseTo(want[0]!, 5);
        expect(got[1]).toBe(Number.NEGATIVE_INFINITY);
        be.dispose(x);
        be.dispose(out);
      });

      test('bernoulli is exactly u < p, fill and copy are exact', async (be) => {
        const p = Float32Array.of(0, 1, 0.5, 0.5, 0.25, 0.75, 1, 0);
        const u = Float32Array.of(0, 0.999999, 0.5, 0.4999999, 0.3, 0.7, 0, 0.5);
        const pt = be.tensor(2, 4, p);
        const ut = be.tensor(2, 4, u);
        const out = be.tensor(2, 4);
        be.bernoulli(out, pt, ut);
        expect(Array.from(await be.read(out))).toEqual([0, 1, 0, 1, 0, 1, 1, 0]);
        be.fill(out, -2.5);
        expect(Array.from(await be.read(out))).toEqual(Array(8).fill(-2.5));
        be.copy(out, pt);
        expect(Array.from(await be.read(out))).toEqual(Array.from(p));
        for (const t of [pt, ut, out]) be.dispose(t);
      });
    });

    describe('randomness', () => {
      test('uniforms: exactly core Philox when declared, and the statistics of U[0, 1)', async (be) => {
        const rows = 300;
        const cols = 501;
        const n = rows * cols;
        const u = be.tensor(rows, cols);
        const stream = new RandomStream(2024, 3, 17);
        if (be.randomness === 'philox') {
          be.uniform!(u, { k0: stream.k0, k1: stream.k1, stream: stream.stream, offset: stream.offset });
          const expected = new Float32Array(n);
          fillUniforms(expected, stream.k0, stream.k1, stream.stream, stream.offset);
          const got = await be.read(u);
          const m = firstMismatch(got, expected, () => 0);
          expect(m, describeMismatch('uniform vs core Philox', m)).toBeUndefined();
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
          expect(x[i]! >= 0 && x[i]! < 1).toBe(true);
          variance += (x[i]! - mean) ** 2;
          if (i > 0) lag += (x[i]! - mean) * (x[i - 1]! - mean);
        }
        variance /= n;
        lag /= (n - 1) * variance;
        expect(Math.abs(mean - 0.5)).toBeLessThan(6 * Math.sqrt(1 / 12 / n));
        expect(Math.abs(variance - 1 / 12)).toBeLessThan(6 * Math.sqrt(1 / 180 / n));
        expect(Math.abs(lag)).toBeLessThan(6 / Math.sqrt(n));
        be.dispose(u);
      });
    });

    describe('training agrees with the reference on the same randomness', () => {
      const data = barsAndStripes(3);
      const runs: Array<[string, Partial<TrainOptions>]> = [
        ['CD-1', { method: 'cd', k: 1 }],
        [
          'CD-3 with momentum, L2, L1 and sparsity',
          { method: 'cd', k: 3, momentum: 0.5, l2: 1e-3, l1: 1e-4, sparsity: { target: 0.1, cost: 0.01 } },
        ],
        ['PCD-2 with sampled positive phase', { method: 'pcd', k: 2, chains: 5, positivePhase: 'samples' }],
        ['PCD-1 centred', { method: 'pcd', k: 1, centering: { rate: 0.1 } }],
        ['PT-1 over 3 temperatures', { method: 'pt', k: 1, chains: 6, tempering: { betas: [1, 0.7, 0.4] } }],
        ['CD-1, Gaussian visible units with learned variances', { method: 'cd', k: 1, learnVariance: true }],
      ];
      for (const [label, extra] of runs) {
        test(`${label}: parameters after several epochs`, async (be) => {
          const gaussian = extra.learnVariance === true;
          const opts: TrainOptions = { epochs: 3, batchSize: 4, learningRate: 0.05, seed: 11, ...extra };
          const init = {
            numVisible: 9,
            numHidden: 6,
            seed: 3,
            data,
            ...(gaussian ? { visibleUnits: 'gaussian' as const } : {}),
          };
          const model = RBM.create(be, init);
          const refModel = RBM.create(ref, init);
          const t1 = new Trainer(model, data, opts);
          const t2 = new Trainer(refModel, data, opts);
          const h1 = await t1.run();
          const h2 = await t2.run();
          const p1 = await model.parameters();
          const p2 = await refModel.parameters();
          for (const key of ['weights', 'visibleBias', 'hiddenBias'] as const) {
            const m = firstMismatch(p1[key], p2[key], () => 1e3 * eps() + 1e-6);
            expect(m, describeMismatch(`${label} ${key}`, m)).toBeUndefined();
          }
          expect(h1.at(-1)!.reconstructionError).toBeCloseTo(h2.at(-1)!.reconstructionError, 3);
          t1.dispose();
          t2.dispose();
          model.dispose();
          refModel.dispose();
        });
      }
    });

    describe('checkpoints', () => {
      test('a run resumed from exported state ends like an uninterrupted one', async (be) => {
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
        const a = await be.read(resumed.W);
        const b = await be.read(straight.W);
        // Host state is float32: bit-identical on float32 backends, float32 rounding on float64 ones.
        const m = firstMismatch(a, b, () => (be.precision === 'float32' ? 0 : 1e-6));
        expect(m, describeMismatch('resumed W', m)).toBeUndefined();
        for (const t of [t0, t1, t2]) t.dispose();
        for (const r of [straight, first, resumed]) r.dispose();
      });
    });

    describe('resources', () => {
      test('no leaked tensors over epochs; readbacks do not grow with the number of batches', async (raw) => {
        const counted = async (rows: number) => {
          const { backend: be, counters } = instrument(raw);
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
          expect(counters.live, 'tensors allocated per epoch after the first').toBe(afterOne);
          trainer.dispose();
          expect(counters.live, 'tensors left after Trainer.dispose()').toBe(baseline);
          model.dispose();
          expect(counters.live, 'tensors left after RBM.dispose()').toBe(0);
          return readsPerEpoch;
        };
        const few = await counted(40); // 4 batches per epoch
        const many = await counted(205); // 21 batches, the last one partial
        expect(many).toBe(few);
        expect(few).toBeLessThanOrEqual(3);
      });
    });

    describe('exact evaluation', () => {
      test('log Z of a 10x12 model matches the reference', async (be) => {
        const init = { numVisible: 10, numHidden: 12, seed: 9, weightScale: 0.5 };
        const model = RBM.create(be, init);
        const refModel = RBM.create(ref, init);
        const got = await exactLogPartition(model, { chunkSize: 64 });
        const want = await exactLogPartition(refModel);
        expect(Math.abs(got.logZ - want.logZ)).toBeLessThan(1e4 * eps() * Math.abs(want.logZ) + 1e-9);
        model.dispose();
        refModel.dispose();
      });
    });
  });
}
