import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import {
  type Checkpoint,
  checkClassCount,
  checkMemory,
  checkSchedule,
  DataError,
  DivergenceError,
  type EpochMetrics,
  encodeCheckpoint,
  encodeDbn,
  encodeModel,
  labelledSource,
  ModelFormatError,
  RBM,
  RbmError,
  type RbmParameters,
  readHead,
  type Schedule,
  sourceColumnMeans,
  Trainer,
  TrainingAbortedError,
  type TrainingObjective,
  type TrainOptions,
  temperatureLadder,
  trainGreedy,
  trainingMemory,
  VALIDATION_FIGURES,
  type ValidationFigure,
  type ValidationFigures,
} from '@rbmjs/core';
import { readCheckpoint } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import {
  addBackendOption,
  addDataOptions,
  backendFor,
  type DataOptions,
  dataSpec,
  ladder,
  parseSchedule,
} from '../common.js';
import { curvesSvg, type Panel } from '../curves.js';
import {
  checkClassLabels,
  classesOf,
  type DataFingerprint,
  type DataSpec,
  fingerprintChanges,
  loadAll,
  type OpenedData,
  openData,
  readLabels,
  sliceSource,
} from '../data.js';
import { CliExit, UsageError } from '../errors.js';
import { checkOutputs, cleanTemporaries, sidePath, writeOutput } from '../files.js';
import { checkFigures, EpochMonitor, figuresText, type MonitorSettings, parseFigures } from '../monitor.js';
import { layerSizes, nonNegativeInt, number, positiveInt } from '../options.js';
import { Output } from '../output.js';
import { filtersOf, tileImages } from '../pictures.js';
import { VERSION } from '../version.js';

/** Everything that determines a training run: stored in checkpoints so that --resume can continue it. */
export interface TrainJob {
  readonly data: DataSpec;
  readonly validation: number;
  readonly hidden: number;
  readonly epochs: number;
  readonly batch: number;
  readonly learningRate: Schedule;
  readonly momentum: Schedule;
  readonly k: number;
  readonly method: 'cd' | 'pcd' | 'fpcd' | 'pt';
  readonly chains?: number;
  /** Fast-weights PCD: the fast weights' learning rate and decay. */
  readonly fastWeights?: { learningRate: number; decay: number };
  readonly positivePhase: 'probabilities' | 'samples';
  readonly l1: number;
  readonly l2: number;
  readonly sparsity?: { target: number; cost: number };
  readonly centering?: number;
  /** Parallel tempering: inverse temperatures, 1 first. */
  readonly betas?: number[];
  /** Gaussian visible units (real-valued data), optionally with learned variances; softmax: a classifier. */
  readonly visible?: 'bernoulli' | 'gaussian' | 'softmax';
  /**
   * A classification RBM (--labels): where the labels come from (`mnist` or a file), how many classes, and
   * the objective (hybrid: alpha, the generative gradient's weight).
   */
  readonly labels?: { source: string; classes: number; objective: TrainingObjective; alpha?: number };
  readonly learnVariance?: boolean;
  readonly seed: number;
  /** The data it trains on, checked again on --resume (absent in checkpoints of older versions). */
  readonly fingerprint?: DataFingerprint;
  /** SHA-256 (first 32 hex digits) of the labels used, checked again on --resume (absent before 0.6). */
  readonly labelsFingerprint?: string;
}

