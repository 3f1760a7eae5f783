import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  type Checkpoint,
  checkClassCount,
  DataError,
  DivergenceError,
  type EpochMetrics,
  encodeCheckpoint,
  labelledSource,
  RBM,
  RbmError,
  type RbmParameters,
  readHead,
  sourceColumnMeans,
  Trainer,
  TrainingAbortedError,
  trainingError,
  type ValidationFigures,
} from '@rbmjs/core';
import { readCheckpoint } from '@rbmjs/core/node';
import type { Command } from 'commander';
import type { BackendSettings } from '../../backends.js';
import { backendFor, parseSchedule, scheduleWithinBudget } from '../../common.js';
import { checkResumedData, loadAll, type OpenedData, openData, sliceSource } from '../../data.js';
import { CliExit, UsageError } from '../../errors.js';
import { checkOutputs, cleanTemporaries, sidePath, writeOutput } from '../../files.js';
import { checkClassLabels, classesOf, readLabels } from '../../labels.js';
import { checkFigures, EpochMonitor, figuresText, type MonitorSettings, parseFigures } from '../../monitor.js';
import { Output } from '../../output.js';
import { readAheadSource } from '../../read-ahead.js';
import { Interrupts } from './interrupts.js';
import {
  checkJob,
  checkResumeFlags,
  checkTrainBudget,
  jobFrom,
  type TrainFlags,
  type TrainJob,
  withEpochs,
} from './job.js';
import { freshPath, provenance, RISE_FACTOR, where, writeCurves, writeFilters, writeModel } from './outputs.js';
import { trainStack } from './stack.js';

/** The CLI's own flags that only mean something with another: given without it, they are refused. */
function refuseConflicts(f: TrainFlags, command: Command): void {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  const rules: Array<[boolean, string]> = [
    [
      ['test', 'holdout', 'levels', 'orientation', 'conditional', 'evidence'].some(given),
      '--test, --holdout, --levels, --orientation, --conditional and --no-evidence need --ratings FILE (collaborative filtering)',
    ],
    [f.stopOn !== undefined && f.earlyStop === undefined, '--stop-on needs --early-stop PATIENCE'],
    [
      (given('aisEvery') || given('aisRuns') || given('aisSchedule')) && !f.monitor?.includes('ais'),
      '--ais-every, --ais-runs and --ais-schedule need --monitor ais',
    ],
    [given('checkpoint') && !f.checkpointEvery && !f.resume, '--checkpoint needs --checkpoint-every or --resume'],
    [
      (given('classes') || given('objective') || given('alpha')) && !f.labels,
      '--classes, --objective and --alpha need --labels',
    ],
    [
      f.hiddenUnits !== 'bernoulli' && (Boolean(f.labels) || f.hidden.length > 1),
      `--hidden-units ${f.hiddenUnits} is for one RBM without --labels (classifiers and deep belief networks have Bernoulli hidden units)`,
    ],
    [
      Boolean(f.labels) && f.visible === 'gaussian',
      '--labels trains a classifier on binary inputs: not with --visible gaussian',
    ],
  ];
  for (const [bad, message] of rules) if (bad) throw new UsageError(message);
}

interface Resumed {
  readonly path: string;
  readonly checkpoint: Checkpoint<TrainJob> & { readonly parameters: RbmParameters };
}

async function readResumed(flags: TrainFlags, command: Command, checkpointPath: string, job: TrainJob) {
  const path = typeof flags.resume === 'string' ? flags.resume : checkpointPath;
  const read = await readCheckpoint<unknown>(path);
  if (read.file.kind !== 'rbm')
    throw new UsageError(
      `${path} is a checkpoint of a ${read.file.kind === 'dbm' ? 'deep Boltzmann machine (resume it with --dbm)' : `${read.file.kind} model`}, not of one RBM`,
    );
  const parameters = read.file.parameters;
  const checkpoint = { ...read, parameters, job: checkJob(read.job, parameters, path) };
  checkResumeFlags(job, checkpoint.job, command, path);
  return { path, checkpoint } satisfies Resumed;
}

