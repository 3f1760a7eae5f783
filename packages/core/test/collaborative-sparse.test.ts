import { describe, expect, it } from 'vitest';
import { createJsBackend } from '../../backend-js/src/index.js';
import { fillUniforms, uniformsAt } from '../src/backend/index.js';
import {
  ArgumentError,
  type Backend,
  type BatchLayout,
  CollaborativeModel,
  type CollaborativeParameters,
  collaborativeFamily,
  createReferenceBackend,
  holdoutSplit,
  initialCollaborativeParameters,
  levelCounts,
  type Ratings,
  resolveBatchLayout,
  SPARSE_DENSITY,
  syntheticRatings,
  Trainer,
} from '../src/index.js';
import { paddedRows } from '../src/model/collaborative-sparse.js';

/**
 * The collaborative step on sparse batches (model/collaborative-sparse.ts) is the dense step computed on the
 * rated items only: from the same parameters and seed, both layouts must end with the same parameters. On
 * the float64 reference the two differ only by the order of float64 sums (the Bernoulli draws see the same
 * uniforms, and no probability lies within 1e-12 of its uniform): the parameters, read back as float32, agree
 * to their last bit or so (here they are equal).
 */

async function train(
  be: Backend,
  ratings: Ratings,
  layout: BatchLayout,
  options: { conditional: boolean; gibbsSteps: number; weightDecay: number },
): Promise<{ p: CollaborativeParameters; rmse: number | undefined }> {
  const { train: t, test } = holdoutSplit(ratings, 0.2, 4);
  const init = initialCollaborativeParameters({
    numItems: t.items.length,
    numHidden: 6,
    levels: t.levels,
    counts: levelCounts(t),
    conditional: options.conditional,
    initScale: 0.2,
    seed: 9,
  });
  const model = CollaborativeModel.fromParameters(be, init);
  const trainer = new Trainer(
    collaborativeFamily(model, t, test, {
      epochs: 3,
      batchSize: 7,
      learningRate: 0.1,
      momentum: 0.6,
      weightDecay: options.weightDecay,
      gibbsSteps: options.gibbsSteps,
      seed: 21,
      batchLayout: layout,
    }),
  );
  try {
    const history = await trainer.run();
    return { p: await model.parameters(), rmse: history.at(-1)!.rmse };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('the collaborative step on sparse batches', () => {
  // 30 users x 11 items, 4 levels, a quarter rated: some users with 1 rating, some with 6; batches of 7 (the
  // last of 2), so the padded sizes change from batch to batch.
  const { ratings } = syntheticRatings({ users: 30, items: 11, levels: 4, density: 0.25, seed: 3 });

  for (const [name, options] of [
    ['plain, CD-1, weight decay', { conditional: false, gibbsSteps: 1, weightDecay: 0.01 }],
    ['conditional (D), CD-3, no weight decay', { conditional: true, gibbsSteps: 3, weightDecay: 0 }],
  ] as const) {
    it(`ends where the dense step ends, on the float64 reference: ${name}`, async () => {
      const be = createReferenceBackend();
      const dense = await train(be, ratings, 'dense', options);
      const sparse = await train(be, ratings, 'sparse', options);
      for (const key of ['weights', 'visibleBias', 'hiddenBias', 'ratedWeights'] as const) {
        if (!options.conditional && key === 'ratedWeights') continue;
        expect(maxDifference(sparse.p[key]!, dense.p[key]!), key).toBeLessThan(1e-6);
      }
      // Training moved the parameters (the comparison is not of two untouched copies).
      const init = initialCollaborativeParameters({
        numItems: 11,
        numHidden: 6,
        levels: dense.p.levels,
        initScale: 0.2,
        seed: 9,
      });
      expect(maxDifference(dense.p.weights, init.weights)).toBeGreaterThan(0.01);
      expect(sparse.rmse).toBeCloseTo(dense.rmse!, 6);
    });
  }

  it('ends near the dense step on float32 (js), the draws flipping nowhere', async () => {
    const options = { conditional: true, gibbsSteps: 2, weightDecay: 0.001 };
    const dense = await train(createJsBackend(), ratings, 'dense', options);
    const sparse = await train(createJsBackend(), ratings, 'sparse', options);
    expect(maxDifference(sparse.p.weights, dense.p.weights)).toBeLessThan(1e-4);
    expect(maxDifference(sparse.p.ratedWeights!, dense.p.ratedWeights!)).toBeLessThan(1e-4);
  });

  it('draws the dense batch uniforms at the rated cells', () => {
    const all = new Float32Array(1003);
    fillUniforms(all, 11, 22, 5, 40);
    const positions = [0, 1, 2, 3, 4, 7, 8, 500, 501, 998, 1002, 3];
    const some = new Float32Array(positions.length);
    uniformsAt(some, positions, 11, 22, 5, 40);
    expect(Array.from(some)).toEqual(positions.map((p) => all[p]!));
  });

  it('pads to few sizes: at least the ratings, at most a quarter more, four sizes an octave', () => {
    const sizes = new Set<number>();
    for (let n = 1; n <= 4096; n++) {
      const p = paddedRows(n);
      expect(p).toBeGreaterThanOrEqual(n);
      if (n > 16) expect(p).toBeLessThanOrEqual(1.25 * n);
      expect(paddedRows(p)).toBe(p);
      sizes.add(p);
    }
    // 16, then 4 sizes in each octave from 16 to 4096 (8 octaves).
    expect(sizes.size).toBe(1 + 4 * 8);
  });

  it('auto: sparse below the density threshold, dense above; other names refused', () => {
    const thin = syntheticRatings({ users: 200, items: 100, density: SPARSE_DENSITY / 2, seed: 1 }).ratings;
    const thick = syntheticRatings({ users: 40, items: 20, density: 0.5, seed: 1 }).ratings;
    expect(resolveBatchLayout('auto', thin)).toBe('sparse');
    expect(resolveBatchLayout(undefined, thick)).toBe('dense');
    expect(resolveBatchLayout('dense', thin)).toBe('dense');
    expect(() => resolveBatchLayout('csr' as BatchLayout, thin)).toThrow(ArgumentError);
  });
});