interface TrainFlags extends DataOptions {
  hidden: number[];
  labels?: string | boolean;
  classes?: number;
  objective?: TrainingObjective;
  alpha: number;
  epochs: number;
  batch: number;
  lr: number;
  lrSchedule: 'constant' | 'linear' | 'exponential';
  lrFinal?: number;
  lrDecay?: number;
  k: number;
  method: 'cd' | 'pcd' | 'fpcd' | 'pt';
  fastLr?: number;
  fastDecay: number;
  monitor?: string;
  earlyStop?: number;
  stopOn?: string;
  aisEvery: number;
  aisRuns: number;
  aisSchedule: string;
  temperatures: number;
  betaMin: number;
  visible: 'bernoulli' | 'gaussian';
  learnVariance?: boolean;
  chains?: number;
  positive: 'probabilities' | 'samples';
  momentum: number;
  momentumFinal?: number;
  momentumSwitch: number;
  l1: number;
  l2: number;
  sparsityTarget?: number;
  sparsityCost: number;
  centering?: number | boolean;
  seed: number;
  validation: number;
  backend: string;
  out: string;
  force?: boolean;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: string | boolean;
  pictures: boolean;
  json?: boolean;
  verbose?: boolean;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train an RBM and write the model (safetensors), its filters and learning curves');
  addBackendOption(cmd);
  addDataOptions(cmd, 'mnist')
    .option(
      '--hidden <n>',
      'hidden units; a comma list (500,500) trains a deep belief network, greedily, layer by layer',
      layerSizes,
      [100],
    )
    .option(
      '--labels [file]',
      "train a classification RBM on the data and their labels: MNIST's own (no file), or an IDX or one-column CSV file",
    )
    .option('--classes <n>', 'classes of --labels (default: the largest label + 1)', positiveInt)
    .addOption(
      new Option(
        '--objective <o>',
        'with --labels: log p(x, y) (generative), the exact log p(y | x) (discriminative), or their hybrid (default)',
      ).choices(['generative', 'discriminative', 'hybrid']),
    )
    .option(
      '--alpha <x>',
      '--objective hybrid: weight of the generative gradient',
      number(0, Number.POSITIVE_INFINITY),
      0.01,
    )
    .option('--epochs <n>', 'epochs', positiveInt, 10)
    .option('--batch <n>', 'mini-batch size', positiveInt, 100)
    .option('--lr <x>', 'learning rate', number(0, Number.POSITIVE_INFINITY, { inclusiveMin: false }), 0.05)
    .addOption(
      new Option('--lr-schedule <kind>', 'learning-rate schedule')
        .choices(['constant', 'linear', 'exponential'])
        .default('constant'),
    )
    .option('--lr-final <x>', 'final learning rate of the linear schedule', number(0, Number.POSITIVE_INFINITY))
    .option('--lr-decay <x>', 'per-epoch factor of the exponential schedule', number(0, 1))
    .option('--k <n>', 'Gibbs steps per update (CD-k, PCD-k)', positiveInt, 1)
    .addOption(
      new Option(
        '--method <m>',
        'cd, pcd, fpcd (PCD with fast weights, Tieleman & Hinton 2009) or pt (parallel tempering: persistent chains with replica exchange)',
      )
        .choices(['cd', 'pcd', 'fpcd', 'pt'])
        .default('cd'),
    )
    .addOption(
      new Option('--visible <units>', 'visible units: bernoulli (binary) or gaussian (real-valued, standardised data)')
        .choices(['bernoulli', 'gaussian'])
        .default('bernoulli'),
    )
    .option('--learn-variance', 'gaussian units: learn the variances too')
    .option('--temperatures <n>', 'replicas for --method pt', positiveInt, 10)
    .option(
      '--beta-min <b>',
      'lowest inverse temperature for --method pt (ladder linear from 1)',
      number(0, 1, { inclusiveMin: false, inclusiveMax: false }),
      0.1,
    )
    .option('--chains <n>', 'persistent chains for PCD (default: the batch size)', positiveInt)
    .option(
      '--fast-lr <x>',
      'fpcd: learning rate of the fast weights (default: --lr)',
      number(0, Number.POSITIVE_INFINITY),
    )
    .option(
      '--fast-decay <x>',
      'fpcd: decay of the fast weights per update',
      number(0, 1, { inclusiveMax: false }),
      0.95,
    )
    .addOption(
      new Option('--positive <stat>', 'data-term statistic')
        .choices(['probabilities', 'samples'])
        .default('probabilities'),
    )
    .option('--momentum <x>', 'momentum', number(0, 1, { inclusiveMax: false }), 0.5)
    .option(
      '--momentum-final <x>',
      'momentum after --momentum-switch epochs (Hinton: 0.9)',
      number(0, 1, { inclusiveMax: false }),
    )
    .option('--momentum-switch <n>', 'epoch at which --momentum-final takes over', positiveInt, 5)
    .option('--l1 <x>', 'L1 weight decay', number(0, Number.POSITIVE_INFINITY), 0)
    .option('--l2 <x>', 'L2 weight decay', number(0, Number.POSITIVE_INFINITY), 0)
    .option(
      '--sparsity-target <p>',
      'target mean activation of hidden units',
      number(0, 1, { inclusiveMin: false, inclusiveMax: false }),
    )
    .option('--sparsity-cost <x>', 'weight of the sparsity penalty', number(0, Number.POSITIVE_INFINITY), 0.01)
    .option(
      '--centering [rate]',
      'centred gradient (Melchior et al. 2016), offsets updated at this rate (default 0.01)',
      number(0, 1, { inclusiveMin: false }),
    )
    .option('--seed <n>', 'seed of initialisation, shuffling and sampling', nonNegativeInt, 1)
    .option('--validation <n>', 'hold out the last N examples for the free-energy gap', nonNegativeInt, 0)
    .option(
      '--monitor <figures>',
      'held-out figures after each epoch, comma-separated: reconstruction, pseudo-likelihood, free-energy-gap, log-likelihood (exact, small models), ais',
    )
    .option('--early-stop <patience>', 'stop after this many epochs without improvement of --stop-on', positiveInt)
    .option('--stop-on <figure>', 'the figure early stopping watches (default: the first of --monitor)')
    .option('--ais-every <n>', 'with --monitor ais: estimate every N epochs', positiveInt, 1)
    .option('--ais-runs <n>', 'with --monitor ais: annealing runs', positiveInt, 100)
    .option('--ais-schedule <s>', 'with --monitor ais: sm, sm:F or linear:N', 'linear:1000')
    .option('--out <file>', 'model file to write', 'model.safetensors')
    .option('--force', 'overwrite an existing model file')
    .option('--checkpoint <file>', 'checkpoint file (default: OUT with .ckpt.safetensors)')
    .option('--checkpoint-every <n>', 'write a checkpoint every N epochs', positiveInt)
    .option('--resume [file]', 'continue from a checkpoint (default: the --checkpoint file)')
    .option('--no-pictures', 'do not write the filters PNG and the learning-curves SVG')
    .option('--json', 'one JSON object per epoch, and a summary, on stdout')
    .option('--verbose', 'stack traces on errors')
    .action(async (flags: TrainFlags, command: Command) => train(flags, command));
}

function jobFrom(f: TrainFlags): TrainJob {
  let learningRate: Schedule = f.lr;
  if (f.lrSchedule === 'linear') learningRate = { kind: 'linear', from: f.lr, to: f.lrFinal ?? f.lr / 10 };
  if (f.lrSchedule === 'exponential') learningRate = { kind: 'exponential', initial: f.lr, decay: f.lrDecay ?? 0.95 };
  const momentum: Schedule =
    f.momentumFinal === undefined
      ? f.momentum
      : { kind: 'piecewise', boundaries: [f.momentumSwitch], values: [f.momentum, f.momentumFinal] };
  const labels = labelSourceOf(f);
  const objective = f.objective ?? 'hybrid';
  return {
    data: dataSpec(f),
    validation: f.validation,
    hidden: f.hidden[0]!,
    epochs: f.epochs,
    batch: f.batch,
    learningRate,
    momentum,
    k: f.k,
    method: f.method,
    ...(f.chains !== undefined ? { chains: f.chains } : {}),
    ...(f.method === 'fpcd' ? { fastWeights: { learningRate: f.fastLr ?? f.lr, decay: f.fastDecay } } : {}),
    positivePhase: f.positive,
    l1: f.l1,
    l2: f.l2,
    ...(f.sparsityTarget !== undefined ? { sparsity: { target: f.sparsityTarget, cost: f.sparsityCost } } : {}),
    ...(f.centering !== undefined ? { centering: f.centering === true ? 0.01 : (f.centering as number) } : {}),
    ...(f.method === 'pt' ? { betas: ladder(f.temperatures, f.betaMin, '--temperatures') } : {}),
    ...(f.visible === 'gaussian' ? { visible: 'gaussian' as const, learnVariance: Boolean(f.learnVariance) } : {}),
    ...(labels !== undefined
      ? {
          visible: 'softmax' as const,
          labels: {
            source: labels,
            classes: f.classes ?? 0,
            objective,
            ...(objective === 'hybrid' ? { alpha: f.alpha } : {}),
          },
        }
      : {}),
    seed: f.seed,
  };
}

