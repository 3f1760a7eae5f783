import { Scope } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import { checkMemory, trainingMemory } from '../budget.js';
import type { Dataset } from '../data/dataset.js';
import { checkBatch, type DataSource, datasetSource, isDataSource, readHead } from '../data/source.js';
import { ArgumentError, DivergenceError, RbmError, ShapeError, TrainingAbortedError } from '../errors.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import type { VisibleUnits } from '../model/units.js';
import { eventTurns } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { chunkSteps, EpochBatches } from './batches.js';
import { resolveConfig, type TrainOptions } from './config.js';
import type { RawOptions } from './declare.js';
import type { TrainingMethod } from './negative-phase.js';
import type { EpochMetrics, RunOptions } from './options.js';
import type { GradientTerm, NegativePhase } from './parts.js';
import { type Schedule, scheduleValue } from './schedule.js';
import { StateRegistry, type StateSnapshot, type TrainerState } from './state.js';
import { AscentStep } from './step.js';
import type { TrainingObjective } from './terms.js';

/**
 * Maximum-likelihood training by stochastic gradient ascent on the mean log-likelihood. The gradient is
 *
 *   d log p(v) / dW = <v h^T>_data - <v h^T>_model
 *
 * (and likewise v for a, h for b). The data term is taken analytically with p(h = 1 | v) (Rao-Blackwellised;
 * `positivePhase: 'samples'` uses a sampled h instead); the model term from Gibbs chains: CD-k starts them
 * at the data (Hinton 2002), PCD keeps persistent chains on the device across updates (Tieleman 2008), FPCD
 * runs them on the parameters plus decaying fast weights (Tieleman & Hinton 2009), PT as replica exchange.
 */

/** The options as the trainer reads them: every part's canonical slice, and the run's callbacks. */
interface ResolvedOptions extends RunOptions {
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
  const config = resolveConfig(options as unknown as RawOptions, { units }) as Omit<
    ResolvedOptions,
    'chains' | keyof RunOptions
  > & {
    chains?: number;
  };
  return {
    ...config,
    // Persistent chains: as many as a batch by default, at most one per example.
    chains: config.method === 'cd' ? 0 : (config.chains ?? Math.min(config.batchSize, rows)),
    validation: options.validation,
    signal: options.signal,
    onBatch: options.onBatch,
    onEpoch: options.onEpoch,
  };
}

/** Units a trainer issues before it waits for a backend that queues them (`Backend.drain`). */
const MAX_QUEUED = 4;

/** A divergence rollback's restore point: the registry's copies and the Gibbs stream's position. */
interface Snapshot {
  readonly state: StateSnapshot;
  readonly gibbs: number;
}

export class Trainer {
  readonly model: RBM;
  readonly data: DataSource;
  /** The negative-phase sampler and the gradient terms this run was built from. */
  readonly negativePhase: NegativePhase;
  readonly terms: readonly GradientTerm[];
  /** True when the rows come from a source that was not validated up front (checked batch by batch). */
  private readonly checkBatches: boolean;
  private readonly backend: Backend;
  private readonly o: ResolvedOptions;
  private readonly scope: Scope;
  private readonly gibbs: RandomStream;
  private readonly shuffleRng: RandomStream;
  private readonly random: DeviceRandom;
  private readonly state: StateRegistry;
  /** The step: positive phase, sampler, terms and optimiser, on the device. */
  private readonly ascent: AscentStep;
  /** The epoch's batches: order, runs of several steps, read-ahead. */
  private readonly batches: EpochBatches;
  /** Persistent chains start from training examples, loaded (asynchronously) before the first step. */
  private chainsLoaded: boolean;
  /** Completed epochs and optimiser steps. */
  epoch = 0;
  step = 0;
  private disposed = false;
  /** Batches of the current epoch already done, and the shuffle position its order was drawn from. */
  private batchInEpoch = 0;
  private running = false;
  /** The source's own words for a position (`line 3, column 1`), for messages. */
  private readonly locate: ((row: number, column: number) => string) | undefined;
  private epochShuffleStart = 0;
  private epochErrorCarry = 0;
  /** Units issued since the backend was last drained. */
  private queued = 0;

