import {
  barsAndStripes,
  createDataset,
  type Dataset,
  exactLogPartition,
  type HiddenUnits,
  jointRows,
  RBM,
  Trainer,
  type TrainOptions,
  trainingError,
} from '@rbmjs/core';
import type { Backend } from '@rbmjs/core/backend';
import { instrument } from '../instrument.js';

import { type CheckContext, type ConformanceCheck, randomArray } from './context.js';

/** Training runs side by side with the reference, and the trainer's state (checkpoints, rollback). */

/** A run's label, its training options, and the model's hidden units where they are not Bernoulli. */
export type TrainingRun = [string, Partial<TrainOptions>, HiddenUnits?];

export const TRAINING_RUNS: TrainingRun[] = [
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
  ['CD-1 with max-norm 0.05 on each hidden unit', { method: 'cd', k: 1, learningRate: 0.2, maxNorm: 0.05 }],
  // Hidden units beyond Bernoulli: their noise is drawn on the host, so every backend sees the same numbers.
  ['CD-1, NReLU hidden units (Nair & Hinton 2010)', { method: 'cd', k: 1 }, 'nrelu'],
  ['PCD-2, Gaussian hidden units', { method: 'pcd', k: 2, chains: 5, learningRate: 0.02 }, 'gaussian'],
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
 * training error (reconstruction error, or cross-entropy). `after` runs before anything is disposed (to count what was used).
 */
export async function trainSideBySide(
  c: CheckContext,
  label: string,
  extra: Partial<TrainOptions>,
  [a, b]: [Backend, Backend],
  versus: string,
  after?: () => void,
  hiddenUnits?: HiddenUnits,
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
    ...(hiddenUnits ? { hiddenUnits } : {}),
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
    const [e1, e2] = [trainingError(h1.at(-1)!), trainingError(h2.at(-1)!)];
    c.that(
      e1.name === e2.name && Math.abs(e1.value - e2.value) < 5e-4,
      `${label}: ${e1.name} ${e1.value}, ${e2.name} ${e2.value}${versus}`,
    );
  } finally {
    t1.dispose();
    t2.dispose();
    m1.dispose();
    m2.dispose();
  }
}

export const trainingChecks: ConformanceCheck[] = TRAINING_RUNS.map(([label, extra, hidden]) => ({
  group: 'training agrees with the reference on the same randomness',
  name: `${label}: parameters after several epochs`,
  run: (c: CheckContext) =>
    trainSideBySide(c, label, extra, [c.backend, c.ref], ' vs the reference', undefined, hidden),
}));

export const stateChecks: ConformanceCheck[] = [
  {
    group: 'checkpoints',
    name: 'a run resumed from exported state ends like an uninterrupted one',
    async run(c) {
      const be = c.backend;
      const data = barsAndStripes(3);
      const opts: TrainOptions = { epochs: 4, batchSize: 4, momentum: 0.5, method: 'pcd', k: 2, chains: 6, seed: 9 };
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