/** `rbm train`: one RBM (or, with --hidden A,B, a stack), checkpointed, resumable, watched. */
export async function train(flags: TrainFlags, command: Command): Promise<void> {
  const out = new Output(Boolean(flags.json));
  refuseConflicts(flags, command);
  if (flags.hidden.length > 1) return trainStack(flags, command, out);
  const checkpointPath = flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors');
  let job = jobFrom(flags, command);
  const resumed = flags.resume ? await readResumed(flags, command, checkpointPath, job) : undefined;
  if (resumed) {
    // The checkpoint's job, possibly with more epochs.
    job = resumed.checkpoint.job;
    if (command.getOptionValueSource('epochs') === 'cli') job = withEpochs(job, flags.epochs!);
    const done = resumed.checkpoint.state.epoch;
    if (done > job.config.epochs) {
      throw new UsageError(
        `${resumed.path} has already trained ${done} epochs, more than --epochs ${job.config.epochs}`,
      );
    }
  }

  const monitor = monitorFrom(flags, job.config.seed ?? 0);
  // Held-out figures need held-out rows (on --resume, the checkpoint's --validation).
  if (monitor && job.validation === 0)
    throw new UsageError(
      `${flags.monitor !== undefined ? '--monitor' : '--early-stop'} needs --validation N (held-out examples)`,
    );
  const opened = openData(job.data);
  // Batches are read, binarised and checked on a worker thread while the backend trains.
  const reader = readAheadSource(opened.source, job.data, job.visible === 'gaussian' ? 'gaussian' : 'bernoulli');
  const signals = new Interrupts();
  try {
    await trainOpened(flags, out, job, { ...opened, source: reader }, checkpointPath, resumed, signals, monitor, {
      // ONNX Runtime's threads spin between ops: with the reader on the other core they would take it.
      ...(reader !== opened.source ? { onnxruntime: { spinning: false } } : {}),
    });
  } finally {
    signals.dispose();
    if (reader !== opened.source) await reader.close?.();
    await opened.source.close?.();
  }
}

/** --monitor, --early-stop and --stop-on as settings (undefined when neither is given). */
function monitorFrom(f: TrainFlags, seed: number): MonitorSettings | undefined {
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
    aisSchedule: f.monitor?.includes('ais') ? scheduleWithinBudget(f.aisSchedule) : parseSchedule(f.aisSchedule),
    seed,
    ...(earlyStop ? { earlyStop } : {}),
  };
}

