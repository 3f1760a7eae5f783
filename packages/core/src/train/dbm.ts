import { ArgumentError } from '../errors.js';
import { checkIterations } from '../model/dbm.js';
import { integer, type OptionDeclaration, option, real } from './declare.js';
import { checkSchedule, type Schedule } from './schedule.js';

/** The options of a deep Boltzmann machine's training (the family and its steps: dbm-family.ts). */

export interface DbmTrainOptions {
  /** Joint-training epochs (default 10). */
  readonly epochs?: number;
  /** Examples per mini-batch (default 100). */
  readonly batchSize?: number;
  /** Joint training's learning rate (default 0.005), of the mean gradient over a batch. */
  readonly learningRate?: Schedule;
  /**
   * Momentum (default 0.5). Hinton's 0.9 after 5 epochs made the persistent chains fall behind: on the 6-4-3
   * test model the exact log-likelihood then swung between -2.4 and -9 nats, against a steady -2.3 at 0.5.
   */
  readonly momentum?: Schedule;
  /** L2 weight decay on W (default 0.0002, S&H's weight cost). */
  readonly weightDecay?: number;
  /** Persistent chains (default 100, S&H's fantasy particles). */
  readonly chains?: number;
  /** Gibbs sweeps of the chains per update (default 1). */
  readonly gibbsSteps?: number;
  /** Mean-field iterations per update (default 10). */
  readonly meanFieldIterations?: number;
  /** Pretraining epochs per RBM (default 10; 0: no pretraining, joint training from small random weights). */
  readonly pretrainEpochs?: number;
  /** Pretraining's learning rate (default 0.05). */
  readonly pretrainLearningRate?: number;
  /** Seed of the initialisation's caller, shuffling and sampling (default 0). */
  readonly seed?: number;
}

export const DBM_DEFAULTS = {
  epochs: 10,
  batchSize: 100,
  learningRate: 0.005,
  momentum: 0.5,
  weightDecay: 0.0002,
  chains: 100,
  gibbsSteps: 1,
  meanFieldIterations: 10,
  pretrainEpochs: 10,
  pretrainLearningRate: 0.05,
  seed: 0,
} as const satisfies Required<DbmTrainOptions>;

type Resolved = {
  -readonly [K in keyof typeof DBM_DEFAULTS]: K extends 'learningRate' | 'momentum' ? Schedule : number;
};

function positiveInteger(name: string, x: number, min = 1): void {
  if (!Number.isInteger(x) || x < min) throw new ArgumentError(`${name} must be an integer >= ${min}, got ${x}`);
}

/** The options with their defaults, checked. */
export function dbmTrainConfig(options: DbmTrainOptions = {}): Resolved {
  const c = { ...DBM_DEFAULTS, ...options } as Resolved;
  positiveInteger('epochs', c.epochs, 0);
  positiveInteger('batchSize', c.batchSize);
  positiveInteger('chains', c.chains);
  positiveInteger('gibbsSteps', c.gibbsSteps);
  positiveInteger('pretrainEpochs', c.pretrainEpochs, 0);
  checkIterations(c.meanFieldIterations);
  checkSchedule('learningRate', c.learningRate, Math.max(1, c.epochs), Number.MIN_VALUE, Number.POSITIVE_INFINITY);
  checkSchedule('momentum', c.momentum, Math.max(1, c.epochs), 0, 1);
  if (!(c.weightDecay >= 0) || !Number.isFinite(c.weightDecay))
    throw new ArgumentError(`weightDecay must be a finite number >= 0, got ${c.weightDecay}`);
  if (!(c.pretrainLearningRate > 0) || !Number.isFinite(c.pretrainLearningRate))
    throw new ArgumentError(`pretrainLearningRate must be a positive number, got ${c.pretrainLearningRate}`);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0)
    throw new ArgumentError(`seed must be a non-negative safe integer, got ${c.seed}`);
  return c;
}

/**
 * The DBM's options as it declares them (the CLI makes its flags from these, and refuses the flags a DBM
 * does not declare). `learningRate` and `momentum` are schedules, which the CLI spells with its own flags.
 */
export const DBM_OPTIONS: readonly OptionDeclaration[] = [
  option('epochs', 'joint-training epochs', integer(0), { default: DBM_DEFAULTS.epochs, flag: '--epochs <n>' }),
  option('batchSize', 'mini-batch size', integer(1), { default: DBM_DEFAULTS.batchSize, flag: '--batch <n>' }),
  option(
    'learningRate',
    "joint training's learning rate",
    { kind: 'schedule', min: 0, max: Number.POSITIVE_INFINITY },
    { default: DBM_DEFAULTS.learningRate, flag: false },
  ),
  option('momentum', 'momentum', { kind: 'schedule', min: 0, max: 1 }, { default: DBM_DEFAULTS.momentum, flag: false }),
  option('weightDecay', 'L2 weight decay on W', real(0), { default: DBM_DEFAULTS.weightDecay, flag: '--l2 <x>' }),
  option('chains', 'persistent chains', integer(1), { default: DBM_DEFAULTS.chains, flag: '--chains <n>' }),
  option('gibbsSteps', 'Gibbs sweeps of the chains per update', integer(1), {
    default: DBM_DEFAULTS.gibbsSteps,
    flag: '--k <n>',
  }),
  option('meanFieldIterations', 'mean-field iterations per update', integer(0), {
    default: DBM_DEFAULTS.meanFieldIterations,
    flag: '--mean-field <n>',
  }),
  option('pretrainEpochs', 'pretraining epochs of each RBM, 0 for none', integer(0), {
    default: DBM_DEFAULTS.pretrainEpochs,
  }),
  option('pretrainLearningRate', "pretraining's learning rate", real(0, Number.POSITIVE_INFINITY, '(]'), {
    default: DBM_DEFAULTS.pretrainLearningRate,
    flag: '--pretrain-lr <x>',
  }),
  option('seed', 'seed of initialisation, shuffling and sampling', integer(0), {
    default: DBM_DEFAULTS.seed,
    flag: '--seed <n>',
  }),
];