  constructor(model: RBM, data: Dataset | DataSource, options: TrainOptions) {
    checkTrainingData(data);
    if (data.cols !== model.numVisible) {
      throw new ShapeError(
        `train: data${data.source ? ` in ${data.source}` : ''} has ${data.cols} columns, the model has ${model.numVisible} visible units`,
      );
    }
    this.checkBatches =
      isDataSource(data) && !(data.checks === model.units.name && model.units.checkRows === undefined);
    if (!isDataSource(data)) assertVisibleData(data, model.units);
    if (options.validation) {
      if (options.validation.cols !== model.numVisible) {
        throw new ShapeError(
          `validation data has ${options.validation.cols} columns, the model has ${model.numVisible} visible units`,
        );
      }
      assertVisibleData(options.validation, model.units);
    }
    this.model = model;
    this.data = isDataSource(data) ? data : datasetSource(data);
    this.o = resolveOptions(options, data.rows, model.units.name);
    const chains = this.o.chains;
    const temperatures = this.o.tempering?.betas.length ?? 1;
    const need = trainingMemory(model.numVisible, model.numHidden, {
      batchSize: this.o.batchSize,
      chains,
      temperatures,
    });
    checkMemory(
      `training a ${model.numVisible}-${model.numHidden} model (batchSize ${this.o.batchSize}${chains ? `, chains ${chains}` : ''}${temperatures > 1 ? `, ${temperatures} temperatures` : ''})`,
      need.bytes,
      need.detail,
    );
    if (isDataSource(data) && data.locate) this.locate = data.locate.bind(data);
    this.backend = model.backend;
    this.scope = new Scope(model.backend);
    this.gibbs = new RandomStream(this.o.seed, Streams.gibbs);
    this.shuffleRng = new RandomStream(this.o.seed, Streams.shuffle);
    this.random = new DeviceRandom(model.backend, this.gibbs);
    this.state = new StateRegistry(model.backend, this.scope, !model.gaussian);
    // A rollback restores the model with the state; z is updated by the learned-variance term.
    this.state.rollbackAlso(model.W, model.a, model.b, ...(model.z ? [model.z] : []));
    const ctx = { model, backend: model.backend, scope: this.scope, state: this.state, random: this.random };
    this.ascent = new AscentStep(ctx, this.o);
    this.negativePhase = this.ascent.negativePhase;
    this.terms = this.ascent.terms;
    this.chainsLoaded = this.negativePhase.start === undefined;
    this.batches = new EpochBatches(this.data, {
      batchSize: this.o.batchSize,
      chunk: chunkSteps(this.backend, this.o.batchSize),
      checkInterval: this.o.divergenceCheckInterval ?? Number.MAX_SAFE_INTEGER,
      check: this.checkBatches ? model.units : undefined,
      workspace: (size) => this.ascent.workspace(size),
    });
  }

