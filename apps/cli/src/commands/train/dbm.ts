import {
  CHECKPOINT_KEY,
  DBM,
  DBM_DEFAULTS,
  DBM_OPTIONS,
  type DbmParameters,
  type DbmTrainOptions,
  DivergenceError,
  dbmFamily,
  dbmTrainConfig,
  decodeCheckpoint,
  encodeCheckpoint,
  encodeDbm,
  RbmError,
  type RbmParameters,
  sourceColumnMeans,
  Trainer,
  type TrainerState,
  TrainingAbortedError,
} from '@rbmjs/core';
import { readAnyModelFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { backendFor, dataSpec } from '../../common.js';
import { checkResumedData, type DataFingerprint, type DataSpec, openData } from '../../data.js';
import { UsageError } from '../../errors.js';
import { checkOutputs, cleanTemporaries, sidePath, writeOutput } from '../../files.js';
import type { Output } from '../../output.js';
import { readAheadSource } from '../../read-ahead.js';
import { givenOptions, resumeFields } from './families.js';
import { scheduleFields } from './flags.js';
import { Interrupts } from './interrupts.js';
import { checkGivenFlags, type TrainFlags } from './job.js';
import { provenance, writeFilters } from './outputs.js';

/** The DBM's own flags. */
export interface DbmFlags {
  dbm?: number[];
  pretrainEpochs?: number;
  pretrainLr?: number;
  meanField?: number;
}

/** What a DBM run stores in its files, checked again on --resume. */
interface DbmJob {
  readonly kind: 'dbm';
  readonly data: DataSpec;
  readonly sizes: readonly number[];
  readonly options: DbmTrainOptions;
  /** What identifies the data, checked on --resume (absent in files of earlier versions). */
  readonly fingerprint?: DataFingerprint;
}

/** What each flag sets in a DBM job, for --resume's comparison (--epochs may extend the run). */
const RESUME_FIELDS = {
  ...resumeFields(DBM_OPTIONS, (j: DbmJob) => j.options as Readonly<Record<string, unknown>>),
  ...scheduleFields((j: DbmJob) => j.options),
};

/** The DBM's options from the flags given (as it declares them); the rest are DBM_DEFAULTS, the seed 1. */
function dbmOptions(command: Command): DbmTrainOptions {
  const options = { seed: 1, epochs: DBM_DEFAULTS.epochs, ...givenOptions(command, DBM_OPTIONS) } as DbmTrainOptions;
  try {
    dbmTrainConfig(options);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return options;
}

/**
 * `rbm train --dbm 500,1000`: a deep Boltzmann machine (Salakhutdinov & Hinton 2009), pretrained greedily
 * and trained jointly (core's Trainer with the DBM family); checkpoints at epoch ends and --resume, as for one RBM.
 */
export async function trainDbm(flags: TrainFlags & DbmFlags, command: Command, out: Output): Promise<void> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  // Resumed without --dbm, the layers are the checkpoint's.
  let hidden = flags.dbm ?? [];
  if (flags.dbm && hidden.length < 2)
    throw new UsageError(
      `--dbm needs at least two hidden layers (--dbm 500,1000); one is an RBM: --hidden ${hidden[0]}`,
    );
  if (given('checkpoint') && !flags.checkpointEvery && !flags.resume)
    throw new UsageError('--checkpoint needs --checkpoint-every or --resume');
  const checkpointPath = flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors');
  let job: DbmJob = { kind: 'dbm', data: dataSpec(flags), sizes: [], options: dbmOptions(command) };
  let resumed: { path: string; state: TrainerState; parameters: DbmParameters } | undefined;
  if (flags.resume) {
    const path = typeof flags.resume === 'string' ? flags.resume : checkpointPath;
    const file = await readAnyModelFile(path);
    const checkpointed = file.metadata[CHECKPOINT_KEY] !== undefined || file.metadata.dbm_state !== undefined;
    if (file.kind !== 'dbm' || !checkpointed)
      throw new UsageError(
        `${path} is not a checkpoint of a deep Boltzmann machine (rbm train --dbm ... --checkpoint-every N)`,
      );
    const checkpoint = decodeCheckpoint<DbmJob>(file, path);
    const was = checkpoint.job;
    if (was?.kind !== 'dbm' || !Array.isArray(was.sizes))
      throw new UsageError(`${path} has no DBM job in its metadata`);
    if (JSON.stringify(was.data) !== JSON.stringify(job.data))
      throw new UsageError(`${path} was trained on ${JSON.stringify(was.data)}, not ${JSON.stringify(job.data)}`);
    if (!flags.dbm) hidden = was.sizes.slice(1);
    if (was.sizes.slice(1).join() !== hidden.join())
      throw new UsageError(`${path} is a ${was.sizes.join('-')} DBM, not --dbm ${hidden.join(',')}`);
    checkGivenFlags(RESUME_FIELDS, job, was, command, path);
    job = { ...was, options: { ...was.options, ...(given('epochs') ? { epochs: job.options.epochs! } : {}) } };
    resumed = { path, state: checkpoint.state, parameters: file.parameters };
  }

  const opened = openData(job.data);
  // The data must be the data the checkpoint was trained on (as for one RBM).
  let fingerprint: DataFingerprint;
  try {
    fingerprint = resumed
      ? checkResumedData(job.fingerprint, opened, resumed.path, (l) => out.warn(l))
      : opened.fingerprint();
  } catch (error) {
    await opened.source.close?.();
    throw error;
  }
  job = { ...job, fingerprint };
  const reader = readAheadSource(opened.source, job.data, 'bernoulli');
  const signals = new Interrupts();
  try {
    const sizes = [opened.source.cols, ...hidden];
    job = { ...job, sizes };
    const pngPath = sidePath(flags.out, '.filters.png');
    const writesPng = flags.pictures && opened.side !== undefined;
    const checkpointing = flags.checkpointEvery !== undefined;
    let ownCheckpoint = resumed?.path === checkpointPath || Boolean(flags.force);
    await checkOutputs(
      [
        { path: flags.out, what: 'model file' },
        ...(writesPng ? [{ path: pngPath, what: 'filters picture' }] : []),
        ...(checkpointing
          ? [{ path: checkpointPath, what: 'checkpoint', replaceable: resumed?.path === checkpointPath }]
          : []),
      ],
      { force: Boolean(flags.force), inputs: job.data.name === 'mnist' ? [] : [job.data.name] },
    );
    for (const removed of await cleanTemporaries([flags.out, checkpointPath]))
      out.info(`removed ${removed}, left by an interrupted write`);
    const backend = await backendFor(flags.backend, out, Boolean(flags.verbose), {
      ...(reader !== opened.source ? { onnxruntime: { spinning: false } } : {}),
    });
    const config = dbmTrainConfig(job.options);
    out.info(`${opened.description}; ${opened.source.rows} for training`);
    out.info(
      `deep Boltzmann machine ${sizes.join('-')}: pretraining ${config.pretrainEpochs} epochs per RBM (CD-1, lr ${config.pretrainLearningRate}), ` +
        `then ${config.epochs} epochs of PCD with ${config.chains} chains and ${config.meanFieldIterations} mean-field iterations, batch ${config.batchSize}, backend ${backend.name} (${backend.precision})`,
    );
    const model = resumed
      ? DBM.fromParameters(backend, resumed.parameters)
      : DBM.create(backend, { sizes, seed: config.seed, means: await sourceColumnMeans(reader) });
    const metadata = () => ({ hyperparameters: JSON.stringify(job), ...provenance(backend.name) });
    const t0 = performance.now();
    const trainer: Trainer<DBM> = new Trainer(dbmFamily(model, reader, job.options), {
      signal: signals.controller.signal,
      onEpoch: async (e) => {
        const layer = e.layer;
        const what =
          layer !== undefined ? `pretraining RBM ${layer + 1} (${sizes[layer]}-${sizes[layer + 1]})` : 'joint training';
        out.info(
          `${what} epoch ${e.epoch + 1}/${e.epochs}: reconstruction error ${e.reconstructionError.toFixed(4)}, ${e.seconds.toFixed(2)} s`,
        );
        out.emit({ type: 'epoch', phase: layer !== undefined ? 'pretrain' : 'joint', ...e });
        // Every N epochs of each stage (pretraining's epochs are not counted toward joint training's).
        if (checkpointing && (e.epoch + 1) % flags.checkpointEvery! === 0) {
          // The first write creates the checkpoint (see the ratings run): a concurrent run's is never shared.
          const bytes = encodeCheckpoint(
            { kind: 'dbm', parameters: await model.parameters() },
            await trainer.exportState(),
            job,
            metadata(),
          );
          await writeOutput(checkpointPath, bytes, { overwrite: ownCheckpoint });
          ownCheckpoint = true;
        }
      },
    });
    if (resumed) trainer.importState(resumed.state);
    try {
      await trainer.run();
    } catch (error) {
      if (error instanceof TrainingAbortedError) {
        out.info(
          checkpointing
            ? `interrupted: the last checkpoint is ${checkpointPath} (continue with --resume)`
            : 'interrupted (nothing written: --checkpoint-every N keeps epochs)',
        );
        process.exitCode = 130;
        return;
      }
      if (error instanceof DivergenceError) {
        // The model holds the parameters from before the bad step (as one RBM's run): save them, and say so.
        await writeOutput(flags.out, encodeDbm(await model.parameters(), metadata()), {
          overwrite: Boolean(flags.force),
        });
        throw new RbmError('DIVERGED', `${error.message}; they are saved to ${flags.out}`);
      }
      throw error;
    } finally {
      trainer.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    const params = await model.parameters();
    model.dispose();
    // Refused at write time too, atomically: two runs onto one --out leave one model and an error, not a lost one.
    await writeOutput(flags.out, encodeDbm(params, metadata()), { overwrite: Boolean(flags.force) });
    const written = [flags.out];
    if (writesPng) {
      const first: RbmParameters = {
        numVisible: sizes[0]!,
        numHidden: sizes[1]!,
        weights: params.weights[0]!,
        visibleBias: params.biases[0]!,
        hiddenBias: params.biases[1]!,
      };
      await writeFilters(pngPath, first, sizes[0]!, opened.side!);
      written.push(pngPath);
    }
    out.info(`wrote ${written.join(', ')} (${seconds.toFixed(1)} s of training)`);
    out.emit({ type: 'summary', model: flags.out, files: written, backend: backend.name, sizes, seconds });
  } finally {
    signals.dispose();
    if (reader !== opened.source) await reader.close?.();
    await opened.source.close?.();
  }
}
