import { checkMemory, trainingMemory } from '../budget.js';
import type { Dataset } from '../data/dataset.js';
import { checkBatch, type DataSource, datasetSource, isDataSource, readHead } from '../data/source.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import type { VisibleUnits } from '../model/units.js';
import { Streams } from '../random/stream.js';
import { type Batches, chunkSteps, EpochBatches } from './batches.js';
import { resolveConfig, type TrainOptions } from './config.js';
import type { RawOptions } from './declare.js';
import type { BoundFamily, EpochSettings, LoopContext, ModelFamily } from './family.js';
import type { TrainingMethod } from './negative-phase.js';
import type { RunOptions } from './options.js';
import { type Schedule, scheduleValue } from './schedule.js';
import { AscentStep } from './step.js';
import type { TrainingObjective } from './terms.js';

/**
 * The RBM as a model family: maximum-likelihood training by stochastic gradient ascent on the mean
 * log-likelihood, whose gradient is
 *
 *   d log p(v) / dW = <v h^T>_data - <v h^T>_model
 *
 * (and likewise v for a, h for b). The data term is taken analytically with p(h = 1 | v) (Rao-Blackwellised;
 * `positivePhase: 'samples'` uses a sampled h instead); the model term from Gibbs chains: CD-k starts them
 * at the data (Hinton 2002), PCD keeps persistent chains on the device across updates (Tieleman 2008), FPCD
 * runs them on the parameters plus decaying fast weights (Tieleman & Hinton 2009), PT as replica exchange.
 * The step and its parts are step.ts's; the loop is the {@link Trainer}'s.
 */

/** The options as the family reads them: every part's canonical slice. */
interface ResolvedOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: Schedule;
  readonly momentum: Schedule;
  readonly k: number;
  readonly positivePhase: 'probabilities' | 'samples';
  readonly shuffle: boolean;
  readonly seed: number;
  readonly freeEnergySamples: number;
  readonly divergenceCheckInterval?: number;
  readonly maxParameter: number;
  readonly objective: TrainingObjective;
  readonly hybridWeight?: number;
  readonly method: TrainingMethod;
  readonly chains: number;
  readonly tempering?: { readonly betas: readonly number[] };
}

function resolveOptions(options: TrainOptions, rows: number, units: VisibleUnits): ResolvedOptions {
  const config = resolveConfig(options as unknown as RawOptions, { units }) as Omit<ResolvedOptions, 'chains'> & {
    chains?: number;
  };
  // Persistent chains: as many as a batch by default, at most one per example.
  return { ...config, chains: config.method === 'cd' ? 0 : (config.chains ?? Math.min(config.batchSize, rows)) };
}

/** Units the RBM's loop issues before it waits for a backend that queues them (`Backend.drain`). */
const MAX_QUEUED = 4;

