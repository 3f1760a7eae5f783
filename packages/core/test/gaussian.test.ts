import { describe, expect, it } from 'vitest';
import {
  annealedImportanceSampling,
  createDataset,
  createReferenceBackend,
  decodeModel,
  encodeModel,
  energy,
  exactKL,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  RBM,
  type RbmParameters,
  train,
} from '../src/index.js';
import { bits, randomParameters } from './brute.js';
import { expectExactResume } from './resume.js';

const backend = createReferenceBackend();

function gaussianParameters(nv: number, nh: number, scale: number, seed: number, logVariance: number[]): RbmParameters {
  const p = randomParameters(nv, nh, scale, seed);
  return { ...p, visibleUnits: 'gaussian', logVariance: Float32Array.from(logVariance) };
}

/** log of the integral over R^2 of exp(-F(v)) by the trapezoid rule on a fine grid. */
function integrate2d(f: (v: [number, number]) => number, lo: number, hi: number, n: number): number {
  const h = (hi - lo) / n;
  const values: number[] = [];
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= n; j++) {
      const w = (i === 0 || i === n ? 0.5 : 1) * (j === 0 || j === n ? 0.5 : 1);
      values.push(Math.log(w * h * h) + f([lo + i * h, lo + j * h]));
    }
  }
  let m = Number.NEGATIVE_INFINITY;
  for (const x of values) m = Math.max(m, x);
  return m + Math.log(values.reduce((s, x) => s + Math.exp(x - m), 0));
}

describe('Gaussian-Bernoulli RBM', () => {
  const p = gaussianParameters(2, 3, 0.8, 7, [Math.log(0.5), Math.log(2)]);

  it('F(v) equals -log sum_h exp(-E(v, h))', async () => {
    const model = RBM.fromParameters(backend, p);
    // float32, as the model sees them
    const vs = [
      [0.3, -1.2],
      [2.5, 0.7],
      [-3, 4],
    ].map((v) => v.map(Math.fround));
    const F = await model.freeEnergy(createDataset(Float32Array.from(vs.flat()), 3, 2));
    vs.forEach((v, r) => {
      const terms = [0, 1, 2, 3, 4, 5, 6, 7].map((s) => -energy(p, v, bits(s, 3)));
      const m = Math.max(...terms);
      expect(F[r]).toBeCloseTo(-(m + Math.log(terms.reduce((s, x) => s + Math.exp(x - m), 0))), 10);
    });
  });

  it('log Z (Gaussian integral done analytically) matches numerical integration of exp(-F(v))', async () => {
    const model = RBM.fromParameters(backend, p);
    const { logZ, enumerated } = await exactLogPartition(model);
    expect(enumerated).toBe('hidden');
    const numeric = integrate2d(
      ([x, y]) => {
        const terms = [0, 1, 2, 3, 4, 5, 6, 7].map((s) => -energy(p, [x, y], bits(s, 3)));
        const m = Math.max(...terms);
        return m + Math.log(terms.reduce((acc, t) => acc + Math.exp(t - m), 0));
      },
      -14,
      14,
      700,
    );
    expect(logZ).toBeCloseTo(numeric, 5);
    // The density integrates to 1: log p(v) = -F(v) - log Z, on the same grid.
    const ll = await exactLogLikelihood(model, createDataset(Float32Array.of(0, 0), 1, 2));
    expect(Number.isFinite(ll.mean)).toBe(true);
    await expect(exactKL(model, createDataset(Float32Array.of(0, 0), 1, 2))).rejects.toThrow(
      /binary visible units only/,
    );
  });

  it('AIS estimates log Z within 0.05 nats; forward and reverse from exact samples agree', async () => {
    const q = gaussianParameters(6, 8, 0.6, 3, [0, -0.5, 0.5, 0, 0.2, -0.2]);
    const model = RBM.fromParameters(backend, q);
    const exact = (await exactLogPartition(model)).logZ;
    const data = await exactSamples(model, 300, { seed: 5 });
    const fwd = await annealedImportanceSampling(model, { runs: 200, schedule: { linear: 2000 }, data, seed: 1 });
    expect(Math.abs(fwd.logZ - exact)).toBeLessThan(0.05);
    const rev = await annealedImportanceSampling(model, {
      runs: 200,
      schedule: { linear: 2000 },
      data,
      seed: 2,
      direction: 'reverse',
      start: data,
    });
    expect(Math.abs(rev.logZ - exact)).toBeLessThan(0.05);
  }, 120_000);

  it('trains on real-valued data with unit variances, and learns variances when asked', async () => {
    // Two clusters in 4 dimensions with spread 0.3 around +-1.
    const rows = 200;
    const data = new Float32Array(rows * 4);
    let s = 1;
    const rand = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    for (let r = 0; r < rows; r++) {
      const c = r % 2 ? 1 : -1;
      for (let i = 0; i < 4; i++) {
        const g = Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
        data[r * 4 + i] = c + 0.3 * g;
      }
    }
    const ds = createDataset(data, rows, 4);
    const init = { numVisible: 4, numHidden: 4, seed: 2, data: ds, visibleUnits: 'gaussian' as const };
    const before = await exactLogLikelihood(RBM.create(backend, init), ds);
    const unit = RBM.create(backend, init);
    await train(unit, ds, { epochs: 300, batchSize: 20, learningRate: 0.01, momentum: 0.5, seed: 3 });
    const unitLL = await exactLogLikelihood(unit, ds);
    expect(unitLL.mean).toBeGreaterThan(before.mean + 0.5);
    expect(Array.from((await unit.parameters()).logVariance!)).toEqual([0, 0, 0, 0]);

    const learned = RBM.create(backend, init);
    await train(learned, ds, {
      epochs: 300,
      batchSize: 20,
      learningRate: 0.01,
      momentum: 0.5,
      seed: 3,
      learnVariance: true,
    });
    const z = (await learned.parameters()).logVariance!;
    // Within a cluster the spread is 0.3 (variance 0.09): the learned variances shrink well below 1.
    for (const x of z) expect(Math.exp(x)).toBeLessThan(0.7);
    expect((await exactLogLikelihood(learned, ds)).mean).toBeGreaterThan(unitLL.mean);

    // Values outside [0, 1] are fine for Gaussian units; NaN is not.
    await expect(
      train(RBM.create(backend, init), createDataset(Float32Array.of(1, 2, Number.NaN, 0), 1, 4), { epochs: 1 }),
    ).rejects.toThrow(/NaN/);
    await expectExactResume(
      ds,
      { epochs: 3, batchSize: 40, learningRate: 0.01, seed: 4, learnVariance: true },
      'gaussian',
    );
  }, 120_000);

  it('round-trips through the model file with its log variances', () => {
    const bytes = encodeModel(p);
    const back = decodeModel(bytes);
    expect(back.metadata.model).toBe('gaussian-bernoulli');
    expect(back.parameters.visibleUnits).toBe('gaussian');
    expect(Array.from(back.parameters.logVariance!)).toEqual(Array.from(p.logVariance!));
  });
});
