import { MAX_QUEUED_UNITS, MAX_QUEUED_UPLOAD_BYTES, QueuePacer } from '../backend/pace.js';
import { Scope } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import type { DataSource } from '../data/source.js';
import { ArgumentError, DivergenceError, RbmError, TrainingAbortedError } from '../errors.js';
import type { RBM } from '../model/rbm.js';
import { eventTurns } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import type { TrainOptions } from './config.js';
import type { BoundFamily, EpochSettings, ModelFamily, Monitor } from './family.js';
import { BestEpoch } from './monitor.js';
import type { EpochMetrics, RunOptions } from './options.js';
import type { GradientTerm, NegativePhase } from './parts.js';
import { rbmFamily } from './rbm-family.js';
import { StateRegistry, type StateSnapshot, type TrainerState } from './state.js';

/**
 * The one training loop of every model family (family.ts): stages of epochs of mini-batches by stochastic
 * gradient ascent on the family's objective. It owns the epochs and stages, the shuffle and Gibbs streams
 * (counter-based, so every position can be saved and replayed), the read-ahead, the pacing of a backend that
 * queues, the divergence checks (on divergence the check interval is replayed from a snapshot one step at a
 * time to find the first bad step, and the model is left with the parameters from before it), early stopping
 * on a monitored figure with the best epoch kept, the state's export and import, and signals. For the RBM:
 * `new Trainer(model, data, options)`, the maximum-likelihood gradient <v h^T>_data - <v h^T>_model with the
 * data term Rao-Blackwellised and the model term from CD-k (Hinton 2002), PCD (Tieleman 2008), FPCD or
 * parallel tempering (rbm-family.ts); for any family, `new Trainer(family, runOptions)`.
 */

/** A divergence rollback's restore point: the registry's copies and the Gibbs stream's position. */
interface Snapshot {
  readonly state: StateSnapshot;
  readonly gibbs: number;
}

/** What a run of the trainer reports and watches (the RBM's options add the validation set). */
export interface LoopRunOptions extends RunOptions {
  /** Early stopping on a figure of the epochs' metrics; replaces the family's own. */
  readonly monitor?: Monitor;
  /**
   * Figures of the caller's after each epoch (held-out error, validation figures), added to the epoch's
   * metrics before early stopping reads them.
   */
  readonly figures?: (metrics: EpochMetrics) => Promise<Readonly<Record<string, number>>>;
}

export class Trainer<M = RBM, B = unknown> {
  readonly family: ModelFamily<M, B>;
  readonly model: M;
  /** The RBM family's negative-phase sampler and gradient terms (undefined for other families). */
  readonly negativePhase: NegativePhase;
  readonly terms: readonly GradientTerm[];
  private readonly backend: Backend;
  private readonly o: LoopRunOptions;
  private readonly scope: Scope;
  private readonly gibbs: RandomStream;
  private readonly shuffleRng: RandomStream;
  private readonly state: StateRegistry;
  private readonly bound: BoundFamily<B>;
  private readonly best: BestEpoch | undefined;
  /** Persistent chains start from training examples, loaded (asynchronously) before the first step. */
  private started: boolean;
  /** The stage, epochs done in it, and optimiser steps done in all. */
  stage = 0;
  epoch = 0;
  step = 0;
  private disposed = false;
  /** Batches of the current epoch already done, and the shuffle position its order was drawn from. */
  private batchInEpoch = 0;
  private running = false;
  private epochShuffleStart = 0;
  private epochErrorCarry = 0;