/** --labels: `mnist` for MNIST's own labels (no file), else the file; undefined without --labels. */
function labelSourceOf(f: TrainFlags): string | undefined {
  if (f.labels === undefined || f.labels === false) return undefined;
  if (typeof f.labels === 'string') return f.labels;
  if (f.data !== 'mnist')
    throw new UsageError(`--labels without a file means MNIST's labels; for ${f.data} give --labels FILE`);
  return 'mnist';
}

/** Flags that define the job, and where their value lives in it: on --resume they must agree with the checkpoint. */
const JOB_FLAGS: Record<string, (j: TrainJob) => unknown> = {
  data: (j) => j.data.name,
  split: (j) => j.data.split,
  limit: (j) => j.data.limit,
  binarize: (j) => j.data.binarize,
  threshold: (j) => j.data.threshold,
  dataSeed: (j) => j.data.seed,
  hidden: (j) => j.hidden,
  batch: (j) => j.batch,
  lr: (j) => j.learningRate,
  lrSchedule: (j) => j.learningRate,
  k: (j) => j.k,
  method: (j) => j.method,
  chains: (j) => j.chains,
  fastLr: (j) => j.fastWeights?.learningRate,
  fastDecay: (j) => j.fastWeights?.decay,
  positive: (j) => j.positivePhase,
  momentum: (j) => j.momentum,
  l1: (j) => j.l1,
  l2: (j) => j.l2,
  sparsityTarget: (j) => j.sparsity,
  centering: (j) => j.centering,
  temperatures: (j) => j.betas,
  betaMin: (j) => j.betas,
  visible: (j) => j.visible ?? 'bernoulli',
  learnVariance: (j) => j.learnVariance,
  seed: (j) => j.seed,
  validation: (j) => j.validation,
  labels: (j) => j.labels?.source,
  classes: (j) => j.labels?.classes,
  objective: (j) => j.labels?.objective,
  alpha: (j) => j.labels?.alpha,
};

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function trainOptions(job: TrainJob): Omit<TrainOptions, 'onBatch' | 'onEpoch' | 'validation'> {
  return {
    epochs: job.epochs,
    batchSize: job.batch,
    learningRate: job.learningRate,
    momentum: job.momentum,
    k: job.k,
    method: job.method,
    ...(job.chains !== undefined ? { chains: job.chains } : {}),
    ...(job.fastWeights ? { fastWeights: job.fastWeights } : {}),
    positivePhase: job.positivePhase,
    l1: job.l1,
    l2: job.l2,
    ...(job.sparsity ? { sparsity: job.sparsity } : {}),
    ...(job.centering !== undefined ? { centering: { rate: job.centering } } : {}),
    ...(job.betas ? { tempering: { betas: job.betas } } : {}),
    ...(job.learnVariance ? { learnVariance: true } : {}),
    ...(job.labels
      ? {
          objective: job.labels.objective,
          ...(job.labels.alpha !== undefined ? { hybridWeight: job.labels.alpha } : {}),
        }
      : {}),
    seed: job.seed,
  };
}

