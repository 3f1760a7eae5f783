import {
  checkMemory,
  ModelFormatError,
  parseTrainConfig,
  type RbmParameters,
  type TrainConfig,
  trainingMemory,
  type VisibleUnits,
  valueAt,
} from '@rbmjs/core';
import type { Command } from 'commander';
import { type DataCommandFlags, dataSpec } from '../../common.js';
import type { DataFingerprint, DataSpec } from '../../data.js';
import { UsageError } from '../../errors.js';
import { classifierDefaults, configFromFlags, givenConfigPaths, kebab, spellFlag } from './flags.js';

/**
 * Everything that determines a training run, stored in checkpoints so that --resume can continue it: the
 * data and the model the CLI makes (its own flags), and the training config, core's (`trainConfig`).
 */
export interface TrainJob {
  readonly data: DataSpec;
  readonly validation: number;
  readonly hidden: number;
  /** Gaussian visible units (real-valued data); softmax: a classifier. */
  readonly visible?: 'bernoulli' | 'gaussian' | 'softmax';
  /** Hidden units other than Bernoulli (absent: bernoulli). */
  readonly hiddenUnits?: 'gaussian' | 'nrelu';
  /** A classification RBM (--labels): where the labels come from (`mnist` or a file) and how many classes. */
  readonly labels?: { readonly source: string; readonly classes: number };
  readonly config: TrainConfig;
  /** The data it trains on, checked again on --resume (absent in checkpoints of older versions). */
  readonly fingerprint?: DataFingerprint;
  /** SHA-256 (first 32 hex digits) of the labels used, checked again on --resume (absent before 0.6). */
  readonly labelsFingerprint?: string;
}

/** The flags of `rbm train` that are the CLI's own (the training options' flags are generated: flags.ts). */
export interface TrainFlags extends DataCommandFlags {
  hidden: number[];
  labels?: string | boolean;
  classes?: number;
  objective?: string;
  epochs?: number;
  monitor?: string;
  earlyStop?: number;
  stopOn?: string;
  aisEvery: number;
  aisRuns: number;
  aisSchedule: string;
  visible: 'bernoulli' | 'gaussian';
  hiddenUnits: 'bernoulli' | 'gaussian' | 'nrelu';
  validation: number;
  out: string;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: string | boolean;
  pictures: boolean;
}