  /** The RBM: `new Trainer(model, data, options)`. Any family: `new Trainer(family, runOptions)`. */
  constructor(model: RBM, data: Dataset | DataSource, options: TrainOptions & LoopRunOptions);
  constructor(family: ModelFamily<M, B>, options?: LoopRunOptions);
  constructor(first: RBM | ModelFamily<M, B>, second?: Dataset | DataSource | LoopRunOptions, third?: TrainOptions) {
    const isFamily = typeof (first as ModelFamily<M, B>).bind === 'function';
    // The RBM's training options, less the loop's own (early stopping and the caller's figures).
    const rbmOptions = () => {
      const { monitor: _m, figures: _f, ...train } = third as TrainOptions & LoopRunOptions;
      return train;
    };
    const family = (
      isFamily ? first : rbmFamily(first as RBM, second as Dataset | DataSource, rbmOptions())
    ) as ModelFamily<M, B>;
    const options: LoopRunOptions = isFamily ? ((second as LoopRunOptions | undefined) ?? {}) : third!;
    this.family = family;
    this.model = family.model;
    this.o = options;
    this.backend = family.backend;
    this.scope = new Scope(family.backend);
    this.gibbs = new RandomStream(family.seed, family.gibbsStream);
    this.shuffleRng = new RandomStream(family.seed, Streams.shuffle);
    this.state = new StateRegistry(family.backend, this.scope, family.binaryStates);
    this.state.rollbackAlso(...family.parameters.map((p) => p.tensor));
    const random = new DeviceRandom(family.backend, this.gibbs);
    this.bound = family.bind({ backend: family.backend, scope: this.scope, state: this.state, random });
    const parts = this.bound as Partial<{ negativePhase: NegativePhase; terms: readonly GradientTerm[] }>;
    this.negativePhase = parts.negativePhase as NegativePhase;
    this.terms = parts.terms ?? [];
    this.started = this.bound.start === undefined;
    const monitor = options.monitor ?? family.monitor;
    this.best = monitor ? new BestEpoch(monitor, family) : undefined;
    this.skipEmptyStages();
  }

  /** A stage of no epochs is passed over (a DBM without pretraining starts at joint training). */
  private skipEmptyStages(): void {
    const stages = this.family.stages;
    while (this.stage < stages.length - 1 && this.epoch === 0 && stages[this.stage]!.epochs === 0) this.stage++;
  }

