import type { Dataset } from '../data/dataset.js';
import { boolean, checkValue, choice, declarePart, integer, option, read, readSchedule, real } from './declare.js';
import type { Schedule } from './schedule.js';

/**
 * The training loop's own options (epochs, batches, Gibbs steps, seed, the learning rate, the divergence
 * watch) and what the loop reports. The other options belong to the parts that use them (config.ts lists
 * the parts).
 */

/** The loop's slice of the options. */
export interface LoopOptions {
  /** Epochs to run; `Infinity` for a run that its {@link RunOptions.signal} ends (schedules must allow it). */
  readonly epochs: number;
  /** Examples per mini-batch (default 100). The last, partial batch is used, not dropped. */
  readonly batchSize?: number;
  /** Learning rate (default 0.1): a number or a {@link Schedule} over epochs. */
  readonly learningRate?: Schedule;
  /** Gibbs steps per update (default 1). */
  readonly k?: number;
  /** Statistic of the data term: `probabilities` (default, Rao-Blackwellised) or `samples`. */
  readonly positivePhase?: 'probabilities' | 'samples';
  /** Shuffle the examples each epoch (default true). */
  readonly shuffle?: boolean;
  /** Seed of shuffling and sampling (default 0). */
  readonly seed?: number;
  /** How many examples the free-energy monitor uses from each set (default 1000). */
  readonly freeEnergySamples?: number;
  /** Check the parameters for NaN/Inf and blow-up every this many steps (default: once per epoch). */
  readonly divergenceCheckInterval?: number;
  /**
   * Blow-up bound: training stops with a {@link DivergenceError} (the model keeping the parameters from
   * before the offending step) once a parameter's magnitude exceeds it (default 1e4, far beyond any trained
   * RBM; the check fires between maxParameter / sqrt(3) and maxParameter).
   */
  readonly maxParameter?: number;
}

/** What a run is watched and stopped with: not part of its config (no JSON form). */
export interface RunOptions {
  /** Held-out data for the free-energy gap. */
  readonly validation?: Dataset;
  /**
   * Stops the run after the batch in flight: `run` and `trainEpoch` reject with a
   * {@link TrainingAbortedError}, and {@link Trainer.exportState} then captures the position inside the
   * epoch, so a resumed run continues with the next batch.
   */
  readonly signal?: AbortSignal;
  readonly onBatch?: (event: BatchEvent) => void | Promise<void>;
  readonly onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
}

export interface BatchEvent {
  /** 0-based epoch and batch; `step` counts optimiser steps from 1 over the whole run. */
  readonly epoch: number;
  readonly batch: number;
  readonly step: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly momentum: number;
  /**
   * Mean squared reconstruction error of this batch (the discriminative objective: its mean -log p(y | x),
   * see {@link trainingError}). Call it inside the callback; it costs one device readback, which is why it
   * is not read unless asked.
   */
  readReconstructionError(): Promise<number>;
}

export interface EpochMetrics {
  /** 0-based epoch that just ended. */
  readonly epoch: number;
  readonly step: number;
  readonly learningRate: number;
  readonly momentum: number;
  /**
   * Mean over examples of sum_i (v_i - p(v_i = 1 | h))^2, h ~ p(h | v), over the epoch. NaN under the
   * discriminative objective, which samples no h: see `crossEntropy`, and {@link trainingError} for the one
   * figure of either.
   */
  readonly reconstructionError: number;
  /**
   * The discriminative objective's training error: mean over the epoch's examples of -log p(y | x) (nats),
   * each taken before its step's update.
   */
  readonly crossEntropy?: number;
  /** Mean free energy of (a sample of) the training data, and of the validation data, when given. */
  readonly freeEnergyTrain?: number;
  readonly freeEnergyValidation?: number;
  /** freeEnergyValidation - freeEnergyTrain: growing means overfitting (Hinton 2010, section 6). */
  readonly freeEnergyGap?: number;
  /** A family of several stages: the stage's name (`pretrain.0`, `joint`) and its epochs. */
  readonly stage?: string;
  readonly epochs?: number;
  /** A DBM's pretraining: the lower layer of the RBM trained. */
  readonly layer?: number;
  /** The recommender: T of CD-T, and the held-out RMSE and MAE. */
  readonly gibbsSteps?: number;
  readonly rmse?: number;
  readonly mae?: number;
  /** With a monitored figure: whether this epoch is the best so far (the one the model ends with). */
  readonly best?: boolean;
  readonly seconds: number;
}