/** Flags that only mean something with another flag's value: given without it, they are refused. */
function refuseConflicts(f: TrainFlags, command: Command): void {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  const rules: Array<[boolean, string]> = [
    [given('lrFinal') && f.lrSchedule !== 'linear', '--lr-final needs --lr-schedule linear'],
    [given('lrDecay') && f.lrSchedule !== 'exponential', '--lr-decay needs --lr-schedule exponential'],
    [given('learnVariance') && f.visible !== 'gaussian', '--learn-variance needs --visible gaussian'],
    [given('chains') && f.method === 'cd', '--chains needs --method pcd, fpcd or pt (CD chains start at the batch)'],
    [(given('fastLr') || given('fastDecay')) && f.method !== 'fpcd', '--fast-lr and --fast-decay need --method fpcd'],
    [f.stopOn !== undefined && f.earlyStop === undefined, '--stop-on needs --early-stop PATIENCE'],
    [
      (given('aisEvery') || given('aisRuns') || given('aisSchedule')) && !f.monitor?.includes('ais'),
      '--ais-every, --ais-runs and --ais-schedule need --monitor ais',
    ],
    [given('temperatures') && f.method !== 'pt', '--temperatures needs --method pt'],
    [given('betaMin') && f.method !== 'pt', '--beta-min needs --method pt'],
    [given('momentumSwitch') && f.momentumFinal === undefined, '--momentum-switch needs --momentum-final'],
    [given('sparsityCost') && f.sparsityTarget === undefined, '--sparsity-cost needs --sparsity-target'],
    [given('checkpoint') && !f.checkpointEvery && !f.resume, '--checkpoint needs --checkpoint-every or --resume'],
    [
      (given('classes') || given('objective') || given('alpha')) && !f.labels,
      '--classes, --objective and --alpha need --labels',
    ],
    [given('alpha') && (f.objective ?? 'hybrid') !== 'hybrid', '--alpha needs --objective hybrid'],
    [
      Boolean(f.labels) && f.visible === 'gaussian',
      '--labels trains a classifier on binary inputs: not with --visible gaussian',
    ],
    [
      Boolean(f.labels) &&
        f.objective === 'discriminative' &&
        (f.method !== 'cd' || f.sparsityTarget !== undefined || f.centering !== undefined),
      '--objective discriminative is exact and has no negative phase: no --method, --sparsity-target or --centering',
    ],
  ];
  for (const [bad, message] of rules) if (bad) throw new UsageError(message);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A checkpoint's job must describe the tensors it came with, in every field the trainer reads. */
function checkJob(job: unknown, p: RbmParameters, path: string): asserts job is TrainJob {
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${path}: the checkpoint's job ${msg}`);
  };
  if (!isObject(job)) return fail('is missing');
  const count = (name: string, min = 1) => {
    const x = job[name];
    if (!Number.isSafeInteger(x) || (x as number) < min)
      fail(`has ${name} ${JSON.stringify(x)}, expected an integer >= ${min}`);
  };
  count('hidden');
  count('epochs');
  count('batch');
  count('k');
  count('seed', 0);
  count('validation', 0);
  if (job.hidden !== p.numHidden) fail(`says ${job.hidden} hidden units, its tensors have ${p.numHidden}`);
  if (!['cd', 'pcd', 'fpcd', 'pt'].includes(job.method as string)) fail(`has method ${JSON.stringify(job.method)}`);
  if (job.fastWeights !== undefined) {
    const fw = job.fastWeights as Record<string, unknown>;
    if (
      !isObject(fw) ||
      typeof fw.learningRate !== 'number' ||
      !(fw.learningRate >= 0) ||
      typeof fw.decay !== 'number' ||
      !(fw.decay >= 0 && fw.decay < 1)
    )
      fail(`has fastWeights ${JSON.stringify(fw)}`);
  }
  if (job.chains !== undefined) count('chains');
  if (!['probabilities', 'samples'].includes(job.positivePhase as string))
    fail(`has positivePhase ${JSON.stringify(job.positivePhase)}`);
  for (const name of ['l1', 'l2'] as const) {
    const x = job[name];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) fail(`has ${name} ${JSON.stringify(x)}`);
  }
  try {
    checkSchedule('learningRate', job.learningRate as Schedule, job.epochs as number, 0, Number.POSITIVE_INFINITY);
    checkSchedule('momentum', job.momentum as Schedule, job.epochs as number, 0, 1);
  } catch (error) {
    fail(`has an invalid schedule: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (job.labels !== undefined) {
    const l = job.labels as Record<string, unknown>;
    if (
      !isObject(l) ||
      typeof l.source !== 'string' ||
      !Number.isSafeInteger(l.classes) ||
      !['generative', 'discriminative', 'hybrid'].includes(l.objective as string)
    )
      fail(`has labels ${JSON.stringify(l)}`);
    if (JSON.stringify(p.softmaxGroups) !== JSON.stringify([l.classes]))
      fail(`says ${l.classes} classes, its tensors have softmax groups ${JSON.stringify(p.softmaxGroups ?? null)}`);
  }
  const visible = (job.visible ?? 'bernoulli') as string;
  if (visible !== (p.visibleUnits ?? 'bernoulli'))
    fail(`says ${visible} visible units, its tensors are a ${p.visibleUnits ?? 'bernoulli'} model`);
  if (!isObject(job.data) || typeof job.data.name !== 'string') fail('has no data');
  if (
    job.betas !== undefined &&
    (!Array.isArray(job.betas) || !job.betas.every((b) => typeof b === 'number' && b > 0 && b <= 1))
  )
    fail(`has betas ${JSON.stringify(job.betas)}`);
}

/** The up-front budget of a run: the model, its batch, and its chains and replicas, named by their flags. */
function checkTrainBudget(job: TrainJob, cols: number): void {
  const persistent = job.method !== 'cd';
  const chains = persistent ? (job.chains ?? job.batch) : 0;
  const temperatures = job.method === 'pt' ? temperatureLadder(job.betas ? { betas: job.betas } : {}).length : 1;
  const need = trainingMemory(cols, job.hidden, { batchSize: job.batch, chains, temperatures });
  const flags = [
    `--hidden ${job.hidden} on ${cols} visible units${job.labels ? ` (${job.labels.classes} of them classes)` : ''}`,
    `--batch ${job.batch}`,
    ...(persistent ? [`--chains ${chains}`] : []),
    ...(job.method === 'pt' ? [`--temperatures ${temperatures}`] : []),
  ];
  checkMemory(`training with ${flags.join(', ')}`, need.bytes, need.detail);
}

interface Resumed {
  readonly path: string;
  readonly checkpoint: Checkpoint<TrainJob>;
}

async function readResumed(flags: TrainFlags, command: Command, checkpointPath: string, job: TrainJob) {
  const path = typeof flags.resume === 'string' ? flags.resume : checkpointPath;
  const checkpoint = await readCheckpoint<TrainJob>(path);
  checkJob(checkpoint.job, checkpoint.parameters, path);
  for (const [flag, get] of Object.entries(JOB_FLAGS)) {
    if (command.getOptionValueSource(flag) !== 'cli') continue;
    if (JSON.stringify(get(job)) !== JSON.stringify(get(checkpoint.job))) {
      throw new UsageError(
        `--${kebab(flag)} ${JSON.stringify(get(job))} differs from the checkpoint's ${JSON.stringify(get(checkpoint.job))} (${path})`,
      );
    }
  }
  return { path, checkpoint } satisfies Resumed;
}

