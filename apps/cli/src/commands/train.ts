import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import {
  type EpochMetrics,
  RBM,
  RbmError,
  type Schedule,
  sourceColumnMeans,
  Trainer,
  type TrainOptions,
} from '@rbmjs/core';
import { saveModelFile, writeFileAtomic } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint.js';
import { addDataOptions, backendFor, type DataOptions, dataSpec } from '../common.js';
import { curvesSvg } from '../curves.js';
import { type DataSpec, loadAll, openData, sliceSource } from '../data.js';
import { nonNegativeInt, number, positiveInt } from '../options.js';
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
  readonly method: 'cd' | 'pcd' | 'pt';
  readonly chains?: number;
  readonly positivePhase: 'probabilities' | 'samples';
  readonly l1: number;
  readonly l2: number;
  readonly sparsity?: { target: number; cost: number };
  readonly centering?: number;
  /** Parallel tempering: inverse temperatures, 1 first. */
  readonly betas?: number[];
  /** Gaussian visible units (real-valued data), optionally with learned variances. */
  readonly visible?: 'bernoulli' | 'gaussian';
  readonly learnVariance?: boolean;
  readonly seed: number;
}

interface TrainFlags extends DataOptions {
  hidden: number;
  epochs: number;
  batch: number;
  lr: number;
  lrSchedule: 'constant' | 'linear' | 'exponential';
  lrFinal?: number;
  lrDecay?: number;
  k: number;
  method: 'cd' | 'pcd' | 'pt';
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
  addDataOptions(cmd, 'mnist')
    .option('--hidden <n>', 'hidden units', positiveInt, 100)
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
      new Option('--method <m>', 'cd, pcd, or pt (parallel tempering: persistent chains with replica exchange)')
        .choices(['cd', 'pcd', 'pt'])
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
    .option('--backend <name>', 'auto, js, reference, gpujs[:mode], tfjs[:engine]', 'auto')
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
  return {
    data: dataSpec(f),
    validation: f.validation,
    hidden: f.hidden,
    epochs: f.epochs,
    batch: f.batch,
    learningRate,
    momentum,
    k: f.k,
    method: f.method,
    ...(f.chains !== undefined ? { chains: f.chains } : {}),
    positivePhase: f.positive,
    l1: f.l1,
    l2: f.l2,
    ...(f.sparsityTarget !== undefined ? { sparsity: { target: f.sparsityTarget, cost: f.sparsityCost } } : {}),
    ...(f.centering !== undefined ? { centering: f.centering === true ? 0.01 : (f.centering as number) } : {}),
    ...(f.method === 'pt' ? { betas: ladder(f.temperatures, f.betaMin) } : {}),
    ...(f.visible === 'gaussian' ? { visible: 'gaussian' as const, learnVariance: Boolean(f.learnVariance) } : {}),
    seed: f.seed,
  };
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
};

/** Inverse temperatures 1 = beta_1 > ... > beta_n = betaMin, evenly spaced. */
function ladder(n: number, betaMin: number): number[] {
  if (n < 2)
    throw new RbmError('INVALID_ARGUMENT', `--temperatures must be at least 2 for parallel tempering, got ${n}`);
  return Array.from({ length: n }, (_, m) => 1 - ((1 - betaMin) * m) / (n - 1));
}

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
    positivePhase: job.positivePhase,
    l1: job.l1,
    l2: job.l2,
    ...(job.sparsity ? { sparsity: job.sparsity } : {}),
    ...(job.centering !== undefined ? { centering: { rate: job.centering } } : {}),
    ...(job.betas ? { tempering: { betas: job.betas } } : {}),
    ...(job.learnVariance ? { learnVariance: true } : {}),
    seed: job.seed,
  };
}

function sidePath(out: string, suffix: string): string {
  const ext = extname(out);
  return join(dirname(out), `${basename(out, ext)}${suffix}`);
}

