import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  barsAndStripes,
  conditionalSample,
  createDataset,
  createReferenceBackend,
  EarlyStopping,
  exactLogLikelihood,
  pseudoLogLikelihood,
  RBM,
  RbmEstimator,
  ShapeError,
  Trainer,
  validationFigures,
} from '../src/index.js';
import { bits, bruteFreeEnergy, randomParameters } from './brute.js';

const backend = createReferenceBackend();

describe('fast-weights PCD (Tieleman & Hinton 2009)', () => {
  const data = barsAndStripes(3);
  const init = { numVisible: 9, numHidden: 6, seed: 2, data };
  const base = { epochs: 3, batchSize: 4, learningRate: 0.1, k: 2, chains: 5, seed: 4 } as const;

  it('with a fast learning rate of 0 is PCD, draw for draw', async () => {
    const m1 = RBM.create(backend, init);
    const m2 = RBM.create(backend, init);
    const t1 = new Trainer(m1, data, { ...base, method: 'pcd' });
    const t2 = new Trainer(m2, data, { ...base, method: 'fpcd', fastWeights: { learningRate: 0 } });
    await t1.run();
    await t2.run();
    expect((await m2.parameters()).weights).toEqual((await m1.parameters()).weights);
    // With fast weights it is another run: the chains see other parameters.
    const m3 = RBM.create(backend, init);
    const t3 = new Trainer(m3, data, { ...base, method: 'fpcd' });
    await t3.run();
    expect((await m3.parameters()).weights).not.toEqual((await m1.parameters()).weights);
    for (const t of [t1, t2, t3]) t.dispose();
  });

  it('keeps its fast weights in the trainer state (checkpointed, rolled back)', async () => {
    const m = RBM.create(backend, init);
    const t = new Trainer(m, data, { ...base, method: 'fpcd' });
    await t.trainEpoch();
    const state = await t.exportState();
    const fast = state.tensors['fast.weights']!;
    expect([fast.rows, fast.cols]).toEqual([9, 6]);
    expect(fast.data.some((x) => x !== 0)).toBe(true);
    t.dispose();
  });

  it('mixes better than PCD on bars and stripes: a higher exact log-likelihood over six seeds', async () => {
    // 4x4 bars and stripes (30 patterns, far apart in Hamming distance) at a learning rate where PCD's chains
    // stick in modes: fast weights push them out (Tieleman & Hinton's figure 3, in miniature).
    const bas = barsAndStripes(4);
    const mean = async (method: 'pcd' | 'fpcd') => {
      let s = 0;
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const m = RBM.create(backend, { numVisible: 16, numHidden: 16, seed, data: bas });
        const t = new Trainer(m, bas, { epochs: 600, batchSize: 8, learningRate: 0.1, method, chains: 8, seed });
        await t.run();
        t.dispose();
        s += (await exactLogLikelihood(m, bas)).mean;
        m.dispose();
      }
      return s / 6;
    };
    const pcd = await mean('pcd');
    const fpcd = await mean('fpcd');
    // Measured: PCD -7.36, FPCD -6.04 nats (the best possible, log 1/30, is -3.40).
    expect(fpcd).toBeGreaterThan(pcd + 0.5);
  }, 120_000);

  it('refuses fast-weight options without fpcd, a decay outside [0, 1), and Gaussian units', () => {
    const m = RBM.create(backend, init);
    expect(() => new Trainer(m, data, { epochs: 1, fastWeights: { decay: 0.5 } })).toThrow(
      /fastWeights.decay needs method fpcd/,
    );
    expect(() => new Trainer(m, data, { epochs: 1, method: 'fpcd', fastWeights: { decay: 1 } })).toThrow(
      /fastWeights.decay must be a number >= 0 and < 1/,
    );
    const g = RBM.create(backend, { ...init, visibleUnits: 'gaussian' });
    expect(() => new Trainer(g, data, { epochs: 1, method: 'fpcd' })).toThrow(
      /method fpcd is implemented for binary visible units only/,
    );
  });
});

