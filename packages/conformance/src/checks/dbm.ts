import {
  barsAndStripes,
  DBM,
  type DbmTrainOptions,
  dbmAnnealedImportanceSampling,
  dbmFamily,
  dbmRaise,
  dbmSequentialMonteCarlo,
  dbmVariationalBound,
  Trainer,
} from '@rbmjs/core';
import type { Backend } from '@rbmjs/core/backend';
import type { CheckContext, ConformanceCheck } from './context.js';
import { countingFuse, opByOp, wholeStepGroup } from './whole-step.js';

/**
 * Deep Boltzmann machines: a whole training run (greedy pretraining with doubled inputs, then PCD with mean
 * field) against the reference, and compiled against op by op; AIS, RAISE and the mean-field bound likewise.
 */

const SIZES = [9, 6, 4];
const OPTIONS: DbmTrainOptions = {
  pretrainEpochs: 2,
  epochs: 3,
  batchSize: 4,
  chains: 5,
  learningRate: 0.02,
  pretrainLearningRate: 0.1,
  meanFieldIterations: 5,
  gibbsSteps: 2,
  seed: 7,
};

/** Trains the same DBM on two backends from the same randomness and compares every parameter. */
async function trainBoth(c: CheckContext, [a, b]: [Backend, Backend], versus: string): Promise<[DBM, DBM]> {
  const data = barsAndStripes(3);
  const models = [a, b].map((be) => DBM.create(be, { sizes: SIZES, seed: 3, weightScale: 0.1 })) as [DBM, DBM];
  for (const m of models) {
    const t = new Trainer(dbmFamily(m, data, OPTIONS));
    try {
      await t.run();
    } finally {
      t.dispose();
    }
  }
  const [p1, p2] = [await models[0].parameters(), await models[1].parameters()];
  p1.weights.forEach((w, l) => {
    c.close(`DBM W_${l}${versus}`, w, p2.weights[l]!, () => 1e3 * c.eps + 1e-6);
  });
  p1.biases.forEach((w, l) => {
    c.close(`DBM b_${l}${versus}`, w, p2.biases[l]!, () => 1e3 * c.eps + 1e-6);
  });
  return models;
}

/**
 * The mean-field bound of the trained models, compared (deterministic given the parameters, with one log Z);
 * with `ais`, AIS's log Z too. AIS draws thousands of Bernoulli states, which flip where a GPU's approximate
 * exp or sigmoid and the reference's differ in the last bits, so its log Z is compared only between the
 * same backend's compiled and op-by-op runs, as the RBM's AIS is.
 */
async function evaluateBoth(c: CheckContext, [m1, m2]: [DBM, DBM], versus: string, ais: boolean): Promise<void> {
  const schedule = Float64Array.from({ length: 101 }, (_, i) => i / 100);
  const options = { runs: 16, schedule, seed: 5 };
  const a2 = await dbmAnnealedImportanceSampling(m2, options);
  if (ais) {
    const a1 = await dbmAnnealedImportanceSampling(m1, options);
    c.close(`DBM AIS log Z${versus}`, [a1.logZ], [a2.logZ], () => 1e3 * c.eps * Math.abs(a2.logZ) + 1e-5);
    // SMC keeps the odd layers' inputs from one unit to the next, and moves the even layers' rows when it
    // resamples (a coarse fixed schedule, so it does).
    const smc = { runs: 16, schedule: Float64Array.from({ length: 21 }, (_, i) => i / 20), resample: 0.9, seed: 5 };
    const [s1, s2] = [await dbmSequentialMonteCarlo(m1, smc), await dbmSequentialMonteCarlo(m2, smc)];
    c.that(
      s1.resamplings === s2.resamplings,
      `DBM SMC resampled ${s1.resamplings} and ${s2.resamplings} times${versus}`,
    );
    c.close(`DBM SMC log Z${versus}`, [s1.logZ], [s2.logZ], () => 1e3 * c.eps * Math.abs(s2.logZ) + 1e-5);
  }
  const data = barsAndStripes(3);
  if (ais) {
    // RAISE's posterior annealing, sweeps at beta = 1 and steps down, the same draws on both; short, as a
    // browser's software WebGPU runs every unit slowly.
    const short = Float64Array.from({ length: 21 }, (_, i) => i / 20);
    const raise = { chains: 2, schedule: short, sweeps: 2, posteriorSteps: 3, seed: 5 };
    const [r1, r2] = [await dbmRaise(m1, data, raise), await dbmRaise(m2, data, raise)];
    c.close(
      `DBM RAISE log p(v)${versus}`,
      r1.perExample,
      r2.perExample,
      (i) => 1e3 * c.eps * Math.abs(r2.perExample[i]!) + 1e-5,
    );
  }
  const [b1, b2] = [
    await dbmVariationalBound(m1, data, { ais: a2, iterations: 10 }),
    await dbmVariationalBound(m2, data, { ais: a2, iterations: 10 }),
  ];
  c.close(
    `DBM mean-field bound${versus}`,
    b1.perExample,
    b2.perExample,
    (i) => 1e3 * c.eps * Math.abs(b2.perExample[i]!) + 1e-5,
  );
}

export const dbmChecks: ConformanceCheck[] = [
  {
    group: 'deep Boltzmann machines',
    name: 'a 9-6-4 DBM: pretraining and joint training, and the mean-field bound, agree with the reference',
    async run(c) {
      const models = await trainBoth(c, [c.backend, c.ref], ' vs the reference');
      try {
        await evaluateBoth(c, models, ' vs the reference', false);
      } finally {
        for (const m of models) m.dispose();
      }
    },
  },
  {
    group: wholeStepGroup,
    name: 'a 9-6-4 DBM: compiled units (dbm-step, dbm-pretrain-step, dbm-ais-step, SMC, RAISE) agree with op by op',
    async run(c) {
      if (!c.backend.fuse) c.skip(`${c.backend.name} runs op by op (no fuse): nothing compiled to compare`);
      const fused = countingFuse(c.backend);
      const models = await trainBoth(c, [fused.backend, opByOp(c.backend)], ', compiled vs op by op');
      // 16 rows at batch 4: 4 updates an epoch, 2 x 2 pretraining and 3 joint epochs.
      c.that(fused.units() >= 28, `${fused.units()} fused units for 28 updates`);
      try {
        await evaluateBoth(c, models, ', compiled vs op by op', true);
      } finally {
        for (const m of models) m.dispose();
      }
    },
  },
];