/** The run itself, once the data are open: outputs checked, model made or resumed, trained, written. */
async function trainOpened(
  flags: TrainFlags,
  out: Output,
  job: TrainJob,
  opened: OpenedData,
  checkpointPath: string,
  resumed: Resumed | undefined,
  signals: Interrupts,
  monitorSettings: MonitorSettings | undefined,
  backendSettings: BackendSettings,
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
    const { objective, hybridWeight } = job.config;
    out.info(
      `labels: ${source}, ${classes} classes; objective ${objective}${hybridWeight !== undefined ? ` (alpha ${hybridWeight})` : ''}`,
    );
  }
  if (job.validation >= all.rows) {
    throw new UsageError(`--validation ${job.validation} leaves no training data (${all.rows} examples)`);
  }
  // The data must be the data the checkpoint was trained on.
  const fingerprint = resumed
    ? checkResumedData(resumed.checkpoint.job.fingerprint, opened, resumed.path, (l) => out.warn(l))
    : opened.fingerprint();
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
  // The model file is refused at write time too (atomically) unless --force: a run that started beside another
  // onto the same --out fails instead of replacing the other's model.
  const fresh = { overwrite: force };
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
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose), backendSettings);
  const state = resumed?.checkpoint.state;
  out.info(
    `${opened.description}; ${trainSource.rows} for training${validation ? `, ${validation.rows} held out` : ''}`,
  );
  const c = job.config;
  out.info(
    `${c.method!.toUpperCase()}-${c.k}${c.centering !== undefined ? ' (centred)' : ''}, ${all.cols}-${job.hidden}${job.hiddenUnits ? ` (${job.hiddenUnits} hidden units)` : ''}, batch ${c.batchSize}, ${c.epochs} epochs, backend ${backend.name} (${backend.precision})` +
      (state ? `, resuming ${where(state)}` : ''),
  );

  const model = resumed
    ? RBM.fromParameters(backend, resumed.checkpoint.parameters)
    : RBM.create(backend, {
        numVisible: all.cols,
        numHidden: job.hidden,
        seed: c.seed,
        means: await sourceColumnMeans(trainSource, 1024, job.visible ?? 'bernoulli'),
        ...(job.visible === 'gaussian' ? { visibleUnits: 'gaussian' as const } : {}),
        ...(job.labels ? { visibleUnits: 'softmax' as const, softmaxGroups: [job.labels.classes] } : {}),
        ...(job.hiddenUnits ? { hiddenUnits: job.hiddenUnits } : {}),
      });
  const batches = Math.ceil(trainSource.rows / c.batchSize!);
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
  // Blow-up short of NaN: the training error of an epoch (the reconstruction error, or the discriminative
  // objective's cross-entropy) rising well past that of the run's first batch (by RISE_FACTOR: saturated
  // reconstructions of a blown-up model about double it, while data a model cannot learn keep it where it
  // started; a blown-up classifier's cross-entropy leaves log C far behind).
  let startError: number | undefined;
  let lastGood: { parameters: RbmParameters; epoch: number } = {
    parameters: await model.parameters(),
    epoch: state?.epoch ?? 0,
  };
  let rose: { error: number; epoch: number; name: string } | undefined;
  const interrupt = signals.controller;
  let lastYield = performance.now();

  let ownCheckpoint = force || resumed?.path === checkpointPath;
  const writeCheckpoint = async (path: string, overwrite: boolean) => {
    const st = await trainer.exportState();
    await writeOutput(
      path,
      encodeCheckpoint({ kind: 'rbm', parameters: await model.parameters() }, st, job, provenance(backend.name)),
      {
        overwrite,
      },
    );
    return st;
  };
  const trainer: Trainer = new Trainer(model, trainSource, {
    ...c,
    ...(validation ? { validation } : {}),
    signal: interrupt.signal,
    onBatch: async (e) => {
      if (e.batch === 0 || bar === undefined) {
        bar = out.progress(batches, `epoch ${e.epoch + 1}/${c.epochs}`);
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
      const figures = monitor
        ? await monitor.figures(m, { signal: interrupt.signal, onProgress: out.work('held-out AIS', 'steps') })
        : undefined;
      if (monitor?.aisStopped) out.info(`held-out AIS of epoch ${m.epoch + 1} stopped by the signal: no AIS figure`);
      figureHistory.push(figures);
      const gap = m.freeEnergyGap !== undefined ? `, free-energy gap ${m.freeEnergyGap.toFixed(3)}` : '';
      const held = figures && Object.keys(figures).length > 0 ? `; held out: ${figuresText(figures)}` : '';
      const error = trainingError(m);
      out.info(
        `epoch ${m.epoch + 1}/${c.epochs}: ${error.name} ${error.value.toFixed(4)}${gap}, ${m.seconds.toFixed(2)} s${held}`,
      );
      out.emit({
        type: 'epoch',
        ...m,
        ...(m.crossEntropy !== undefined ? { reconstructionError: undefined } : {}),
        ...(figures ? { validation: figures } : {}),
      });
      if (startError !== undefined && !(error.value <= RISE_FACTOR * startError)) {
        rose = { error: error.value, epoch: m.epoch, name: error.name };
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
        if (stop && m.epoch + 1 < c.epochs) {
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
          // The first write creates the checkpoint (unless resumed from it, or --force): never another run's.
          await writeCheckpoint(checkpointPath, ownCheckpoint);
          ownCheckpoint = true;
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
    if (state && state.epoch >= c.epochs) {
      out.info(`${resumed!.path} has trained all ${c.epochs} epochs: writing the model it holds`);
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
      await writeModel(flags.out, lastGood.parameters, job, backend.name, {}, fresh);
      throw new RbmError(
        'DIVERGED',
        `training diverged: the ${rose.name} of epoch ${rose.epoch + 1} (${rose.error.toPrecision(4)}) rose past ${RISE_FACTOR} times its starting value (${startError!.toPrecision(4)}); ` +
          `${flags.out} holds the model after epoch ${lastGood.epoch} (lower the learning rate)`,
      );
    }
    if (ended instanceof DivergenceError) {
      // The model holds the parameters from before the bad step: save them, and say so.
      await writeModel(flags.out, await model.parameters(), job, backend.name, {}, fresh);
      throw new RbmError('DIVERGED', `${ended.message}; they are saved to ${flags.out}`);
    }
    if (ended !== undefined) throw ended;
  } finally {
    trainer.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;

  const p = await model.parameters();
  await writeModel(flags.out, p, job, backend.name, {}, fresh);
  const written = [flags.out];
  if (writesPictures) {
    if (opened.side) {
      // A classifier's filters are its input rows of W (the label rows come after them).
      await writeFilters(pngPath, p, p.numVisible - (job.labels?.classes ?? 0), opened.side);
      written.push(pngPath);
    }
    if (history.length > 0) {
      await writeCurves(svgPath, history, Boolean(validation), figureHistory);
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
    epochs: c.epochs,
    seconds,
    ...(last
      ? { [last.crossEntropy !== undefined ? 'crossEntropy' : 'reconstructionError']: trainingError(last).value }
      : {}),
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
