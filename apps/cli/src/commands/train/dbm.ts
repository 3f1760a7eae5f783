import {
  DBM,
  DBM_DEFAULTS,
  type DbmParameters,
  DbmTrainer,
  type DbmTrainerState,
  type DbmTrainOptions,
  dbmTrainConfig,
  encodeDbm,
  type RbmParameters,
  sourceColumnMeans,
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
import { givenSchedules, scheduleFields } from './flags.js';
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

/** The flags of one RBM that a DBM run does not take (its own are --pretrain-epochs, --pretrain-lr, --mean-field). */
const NOT_FOR_DBM = [
  ['labels', '--labels'],
  ['ratings', '--ratings'],
  ['hidden', '--hidden (give the layers to --dbm)'],
  ['visible', '--visible'],
  ['method', '--method (a DBM trains with persistent chains)'],
  ['positive', '--positive'],
  ['fastLr', '--fast-lr'],
  ['fastDecay', '--fast-decay'],
  ['temperatures', '--temperatures'],
  ['betaMin', '--beta-min'],
  ['learnVariance', '--learn-variance'],
  ['centering', '--centering'],
  ['l1', '--l1'],
  ['sparsityTarget', '--sparsity-target'],
  ['sparsityCost', '--sparsity-cost'],
  ['maxNorm', '--max-norm'],
  ['hiddenUnits', '--hidden-units'],
  ['monitor', '--monitor'],
  ['earlyStop', '--early-stop'],
  ['validation', '--validation'],
] as const;

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
const RESUME_FIELDS: Readonly<Record<string, (j: DbmJob) => unknown>> = {
  batch: (j) => j.options.batchSize,
  l2: (j) => j.options.weightDecay,
  chains: (j) => j.options.chains,
  k: (j) => j.options.gibbsSteps,
  meanField: (j) => j.options.meanFieldIterations,
  pretrainEpochs: (j) => j.options.pretrainEpochs,
  pretrainLr: (j) => j.options.pretrainLearningRate,
  seed: (j) => j.options.seed,
  ...scheduleFields((j: DbmJob) => j.options),
};

/** The DBM's options from the flags given; the rest are DBM_DEFAULTS (not the RBM's defaults). */
function dbmOptions(f: TrainFlags & DbmFlags, command: Command): DbmTrainOptions {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  const o = f as unknown as Record<string, number>;
  const schedules = givenSchedules(command);
  const options: DbmTrainOptions = {
    epochs: given('epochs') ? o.epochs! : DBM_DEFAULTS.epochs,
    seed: given('seed') ? o.seed! : 1,
    ...(given('batch') ? { batchSize: o.batch! } : {}),
    ...(schedules.learningRate !== undefined ? { learningRate: schedules.learningRate } : {}),
    ...(schedules.momentum !== undefined ? { momentum: schedules.momentum } : {}),
    ...(given('l2') ? { weightDecay: o.l2! } : {}),
    ...(given('chains') ? { chains: o.chains! } : {}),
    ...(given('k') ? { gibbsSteps: o.k! } : {}),
    ...(f.meanField !== undefined ? { meanFieldIterations: f.meanField } : {}),
    ...(f.pretrainEpochs !== undefined ? { pretrainEpochs: f.pretrainEpochs } : {}),
    ...(f.pretrainLr !== undefined ? { pretrainLearningRate: f.pretrainLr } : {}),
  };
  try {
    dbmTrainConfig(options);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return options;
}

/**
 * `rbm train --dbm 500,1000`: a deep Boltzmann machine (Salakhutdinov & Hinton 2009), pretrained greedily
 * and trained jointly (core's DbmTrainer); checkpoints at epoch ends and --resume, as for one RBM.
 */
export async function trainDbm(flags: TrainFlags & DbmFlags, command: Command, out: Output): Promise<void> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  for (const [flag, name] of NOT_FOR_DBM)
    if (given(flag)) throw new UsageError(`${name} is not for a deep Boltzmann machine (--dbm)`);
  if (!given('dbm')) {
    for (const flag of ['pretrainEpochs', 'pretrainLr', 'meanField'] as const)
      if (given(flag)) throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --dbm`);
  }
  const hidden = flags.dbm!;
  if (hidden.length < 2)
    throw new UsageError(
      `--dbm needs at least two hidden layers (--dbm 500,1000); one is an RBM: --hidden ${hidden[0]}`,
    );
  if (given('checkpoint') && !flags.checkpointEvery && !flags.resume)
    throw new UsageError('--checkpoint needs --checkpoint-every or --resume');
  const checkpointPath = flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors');
  let job: DbmJob = { kind: 'dbm', data: dataSpec(flags), sizes: [], options: dbmOptions(flags, command) };
  let resumed: { path: string; state: DbmTrainerState; parameters: DbmParameters } | undefined;
  if (flags.resume) {
    const path = typeof flags.resume === 'string' ? flags.resume : checkpointPath;
    const file = await readAnyModelFile(path);
    if (file.kind !== 'dbm' || !file.state)
      throw new UsageError(
        `${path} is not a checkpoint of a deep Boltzmann machine (rbm train --dbm ... --checkpoint-every N)`,
      );
    let was: DbmJob;
    try {
      was = JSON.parse(file.metadata.hyperparameters ?? '');
    } catch {
      throw new UsageError(`${path} has no DBM job in its metadata (hyperparameters)`);
    }
    if (JSON.stringify(was.data) !== JSON.stringify(job.data))
      throw new UsageError(`${path} was trained on ${JSON.stringify(was.data)}, not ${JSON.stringify(job.data)}`);
    if (was.sizes.slice(1).join() !== hidden.join())
      throw new UsageError(`${path} is a ${was.sizes.join('-')} DBM, not --dbm ${hidden.join(',')}`);
    checkGivenFlags(RESUME_FIELDS, job, was, command, path);
    job = { ...was, options: { ...was.options, ...(given('epochs') ? { epochs: job.options.epochs! } : {}) } };
    resumed = { path, state: file.state, parameters: file.parameters };
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
    const trainer = new DbmTrainer(model, reader, job.options, resumed?.state);
    const metadata = () => ({ hyperparameters: JSON.stringify(job), ...provenance(backend.name) });
    const t0 = performance.now();
    let epochsDone = 0;
    try {
      await trainer.run({
        signal: signals.controller.signal,
        onEpoch: async (e, t) => {
          epochsDone++;
          const what =
            e.phase === 'pretrain'
              ? `pretraining RBM ${e.layer! + 1} (${sizes[e.layer!]}-${sizes[e.layer! + 1]})`
              : 'joint training';
          out.info(
            `${what} epoch ${e.epoch + 1}/${e.epochs}: reconstruction error ${e.reconstructionError.toFixed(4)}, ${e.seconds.toFixed(2)} s`,
          );
          out.emit({ type: 'epoch', ...e });
          if (checkpointing && epochsDone % flags.checkpointEvery! === 0) {
            // The first write creates the checkpoint (see the ratings run): a concurrent run's is never shared.
            await writeOutput(checkpointPath, encodeDbm(await model.parameters(), metadata(), await t.exportState()), {
              overwrite: ownCheckpoint,
            });
            ownCheckpoint = true;
          }
        },
      });
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