/** Checks the model against the data and the budget, and describes the run to the {@link Trainer}. */
export function rbmFamily(
  model: RBM,
  data: Dataset | DataSource,
  options: TrainOptions & RunOptions,
): ModelFamily<RBM, Batches> {
  checkTrainingData(data);
  if (data.cols !== model.numVisible) {
    throw new ShapeError(
      `train: data${data.source ? ` in ${data.source}` : ''} has ${data.cols} columns, the model has ${model.numVisible} visible units`,
    );
  }
  const checkBatches = isDataSource(data) && !(data.checks === model.units.name && model.units.checkRows === undefined);
  if (!isDataSource(data)) assertVisibleData(data, model.units);
  const validation = options.validation;
  if (validation) {
    if (validation.cols !== model.numVisible) {
      throw new ShapeError(
        `validation data has ${validation.cols} columns, the model has ${model.numVisible} visible units`,
      );
    }
    assertVisibleData(validation, model.units);
  }
  const source = isDataSource(data) ? data : datasetSource(data);
  const o = resolveOptions(options, data.rows, model.units.name);
  const temperatures = o.tempering?.betas.length ?? 1;
  const need = trainingMemory(model.numVisible, model.numHidden, {
    batchSize: o.batchSize,
    chains: o.chains,
    temperatures,
  });
  checkMemory(
    `training a ${model.numVisible}-${model.numHidden} model (batchSize ${o.batchSize}${o.chains ? `, chains ${o.chains}` : ''}${temperatures > 1 ? `, ${temperatures} temperatures` : ''})`,
    need.bytes,
    need.detail,
  );
  const locate = source.locate?.bind(source);

  const meanFreeEnergy = async (ds: Dataset): Promise<number> => {
    const rows = Math.min(o.freeEnergySamples, ds.rows);
    const F = await model.freeEnergy(ds.data.subarray(0, rows * ds.cols));
    let s = 0;
    for (const f of F) s += f;
    return s / rows;
  };

  return {
    kind: 'rbm',
    model,
    backend: model.backend,
    // A rollback restores the model with the state; z is updated by the learned-variance term.
    parameters: [
      { name: 'weights', tensor: model.W },
      { name: 'visible_bias', tensor: model.a },
      { name: 'hidden_bias', tensor: model.b },
      ...(model.z ? [{ name: 'log_variance', tensor: model.z }] : []),
    ],
    stages: [{ name: 'train', epochs: o.epochs }],
    seed: o.seed,
    gibbsStream: Streams.gibbs,
    binaryStates: !model.gaussian,
    maxParameter: o.maxParameter,
    maxQueuedUnits: MAX_QUEUED,
    shuffle: o.shuffle,
    settings: (_stage, epoch): EpochSettings => ({
      learningRate: scheduleValue(o.learningRate, epoch, o.epochs),
      momentum: scheduleValue(o.momentum, epoch, o.epochs),
    }),
    bind(ctx: LoopContext): BoundFamily<Batches> & Pick<AscentStep, 'negativePhase' | 'terms'> {
      const ascent = new AscentStep({ ...ctx, model }, o);
      const negativePhase = ascent.negativePhase;
      const batches = new EpochBatches(source, {
        batchSize: o.batchSize,
        chunk: chunkSteps(ctx.backend, o.batchSize),
        checkInterval: o.divergenceCheckInterval ?? Number.MAX_SAFE_INTEGER,
        check: checkBatches ? model.units : undefined,
        workspace: (size) => ascent.workspace(size),
      });
      return {
        negativePhase,
        terms: ascent.terms,
        batches,
        epochError: ascent.epochErr,
        run(read, _count, _stage, s) {
          ascent.run(read.ws, read.rows, s.learningRate, s.momentum);
          return { size: read.ws.size, uploadBytes: 0 };
        },
        sound: (maxParameter) => ascent.parametersSound(maxParameter),
        batchError: (i) => ascent.batchError(i),
        restored: () => model.refreshVariance(),
        ...(negativePhase.start
          ? {
              /** Persistent chains start at the first `chains` training examples (cycling when there are fewer). */
              async start() {
                const size = negativePhase.chains ?? 0;
                const init = new Float32Array(size * model.numVisible);
                const indices = Uint32Array.from({ length: size }, (_, r) => r % source.rows);
                await source.readRows(indices, init);
                if (checkBatches) checkBatch(init, indices, source.cols, source.source, model.units, locate);
                const t = ctx.backend.tensor(size, model.numVisible, init);
                try {
                  negativePhase.start?.(t);
                } finally {
                  ctx.backend.dispose(t);
                }
              },
            }
          : {}),
        async figures(errorSum): Promise<Readonly<Record<string, number>>> {
          const rows = source.rows;
          const error: Record<string, number> =
            o.objective === 'discriminative'
              ? { reconstructionError: Number.NaN, crossEntropy: errorSum / rows }
              : { reconstructionError: errorSum / rows };
          // The free-energy figures need a free energy: hidden units without one (NReLU) train without them.
          if (!validation || !model.hasFreeEnergy) return error;
          const train = await meanFreeEnergy(await readHead(source, o.freeEnergySamples));
          const valid = await meanFreeEnergy(validation);
          return { ...error, freeEnergyTrain: train, freeEnergyValidation: valid, freeEnergyGap: valid - train };
        },
      };
    },
  };
}

/** Training data must hold rows: a Dataset's values fill rows x cols exactly (every trainer and estimator checks). */
export function checkTrainingData(data: Dataset | DataSource): void {
  const what = `train: data${data.source ? ` in ${data.source}` : ''}`;
  if (data === null || typeof data !== 'object')
    throw new ArgumentError(`${what} must be a Dataset or a DataSource, got ${data === null ? 'null' : typeof data}`);
  if (!Number.isInteger(data.rows) || !Number.isInteger(data.cols) || data.rows < 0 || data.cols < 1)
    throw new ShapeError(
      `${what}: rows and cols must be whole numbers, got ${String(data.rows)} x ${String(data.cols)}`,
    );
  if (data.rows === 0) throw new ShapeError(`${what} has no rows: nothing to train on`);
  if (!isDataSource(data)) {
    const n = (data as Dataset).data?.length;
    if (n !== data.rows * data.cols)
      throw new ShapeError(`${what}: ${n} values do not fill ${data.rows} x ${data.cols} (${data.rows * data.cols})`);
  }
}