  get epochs(): number {
    return this.o.epochs;
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'Trainer used after dispose()');
  }

  private batchCount(): number {
    return this.batches.count;
  }

  /** Persistent chains start at the first `chains` training examples (cycling when there are fewer). */
  private async loadChains(): Promise<void> {
    const size = this.negativePhase.chains ?? 0;
    const init = new Float32Array(size * this.model.numVisible);
    const indices = Uint32Array.from({ length: size }, (_, r) => r % this.data.rows);
    await this.data.readRows(indices, init);
    if (this.checkBatches) checkBatch(init, indices, this.data.cols, this.data.source, this.model.units, this.locate);
    const t = this.backend.tensor(size, this.model.numVisible, init);
    try {
      this.negativePhase.start?.(t);
    } finally {
      this.backend.dispose(t);
    }
    this.chainsLoaded = true;
  }

  private takeSnapshot(): Snapshot {
    return { state: this.state.snapshot(), gibbs: this.gibbs.offset };
  }

  private restoreSnapshot(snap: Snapshot): void {
    this.state.restore(snap.state);
    this.model.refreshVariance();
    this.gibbs.offset = snap.gibbs;
  }

  /**
   * Runs one epoch. Parameters are checked for NaN/Inf at the end of each check interval; on divergence
   * the interval is replayed from a snapshot one step at a time (randomness is counter-based, so the replay
   * is exact) to find the first bad step, and the model is left with the parameters from before it.
   */
  async trainEpoch(): Promise<EpochMetrics> {
    this.live();
    const t0 = performance.now();
    const o = this.o;
    const epoch = this.epoch;
    const learningRate = scheduleValue(o.learningRate, epoch, o.epochs);
    const momentum = scheduleValue(o.momentum, epoch, o.epochs);
    if (!this.chainsLoaded) await this.loadChains();
    // Each epoch's order is a function of the shuffle stream alone, so a resumed run sees the same order;
    // a run stopped inside an epoch draws the same order again and continues after its last batch.
    this.epochShuffleStart = this.shuffleRng.offset;
    this.batches.order(o.shuffle ? this.shuffleRng : undefined);
    this.backend.fill(this.ascent.epochErr, this.epochErrorCarry);
    this.epochErrorCarry = 0;
    const batches = this.batchCount();
    const firstBatch = this.batchInEpoch;

    let intervalStart = firstBatch;
    let snap = this.takeSnapshot();
    let stepAtInterval = this.step;
    for (let batch = firstBatch; batch < batches; ) {
      const count = this.batches.runLength(batch, intervalStart);
      const { ws, rows } = await this.batches.read(batch, count);
      this.ascent.run(ws, rows, learningRate, momentum);
      // The next run is read while the backend works on this one.
      this.batches.readAhead(batch + count, intervalStart);
      // A backend that queues on the host is waited for now and then, so that its queue (and the batches
      // it holds) stays short.
      if (this.backend.drain && ++this.queued >= MAX_QUEUED) {
        await this.backend.drain();
        this.queued = 0;
      }
      const first = batch;
      batch += count - 1;
      if (this.o.onBatch) {
        for (let i = 0; i < count; i++) {
          await this.o.onBatch({
            epoch,
            batch: first + i,
            step: this.step + i + 1,
            batchSize: ws.size,
            learningRate,
            momentum,
            readReconstructionError: () => this.readScalar(this.ascent.batchError(i), ws.size),
          });
        }
      }
      this.step += count;
      const aborted = this.o.signal?.aborted === true && batch < batches - 1;
      const intervalEnd = aborted || batch === batches - 1 || this.batches.endsInterval(batch + 1, intervalStart);
      if (intervalEnd) {
        if (!(await this.ascent.parametersSound(this.o.maxParameter))) {
          await this.batches.settle();
          await this.locateDivergence(snap, stepAtInterval, intervalStart, batch, learningRate, momentum);
        }
        if (batch < batches - 1) {
          intervalStart = batch + 1;
          snap = this.takeSnapshot();
          stepAtInterval = this.step;
        }
      }
      if (aborted) {
        await this.batches.settle();
        // Stop between batches: exportState now records this epoch's position.
        this.batchInEpoch = batch + 1;
        this.shuffleRng.offset = this.epochShuffleStart;
        const [errSum] = await this.backend.read(this.ascent.epochErr);
        this.epochErrorCarry = errSum!;
        throw new TrainingAbortedError(this.epoch, batch + 1, batches);
      }
      batch++;
    }
    this.batchInEpoch = 0;
    this.epoch++;
    const [errSum] = await this.backend.read(this.ascent.epochErr);
    let metrics: EpochMetrics = {
      epoch,
      step: this.step,
      learningRate,
      momentum,
      ...(this.o.objective === 'discriminative'
        ? { reconstructionError: Number.NaN, crossEntropy: errSum! / this.data.rows }
        : { reconstructionError: errSum! / this.data.rows }),
      seconds: 0,
    };
    // The free-energy figures need a free energy: hidden units without one (NReLU) train without them.
    if (this.o.validation && this.model.hasFreeEnergy) {
      const n = o.freeEnergySamples;
      const train = await this.meanFreeEnergy(await readHead(this.data, n));
      const valid = await this.meanFreeEnergy(this.o.validation);
      metrics = { ...metrics, freeEnergyTrain: train, freeEnergyValidation: valid, freeEnergyGap: valid - train };
    }
    metrics = { ...metrics, seconds: (performance.now() - t0) / 1000 };
    await this.o.onEpoch?.(metrics);
    return metrics;
  }

  private async locateDivergence(
    snap: Snapshot,
    stepAtInterval: number,
    from: number,
    to: number,
    learningRate: number,
    momentum: number,
  ): Promise<never> {
    this.restoreSnapshot(snap);
    this.step = stepAtInterval;
    for (let batch = from; batch <= to; batch++) {
      const before = this.takeSnapshot();
      const { ws, rows } = await this.batches.read(batch, 1);
      this.ascent.run(ws, rows, learningRate, momentum);
      this.step++;
      if (!(await this.ascent.parametersSound(this.o.maxParameter))) {
        this.restoreSnapshot(before);
        throw new DivergenceError(
          this.step,
          this.epoch,
          batch,
          `a parameter became NaN, infinite or larger than ${this.o.maxParameter} in magnitude (learning rate too high?)`,
        );
      }
    }
    // Not reproduced on replay: cannot happen with deterministic kernels, but say so if it does.
    throw new DivergenceError(this.step, this.epoch, to, 'non-finite parameters that a replay did not reproduce');
  }

  private async readScalar(t: Tensor, divisor: number): Promise<number> {
    const copy = this.backend.tensor(1, 1);
    this.backend.copy(copy, t);
    try {
      const [x] = await this.backend.read(copy);
      return x! / divisor;
    } finally {
      this.backend.dispose(copy);
    }
  }

  private async meanFreeEnergy(ds: Dataset): Promise<number> {
    const rows = Math.min(this.o.freeEnergySamples, ds.rows);
    const F = await this.model.freeEnergy(ds.data.subarray(0, rows * ds.cols));
    let s = 0;
    for (const f of F) s += f;
    return s / rows;
  }

  /** Copies the trainer's state to the host (a few readbacks; call it between batches). */
  async exportState(): Promise<TrainerState> {
    this.live();
    if (!this.chainsLoaded) await this.loadChains();
    return {
      epoch: this.epoch,
      ...(this.batchInEpoch > 0 ? { batch: this.batchInEpoch, epochErrorSum: this.epochErrorCarry } : {}),
      step: this.step,
      gibbsOffset: this.gibbs.offset,
      shuffleOffset: this.shuffleRng.offset,
      ...(await this.state.export()),
    };
  }

  /**
   * Restores a state from {@link exportState} (same model shape and options). Everything is checked before
   * anything is written, so a bad state leaves the trainer as it was.
   */
  importState(state: TrainerState): void {
    this.live();
    for (const [name, x] of [
      ['epoch', state.epoch],
      ['step', state.step],
      ['gibbsOffset', state.gibbsOffset],
      ['shuffleOffset', state.shuffleOffset],
    ] as const) {
      if (!Number.isSafeInteger(x) || x < 0)
        throw new ArgumentError(`trainer state: ${name} must be a non-negative integer, got ${x}`);
    }
    const batch = state.batch ?? 0;
    if (!Number.isSafeInteger(batch) || batch < 0 || batch >= this.batchCount())
      throw new ArgumentError(`trainer state: batch must be an integer in [0, ${this.batchCount()}), got ${batch}`);
    const errorSum = state.epochErrorSum ?? 0;
    if (!Number.isFinite(errorSum) || errorSum < 0)
      throw new ArgumentError(`trainer state: epochErrorSum must be a finite number >= 0, got ${errorSum}`);
    this.state.import(state);
    this.chainsLoaded = true;
    this.model.refreshVariance();
    this.epoch = state.epoch;
    this.batchInEpoch = batch;
    this.epochErrorCarry = errorSum;
    this.step = state.step;
    this.gibbs.offset = state.gibbsOffset;
    this.shuffleRng.offset = state.shuffleOffset;
  }

  /** Where the run stands: epochs done, batches done in the current epoch, optimiser steps taken. */
  position(): { readonly epoch: number; readonly batch: number; readonly step: number } {
    return { epoch: this.epoch, batch: this.batchInEpoch, step: this.step };
  }

  /** Between epochs: a {@link TrainingAbortedError} saying where the run stands, if its signal was aborted. */
  throwIfAborted(): void {
    if (this.o.signal?.aborted) throw new TrainingAbortedError(this.epoch, this.batchInEpoch, this.batchCount());
  }

  /** Runs the remaining epochs and returns their metrics. A second call while one runs is refused. */
  async run(): Promise<EpochMetrics[]> {
    if (this.running) throw new RbmError('INVALID_ARGUMENT', 'this trainer is already running: one run() at a time');
    this.running = true;
    try {
      const history: EpochMetrics[] = [];
      const turn = eventTurns(this.o.signal);
      while (this.epoch < this.o.epochs) {
        await turn();
        this.throwIfAborted();
        history.push(await this.trainEpoch());
      }
      return history;
    } finally {
      this.running = false;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scope.dispose();
  }
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

/** Trains `model` on `data` in place and returns the metrics of each epoch. */
export async function train(model: RBM, data: Dataset | DataSource, options: TrainOptions): Promise<EpochMetrics[]> {
  const trainer = new Trainer(model, data, options);
  try {
    return await trainer.run();
  } finally {
    trainer.dispose();
  }
}