const EPOCHS = option('epochs', 'epochs', integer(1), { flag: '--epochs <n>' });
const BATCH = option('batchSize', 'mini-batch size', integer(1), { default: 100, flag: '--batch <n>' });
const LEARNING_RATE = option(
  'learningRate',
  'learning rate',
  { kind: 'schedule', min: 0, max: Number.POSITIVE_INFINITY },
  { default: 0.1, flag: false },
);
const K = option('k', 'Gibbs steps per update (CD-k, PCD-k)', integer(1), { default: 1 });
const POSITIVE = option('positivePhase', 'data-term statistic', choice(['probabilities', 'samples']), {
  default: 'probabilities',
  flag: '--positive <stat>',
});
const SHUFFLE = option('shuffle', 'shuffle each epoch', boolean, { default: true, flag: false });
const SEED = option('seed', 'seed of initialisation, shuffling and sampling', integer(0), { default: 0 });
const FREE_ENERGY_SAMPLES = option('freeEnergySamples', 'examples of each set for the free-energy gap', integer(1), {
  default: 1000,
  flag: false,
});
const CHECK_INTERVAL = option(
  'divergenceCheckInterval',
  'steps between checks for NaN and blow-up (default: once per epoch)',
  integer(1),
  { flag: false },
);
const MAX_PARAMETER = option(
  'maxParameter',
  'blow-up bound on any parameter',
  real(0, Number.POSITIVE_INFINITY, '(]'),
  { default: 1e4, flag: false },
);

/** The loop's part: its options are read by the trainer itself. */
export const loopPart = declarePart<LoopOptions>({
  name: 'loop',
  options: [
    EPOCHS,
    BATCH,
    LEARNING_RATE,
    K,
    POSITIVE,
    SHUFFLE,
    SEED,
    FREE_ENERGY_SAMPLES,
    CHECK_INTERVAL,
    MAX_PARAMETER,
  ],
  resolve(raw, _done, ctx) {
    const epochs = raw.epochs === Number.POSITIVE_INFINITY ? Infinity : checkValue<number>(EPOCHS, raw.epochs, ctx);
    const learningRate = readSchedule(LEARNING_RATE, raw, epochs, ctx);
    const checkInterval = read<number | undefined>(CHECK_INTERVAL, raw, ctx);
    return {
      epochs,
      batchSize: read(BATCH, raw, ctx),
      learningRate,
      k: read(K, raw, ctx),
      positivePhase: read(POSITIVE, raw, ctx),
      shuffle: read(SHUFFLE, raw, ctx),
      seed: read(SEED, raw, ctx),
      freeEnergySamples: read(FREE_ENERGY_SAMPLES, raw, ctx),
      ...(checkInterval !== undefined ? { divergenceCheckInterval: checkInterval } : {}),
      maxParameter: read(MAX_PARAMETER, raw, ctx),
    };
  },
});

/**
 * An epoch's training error, whichever the objective gives: the mean squared reconstruction error, or under
 * the discriminative objective the mean cross-entropy -log p(y | x).
 */
export function trainingError(m: EpochMetrics): {
  readonly name: 'reconstruction error' | 'cross-entropy';
  readonly value: number;
} {
  return m.crossEntropy !== undefined
    ? { name: 'cross-entropy', value: m.crossEntropy }
    : { name: 'reconstruction error', value: m.reconstructionError };
}
