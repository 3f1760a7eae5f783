import { describe, expect, it } from 'vitest';
import { createOnnxruntimeBackend } from '../src/index.js';

describe('the recommender on sparse batches', () => {
  it("compiles the recommender's sparse step once per padded size, and never runs it op by op", async () => {
    const { CollaborativeModel, collaborativeFamily, initialCollaborativeParameters, syntheticRatings, Trainer } =
      await import('@rbmjs/core');
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      // 400 users with 2-60 ratings each: batches of 20 users hold 300-700 ratings, a few padded sizes.
      const { ratings } = syntheticRatings({ users: 400, items: 300, density: 0.1, seed: 2 });
      const init = initialCollaborativeParameters({ numItems: 300, numHidden: 8, levels: ratings.levels, seed: 1 });
      const model = CollaborativeModel.fromParameters(be, init);
      const family = collaborativeFamily(model, ratings, undefined, {
        epochs: 3,
        batchSize: 20,
        batchLayout: 'sparse',
      });
      const trainer = new Trainer(family);
      await trainer.run();
      await model.parameters();
      trainer.dispose();
      model.dispose();
      expect(be.stats.opByOp).toBe(0);
      expect(be.stats.replayed + be.stats.compiled).toBeGreaterThanOrEqual(60);
      expect(be.stats.compiled, `${be.stats.compiled} units compiled`).toBeLessThanOrEqual(6);
    } finally {
      be.destroy();
    }
  });
});