async function train(flags: TrainFlags, command: Command): Promise<void> {
  const out = new Output(Boolean(flags.json));
  refuseConflicts(flags, command);
  if (flags.hidden.length > 1) return trainStack(flags, command, out);
  const checkpointPath = flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors');
  let job = jobFrom(flags);
  const resumed = flags.resume ? await readResumed(flags, command, checkpointPath, job) : undefined;
  if (resumed) {
    // The checkpoint's job, possibly with more epochs.
    job = {
      ...resumed.checkpoint.job,
      epochs: command.getOptionValueSource('epochs') === 'cli' ? flags.epochs : resumed.checkpoint.job.epochs,
    };
    const done = resumed.checkpoint.state.epoch;
    if (done > job.epochs) {
      throw new UsageError(`${resumed.path} has already trained ${done} epochs, more than --epochs ${job.epochs}`);
    }
  }

  const monitor = monitorFrom(flags);
  // Held-out figures need held-out rows (on --resume, the checkpoint's --validation).
  if (monitor && job.validation === 0)
    throw new UsageError(
      `${flags.monitor !== undefined ? '--monitor' : '--early-stop'} needs --validation N (held-out examples)`,
    );
  const opened = openData(job.data);
  const signals = new Interrupts();
  try {
    await trainOpened(flags, out, job, opened, checkpointPath, resumed, signals, monitor);
  } finally {
    signals.dispose();
    await opened.source.close?.();
  }
}

/** --monitor, --early-stop and --stop-on as settings (undefined when neither is given). */
function monitorFrom(f: TrainFlags): MonitorSettings | undefined {
  if (f.monitor === undefined && f.earlyStop === undefined) return undefined;
  const figures = f.monitor !== undefined ? parseFigures(f.monitor) : [];
  let earlyStop: MonitorSettings['earlyStop'];
  if (f.earlyStop !== undefined) {
    const stopOn = f.stopOn !== undefined ? parseFigures(f.stopOn) : [];
    if (stopOn.length > 1) throw new UsageError(`--stop-on takes one figure, got ${JSON.stringify(f.stopOn)}`);
    const figure =
      stopOn[0] ??
      figures[0] ??
      (f.labels
        ? ('classification-error' as const)
        : f.visible === 'gaussian'
          ? ('reconstruction' as const)
          : ('pseudo-likelihood' as const));
    if (!figures.includes(figure)) figures.push(figure);
    earlyStop = { figure, patience: f.earlyStop };
  }
  return {
    figures,
    aisEvery: f.aisEvery,
    aisRuns: f.aisRuns,
    aisSchedule: parseSchedule(f.aisSchedule),
    seed: f.seed,
    ...(earlyStop ? { earlyStop } : {}),
  };
}

/**
 * SIGINT and SIGTERM during training: the first one aborts the run after the batch in flight (the caller
 * then writes a checkpoint and exits 130); a second one exits 130 at once.
 */
class Interrupts {
  readonly controller = new AbortController();
  received: NodeJS.Signals | undefined;
  /** Called before a second signal exits, to leave the terminal tidy (the progress bar). */
  beforeExit: () => void = () => {};
  private readonly handler = (name: NodeJS.Signals) => {
    this.beforeExit();
    if (this.received) {
      process.stderr.write(`\nrbm: ${name} again: quitting without a checkpoint\n`);
      process.exit(130);
    }
    this.received = name;
    process.stderr.write(
      `\nrbm: ${name}: finishing the batch in flight, then writing a checkpoint (${name} again quits at once)\n`,
    );
    this.controller.abort();
  };
  constructor() {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }
  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}