describe('conditional sampling', () => {
  const p = randomParameters(5, 3, 1.2, 7);

  it('Gibbs samples of the free units follow the exact p(v_free | v_clamped)', async () => {
    const model = RBM.fromParameters(backend, p);
    // Clamp units 0 and 3 to (1, 0); the free units 1, 2, 4 have 8 states.
    const mask = [1, 0, 0, 1, 0];
    const chains = 4000;
    const row = [1, 0.7, 0.2, 0, 0.9]; // free units' values are ignored
    const rows = new Float32Array(chains * 5);
    for (let r = 0; r < chains; r++) rows.set(row, r * 5);
    const s = await conditionalSample(model, { data: rows, mask, steps: 20, seed: 3 });
    const counts = new Array(8).fill(0);
    for (let r = 0; r < chains; r++) {
      const v = s.states.subarray(r * 5, r * 5 + 5);
      expect(v[0]).toBe(1);
      expect(v[3]).toBe(0);
      counts[v[1]! + 2 * v[2]! + 4 * v[4]!]++;
    }
    // Exact: p(v_free | v_C) ∝ exp(-F(v)).
    const logp = Array.from({ length: 8 }, (_, k) => {
      const b = bits(k, 3);
      return -bruteFreeEnergy(p, [1, b[0]!, b[1]!, 0, b[2]!]);
    });
    const m = Math.max(...logp);
    const z = logp.reduce((a, x) => a + Math.exp(x - m), 0);
    let chi2 = 0;
    for (let k = 0; k < 8; k++) {
      const expected = (chains * Math.exp(logp[k]! - m)) / z;
      chi2 += (counts[k]! - expected) ** 2 / expected;
    }
    // 7 degrees of freedom: P(chi2 > 24.3) = 0.001.
    expect(chi2).toBeLessThan(24.3);
    // The probabilities show the clamped values too.
    expect(s.probabilities[0]).toBe(1);
    expect(s.probabilities[3]).toBe(0);
    model.dispose();
  });

  it('mean-field completion iterates v_free <- sigmoid(a + W sigmoid(b + v W)) from 1/2, as on the host', async () => {
    const model = RBM.fromParameters(backend, p);
    const data = createDataset([0, 1, 0, 1, 1, 1, 1, 0, 0, 0], 2, 5);
    const mask = [1, 1, 0, 0, 0, 1, 0, 1, 0, 0]; // one mask per row
    const steps = 4;
    const s = await conditionalSample(model, { data, mask, steps, method: 'mean-field' });
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    for (let r = 0; r < 2; r++) {
      const v = Array.from({ length: 5 }, (_, i) => (mask[r * 5 + i] ? data.data[r * 5 + i]! : 0.5));
      for (let t = 0; t < steps; t++) {
        const h = Array.from({ length: 3 }, (_, j) =>
          sig(p.hiddenBias[j]! + v.reduce((a, vi, i) => a + vi * p.weights[i * 3 + j]!, 0)),
        );
        for (let i = 0; i < 5; i++) {
          if (mask[r * 5 + i]) continue;
          v[i] = sig(p.visibleBias[i]! + h.reduce((a, hj, j) => a + hj * p.weights[i * 3 + j]!, 0));
        }
      }
      for (let i = 0; i < 5; i++) expect(s.states[r * 5 + i]).toBeCloseTo(v[i]!, 10);
    }
    expect(s.probabilities).toEqual(s.states);
    model.dispose();
  });

  it('names a bad mask: its length, a value that is not 0 or 1', async () => {
    const model = RBM.fromParameters(backend, p);
    const data = createDataset([0, 1, 0, 1, 1], 1, 5);
    await expect(conditionalSample(model, { data, mask: [1, 0, 1], steps: 1 })).rejects.toThrow(ShapeError);
    await expect(conditionalSample(model, { data, mask: [1, 0, 1], steps: 1 })).rejects.toThrow(
      /mask has 3 values; expected 5/,
    );
    await expect(conditionalSample(model, { data, mask: [1, 0, 0.5, 0, 0], steps: 1 })).rejects.toThrow(
      /mask value at unit 2 is 0.5/,
    );
    await expect(conditionalSample(model, { data, mask: [1, 0, 0, 0, 0], steps: 0 })).rejects.toThrow(ArgumentError);
    model.dispose();
  });
});

