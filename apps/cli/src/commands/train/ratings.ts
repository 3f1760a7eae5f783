import { createHash } from 'node:crypto';
import {
  alignRatings,
  CHECKPOINT_KEY,
  COLLABORATIVE_DEFAULTS,
  COLLABORATIVE_OPTIONS,
  type CollaborativeEpoch,
  CollaborativeModel,
  type CollaborativeParameters,
  type CollaborativeTrainOptions,
  collaborativeFamily,
  DataError,
  decodeCheckpoint,
  encodeCheckpoint,
  encodeCollaborative,
  holdoutSplit,
  initialCollaborativeParameters,
  levelCounts,
  ModelFormatError,
  type Orientation,
  parseLevels,
  type Ratings,
  resolveBatchLayout,
  resolveOrientation,
  Trainer,
  type TrainerState,
  TrainingAbortedError,
  transposeRatings,
} from '@rbmjs/core';
import { readAnyModelFile, readRatingsFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { backendFor } from '../../common.js';
import { CliExit, UsageError } from '../../errors.js';
import { checkOutputs, sidePath, writeOutput } from '../../files.js';
import type { Output } from '../../output.js';
import { givenOptions, resumeFields } from './families.js';
import { scheduleFields } from './flags.js';
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
  /** False with --no-evidence: the model file leaves out the training ratings. */
  evidence?: boolean;
  /** Shared training flags that keep their meaning here. */
  batch?: number;
  k?: number;
  l2?: number;
  seed?: number;
}

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
  readonly options: Omit<CollaborativeTrainOptions, 'patience'>;
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
  const { patience: _, ...given_ } = givenOptions(command, COLLABORATIVE_OPTIONS);
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
    options: { epochs: COLLABORATIVE_DEFAULTS.epochs, seed: 1, ...given_ },
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
  ...resumeFields(COLLABORATIVE_OPTIONS, (j: RatingsJob) => ({ ...j.options, patience: j.patience })),
  ...scheduleFields((j: RatingsJob) => j.options),
};

function checkpointBytes(
  state: TrainerState,
  parameters: CollaborativeParameters,
  ratings: Ratings,
  job: RatingsJob,
): Uint8Array {
  return encodeCheckpoint(
    {
      kind: 'collaborative',
      parameters,
      users: ratings.users,
      items: ratings.items,
      orientation: job.orientation,
      ratings,
    },
    state,
    job,
    { hyperparameters: JSON.stringify(job) },
  );
}

async function readResume(path: string): Promise<{
  parameters: CollaborativeParameters;
  state: TrainerState;
  job: RatingsJob;
}> {
  const file = await readAnyModelFile(path);
  if (file.kind !== 'collaborative')
    throw new UsageError(`${path} is not a checkpoint of a collaborative-filtering RBM (rbm train --ratings ...)`);
  if (file.metadata[CHECKPOINT_KEY] === undefined)
    throw new ModelFormatError(`${path}: a collaborative model file, not a checkpoint (no ${CHECKPOINT_KEY} metadata)`);
  const checkpoint = decodeCheckpoint<RatingsJob>(file, path);
  return { parameters: file.parameters, state: checkpoint.state, job: checkpoint.job };
}

function epochLine(e: CollaborativeEpoch, epochs: number): string {
  const figures =
    e.rmse !== undefined ? `  held-out RMSE ${e.rmse.toFixed(4)}  MAE ${e.mae!.toFixed(4)}${e.best ? ' *' : ''}` : '';
  return `epoch ${e.epoch + 1}/${epochs}  T=${e.gibbsSteps}  lr ${e.learningRate}${figures}  (${e.seconds.toFixed(2)} s)`;
}

/** `rbm train --ratings FILE ...`. */
export async function trainRatings(flags: TrainFlags & RatingsFlags, command: Command, out: Output): Promise<void> {
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
      `${resolveBatchLayout(job.options.batchLayout, train)} batches; ` +
      `${heldOut ? `${heldOut.user.length} held out; ` : ''}backend ${backend.name}`,
  );
  const signals = new Interrupts();
  const epochs = job.options.epochs!;
  let trainer: Trainer<CollaborativeModel> | undefined;
  let ownCheckpoint = Boolean(resumed) || Boolean(flags.force);
  /** Writes the trainer's state (between batches or epochs). */
  const saveCheckpoint = async () => {
    const bytes = checkpointBytes(await trainer!.exportState(), await model.parameters(), ratings, job);
    // The first write creates the checkpoint (unless this run resumed it, or --force): a run beside this one
    // onto the same --out that got there first makes this one fail, instead of both sharing one checkpoint.
    await writeOutput(checkpointPath, bytes, { overwrite: ownCheckpoint });
    ownCheckpoint = true;
  };
  try {
    const family = collaborativeFamily(model, train, heldOut, {
      ...job.options,
      ...(job.patience !== undefined ? { patience: job.patience } : {}),
    });
    trainer = new Trainer(family, {
      signal: signals.controller.signal,
      onEpoch: async (m) => {
        const e = m as CollaborativeEpoch;
        out.info(epochLine(e, epochs));
        out.emit({
          epoch: e.epoch + 1,
          gibbsSteps: e.gibbsSteps,
          learningRate: e.learningRate,
          seconds: e.seconds,
          ...(e.rmse !== undefined ? { rmse: e.rmse, mae: e.mae, best: e.best } : {}),
        });
        if (flags.checkpointEvery && (e.epoch + 1) % flags.checkpointEvery === 0 && e.epoch + 1 < epochs)
          await saveCheckpoint();
      },
    });
    if (resumed) trainer.importState(resumed.state);
    let history: CollaborativeEpoch[];
    try {
      history = (await trainer.run()) as CollaborativeEpoch[];
    } catch (error) {
      if (error instanceof TrainingAbortedError && signals.received) {
        await saveCheckpoint();
        throw new CliExit(
          130,
          `interrupted by ${signals.received} in epoch ${error.epoch + 1}: checkpoint ${checkpointPath}; continue with rbm train --ratings ${flags.ratings} --resume ${checkpointPath} --out ${flags.out}`,
        );
      }
      throw error;
    }
    const b = trainer.bestEpoch;
    const best = b ? { epoch: b.epoch, rmse: b.value } : undefined;
    const parameters = await model.parameters();
    const done = trainer.position().epoch;
    const summary = {
      epochs: done,
      ...(best ? { bestEpoch: best.epoch + 1, rmse: best.rmse } : {}),
      stoppedEarly: job.patience !== undefined && done < epochs,
    };
    await writeOutput(
      flags.out,
      encodeCollaborative(
        parameters,
        { users: ratings.users, items: ratings.items, orientation: job.orientation },
        {
          ...(flags.evidence === false ? {} : { ratings }),
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
    if (flags.evidence === false)
      out.info(
        `${flags.out} holds no ratings (--no-evidence): rbm recommend needs each user's ratings with --ratings FILE`,
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
