import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  barsAndStripes,
  ClassificationRBM,
  CollaborativeRBM,
  createDataset,
  createReferenceBackend,
  type DbmBounds,
  DbmEstimator,
  type Estimator,
  exactDbmLogLikelihood,
  holdoutSplit,
  RbmEstimator,
  syntheticRatings,
} from '../src/index.js';

/**
 * One estimator interface for every family (fit, partialFit, transform, scoreSamples, save and a static
 * load), with one set of option names: each family is driven through the interface here, and what a model
 * file holds is what it scores again.
 */

const backend = createReferenceBackend();

/** Equal to the rounding of the file's float32 parameters (the reference backend computes in float64). */
function closeTo32(a: Float64Array, b: Float64Array): void {
  expect(a).toHaveLength(b.length);
  a.forEach((x, i) => {
    expect(Math.abs(x - b[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(b[i]!)));
  });
}

/** Drives any estimator through the interface: fit, partialFit, transform, scoreSamples, save. */
async function exercise<D, I>(e: Estimator<D, I>, data: D, input: I) {
  await e.fit(data, { epochs: 2 } as object);
  const more = await e.partialFit(data, { epochs: 1 });
  const features = await e.transform(input);
  const scores = await e.scoreSamples(input);
  const bytes = await e.save({ note: 'estimators.test' });
  return { more, features, scores, bytes };
}

describe('every family is an Estimator', () => {
  const data = barsAndStripes(3);

  it('the RBM: its scores are per row, the file scores the same', async () => {
    const e = new RbmEstimator(backend, { numHidden: 4, epochs: 3, learningRate: 0.1, seed: 1 });
    const { more, features, scores, bytes } = await exercise(e, data, data);
    expect(more).toHaveLength(1);
    expect(features).toHaveLength(data.rows * 4);
    expect(scores.figure).toBe('pseudo-likelihood');
    expect(scores.values).toHaveLength(data.rows);
    const loaded = RbmEstimator.load(backend, bytes);
    closeTo32((await loaded.scoreSamples(data)).values, scores.values);
    loaded.dispose();
    e.dispose();
  });

  it('the classifier: log p(y | x) per labelled row, exact, and the file scores the same', async () => {
    const labels = Int32Array.from({ length: data.rows }, (_, r) => r % 2);
    const c = ClassificationRBM.create(backend, { numInputs: data.cols, numClasses: 2, numHidden: 5, seed: 2 });
    const rows = { inputs: data, labels };
    const { more, features, scores, bytes } = await exercise(c, rows, rows);
    expect(more).toHaveLength(1);
    expect(features).toHaveLength(data.rows * 2);
    // p(y | x) sums to 1 over the classes; the score is log of the labelled class's.
    for (let r = 0; r < data.rows; r++) {
      expect(features[2 * r]! + features[2 * r + 1]!).toBeCloseTo(1, 5);
      expect(scores.values[r]!).toBeCloseTo(Math.log(features[2 * r + labels[r]!]!), 5);
    }
    const loaded = ClassificationRBM.load(backend, bytes);
    closeTo32((await loaded.scoreSamples(rows)).values, scores.values);
    loaded.dispose();
    c.dispose();
  });

  it('the DBM: the variational bound per row lies below the exact log p(v); the file holds the model', async () => {
    const e = new DbmEstimator(backend, { numHidden: [4, 3], pretrainEpochs: 2, batchSize: 4, seed: 3 });
    const { more, features, scores, bytes } = await exercise(e, data, data);
    expect(more).toHaveLength(1);
    expect(more[0]!.stage).toBe('joint');
    expect(features).toHaveLength(data.rows * 7);
    expect(scores.figure).toBe('variational-bound');
    const exact = exactDbmLogLikelihood(await e.model.parameters(), data);
    // The bound with AIS's log Z: below the exact value up to AIS's error on log Z (its 3-sigma interval).
    const { ais } = scores.detail as DbmBounds;
    const slack = ais.logZ - ais.logZLow + 1e-9;
    scores.values.forEach((b, r) => {
      expect(b).toBeLessThanOrEqual(exact[r]! + slack);
    });
    const loaded = DbmEstimator.load(backend, bytes);
    expect(await loaded.model.parameters()).toEqual(await e.model.parameters());
    loaded.dispose();
    e.dispose();
  });

  it('the recommender: squared errors per held-out rating, whose mean is the RMSE squared', async () => {
    const { ratings } = syntheticRatings({ users: 30, items: 8, density: 0.6, seed: 5 });
    const { train, test } = holdoutSplit(ratings, 0.2, 1);
    const cf = new CollaborativeRBM(backend, { numHidden: 3, batchSize: 10, k: 1, l2: 0.001, seed: 1 });
    const { more, features, scores, bytes } = await exercise(cf, train, test);
    expect(more).toHaveLength(1);
    expect(features.length % 3).toBe(0);
    for (const f of features) expect(f > 0 && f < 1).toBe(true);
    expect(scores.figure).toBe('squared-error');
    const mean = scores.values.reduce((a, x) => a + x, 0) / scores.values.length;
    expect(Math.sqrt(mean)).toBeCloseTo((scores.detail as { rmse: number }).rmse, 9);
    expect(scores.detail).toMatchObject(await cf.evaluate(test));
    const loaded = CollaborativeRBM.load(backend, bytes);
    closeTo32((await loaded.scoreSamples(test)).values, scores.values);
    loaded.dispose();
    cf.dispose();
  });
});

describe('one set of option names', () => {
  it('reads the names earlier versions used as the shared ones, and refuses both with different values', async () => {
    const data = barsAndStripes(3);
    const old = new DbmEstimator(backend, { hidden: [4, 3], gibbsSteps: 2, weightDecay: 0.001 });
    expect(old.options).toMatchObject({ numHidden: [4, 3], k: 2, l2: 0.001 });
    expect(old.options).not.toHaveProperty('hidden');
    const cf = new CollaborativeRBM(backend, { initScale: 0.02, gibbsSteps: 2 });
    expect(cf.options).toMatchObject({ weightScale: 0.02, k: 2 });
    expect(() => new RbmEstimator(backend, { numHidden: 2, k: 1, gibbsSteps: 3 } as never)).toThrow(ArgumentError);
    expect(() => new DbmEstimator(backend, { numHidden: [4, 3], hidden: [5, 3] })).toThrow(/numHidden .*hidden/);
    // The same value under both names is one option.
    const same = new RbmEstimator(backend, { numHidden: 2, l2: 0.01, weightDecay: 0.01 } as never);
    expect(same.options.l2).toBe(0.01);
    await same.fit(createDataset(data.data, data.rows, data.cols));
    same.dispose();
  });
});