describe('validation figures and early stopping', () => {
  const data = barsAndStripes(3);

  it('computes each figure as its definition', async () => {
    const model = RBM.fromParameters(backend, randomParameters(9, 4, 0.8, 5));
    const f = await validationFigures(model, data, {
      figures: ['pseudo-likelihood', 'log-likelihood', 'free-energy-gap', 'reconstruction'],
      train: { ...data, rows: 4, data: data.data.subarray(0, 36) },
    });
    expect(f['pseudo-likelihood']).toBeCloseTo((await pseudoLogLikelihood(model, data)).mean, 10);
    expect(f['log-likelihood']).toBeCloseTo((await exactLogLikelihood(model, data)).mean, 10);
    const F = await model.freeEnergy(data);
    const meanAll = F.reduce((a, x) => a + x, 0) / F.length;
    const meanTrain = F.subarray(0, 4).reduce((a, x) => a + x, 0) / 4;
    expect(f['free-energy-gap']).toBeCloseTo(meanAll - meanTrain, 10);
    expect(f.reconstruction).toBeGreaterThan(0);
    await expect(validationFigures(model, data, { figures: ['free-energy-gap'] })).rejects.toThrow(/needs training/);
    model.dispose();
  });

  it('EarlyStopping: improvements by direction, patience, and its errors', () => {
    const up = new EarlyStopping('log-likelihood', 2);
    expect(up.update(-5, 0)).toEqual({ improved: true, stop: false });
    expect(up.update(-4, 1)).toEqual({ improved: true, stop: false });
    expect(up.update(-4.5, 2)).toEqual({ improved: false, stop: false });
    expect(up.update(Number.NaN, 3)).toEqual({ improved: false, stop: true });
    expect(up.bestEpoch).toBe(1);
    const down = new EarlyStopping('reconstruction', 1);
    down.update(3, 0);
    expect(down.update(2, 1).improved).toBe(true);
    expect(() => new EarlyStopping('reconstruction', 0)).toThrow(/patience must be a positive integer/);
    expect(() => new EarlyStopping('accuracy' as never, 3)).toThrow(/unknown figure "accuracy"/);
  });
});

describe('RbmEstimator', () => {
  const data = barsAndStripes(3);

  it('fit, transform (batched, = p(h | v)), scoreSamples, gibbs, partialFit', async () => {
    const est = new RbmEstimator(backend, { numHidden: 5, epochs: 20, learningRate: 0.1, batchSize: 4, seed: 1 });
    expect(() => est.model).toThrow(/call fit or partialFit/);
    const result = await est.fit(data);
    expect(result.history).toHaveLength(20);
    const features = await est.transform(data, { batchSize: 3 });
    expect(features).toHaveLength(data.rows * 5);
    const direct = await est.model.hiddenGivenVisible(data);
    for (let i = 0; i < features.length; i++) expect(features[i]).toBeCloseTo(direct[i]!, 6);
    const scores = await est.scoreSamples(data);
    expect(scores.figure).toBe('pseudo-likelihood');
    const pl = scores.values;
    expect(pl.reduce((a, x) => a + x, 0) / pl.length).toBeCloseTo((await pseudoLogLikelihood(est.model, data)).mean, 9);
    const ll = (await est.scoreSamples(data, 'log-likelihood')).values;
    const F = (await est.scoreSamples(data, 'free-energy')).values;
    // log p(v) + F(v) = -log Z for every row.
    for (let r = 1; r < data.rows; r++) expect(ll[r]! + F[r]!).toBeCloseTo(ll[0]! + F[0]!, 9);
    const g = await est.gibbs(data, { steps: 2, seed: 1 });
    expect(g.every((x) => x === 0 || x === 1)).toBe(true);
    await expect(est.transform(new Float32Array(10))).rejects.toThrow(/not a whole number of rows of 9/);
    const before = await est.model.parameters();
    await est.partialFit(data);
    expect((await est.model.parameters()).weights).not.toEqual(before.weights);
    await expect(est.partialFit(createDataset(new Float32Array(8), 2, 4))).rejects.toThrow(ShapeError);
    est.dispose();
  });

  it('early stopping keeps the best model and stops after patience epochs without improvement', async () => {
    // A learning rate high enough that the held-out log-likelihood peaks and then falls.
    const train = { ...data, rows: 10, data: data.data.subarray(0, 90) };
    const validation = { ...data, rows: 4, data: data.data.subarray(90) };
    const est = new RbmEstimator(backend, { numHidden: 8, epochs: 200, learningRate: 0.5, batchSize: 2, seed: 3 });
    const result = await est.fit(train, {
      validation,
      earlyStopping: { figure: 'log-likelihood', patience: 5 },
    });
    const values = result.history.map((h) => h.figures!['log-likelihood']!);
    const best = Math.max(...values);
    expect(result.best).toBe(best);
    expect(values.indexOf(best)).toBe(result.bestEpoch);
    expect(result.stoppedEarly).toBe(true);
    expect(result.history).toHaveLength(result.bestEpoch! + 1 + 5);
    const kept = await validationFigures(est.model, validation, { figures: ['log-likelihood'] });
    expect(kept['log-likelihood']).toBeCloseTo(best, 6); // the kept parameters went through float32
    await expect(est.fit(train, { earlyStopping: { figure: 'reconstruction', patience: 2 } })).rejects.toThrow(
      /needs validation data/,
    );
    est.dispose();
  });
});
