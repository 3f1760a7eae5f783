import { describe, expect, it } from 'vitest';
import {
  annealedImportanceSampling,
  createDataset,
  createReferenceBackend,
  DeviceRandom,
  decodeModel,
  encodeModel,
  energy,
  exactLogPartition,
  initialParameters,
  RandomStream,
  RBM,
  RbmEstimator,
  type RbmParameters,
  Trainer,
  withScope,
} from '../src/index.js';

const backend = createReferenceBackend();

/** Phi and phi of the standard normal (erf by Abramowitz & Stegun 7.1.26 is too coarse: use a series). */
function normalCdf(z: number): number {
  // erfc by its continued fraction is overkill here: integrate the density with Simpson's rule from -12.
  const n = 20000;
  const a = -12;
  const h = (z - a) / n;
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const w = i === 0 || i === n ? 1 : i % 2 ? 4 : 2;
    s += w * Math.exp(-((a + i * h) ** 2) / 2);
  }
  return (s * h) / 3 / Math.sqrt(2 * Math.PI);
}
const normalPdf = (z: number) => Math.exp(-(z * z) / 2) / Math.sqrt(2 * Math.PI);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** A 1-visible model whose hidden inputs at v = 1 are exactly `x` (W = x, b = 0). */
function inputsModel(x: number[], hiddenUnits: 'nrelu' | 'gaussian'): RbmParameters {
  return {
    numVisible: 1,
    numHidden: x.length,
    weights: Float32Array.from(x),
    visibleBias: new Float32Array(1),
    hiddenBias: new Float32Array(x.length),
    hiddenUnits,
  };
}

/** n draws of h ~ p(h | v = 1) and the means E[h | v = 1] the model reports. */
async function draws(p: RbmParameters, n: number) {
  const model = RBM.fromParameters(backend, p);
  const out = await withScope(backend, async (scope) => {
    const v = scope.tensor(n, 1, new Float32Array(n).fill(1));
    const ph = scope.tensor(n, p.numHidden);
    const h = scope.tensor(n, p.numHidden);
    model.hiddenProbabilities(ph, v);
    model.sampleHidden(h, ph, new DeviceRandom(backend, new RandomStream(3, 0)), scope.tensor(n, p.numHidden));
    return { h: await backend.read(h), mean: await backend.read(ph) };
  });
  model.dispose();
  return out;
}

describe('NReLU hidden units (Nair & Hinton 2010)', () => {
  const x = [-2, -0.5, 0, 0.7, 2.5];
  it("samples' first two moments match max(0, Y), Y ~ N(x, sigmoid(x)), within 5 standard errors", async () => {
    const n = 40000;
    const { h, mean } = await draws(inputsModel(x, 'nrelu'), n);
    x.forEach((x64, j) => {
      const xj = Math.fround(x64);
      const s = Math.sqrt(sigmoid(xj));
      const z = xj / s;
      const m1 = xj * normalCdf(z) + s * normalPdf(z);
      const m2 = (xj * xj + s * s) * normalCdf(z) + xj * s * normalPdf(z);
      let e1 = 0;
      let e2 = 0;
      for (let r = 0; r < n; r++) {
        const y = h[r * x.length + j]!;
        expect(y).toBeGreaterThanOrEqual(0);
        e1 += y / n;
        e2 += (y * y) / n;
      }
      const se1 = Math.sqrt((m2 - m1 * m1) / n);
      expect(Math.abs(e1 - m1)).toBeLessThan(5 * se1 + 1e-12);
      expect(Math.abs(e2 - m2)).toBeLessThan(0.05 * Math.max(m2, 0.05));
      // The statistic the gradient uses: max(0, x).
      expect(mean[j]).toBeCloseTo(Math.max(0, xj), 12);
    });
  });

  it('refuses what needs a free energy or binary hidden units, naming the units', async () => {
    const p = initialParameters({ numVisible: 6, numHidden: 4, seed: 1, hiddenUnits: 'nrelu' });
    const model = RBM.fromParameters(backend, p);
    await expect(model.freeEnergy(new Float32Array(6))).rejects.toThrow(/nrelu hidden units has no closed form/);
    await expect(exactLogPartition(model)).rejects.toThrow(/Bernoulli hidden units only, not nrelu/);
    await expect(annealedImportanceSampling(model, { runs: 2 })).rejects.toThrow(/not nrelu/);
    const data = createDataset(new Float32Array(12), 2, 6);
    expect(() => new Trainer(model, data, { epochs: 1, method: 'pt' })).toThrow(/method pt .*not nrelu/);
    model.dispose();
  });

  it('trains with CD-1 and PCD: the reconstruction error falls; the file keeps the units', async () => {
    const rng = new RandomStream(5, 0);
    const u = new Float32Array(400 * 8);
    rng.uniform(u);
    const data = new Float32Array(400 * 8);
    for (let r = 0; r < 400; r++)
      for (let i = 0; i < 8; i++) data[r * 8 + i] = (r % 2 ? i < 4 : i >= 4) !== u[r * 8 + i]! < 0.05 ? 1 : 0;
    for (const method of ['cd', 'pcd'] as const) {
      const est = new RbmEstimator(backend, {
        numHidden: 6,
        hiddenUnits: 'nrelu',
        epochs: 15,
        learningRate: 0.05,
        batchSize: 20,
        method,
        seed: 1,
      });
      const fit = await est.fit(createDataset(data, 400, 8));
      const errors = fit.history.map((e) => e.metrics.reconstructionError);
      expect(errors.at(-1)!).toBeLessThan(0.5 * errors[0]!);
      const p = await est.model.parameters();
      expect(p.hiddenUnits).toBe('nrelu');
      const back = decodeModel(encodeModel(p));
      expect(back.metadata.model).toBe('bernoulli-nrelu');
      expect(back.parameters.hiddenUnits).toBe('nrelu');
      const features = await est.transform(createDataset(data.subarray(0, 16), 2, 8));
      for (const f of features) expect(f).toBeGreaterThanOrEqual(0);
      est.dispose();
    }
  });
});