  /** The epochs of the current stage. */
  get epochs(): number {
    return this.family.stages[this.stage]!.epochs;
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'Trainer used after dispose()');
  }

  private async start(): Promise<void> {
    await this.bound.start?.();
    this.started = true;
  }

  private takeSnapshot(): Snapshot {
    return { state: this.state.snapshot(), gibbs: this.gibbs.offset };
  }

  private restoreSnapshot(snap: Snapshot): void {
    this.state.restore(snap.state);
    this.bound.restored?.();
    this.gibbs.offset = snap.gibbs;
  }

  /** The settings of the current epoch, from the family's schedules. */
  private settings(): EpochSettings {
    return this.family.settings(this.stage, this.epoch);
  }

  /** Runs one epoch of the current stage (and moves on to the next stage after its last). */
  async trainEpoch(): Promise<EpochMetrics> {
    this.live();
    const t0 = performance.now();
    const family = this.family;
    const batches = this.bound.batches;
    const epoch = this.epoch;
    const stage = this.stage;
    const settings = this.settings();
    if (!this.started) await this.start();
    // Each epoch's order is a function of the shuffle stream alone, so a resumed run sees the same order;
    // a run stopped inside an epoch draws the same order again and continues after its last batch.
    this.epochShuffleStart = this.shuffleRng.offset;
    batches.order(family.shuffle === false ? undefined : this.shuffleRng);
    if (this.bound.epochError) this.backend.fill(this.bound.epochError, this.epochErrorCarry);
    this.epochErrorCarry = 0;
    const count = batches.count;
    const pacer = new QueuePacer(this.backend, MAX_QUEUED_UPLOAD_BYTES, family.maxQueuedUnits ?? MAX_QUEUED_UNITS);
    let intervalStart = this.batchInEpoch;
    let snap = this.takeSnapshot();
    let stepAtInterval = this.step;
    for (let batch = this.batchInEpoch; batch < count; ) {
      const n = batches.runLength(batch, intervalStart);
      const read = await batches.read(batch, n);
      const issued = this.bound.run(read, n, stage, settings);
      // The next run is read while the backend works on this one.
      batches.readAhead(batch + n, intervalStart);
      await pacer.issued(issued.uploadBytes);
      const first = batch;
      batch += n - 1;
      if (this.o.onBatch) {
        for (let i = 0; i < n; i++) {
          const error = this.bound.batchError?.(i);
          await this.o.onBatch({
            epoch,
            batch: first + i,
            step: this.step + i + 1,
            batchSize: issued.size,
            learningRate: settings.learningRate,
            momentum: settings.momentum,
            readReconstructionError: () => (error ? this.readScalar(error, issued.size) : Promise.resolve(Number.NaN)),
          });
        }
      }
      this.step += n;
      const aborted = this.o.signal?.aborted === true && batch < count - 1;
      if (aborted || batch === count - 1 || batches.endsInterval(batch + 1, intervalStart)) {
        if (!(await this.sound())) {
          await batches.settle();
          await this.locateDivergence(snap, stepAtInterval, intervalStart, batch, settings);
        }
        if (batch < count - 1) {
          intervalStart = batch + 1;
          snap = this.takeSnapshot();
          stepAtInterval = this.step;
        }
      }
      if (aborted) {
        await batches.settle();
        // Stop between batches: exportState now records this epoch's position.
        this.batchInEpoch = batch + 1;
        this.shuffleRng.offset = this.epochShuffleStart;
        if (this.bound.epochError) this.epochErrorCarry = (await this.backend.read(this.bound.epochError))[0]!;
        throw new TrainingAbortedError(this.epoch, batch + 1, count);
      }
      batch++;
    }
    this.batchInEpoch = 0;
    this.epoch++;
    const errorSum = this.bound.epochError ? (await this.backend.read(this.bound.epochError))[0]! : Number.NaN;
    const stages = family.stages;
    let metrics: EpochMetrics = {
      epoch,
      step: this.step,
      ...settings,
      reconstructionError: Number.NaN,
      ...(await this.bound.figures(errorSum, stage, settings)),
      ...(stages.length > 1 ? { stage: stages[stage]!.name, epochs: stages[stage]!.epochs } : {}),
      seconds: 0,
    };
    if (this.o.figures) metrics = { ...metrics, ...(await this.o.figures(metrics)) };
    if (this.best && stage === stages.length - 1)
      metrics = { ...metrics, ...(await this.best.observe(epoch, metrics as unknown as Record<string, number>)) };
    metrics = { ...metrics, seconds: (performance.now() - t0) / 1000 };
    if (this.epoch >= stages[stage]!.epochs && stage < stages.length - 1) this.nextStage();
    await this.o.onEpoch?.(metrics);
    return metrics;
  }

  private async locateDivergence(
    snap: Snapshot,
    stepAtInterval: number,
    from: number,
    to: number,
    settings: EpochSettings,
  ): Promise<never> {
    this.restoreSnapshot(snap);
    this.step = stepAtInterval;
    const batches = this.bound.batches;
    for (let batch = from; batch <= to; batch++) {
      const before = this.takeSnapshot();
      this.bound.run(await batches.read(batch, 1), 1, this.stage, settings);
      this.step++;
      if (!(await this.sound())) {
        this.restoreSnapshot(before);
        const stage = this.family.stages.length > 1 ? ` (${this.family.stages[this.stage]!.name})` : '';
        throw new DivergenceError(
          this.step,
          this.epoch,
          batch,
          `a parameter became NaN, infinite or larger than ${this.family.maxParameter} in magnitude${stage} (learning rate too high?)`,
        );
      }
    }
    // Not reproduced on replay: cannot happen with deterministic kernels, but say so if it does.
    throw new DivergenceError(this.step, this.epoch, to, 'non-finite parameters that a replay did not reproduce');
  }

  /**
   * Whether every parameter is finite and within the family's `maxParameter`: the family's own check where it
   * has one (the RBM's, one small read), else each parameter read back.
   */
  private async sound(): Promise<boolean> {
    const max = this.family.maxParameter;
    if (this.bound.sound) return this.bound.sound(max);
    for (const { tensor } of this.family.parameters) {
      const x = await this.family.backend.read(tensor);
      for (let i = 0; i < x.length; i++) if (!(Math.abs(x[i]!) <= max)) return false;
    }
    return true;
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

  /** The best epoch so far by the monitored figure (0-based), when a figure is monitored. */
  get bestEpoch(): { readonly epoch: number; readonly value: number } | undefined {
    return this.best?.current;
  }

  /** Copies the trainer's state to the host (a few readbacks; call it between batches). */
  async exportState(): Promise<TrainerState> {
    this.live();
    if (!this.started) await this.start();
    return {
      epoch: this.epoch,
      ...(this.stage > 0 ? { stage: this.stage } : {}),
      ...(this.batchInEpoch > 0 ? { batch: this.batchInEpoch, epochErrorSum: this.epochErrorCarry } : {}),
      step: this.step,
      gibbsOffset: this.gibbs.offset,
      shuffleOffset: this.shuffleRng.offset,
      ...(await this.state.export()),
      ...(this.best?.exported ? { monitor: this.best.exported } : {}),
    };
  }

  /**
   * Restores a state from {@link exportState} (same model shape and options). Everything is checked before
   * anything is written, so a bad state leaves the trainer as it was.
   */
  importState(state: TrainerState): void {
    this.live();
    const stages = this.family.stages;
    const stage = state.stage ?? 0;
    for (const [name, x] of [
      ['epoch', state.epoch],
      ['stage', stage],
      ['step', state.step],
      ['gibbsOffset', state.gibbsOffset],
      ['shuffleOffset', state.shuffleOffset],
    ] as const) {
      if (!Number.isSafeInteger(x) || x < 0)
        throw new ArgumentError(`trainer state: ${name} must be a non-negative integer, got ${x}`);
    }
    if (stage >= stages.length)
      throw new ArgumentError(`trainer state: stage ${stage} is not one of 0..${stages.length - 1}`);
    if (stage < stages.length - 1 && state.epoch > stages[stage]!.epochs)
      throw new ArgumentError(`trainer state: epoch ${state.epoch} is past stage ${stages[stage]!.name}`);
    const batch = state.batch ?? 0;
    const count = this.bound.batches.count;
    if (!Number.isSafeInteger(batch) || batch < 0 || batch >= count)
      throw new ArgumentError(`trainer state: batch must be an integer in [0, ${count}), got ${batch}`);
    const errorSum = state.epochErrorSum ?? 0;
    if (!Number.isFinite(errorSum) || errorSum < 0)
      throw new ArgumentError(`trainer state: epochErrorSum must be a finite number >= 0, got ${errorSum}`);
    if (state.monitor && !this.best)
      throw new ArgumentError('trainer state: it has a monitored best epoch, this run monitors no figure');
    this.best?.check(state.monitor, state.epoch);
    this.state.import(state);
    this.best?.import(state.monitor);
    this.started = true;
    this.bound.restored?.();
    this.stage = stage;
    this.epoch = state.epoch;
    this.batchInEpoch = batch;
    this.epochErrorCarry = errorSum;
    this.step = state.step;
    this.gibbs.offset = state.gibbsOffset;
    this.shuffleRng.offset = state.shuffleOffset;
    // A state saved at the end of a stage's last epoch (as earlier versions wrote them) moves on now.
    if (stage < stages.length - 1 && state.epoch === stages[stage]!.epochs) this.nextStage();
    else this.skipEmptyStages();
  }

  /** After a stage's last epoch: the family's change of stage, then the next stage that has epochs. */
  private nextStage(): void {
    this.bound.endStage?.(this.stage);
    this.stage++;
    this.epoch = 0;
    this.skipEmptyStages();
  }

  /**
   * Where the run stands: epochs done (in the stage, for a family of several stages), batches done in the
   * current epoch, optimiser steps taken.
   */
  position(): { readonly stage?: number; readonly epoch: number; readonly batch: number; readonly step: number } {
    const at = { epoch: this.epoch, batch: this.batchInEpoch, step: this.step };
    return this.family.stages.length > 1 ? { stage: this.stage, ...at } : at;
  }

  /** Between epochs: a {@link TrainingAbortedError} saying where the run stands, if its signal was aborted. */
  throwIfAborted(): void {
    if (this.o.signal?.aborted) throw new TrainingAbortedError(this.epoch, this.batchInEpoch, this.bound.batches.count);
  }

  /** Whether every stage has run its epochs, or early stopping ended the run. */
  get done(): boolean {
    const last = this.family.stages.length - 1;
    return (this.stage === last && this.epoch >= this.epochs) || this.best?.stop === true;
  }

  /**
   * Runs the remaining epochs of every stage and returns their metrics. With a monitored figure the model
   * ends with the best epoch's parameters. A second call while one runs is refused.
   */
  async run(): Promise<EpochMetrics[]> {
    if (this.running) throw new RbmError('INVALID_ARGUMENT', 'this trainer is already running: one run() at a time');
    this.running = true;
    try {
      const history: EpochMetrics[] = [];
      const turn = eventTurns(this.o.signal);
      while (!this.done) {
        await turn();
        this.throwIfAborted();
        history.push(await this.trainEpoch());
      }
      // What a model file states of its best epoch is what it holds; early stopping only ends the run sooner.
      if (this.best?.current) {
        this.best.restore();
        this.bound.restored?.();
      }
      return history;
    } finally {
      this.running = false;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.bound.dispose?.();
    this.scope.dispose();
  }
}

export { checkTrainingData } from './rbm-family.js';

/** Trains `model` on `data` in place and returns the metrics of each epoch. */
export async function train(model: RBM, data: Dataset | DataSource, options: TrainOptions): Promise<EpochMetrics[]> {
  const trainer = new Trainer(model, data, options);
  try {
    return await trainer.run();
  } finally {
    trainer.dispose();
  }
}
