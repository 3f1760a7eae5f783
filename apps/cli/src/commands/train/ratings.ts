import { createHash } from 'node:crypto';
import {
  alignRatings,
  CHECKPOINT_KEY,
  COLLABORATIVE_DEFAULTS,
  type CollaborativeEpoch,
  CollaborativeModel,
  type CollaborativeParameters,
  CollaborativeTrainer,
  type CollaborativeTrainerState,
  type CollaborativeTrainOptions,
  collaborativeTensors,
  DataError,
  encodeCollaborative,
  holdoutSplit,
  initialCollaborativeParameters,
  levelCounts,
  ModelFormatError,
  type Orientation,
  parseLevels,
  type Ratings,
  readCollaborativeTensors,
  resolveOrientation,
  type SafeTensor,
  TrainingAbortedError,
  transposeRatings,
} from '@rbmjs/core';
import { readCollaborativeFile, readRatingsFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { backendFor } from '../../common.js';
import { CliExit, UsageError } from '../../errors.js';
import { checkOutputs, sidePath, writeOutput } from '../../files.js';
import type { Output } from '../../output.js';
import { givenSchedules, scheduleFields } from './flags.js';
import { Interrupts } from './interrupts.js';
import type { TrainFlags } from './job.js';
import { checkGivenFlags } from './job.js';
import { provenance } from './outputs.js';

/**
 * `rbm train --ratings FILE`: the collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007) on a
 * ratings file, with held-out RMSE each epoch (--holdout FRACTION or --test FILE), early stopping on it,
 * checkpoints and --resume. The shared training flags keep their meaning where they have one here (--hidden,
 * --epochs, --batch in users, --k as a constant T of CD-T, --lr, --momentum, --l2 as weight decay, --seed);
 * the rest are refused.
 */

export interface RatingsFlags {
  ratings?: string;
  test?: string;
  holdout?: number;
  levels?: string;
  orientation?: Orientation | 'auto';
  conditional?: boolean;
  /** Shared training flags that keep their meaning here. */
  batch?: number;
  k?: number;
  l2?: number;
  seed?: number;
}

/** The flags that mean something with --ratings (attribute names); any other given on the command line is refused. */
const RATINGS_FLAGS = new Set([
  'ratings',
  'test',
  'holdout',
  'levels',
  'orientation',
  'conditional',
  'hidden',
  'epochs',
  'batch',
  'k',
  'seed',
  'l2',
  'lr',
  'lrSchedule',
  'lrFinal',
  'lrDecay',
  'momentum',
  'momentumFinal',
  'momentumSwitch',
  'earlyStop',
  'out',
  'checkpoint',
  'checkpointEvery',
  'resume',
  'force',
  'json',
  'verbose',
  'backend',
  'maxMemory',
  'pictures',
]);

/** What determines a run, stored in checkpoints and model files (`hyperparameters`) and checked on --resume. */
export interface RatingsJob {
  readonly ratings: string;
  /** SHA-256 of the ratings file (first 32 hex digits). */
  readonly fingerprint: string;
  readonly test?: string;
  readonly holdout?: number;
  readonly levels: readonly number[];
  readonly orientation: Orientation;
  readonly conditional: boolean;
  readonly hidden: number;
  readonly patience?: number;
  readonly options: Omit<CollaborativeTrainOptions, 'onEpoch' | 'signal' | 'patience'>;
}

function refuseOtherFlags(command: Command): void {
  for (const option of command.options) {
    const name = option.attributeName();
    if (command.getOptionValueSource(name) === 'cli' && !RATINGS_FLAGS.has(name))
      throw new UsageError(`${option.long} does not apply to --ratings (the collaborative-filtering RBM)`);
  }
}

/**
 * Reads a ratings file once, hashing it as it goes (its fingerprint is checked on --resume, and against the
 * --test file's); says so when its first line was taken as a header.
 */
async function readFingerprinted(path: string, levels: readonly number[] | undefined, out: Output) {
  const hash = createHash('sha256');
  const ratings = await readRatingsFile(path, {
    ...(levels ? { levels } : {}),
    onBytes: (c) => hash.update(c),
    onHeader: (line) => out.info(`${path}: took line 1 as a header: ${JSON.stringify(line.slice(0, 80))}`),
  });
  return { ratings, fingerprint: hash.digest('hex').slice(0, 32) };
}

function jobFrom(
  f: TrainFlags & RatingsFlags,
  command: Command,
  levels: readonly number[],
  side: Orientation,
  print: string,
): RatingsJob {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (f.hidden.length > 1) throw new UsageError('--ratings trains one RBM: give --hidden one size');
  if (f.test !== undefined && f.holdout !== undefined)
    throw new UsageError('give --test FILE or --holdout FRACTION, not both');
  if (f.earlyStop !== undefined && f.test === undefined && f.holdout === undefined)
    throw new UsageError('--early-stop needs held-out ratings: --holdout FRACTION or --test FILE');
  if (given('checkpoint') && !f.checkpointEvery && !f.resume)
    throw new UsageError('--checkpoint needs --checkpoint-every or --resume');
  const schedules = givenSchedules(command);
  return {
    ratings: f.ratings!,
    fingerprint: print,
    ...(f.test !== undefined ? { test: f.test } : {}),
    ...(f.holdout !== undefined ? { holdout: f.holdout } : {}),
    levels,
    orientation: side,
    conditional: Boolean(f.conditional),
    hidden: f.hidden[0]!,
    ...(f.earlyStop !== undefined ? { patience: f.earlyStop } : {}),
    options: {
      epochs: given('epochs') ? f.epochs! : COLLABORATIVE_DEFAULTS.epochs,
      ...(given('batch') ? { batchSize: f.batch! } : {}),
      ...(given('k') ? { gibbsSteps: f.k! } : {}),
      ...(given('l2') ? { weightDecay: f.l2! } : {}),
      seed: f.seed ?? 1,
      ...schedules,
    },
  };
}

/** What each flag sets in a ratings job, for --resume's comparison (--epochs may extend the run). */
const RESUME_FIELDS: Readonly<Record<string, (j: RatingsJob) => unknown>> = {
  test: (j) => j.test,
  holdout: (j) => j.holdout,
  levels: (j) => j.levels,
  orientation: (j) => j.orientation,
  conditional: (j) => j.conditional,
  hidden: (j) => j.hidden,
  earlyStop: (j) => j.patience,
  batch: (j) => j.options.batchSize,
  k: (j) => j.options.gibbsSteps,
  l2: (j) => j.options.weightDecay,
  seed: (j) => j.options.seed,
  ...scheduleFields((j: RatingsJob) => j.options),
};

interface CheckpointInfo {
  readonly epoch: number;
  readonly gibbs: CollaborativeTrainerState['gibbs'];
  readonly shuffle: CollaborativeTrainerState['shuffle'];
  readonly best?: { readonly epoch: number; readonly rmse: number };
  readonly firstRmse?: number;
  readonly sinceBest?: number;
  readonly job: RatingsJob;
}

function checkpointBytes(
  state: CollaborativeTrainerState,
  parameters: CollaborativeParameters,
  ratings: Ratings,
  job: RatingsJob,
): Uint8Array {
  const extra: Record<string, SafeTensor> = {};
  state.velocities.forEach((v, k) => {
    extra[`trainer.velocity.${k}`] = { dtype: 'F32', shape: [v.length], data: v };
  });
  if (state.best) Object.assign(extra, collaborativeTensors(state.best.parameters, 'best.'));
  const info: CheckpointInfo = {
    epoch: state.epoch,
    gibbs: state.gibbs,
    shuffle: state.shuffle,
    ...(state.best ? { best: { epoch: state.best.epoch, rmse: state.best.rmse } } : {}),
    ...(state.firstRmse !== undefined ? { firstRmse: state.firstRmse, sinceBest: state.sinceBest ?? 0 } : {}),
    job,
  };
  return encodeCollaborative(
    parameters,
    { users: ratings.users, items: ratings.items, orientation: job.orientation },
    { ratings, metadata: { [CHECKPOINT_KEY]: JSON.stringify(info), hyperparameters: JSON.stringify(job) }, extra },
  );
}

async function readResume(path: string): Promise<{
  parameters: CollaborativeParameters;
  state: CollaborativeTrainerState;
  job: RatingsJob;
}> {
  const file = await readCollaborativeFile(path);
  let info: CheckpointInfo;
  try {
    info = JSON.parse(file.metadata[CHECKPOINT_KEY] ?? 'null');
  } catch {
    throw new ModelFormatError(`${path}: the ${CHECKPOINT_KEY} metadata is not valid JSON`);
  }
  if (!info || typeof info !== 'object' || !info.job)
    throw new ModelFormatError(`${path}: a collaborative model file, not a checkpoint (no ${CHECKPOINT_KEY} metadata)`);
  if (!Number.isSafeInteger(info.epoch) || info.epoch < 0)
    throw new ModelFormatError(
      `${path}: the checkpoint's epoch is ${JSON.stringify(info.epoch)}, not a whole number of epochs done`,
    );
  const velocities: Float32Array[] = [];
  for (let k = 0; file.tensors.has(`trainer.velocity.${k}`); k++)
    velocities.push(file.tensors.get(`trainer.velocity.${k}`)!.data as Float32Array);
  const state: CollaborativeTrainerState = {
    epoch: info.epoch,
    gibbs: info.gibbs,
    shuffle: info.shuffle,
    velocities,
    ...(info.firstRmse !== undefined ? { firstRmse: info.firstRmse, sinceBest: info.sinceBest ?? 0 } : {}),
    ...(info.best
      ? {
          best: {
            ...info.best,
            parameters: readCollaborativeTensors(file.tensors, file.parameters.levels, 'best.', `${path}: `),
          },
        }
      : {}),
  };
  return { parameters: file.parameters, state, job: info.job };
}

function epochLine(e: CollaborativeEpoch, epochs: number): string {
  const figures =
    e.rmse !== undefined ? `  held-out RMSE ${e.rmse.toFixed(4)}  MAE ${e.mae!.toFixed(4)}${e.best ? ' *' : ''}` : '';
  return `epoch ${e.epoch + 1}/${epochs}  T=${e.gibbsSteps}  lr ${e.learningRate}${figures}  (${e.seconds.toFixed(2)} s)`;
}

/** `rbm train --ratings FILE ...`. */
export async function trainRatings(flags: TrainFlags & RatingsFlags, command: Command, out: Output): Promise<void> {
  refuseOtherFlags(command);
  const checkpointPath = flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors');
  const resumed = flags.resume
    ? await readResume(typeof flags.resume === 'string' ? flags.resume : checkpointPath)
    : undefined;
  const flagLevels = flags.levels !== undefined ? parseLevels(flags.levels) : undefined;
  const levels = resumed ? resumed.job.levels : flagLevels;
  const { ratings, fingerprint: print } = await readFingerprinted(flags.ratings!, levels, out);
  let job = jobFrom(flags, command, ratings.levels, resolveOrientation(flags.orientation, ratings), print);
  if (resumed) {
    const was = resumed.job;
    // Every flag given must say what the checkpoint's job says (as for one RBM and a DBM).
    const path = typeof flags.resume === 'string' ? flags.resume : checkpointPath;
    checkGivenFlags(RESUME_FIELDS, { ...job, levels: flagLevels ?? job.levels }, was, command, path);
    if (was.fingerprint !== print)
      throw new UsageError(
        `${flags.ratings} is not the ratings file the checkpoint was trained on (its contents differ)`,
      );
    const epochs = command.getOptionValueSource('epochs') === 'cli' ? job.options.epochs! : was.options.epochs!;
    job = { ...was, options: { ...was.options, epochs } };
    if (resumed.state.epoch > epochs)
      throw new UsageError(
        `the checkpoint has already trained ${resumed.state.epoch} epochs, more than --epochs ${epochs}`,
      );
  }
  const toModel = (r: Ratings) => (job.orientation === 'item' ? transposeRatings(r) : r);
  let train = toModel(ratings);
  let heldOut: Ratings | undefined;
  if (job.test !== undefined) {
    const { ratings: test, fingerprint: testPrint } = await readFingerprinted(job.test, ratings.levels, out);
    if (testPrint === print)
      out.warn(
        `${job.test} holds the same ratings as ${job.ratings}: the "held-out" RMSE is the training RMSE, and the epoch it keeps is not chosen on unseen ratings`,
      );
    const aligned = alignRatings(train, toModel(test), job.test);
    ({ train, test: heldOut } = aligned);
    // Nothing left to score: refused before any work (an RMSE of no ratings is NaN, not a figure).
    if (heldOut.user.length === 0)
      throw new DataError(
        `${job.test}: none of its ${aligned.droppedUnknownItems} ratings is of ${job.orientation === 'item' ? 'a user' : 'an item'} that ${job.ratings} has; no held-out RMSE can be computed`,
      );
    if (aligned.droppedUnknownItems > 0)
      out.warn(
        `${job.test}: ${aligned.droppedUnknownItems} ratings of ${job.orientation === 'item' ? 'users' : 'items'} that ${job.ratings} does not have are left out (the model has no weights for them)`,
      );
  } else if (job.holdout !== undefined)
    ({ train, test: heldOut } = holdoutSplit(train, job.holdout, job.options.seed ?? 1));
  await checkOutputs(
    [
      { path: flags.out, what: 'model file' },
      ...(flags.checkpointEvery || resumed
        ? [{ path: checkpointPath, what: 'checkpoint', replaceable: Boolean(resumed) }]
        : []),
    ],
    { force: Boolean(flags.force), inputs: [flags.ratings!, ...(job.test ? [job.test] : [])] },
  );
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  const model = CollaborativeModel.fromParameters(
    backend,
    resumed?.parameters ??
      initialCollaborativeParameters({
        numItems: train.items.length,
        numHidden: job.hidden,
        levels: train.levels,
        counts: levelCounts(train),
        conditional: job.conditional,
        seed: job.options.seed ?? 1,
      }),
  );
  const K = ratings.levels.length;
  out.info(
    `${ratings.user.length} ratings of ${ratings.items.length} items by ${ratings.users.length} users (levels ${ratings.levels.join(', ')}); ` +
      `${job.conditional ? 'conditional ' : ''}RBM per ${job.orientation}: ${train.items.length} x ${K} softmax units, ${job.hidden} hidden; ` +
      `${heldOut ? `${heldOut.user.length} held out; ` : ''}backend ${backend.name}`,
  );
  const signals = new Interrupts();
  const epochs = job.options.epochs!;
  let trainer: CollaborativeTrainer | undefined;
  let ownCheckpoint = Boolean(resumed) || Boolean(flags.force);
  /** Writes the trainer's state; `epoch` overrides its count (inside onEpoch, the epoch is not yet counted done). */
  const saveCheckpoint = async (epoch?: number) => {
    const state = await trainer!.exportState();
    const bytes = checkpointBytes(
      { ...state, ...(epoch !== undefined ? { epoch } : {}) },
      await model.parameters(),
      ratings,
      job,
    );
    // The first write creates the checkpoint (unless this run resumed it, or --force): a run beside this one
    // onto the same --out that got there first makes this one fail, instead of both sharing one checkpoint.
    await writeOutput(checkpointPath, bytes, { overwrite: ownCheckpoint });
    ownCheckpoint = true;
  };
  try {
    trainer = new CollaborativeTrainer(model, train, heldOut, {
      ...job.options,
      ...(job.patience !== undefined ? { patience: job.patience } : {}),
      signal: signals.controller.signal,
      onEpoch: async (e) => {
        out.info(epochLine(e, epochs));
        out.emit({
          epoch: e.epoch + 1,
          gibbsSteps: e.gibbsSteps,
          learningRate: e.learningRate,
          seconds: e.seconds,
          ...(e.rmse !== undefined ? { rmse: e.rmse, mae: e.mae, best: e.best } : {}),
        });
        if (flags.checkpointEvery && (e.epoch + 1) % flags.checkpointEvery === 0 && e.epoch + 1 < epochs) {
          // The trainer counts the epoch done after onEpoch: the checkpoint continues with the next one.
          await saveCheckpoint(e.epoch + 1);
        }
      },
    });
    if (resumed) trainer.importState(resumed.state);
    let history: CollaborativeEpoch[];
    try {
      history = await trainer.run();
    } catch (error) {
      if (error instanceof TrainingAbortedError && signals.received) {
        await saveCheckpoint();
        throw new CliExit(
          130,
          `interrupted by ${signals.received} before epoch ${error.epoch + 1}: checkpoint ${checkpointPath}; continue with rbm train --ratings ${flags.ratings} --resume ${checkpointPath} --out ${flags.out}`,
        );
      }
      throw error;
    }
    const best = trainer.bestEpoch;
    const parameters = await model.parameters();
    const summary = {
      epochs: trainer.epochsDone,
      ...(best ? { bestEpoch: best.epoch + 1, rmse: best.rmse } : {}),
      stoppedEarly: job.patience !== undefined && trainer.epochsDone < epochs,
    };
    await writeOutput(
      flags.out,
      encodeCollaborative(
        parameters,
        { users: ratings.users, items: ratings.items, orientation: job.orientation },
        {
          ratings,
          metadata: {
            hyperparameters: JSON.stringify(job),
            ...provenance(backend.name),
            ...(best
              ? {
                  validation: JSON.stringify({ rmse: best.rmse, epoch: best.epoch + 1, heldOut: heldOut!.user.length }),
                }
              : {}),
          },
        },
      ),
      { overwrite: Boolean(flags.force) },
    );
    out.info(
      `wrote ${flags.out}${best ? ` (epoch ${best.epoch + 1}, held-out RMSE ${best.rmse.toFixed(4)}${summary.stoppedEarly ? ', stopped early' : ''})` : ''} after ${history.length} epoch${history.length === 1 ? '' : 's'} this run`,
    );
    out.emit({ summary: { model: flags.out, ...summary } });
  } finally {
    signals.dispose();
    trainer?.dispose();
    model.dispose();
    backend.destroy();
  }
}