describe('Gaussian hidden units', () => {
  it('F(v) matches -a.v - sum_j log of the integral over h_j of exp(-h^2/2 + x_j h), by quadrature', async () => {
    const p: RbmParameters = {
      ...initialParameters({ numVisible: 3, numHidden: 2, seed: 4, weightScale: 0.8, hiddenUnits: 'gaussian' }),
      visibleBias: Float32Array.from([0.3, -0.2, 0.5]),
      hiddenBias: Float32Array.from([0.4, -1.1]),
    };
    const model = RBM.fromParameters(backend, p);
    const vs = [
      [0, 0, 0],
      [1, 0, 1],
      [1, 1, 1],
    ];
    const F = await model.freeEnergy(Float32Array.from(vs.flat()));
    vs.forEach((v, r) => {
      let negF = v.reduce((t, vi, i) => t + vi * p.visibleBias[i]!, 0);
      for (let j = 0; j < 2; j++) {
        let xj = p.hiddenBias[j]!;
        for (let i = 0; i < 3; i++) xj += v[i]! * p.weights[i * 2 + j]!;
        // Simpson's rule over [-40, 40].
        const n = 40000;
        const h = 80 / n;
        let s = 0;
        for (let k = 0; k <= n; k++) {
          const t = -40 + k * h;
          const w = k === 0 || k === n ? 1 : k % 2 ? 4 : 2;
          s += w * Math.exp(-(t * t) / 2 + xj * t);
        }
        negF += Math.log((s * h) / 3);
      }
      // The device leaves out the constant nh log(2 pi) / 2.
      expect(F[r]! - model.hiddenConstant).toBeCloseTo(-negF, 8);
    });
    model.dispose();
  });

  it('samples are N(x, 1) and E(v, h) adds h^2 / 2', async () => {
    const x = [-1.5, 0, 2];
    const n = 40000;
    const { h, mean } = await draws(inputsModel(x, 'gaussian'), n);
    x.forEach((x64, j) => {
      const xj = Math.fround(x64);
      let m = 0;
      let m2 = 0;
      for (let r = 0; r < n; r++) {
        m += h[r * 3 + j]! / n;
        m2 += h[r * 3 + j]! ** 2 / n;
      }
      expect(Math.abs(m - xj)).toBeLessThan(5 / Math.sqrt(n));
      expect(Math.abs(m2 - m * m - 1)).toBeLessThan(0.05);
      expect(mean[j]).toBeCloseTo(xj, 12);
    });
    const p = inputsModel(x, 'gaussian');
    const model = RBM.fromParameters(backend, p);
    const e = await withScope(backend, async (scope) => {
      const out = scope.tensor(1, 1);
      model.energy(
        out,
        scope.tensor(1, 1, Float32Array.from([1])),
        scope.tensor(1, 3, Float32Array.from([0.5, -1, 2])),
        scope.tensor(1, 3),
      );
      return (await backend.read(out))[0]!;
    });
    expect(e).toBeCloseTo(energy(p, [1], [0.5, -1, 2]), 10);
    expect(energy(p, [1], [0.5, -1, 2])).toBeCloseTo(0.25 / 2 + 1 / 2 + 4 / 2 - (-1.5 * 0.5 + 0 + 2 * 2), 10);
    model.dispose();
  });

  it('is refused under Gaussian visible units (no proper distribution)', () => {
    expect(() =>
      initialParameters({ numVisible: 3, numHidden: 2, visibleUnits: 'gaussian', hiddenUnits: 'gaussian' }),
    ).toThrow(/no proper distribution/);
  });
});