async function train(flags: TrainFlags, command: Command): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const checkpointPath = flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors');
  let job = jobFrom(flags);
  let resumed: ReturnType<typeof decodeCheckpoint<TrainJob>> | undefined;
  if (flags.resume) {
    const path = typeof flags.resume === 'string' ? flags.resume : checkpointPath;
    if (!existsSync(path)) throw new RbmError('INVALID_ARGUMENT', `${path}: no checkpoint to resume from`);
    resumed = decodeCheckpoint<TrainJob>(new Uint8Array(await readFile(path)), path);
    for (const [flag, get] of Object.entries(JOB_FLAGS)) {
      if (command.getOptionValueSource(flag) !== 'cli') continue;
      if (JSON.stringify(get(job)) !== JSON.stringify(get(resumed.job))) {
        throw new RbmError(
          'INVALID_ARGUMENT',
          `--${kebab(flag)} ${JSON.stringify(get(job))} differs from the checkpoint's ${JSON.stringify(get(resumed.job))} (${path})`,
        );
      }
    }
    // The checkpoint's job, possibly with more epochs.
    job = {
      ...resumed.job,
      epochs: command.getOptionValueSource('epochs') === 'cli' ? flags.epochs : resumed.job.epochs,
    };
    if (resumed.state.epoch >= job.epochs) {
      throw new RbmError(
        'INVALID_ARGUMENT',
        `${path} has already trained ${resumed.state.epoch} epochs; ask for more with --epochs`,
      );
    }
  }
  // Resumed or not, an existing model is only replaced when asked.
  if (existsSync(flags.out) && !flags.force) {
    throw new RbmError('INVALID_ARGUMENT', `${flags.out} exists; use --force to overwrite it`);
  }

  const opened = openData(job.data);
  const all = opened.source;
  if (job.validation >= all.rows) {
    throw new RbmError(
      'INVALID_ARGUMENT',
      `--validation ${job.validation} leaves no training data (${all.rows} examples)`,
    );
  }
  const trainSource = job.validation > 0 ? sliceSource(all, 0, all.rows - job.validation) : all;
  const validation =
    job.validation > 0 ? await loadAll(sliceSource(all, all.rows - job.validation, job.validation)) : undefined;
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  out.info(
    `${opened.description}; ${trainSource.rows} for training${validation ? `, ${validation.rows} held out` : ''}`,
  );
  out.info(
    `${job.method.toUpperCase()}-${job.k}${job.centering !== undefined ? ' (centred)' : ''}, ${all.cols}-${job.hidden}, batch ${job.batch}, ${job.epochs} epochs, backend ${backend.name} (${backend.precision})` +
      (resumed ? `, resuming after epoch ${resumed.state.epoch}` : ''),
  );

  const model = resumed
    ? RBM.fromParameters(backend, resumed.parameters)
    : RBM.create(backend, {
        numVisible: all.cols,
        numHidden: job.hidden,
        seed: job.seed,
        means: await sourceColumnMeans(trainSource, 1024, job.visible ?? 'bernoulli'),
        ...(job.visible === 'gaussian' ? { visibleUnits: 'gaussian' as const } : {}),
      });
  const batches = Math.ceil(trainSource.rows / job.batch);
  const history: EpochMetrics[] = [];
  let bar: ReturnType<Output['progress']>;
  let epochStart = 0;
  const every = flags.checkpointEvery;
  const trainer: Trainer = new Trainer(model, trainSource, {
    ...trainOptions(job),
    ...(validation ? { validation } : {}),
    onBatch: (e) => {
      if (e.batch === 0) {
        bar = out.progress(batches, `epoch ${e.epoch + 1}/${job.epochs}`);
        epochStart = performance.now();
      }
      const rate = (e.batch + 1) / Math.max(1e-3, (performance.now() - epochStart) / 1000);
      bar?.update(e.batch + 1, { rate: rate.toFixed(1) });
    },
    onEpoch: async (m) => {
      bar?.stop();
      history.push(m);
      const gap = m.freeEnergyGap !== undefined ? `, free-energy gap ${m.freeEnergyGap.toFixed(3)}` : '';
      out.info(
        `epoch ${m.epoch + 1}/${job.epochs}: reconstruction error ${m.reconstructionError.toFixed(4)}${gap}, ${m.seconds.toFixed(2)} s`,
      );
      out.emit({ type: 'epoch', ...m });
      if (every && (m.epoch + 1) % every === 0) {
        await mkdir(dirname(checkpointPath), { recursive: true });
        const state = await trainer.exportState();
        await writeFileAtomic(
          checkpointPath,
          encodeCheckpoint(await model.parameters(), state, job, provenance(backend.name)),
        );
        out.info(`checkpoint: ${checkpointPath} (epoch ${m.epoch + 1})`);
      }
    },
  });
  if (resumed) trainer.importState(resumed.state);
  const t0 = performance.now();
  try {
    await trainer.run();
  } finally {
    bar?.stop();
    trainer.dispose();
    await opened.source.close?.();
  }
  const seconds = (performance.now() - t0) / 1000;

  await mkdir(dirname(flags.out), { recursive: true });
  await saveModelFile(model, flags.out, {
    metadata: { hyperparameters: JSON.stringify(job), ...provenance(backend.name) },
  });
  const written = [flags.out];
  if (flags.pictures) {
    const p = await model.parameters();
    if (opened.side) {
      const shown = Math.min(p.numHidden, 100);
      const png = sidePath(flags.out, '.filters.png');
      await writeFileAtomic(
        png,
        tileImages(filtersOf(p.weights, p.numVisible, p.numHidden, shown), shown, opened.side, { scale: 2 }),
      );
      written.push(png);
    }
    if (history.length > 0) {
      const svg = sidePath(flags.out, '.curves.svg');
      await writeFileAtomic(
        svg,
        new TextEncoder().encode(
          curvesSvg([
            {
              title: 'reconstruction error',
              series: [{ label: 'training', values: history.map((m) => m.reconstructionError), color: '#1f77b4' }],
            },
            ...(validation
              ? [
                  {
                    title: 'mean free energy',
                    series: [
                      { label: 'training', values: history.map((m) => m.freeEnergyTrain), color: '#1f77b4' },
                      { label: 'held out', values: history.map((m) => m.freeEnergyValidation), color: '#d62728' },
                    ],
                  },
                ]
              : []),
          ]),
        ),
      );
      written.push(svg);
    }
  }
  model.dispose();
  out.info(`wrote ${written.join(', ')}`);
  const last = history.at(-1);
  out.emit({
    type: 'summary',
    model: flags.out,
    files: written,
    backend: backend.name,
    epochs: job.epochs,
    seconds,
    ...(last ? { reconstructionError: last.reconstructionError } : {}),
    ...(last?.freeEnergyGap !== undefined ? { freeEnergyGap: last.freeEnergyGap } : {}),
  });
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
