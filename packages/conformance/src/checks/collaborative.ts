import {
  type BatchLayout,
  CollaborativeModel,
  collaborativeFamily,
  holdoutSplit,
  initialCollaborativeParameters,
  levelCounts,
  predictQueries,
  syntheticRatings,
  Trainer,
} from '@rbmjs/core';
import type { Backend } from '@rbmjs/core/backend';

import type { CheckContext, ConformanceCheck } from './context.js';
import { countingFuse, opByOp, wholeStepGroup } from './whole-step.js';

/**
 * The collaborative-filtering RBM (masked softmax units, one K-way group per rated item, the conditional
 * RBM's D): a short masked training run on two backends from the same parameters and randomness, then
 * the held-out predictions.
 */
async function trainCollaborative(
  c: CheckContext,
  [a, b]: [Backend, Backend],
  versus: string,
  after?: () => void,
  layouts: [BatchLayout, BatchLayout] = ['dense', 'dense'],
): Promise<void> {
  // 14 users x 9 items, 3 levels, about half rated: users with 1 rating and users with 8 in one batch.
  const { ratings } = syntheticRatings({ users: 14, items: 9, levels: 3, density: 0.5, seed: 5 });
  const { train, test } = holdoutSplit(ratings, 0.2, 2);
  const init = initialCollaborativeParameters({
    numItems: 9,
    numHidden: 5,
    levels: train.levels,
    conditional: true,
    counts: levelCounts(train),
    initScale: 0.1,
    seed: 3,
  });
  const options = {
    epochs: 3,
    batchSize: 4,
    gibbsSteps: 2,
    learningRate: 0.1,
    momentum: 0.5,
    weightDecay: 1e-3,
    seed: 11,
  };
  const models = [CollaborativeModel.fromParameters(a, init), CollaborativeModel.fromParameters(b, init)];
  const trainers = models.map(
    (m, k) => new Trainer(collaborativeFamily(m, train, test, { ...options, batchLayout: layouts[k]! })),
  );
  try {
    const histories = [];
    for (const t of trainers) histories.push(await t.run());
    after?.();
    const [p1, p2] = await Promise.all(models.map((m) => m.parameters()));
    for (const key of ['weights', 'visibleBias', 'hiddenBias', 'ratedWeights'] as const)
      c.close(`collaborative ${key}${versus}`, p1![key]!, p2![key]!, () => 1e3 * c.eps + 1e-6);
    const [r1, r2] = histories.map((h) => h.at(-1)!.rmse!);
    c.that(Math.abs(r1! - r2!) < 1e-4, `collaborative held-out RMSE ${r1}, ${r2}${versus}`);
    // On the device: the cf-predict unit (the default would take the host's pass, less work at this size).
    const [q1, q2] = await Promise.all(models.map((m) => predictQueries(m, train, test, { on: 'device' })));
    c.close(`collaborative predictions${versus}`, q1!, q2!, () => 1e3 * c.eps + 1e-6);
  } finally {
    for (const t of trainers) t.dispose();
    for (const m of models) m.dispose();
  }
}

export const collaborativeChecks: ConformanceCheck[] = [
  {
    group: 'training agrees with the reference on the same randomness',
    name: 'collaborative filtering (masked softmax groups, conditional, CD-2): parameters and predictions',
    run: (c) => trainCollaborative(c, [c.backend, c.ref], ' vs the reference'),
  },
  {
    group: 'training agrees with the reference on the same randomness',
    name: "collaborative filtering on sparse batches (gathered and scattered rows): the reference's dense batches",
    run: (c) =>
      trainCollaborative(c, [c.backend, c.ref], ', sparse vs the dense reference', undefined, ['sparse', 'dense']),
  },
  {
    group: wholeStepGroup,
    name: 'collaborative filtering: compiled cf-step and cf-predict units',
    async run(c) {
      if (!c.backend.fuse) c.skip(`${c.backend.name} runs op by op (no fuse): nothing compiled to compare`);
      const fused = countingFuse(c.backend);
      // 3 epochs of 3 full batches and a last one of 1 user (12 users trained), and a prediction pass each.
      await trainCollaborative(c, [fused.backend, opByOp(c.backend)], ', compiled vs op by op', () =>
        c.that(fused.units() >= 12, `${fused.units()} fused units for 12 steps`),
      );
    },
  },
  {
    group: wholeStepGroup,
    name: 'collaborative filtering: compiled cf-sparse-step units',
    async run(c) {
      if (!c.backend.fuse) c.skip(`${c.backend.name} runs op by op (no fuse): nothing compiled to compare`);
      const fused = countingFuse(c.backend);
      await trainCollaborative(
        c,
        [fused.backend, opByOp(c.backend)],
        ', sparse, compiled vs op by op',
        () => c.that(fused.units() >= 12, `${fused.units()} fused units for 12 steps`),
        ['sparse', 'sparse'],
      );
    },
  },
];