async function trainOpened(
  flags: TrainFlags,
  out: Output,
  job: TrainJob,
  opened: OpenedData,
  checkpointPath: string,
  resumed: Resumed | undefined,
  signals: Interrupts,
  monitorSettings: MonitorSettings | undefined,
): Promise<void> {
  // A classification RBM trains on rows [x, e_y]: the inputs with their one-hot label appended.
  let all = opened.source;
  if (job.labels) {
    const read = readLabels(job.labels.source, job.data.split, all.rows, opened.fileRows);
    const { labels, source } = read;
    let classes = job.labels.classes;
    if (classes === 0) classes = classesOf(read);
    else checkClassCount(classes, `--classes ${classes}`);
    checkClassLabels(read, classes, resumed ? `the ${classes} classes of ${resumed.path}` : `--classes ${classes}`);
    const labelsFingerprint = createHash('sha256').update(new Uint8Array(labels.buffer)).digest('hex').slice(0, 32);
    if (resumed) {
      const was = resumed.checkpoint.job.labelsFingerprint;
      if (was === undefined)
        out.warn(
          `${resumed.path} has no labels fingerprint (written by an older rbm): cannot check that the labels are unchanged`,
        );
      else if (was !== labelsFingerprint)
        throw new DataError(
          `${source}: not the labels ${resumed.path} was trained on (the same ${labels.length} rows, different labels); resuming would train on something else`,
        );
    }
    job = { ...job, labels: { ...job.labels, classes }, labelsFingerprint };
    all = labelledSource(all, labels, classes);
    out.info(
      `labels: ${source}, ${classes} classes; objective ${job.labels!.objective}${job.labels!.alpha !== undefined ? ` (alpha ${job.labels!.alpha})` : ''}`,
    );
  }
  if (job.validation >= all.rows) {
    throw new UsageError(`--validation ${job.validation} leaves no training data (${all.rows} examples)`);
  }
  // The data must be the data the checkpoint was trained on.
  const fingerprint = opened.fingerprint();
  if (resumed) {
    const was = resumed.checkpoint.job.fingerprint;
    if (!was)
      out.warn(
        `${resumed.path} has no data fingerprint (written by an older rbm): cannot check that the data are unchanged`,
      );
    else {
      const changes = fingerprintChanges(was, fingerprint);
      if (changes.length > 0) {
        throw new DataError(
          `${opened.description}: not the data ${resumed.path} was trained on (${changes.join('; ')}); resuming would train on something else`,
        );
      }
    }
  }
  job = { ...job, fingerprint };
  checkTrainBudget(job, all.cols);

  // Every output is checked before any work: nothing is trained that cannot be written.
  const writesPictures = flags.pictures;
  const pngPath = sidePath(flags.out, '.filters.png');
  const svgPath = sidePath(flags.out, '.curves.svg');
  const bestPath = sidePath(flags.out, '.best.safetensors');
  const keepsBest = monitorSettings?.earlyStop !== undefined;
  const checkpointPlanned =
    Boolean(flags.checkpointEvery) || (resumed !== undefined && resumed.path === checkpointPath);
  const inputs = [...(job.data.name === 'mnist' ? [] : [job.data.name])];
  if (resumed && resumed.path !== checkpointPath) inputs.push(resumed.path);
  const force = Boolean(flags.force);
  await checkOutputs(
    [
      { path: flags.out, what: 'model file' },
      ...(writesPictures && opened.side ? [{ path: pngPath, what: 'filters picture' }] : []),
      ...(writesPictures ? [{ path: svgPath, what: 'learning curves' }] : []),
      ...(keepsBest ? [{ path: bestPath, what: 'best model', replaceable: resumed !== undefined }] : []),
      ...(checkpointPlanned
        ? [{ path: checkpointPath, what: 'checkpoint', replaceable: resumed?.path === checkpointPath }]
        : []),
    ],
    { force, inputs },
  );
  for (const removed of await cleanTemporaries([flags.out, pngPath, svgPath, checkpointPath, bestPath]))
    out.info(`removed ${removed}, left by an interrupted write`);

  const trainSource = job.validation > 0 ? sliceSource(all, 0, all.rows - job.validation) : all;
  const validation =
    job.validation > 0
      ? await loadAll(
          sliceSource(all, all.rows - job.validation, job.validation),
          job.visible === 'gaussian' ? 'gaussian' : 'bernoulli',
        )
      : undefined;
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  const state = resumed?.checkpoint.state;
  out.info(
    `${opened.description}; ${trainSource.rows} for training${validation ? `, ${validation.rows} held out` : ''}`,
  );
  out.info(
    `${job.method.toUpperCase()}-${job.k}${job.centering !== undefined ? ' (centred)' : ''}, ${all.cols}-${job.hidden}, batch ${job.batch}, ${job.epochs} epochs, backend ${backend.name} (${backend.precision})` +
      (state ? `, resuming ${where(state)}` : ''),
  );

  const model = resumed
    ? RBM.fromParameters(backend, resumed.checkpoint.parameters)
    : RBM.create(backend, {
        numVisible: all.cols,
        numHidden: job.hidden,
        seed: job.seed,
        means: await sourceColumnMeans(trainSource, 1024, job.visible ?? 'bernoulli'),
        ...(job.visible === 'gaussian' ? { visibleUnits: 'gaussian' as const } : {}),
        ...(job.labels ? { visibleUnits: 'softmax' as const, softmaxGroups: [job.labels.classes] } : {}),
      });
  const batches = Math.ceil(trainSource.rows / job.batch);
  const history: EpochMetrics[] = [];
  // Held-out figures and early stopping (--monitor, --early-stop): training rows as many as the held-out
  // ones serve as AIS's base data.
  let monitor: EpochMonitor | undefined;
  if (monitorSettings && validation) {
    checkFigures(monitorSettings, model);
    const aisBase = monitorSettings.figures.includes('ais') ? await readHead(trainSource, validation.rows) : undefined;
    monitor = new EpochMonitor(model, validation, aisBase, monitorSettings);
    const restored = resumed ? await monitor.restore(bestPath, state?.epoch ?? 0) : undefined;
    if (restored) out.info(restored);
  }
  const figureHistory: Array<ValidationFigures | undefined> = [];
  let earlyStopped = false;
  let bar: ReturnType<Output['progress']>;
  let epochStart = 0;
  const every = flags.checkpointEvery;
  // Blow-up short of NaN: the reconstruction error of an epoch rising well past that of the run's first
  // batch (by RISE_FACTOR: saturated reconstructions of a blown-up model about double it, while data a model
  // cannot learn keep it where it started).
  let startError: number | undefined;
  let lastGood: { parameters: RbmParameters; epoch: number } = {
    parameters: await model.parameters(),
    epoch: state?.epoch ?? 0,
  };
  let rose: { error: number; epoch: number } | undefined;
  const interrupt = signals.controller;
  let lastYield = performance.now();

  const writeCheckpoint = async (path: string, overwrite: boolean) => {
    const st = await trainer.exportState();
    await writeOutput(path, encodeCheckpoint(await model.parameters(), st, job, provenance(backend.name)), {
      overwrite,
    });
    return st;
  };
  const trainer: Trainer = new Trainer(model, trainSource, {
    ...trainOptions(job),
    ...(validation ? { validation } : {}),
    signal: interrupt.signal,
    onBatch: async (e) => {
      if (e.batch === 0 || bar === undefined) {
        bar = out.progress(batches, `epoch ${e.epoch + 1}/${job.epochs}`);
        epochStart = performance.now();
      }
      if (startError === undefined) startError = await e.readReconstructionError();
      // Synchronous backends never give the event loop a turn: yield now and then so signals get handled.
      if (performance.now() - lastYield > 50) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      const rate = (e.batch + 1) / Math.max(1e-3, (performance.now() - epochStart) / 1000);
      bar?.update(e.batch + 1, { rate: rate.toFixed(1) });
    },
    onEpoch: async (m) => {
      bar?.stop();
      bar = undefined;
      history.push(m);
      const figures = monitor ? await monitor.figures(m) : undefined;
      figureHistory.push(figures);
      const gap = m.freeEnergyGap !== undefined ? `, free-energy gap ${m.freeEnergyGap.toFixed(3)}` : '';
      const held = figures && Object.keys(figures).length > 0 ? `; held out: ${figuresText(figures)}` : '';
      out.info(
        `epoch ${m.epoch + 1}/${job.epochs}: reconstruction error ${m.reconstructionError.toFixed(4)}${gap}, ${m.seconds.toFixed(2)} s${held}`,
      );
      out.emit({ type: 'epoch', ...m, ...(figures ? { validation: figures } : {}) });
      if (startError !== undefined && !(m.reconstructionError <= RISE_FACTOR * startError)) {
        rose = { error: m.reconstructionError, epoch: m.epoch };
        interrupt.abort();
        return;
      }
      lastGood = { parameters: await model.parameters(), epoch: m.epoch + 1 };
      if (monitor?.stopper && figures) {
        const { improved, stop } = monitor.judge(figures, m.epoch);
        const figure = monitor.stopper.figure;
        if (improved) {
          // Its metadata says what it is best at (epochs 1-based, as printed): --resume reads it back.
          const record = { figure, value: figures[figure]!, epoch: m.epoch + 1 };
          await writeModel(bestPath, lastGood.parameters, job, backend.name, { validation: JSON.stringify(record) });
        }
        if (stop && m.epoch + 1 < job.epochs) {
          earlyStopped = true;
          out.info(
            `early stop: ${figure} has not improved for ${monitor.stopper.patience} epochs; the best (${monitor.stopper.best!.toFixed(4)}, epoch ${monitor.stopper.bestEpoch! + 1}) is in ${bestPath}`,
          );
          interrupt.abort();
          return;
        }
      }
      if (every && (m.epoch + 1) % every === 0) {
        try {
          await writeCheckpoint(checkpointPath, true);
          out.info(`checkpoint: ${checkpointPath} (epoch ${m.epoch + 1})`);
        } catch (error) {
          // A checkpoint that cannot be written must not cost the run.
          out.warn(
            `could not write the checkpoint (${error instanceof Error ? error.message : String(error)}); training goes on`,
          );
        }
      }
    },
  });

  signals.beforeExit = () => bar?.stop();
  const t0 = performance.now();
  let ended: unknown;
  try {
    if (state) trainer.importState(state);
    if (state && state.epoch >= job.epochs) {
      out.info(`${resumed!.path} has trained all ${job.epochs} epochs: writing the model it holds`);
    } else {
      await trainer.run();
    }
  } catch (error) {
    ended = error;
  } finally {
    bar?.stop();
  }
  // Early stopping ends the run like its last epoch.
  if (ended instanceof TrainingAbortedError && earlyStopped && !signals.received) ended = undefined;
  try {
    if (ended instanceof TrainingAbortedError && signals.received) {
      if (trainer.position().step === (state?.step ?? 0))
        throw new CliExit(130, `interrupted by ${signals.received} before the first step: nothing to save`);
      // Interrupted: save where the run stands; a checkpoint path we may not replace gets a fresh name.
      const path = checkpointPlanned || !existsSync(checkpointPath) ? checkpointPath : freshPath(checkpointPath);
      const st = await writeCheckpoint(path, checkpointPlanned);
      throw new CliExit(
        130,
        `interrupted by ${signals.received} ${where(st)}: checkpoint ${path}; continue with rbm train --resume ${path} --out ${flags.out}`,
      );
    }
    if (rose && (ended === undefined || ended instanceof TrainingAbortedError)) {
      await writeModel(flags.out, lastGood.parameters, job, backend.name);
      throw new RbmError(
        'DIVERGED',
        `training diverged: the reconstruction error of epoch ${rose.epoch + 1} (${rose.error.toPrecision(4)}) rose past ${RISE_FACTOR} times its starting value (${startError!.toPrecision(4)}); ` +
          `${flags.out} holds the model after epoch ${lastGood.epoch} (lower the learning rate)`,
      );
    }
    if (ended instanceof DivergenceError) {
      // The model holds the parameters from before the bad step: save them, and say so.
      await writeModel(flags.out, await model.parameters(), job, backend.name);
      throw new RbmError('DIVERGED', `${ended.message}; they are saved to ${flags.out}`);
    }
    if (ended !== undefined) throw ended;
  } finally {
    trainer.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;

  const p = await model.parameters();
  await writeModel(flags.out, p, job, backend.name);
  const written = [flags.out];
  if (writesPictures) {
    if (opened.side) {
      const shown = Math.min(p.numHidden, 100);
      // A classifier's filters are its input rows of W (the label rows come after them).
      const inputs = p.numVisible - (job.labels?.classes ?? 0);
      await writeOutput(
        pngPath,
        tileImages(
          filtersOf(p.weights.subarray(0, inputs * p.numHidden), inputs, p.numHidden, shown),
          shown,
          opened.side,
          {
            scale: 2,
          },
        ),
      );
      written.push(pngPath);
    }
    if (history.length > 0) {
      await writeOutput(
        svgPath,
        new TextEncoder().encode(curvesSvg(curvePanels(history, Boolean(validation), figureHistory))),
      );
      written.push(svgPath);
    }
  }
  model.dispose();
  const stopper = monitor?.stopper;
  if (stopper?.bestEpoch !== undefined) written.push(bestPath);
  out.info(`wrote ${written.join(', ')}`);
  const last = history.at(-1);
  const lastFigures = figureHistory.at(-1);
  out.emit({
    type: 'summary',
    model: flags.out,
    files: written,
    backend: backend.name,
    epochs: job.epochs,
    seconds,
    ...(last ? { reconstructionError: last.reconstructionError } : {}),
    ...(last?.freeEnergyGap !== undefined ? { freeEnergyGap: last.freeEnergyGap } : {}),
    ...(lastFigures ? { validation: lastFigures } : {}),
    ...(stopper
      ? {
          earlyStopping: {
            figure: stopper.figure,
            patience: stopper.patience,
            stopped: earlyStopped,
            epochsRun: trainer.position().epoch,
            ...(stopper.bestEpoch !== undefined
              ? { best: stopper.best, bestEpoch: stopper.bestEpoch + 1, bestModel: bestPath }
              : {}),
          },
        }
      : {}),
  });
}

/** How far above its starting value an epoch's reconstruction error may rise before the run counts as diverged. */
const RISE_FACTOR = 1.5;

const FIGURE_UNITS: Record<ValidationFigure, string> = {
  reconstruction: 'squared error per example',
  'pseudo-likelihood': 'nats per example',
  'free-energy-gap': 'F(held out) - F(training), nats',
  'log-likelihood': 'exact log p(v), nats per example',
  ais: 'AIS log p(v), nats per example',
  'classification-error': 'held-out error rate',
};

function curvePanels(
  history: EpochMetrics[],
  validation: boolean,
  figures: ReadonlyArray<ValidationFigures | undefined> = [],
): Panel[] {
  const monitored = VALIDATION_FIGURES.filter((f) => figures.some((x) => x?.[f] !== undefined));
  return [
    {
      title: 'reconstruction error',
      unit: 'squared error per example',
      series: [{ label: 'training', values: history.map((m) => m.reconstructionError), color: '#1f77b4' }],
    },
    ...(validation
      ? [
          {
            title: 'mean free energy',
            unit: 'F(v), nats',
            series: [
              { label: 'training', values: history.map((m) => m.freeEnergyTrain), color: '#1f77b4' },
              { label: 'held out', values: history.map((m) => m.freeEnergyValidation), color: '#d62728' },
            ],
          },
        ]
      : []),
    ...monitored.map((f) => ({
      title: `held-out ${f}`,
      unit: FIGURE_UNITS[f],
      series: [{ label: 'held out', values: figures.map((x) => x?.[f]), color: '#d62728' }],
    })),
  ];
}

/** Where a state stands, in the 1-based words people use. */
function where(st: { epoch: number; batch?: number }): string {
  return st.batch ? `in epoch ${st.epoch + 1} after batch ${st.batch}` : `after epoch ${st.epoch}`;
}

/** `path` with .1, .2, ... before its extension: the first that does not exist. */
function freshPath(path: string): string {
  const ext = extname(path);
  for (let i = 1; ; i++) {
    const candidate = join(dirname(path), `${basename(path, ext)}.${i}${ext}`);
    if (!existsSync(candidate)) return candidate;
  }
}

/** Writes parameters (the model's, or the last good ones of a diverged run) with the job and provenance. */
async function writeModel(
  path: string,
  parameters: RbmParameters,
  job: TrainJob,
  backend: string,
  extra: Record<string, string> = {},
): Promise<void> {
  const bytes = encodeModel(parameters, { hyperparameters: JSON.stringify(job), ...provenance(backend), ...extra });
  await writeOutput(path, bytes);
}

function provenance(backend: string): Record<string, string> {
  return {
    provenance: JSON.stringify({
      tool: `@rbmjs/cli ${VERSION}`,
      backend,
      node: process.version,
      date: new Date().toISOString(),
    }),
  };
}

/**
 * `rbm train --hidden 500,500`: a deep belief network trained greedily (Hinton, Osindero & Teh 2006), each
 * layer an RBM with the run's options on the hidden probabilities of the layer below; one file with every
 * layer. Checkpoints, held-out figures and classifiers are for one RBM.
 */
async function trainStack(flags: TrainFlags, command: Command, out: Output): Promise<void> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  for (const [flag, name] of [
    ['labels', '--labels'],
    ['resume', '--resume'],
    ['checkpointEvery', '--checkpoint-every'],
    ['checkpoint', '--checkpoint'],
    ['monitor', '--monitor'],
    ['earlyStop', '--early-stop'],
    ['validation', '--validation'],
    ['learnVariance', '--learn-variance'],
  ] as const) {
    if (given(flag))
      throw new UsageError(
        `${name} is for one RBM; --hidden ${flags.hidden.join(',')} trains a deep belief network (train its layers one by one for that)`,
      );
  }
  if (flags.visible === 'gaussian')
    throw new UsageError('a deep belief network here has Bernoulli units in every layer: not with --visible gaussian');
  const job = { ...jobFrom(flags), hidden: flags.hidden[0]! };
  const pngPath = sidePath(flags.out, '.filters.png');
  const inputs = job.data.name === 'mnist' ? [] : [job.data.name];
  const opened = openData(job.data);
  try {
    const writesPng = flags.pictures && opened.side !== undefined;
    const outputs = [
      { path: flags.out, what: 'model file' },
      ...(writesPng ? [{ path: pngPath, what: 'filters picture' }] : []),
    ];
    await checkOutputs(outputs, { force: Boolean(flags.force), inputs });
    for (const removed of await cleanTemporaries(outputs.map((o) => o.path)))
      out.info(`removed ${removed}, left by an interrupted write`);
    const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
    const sizes = [opened.source.cols, ...flags.hidden];
    out.info(`${opened.description}; ${opened.source.rows} for training`);
    out.info(
      `deep belief network ${sizes.join('-')}, greedy: each layer ${job.method.toUpperCase()}-${job.k}, batch ${job.batch}, ${job.epochs} epochs, backend ${backend.name} (${backend.precision})`,
    );
    const t0 = performance.now();
    const layers = flags.hidden.map((numHidden) => ({ numHidden, ...trainOptions(job) }));
    const { dbn, history } = await trainGreedy(backend, opened.source, layers, {
      onEpoch: (l, m) => {
        out.info(
          `layer ${l + 1}/${layers.length} (${sizes[l]}-${sizes[l + 1]}) epoch ${m.epoch + 1}/${job.epochs}: reconstruction error ${m.reconstructionError.toFixed(4)}, ${m.seconds.toFixed(2)} s`,
        );
        out.emit({ type: 'epoch', layer: l, ...m });
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const params = await dbn.parameters();
    dbn.dispose();
    await writeOutput(
      flags.out,
      encodeDbn(params, {
        hyperparameters: JSON.stringify({ ...job, hidden: flags.hidden }),
        ...provenance(backend.name),
      }),
    );
    const written = [flags.out];
    if (writesPng) {
      const p = params[0]!;
      const shown = Math.min(p.numHidden, 100);
      await writeOutput(
        pngPath,
        tileImages(filtersOf(p.weights, p.numVisible, p.numHidden, shown), shown, opened.side!, { scale: 2 }),
      );
      written.push(pngPath);
    }
    out.info(`wrote ${written.join(', ')}`);
    out.emit({
      type: 'summary',
      model: flags.out,
      files: written,
      backend: backend.name,
      sizes,
      epochs: job.epochs,
      seconds,
      reconstructionError: history.map((h) => h.at(-1)?.reconstructionError),
    });
  } finally {
    await opened.source.close?.();
  }
}