/** The job the flags describe; core checks the training config (and names the flags in its messages). */
export function jobFrom(f: TrainFlags, command: Command): TrainJob {
  const labels = labelSourceOf(f);
  const visible = labels !== undefined ? 'softmax' : f.visible;
  // A classifier's defaults (the hybrid objective, batch, rate, momentum) unless the flags say otherwise.
  const extra = labels !== undefined ? classifierDefaults(command) : {};
  return {
    data: dataSpec(f),
    validation: f.validation,
    hidden: f.hidden[0]!,
    ...(visible !== 'bernoulli' ? { visible } : {}),
    ...(f.hiddenUnits !== 'bernoulli' ? { hiddenUnits: f.hiddenUnits } : {}),
    ...(labels !== undefined ? { labels: { source: labels, classes: f.classes ?? 0 } } : {}),
    config: configFromFlags(command, extra, visible),
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

/** The CLI's flags that define the job besides the config, and where their value lives in it. */
const JOB_FLAGS: Record<string, (j: TrainJob) => unknown> = {
  data: (j) => j.data.name,
  split: (j) => j.data.split,
  limit: (j) => j.data.limit,
  binarize: (j) => j.data.binarize,
  threshold: (j) => j.data.threshold,
  dataSeed: (j) => j.data.seed,
  hidden: (j) => j.hidden,
  visible: (j) => (j.visible === 'softmax' ? 'bernoulli' : (j.visible ?? 'bernoulli')),
  hiddenUnits: (j) => j.hiddenUnits ?? 'bernoulli',
  validation: (j) => j.validation,
  labels: (j) => j.labels?.source,
  classes: (j) => j.labels?.classes,
};

/** A flag given on --resume that says otherwise than the checkpoint's job: refused, naming both values. */
function differs(flag: string, mine: unknown, theirs: unknown, path: string): void {
  if (JSON.stringify(mine) !== JSON.stringify(theirs))
    throw new UsageError(
      `${flag} ${JSON.stringify(mine)} differs from the checkpoint's ${JSON.stringify(theirs ?? null)} (${path})`,
    );
}

/**
 * The one rule of every family's --resume: each flag given on the command line must agree with the
 * checkpoint's job, as `fields` (attribute name -> the job's value for it) read both jobs. --epochs may
 * extend a run and is not among the fields.
 */
export function checkGivenFlags<J>(
  fields: Readonly<Record<string, (j: J) => unknown>>,
  job: J,
  saved: J,
  command: Command,
  path: string,
): void {
  for (const [flag, get] of Object.entries(fields))
    if (command.getOptionValueSource(flag) === 'cli') differs(`--${kebab(flag)}`, get(job), get(saved), path);
}

/** On --resume, every flag given must agree with the checkpoint's job (--epochs may extend the run). */
export function checkResumeFlags(job: TrainJob, saved: TrainJob, command: Command, path: string): void {
  checkGivenFlags(JOB_FLAGS, job, saved, command, path);
  for (const { flag, path: p } of givenConfigPaths(command)) {
    // Options the config holds in another form (a ladder's size) are compared as the config holds them.
    const at = valueAt(job.config, p) === undefined ? p.split('.')[0]! : p;
    differs(flag, valueAt(job.config, at), valueAt(saved.config, at), path);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * A checkpoint's job, checked against the tensors it came with: the CLI's fields here, the config by core.
 * Jobs written before the config existed (0.x, fields at the top level) are read into today's form.
 */
export function checkJob(job: unknown, p: RbmParameters, path: string): TrainJob {
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${path}: the checkpoint's job ${msg}`);
  };
  if (!isObject(job)) return fail('is missing');
  const j = 'config' in job ? job : upgradeJob(job);
  for (const name of ['hidden', 'validation'] as const) {
    const x = j[name];
    if (!Number.isSafeInteger(x) || (x as number) < (name === 'hidden' ? 1 : 0))
      fail(`has ${name} ${JSON.stringify(x)}, expected an integer >= ${name === 'hidden' ? 1 : 0}`);
  }
  if (j.hidden !== p.numHidden) fail(`says ${j.hidden} hidden units, its tensors have ${p.numHidden}`);
  const visible = (j.visible ?? 'bernoulli') as string;
  if (visible !== (p.visibleUnits ?? 'bernoulli'))
    fail(`says ${visible} visible units, its tensors are a ${p.visibleUnits ?? 'bernoulli'} model`);
  if ((j.hiddenUnits ?? 'bernoulli') !== (p.hiddenUnits ?? 'bernoulli'))
    fail(`says ${j.hiddenUnits ?? 'bernoulli'} hidden units, its tensors are ${p.hiddenUnits ?? 'bernoulli'} ones`);
  if (j.labels !== undefined) {
    const l = j.labels as Record<string, unknown>;
    if (!isObject(l) || typeof l.source !== 'string' || !Number.isSafeInteger(l.classes))
      fail(`has labels ${JSON.stringify(l)}`);
    if (JSON.stringify(p.softmaxGroups) !== JSON.stringify([l.classes]))
      fail(`says ${l.classes} classes, its tensors have softmax groups ${JSON.stringify(p.softmaxGroups ?? null)}`);
  }
  if (!isObject(j.data) || typeof j.data.name !== 'string') fail('has no data');
  let config: TrainConfig;
  try {
    config = parseTrainConfig(j.config, { units: visible as VisibleUnits });
  } catch (error) {
    return fail(`has an invalid config: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { ...(j as unknown as TrainJob), config };
}

/** A 0.x job (the options at its top level, in the CLI's names) in today's form; core checks the config. */
function upgradeJob(old: Record<string, unknown>): Record<string, unknown> {
  const { labels, betas, batch, centering, ...rest } = old as Record<string, unknown> & {
    labels?: { source: string; classes: number; objective?: string; alpha?: number };
  };
  const o = rest as Record<string, unknown>;
  const pick = (...names: string[]) =>
    Object.fromEntries(names.filter((n) => o[n] !== undefined).map((n) => [n, o[n]]));
  return {
    ...pick('data', 'validation', 'hidden', 'visible', 'hiddenUnits', 'fingerprint', 'labelsFingerprint'),
    ...(labels ? { labels: { source: labels.source, classes: labels.classes } } : {}),
    config: {
      ...pick('epochs', 'learningRate', 'momentum', 'k', 'method', 'chains', 'fastWeights', 'positivePhase'),
      ...pick('l1', 'l2', 'sparsity', 'learnVariance', 'seed'),
      ...(batch !== undefined ? { batchSize: batch } : {}),
      ...(centering !== undefined ? { centering: { rate: centering } } : {}),
      ...(betas !== undefined ? { tempering: { betas } } : {}),
      ...(labels?.objective !== undefined ? { objective: labels.objective } : {}),
      ...(labels?.alpha !== undefined ? { hybridWeight: labels.alpha } : {}),
    },
  };
}

/** The up-front budget of a run: the model, its batch, and its chains and replicas, named by their flags. */
export function checkTrainBudget(job: TrainJob, cols: number): void {
  const c = job.config;
  const persistent = c.method !== 'cd';
  const batch = c.batchSize ?? 100;
  const chains = persistent ? (c.chains ?? batch) : 0;
  const temperatures = c.tempering?.betas?.length ?? 1;
  const need = trainingMemory(cols, job.hidden, { batchSize: batch, chains, temperatures });
  const flags = [
    `--hidden ${job.hidden} on ${cols} visible units${job.labels ? ` (${job.labels.classes} of them classes)` : ''}`,
    `${spellFlag('batchSize')} ${batch}`,
    ...(persistent ? [`${spellFlag('chains')} ${chains}`] : []),
    ...(temperatures > 1 ? [`${spellFlag('tempering.temperatures')} ${temperatures}`] : []),
  ];
  checkMemory(`training with ${flags.join(', ')}`, need.bytes, need.detail);
}

/** Epochs: the flag's, or on --resume the checkpoint's unless the flag is given. */
export function withEpochs(job: TrainJob, epochs: number): TrainJob {
  return { ...job, config: parseTrainConfig({ ...job.config, epochs }) };
}
