import { Scope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, Tensor } from '../backend/types.js';
import { checkMemory, trainingMemory } from '../budget.js';
import type { Dataset } from '../data/dataset.js';
import { checkBatch, type DataSource, datasetSource, isDataSource, readHead } from '../data/source.js';
import { ArgumentError, DivergenceError, RbmError, ShapeError, TrainingAbortedError } from '../errors.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import { eventTurns } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type TemperingOptions, temperatureLadder } from '../sample/tempering.js';
import { ContrastiveDivergence, FastPersistentChains, PersistentChains, TemperedChains } from './negative-phase.js';
import type { GradientStep, GradientTerm, NegativePhase, PartContext, PositivePhase } from './parts.js';
import { checkSchedule, type Schedule, scheduleValue } from './schedule.js';
import { StateRegistry, type StateSnapshot, type TrainerState } from './state.js';
import { Centering, Discriminative, LearnedVariance, Sparsity, WeightDecay } from './terms.js';

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

export type TrainingMethod = 'cd' | 'pcd' | 'fpcd' | 'pt';

/**
 * What the gradient ascends (classification RBMs, whose last softmax group is the label; Larochelle &
 * Bengio 2008): `generative` the log-likelihood log p(x, y) (every RBM), `discriminative` the exact
 * log p(y | x), `hybrid` log p(y | x) + hybridWeight * log p(x, y).
 */
export type TrainingObjective = 'generative' | 'discriminative' | 'hybrid';

export interface SparsityTarget {
  /** Desired mean activation p of each hidden unit. */
  readonly target: number;
  /** Weight of the penalty. */
  readonly cost: number;
  /** Decay of the running estimate q of the activation, q <- decay q + (1 - decay) mean(p(h|v)); 0.9-0.99. */
  readonly decay?: number;
}

export interface BatchEvent {
  /** 0-based epoch and batch; `step` counts optimiser steps from 1 over the whole run. */
  readonly epoch: number;
  readonly batch: number;
  readonly step: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly momentum: number;
  /**
   * Mean squared reconstruction error of this batch. Call it inside the callback; it costs one device
   * readback, which is why it is not read unless asked.
   */
  readReconstructionError(): Promise<number>;
}

export interface EpochMetrics {
  /** 0-based epoch that just ended. */
  readonly epoch: number;
  readonly step: number;
  readonly learningRate: number;
  readonly momentum: number;
  /** Mean over examples of sum_i (v_i - p(v_i = 1 | h))^2, h ~ p(h | v), over the epoch. */
  readonly reconstructionError: number;
  /** Mean free energy of (a sample of) the training data, and of the validation data, when given. */
  readonly freeEnergyTrain?: number;
  readonly freeEnergyValidation?: number;
  /** freeEnergyValidation - freeEnergyTrain: growing means overfitting (Hinton 2010, section 6). */
  readonly freeEnergyGap?: number;
  readonly seconds: number;
}

export interface TrainOptions {
  /** Epochs to run; `Infinity` for a run that its {@link TrainOptions.signal} ends (schedules must allow it). */
  readonly epochs: number;
  /** Examples per mini-batch (default 100). The last, partial batch is used, not dropped. */
  readonly batchSize?: number;
  readonly learningRate?: Schedule;
  /** Momentum coefficient (default 0). */
  readonly momentum?: Schedule;
  /** L2 weight decay coefficient on W (default 0). */
  readonly l2?: number;
  /** L1 weight decay coefficient on W (default 0). */
  readonly l1?: number;
  readonly sparsity?: SparsityTarget;
  /**
   * Centring (Melchior, Fischer & Wiskott, JMLR 2016): the centred gradient, with offsets mu (visible) and
   * lambda (hidden) that follow sliding averages of the data means of v and p(h|v). `true` uses rate 0.01.
   */
  readonly centering?: boolean | { readonly rate?: number };
  /**
   * `cd` (default), `pcd`, or `pt`: persistent chains run as parallel tempering (replica exchange), the
   * model statistics taken from the beta = 1 replica (Desjardins et al. 2010).
   */
  readonly method?: TrainingMethod;
  /**
   * `fpcd`: the fast weights' learning rate (default: the learning rate of the first epoch, kept constant as
   * in Tieleman & Hinton 2009) and decay per update (default 19/20).
   */
  readonly fastWeights?: { readonly learningRate?: number; readonly decay?: number };
  /** Temperature ladder for `pt` (default: 10 inverse temperatures from 1 down to 0.1). */
  readonly tempering?: TemperingOptions;
  /** Gaussian visible units: learn the log variances z too (default false: they stay as they are). */
  readonly learnVariance?: boolean;
  /** Learning rate of z relative to the learning rate (default 0.1: variances are easily destabilised). */
  readonly varianceLearningRateScale?: number;
  /**
   * `generative` (default), or for a classification RBM `discriminative` or `hybrid` (see
   * {@link TrainingObjective}). The discriminative gradient is exact: no chains.
   */
  readonly objective?: TrainingObjective;
  /** `hybrid`: the weight alpha of the generative gradient (default 0.01, Larochelle & Bengio's MNIST setting). */
  readonly hybridWeight?: number;
  /** Gibbs steps per update (default 1). */
  readonly k?: number;
  /** Number of persistent chains for PCD (default: the batch size). */
  readonly chains?: number;
  /** Statistic of the data term: `probabilities` (default, Rao-Blackwellised) or `samples`. */
  readonly positivePhase?: 'probabilities' | 'samples';
  /** Shuffle the examples each epoch (default true). */
  readonly shuffle?: boolean;
  /** Seed of shuffling and sampling (default 0). */
  readonly seed?: number;
  /** Held-out data for the free-energy gap. */
  readonly validation?: Dataset;
  /** How many examples the free-energy monitor uses from each set (default 1000). */
  readonly freeEnergySamples?: number;
  /** Check the parameters for NaN/Inf and blow-up every this many steps (default: once per epoch). */
  readonly divergenceCheckInterval?: number;
  /**
   * Blow-up bound: training stops with a {@link DivergenceError} (the model keeping the parameters from
   * before the offending step) once a parameter's magnitude exceeds it (default 1e4, far beyond any trained
   * RBM; the check fires between maxParameter / sqrt(3) and maxParameter).
   */
  readonly maxParameter?: number;
  /**
   * Stops the run after the batch in flight: `run` and `trainEpoch` reject with a
   * {@link TrainingAbortedError}, and {@link Trainer.exportState} then captures the position inside the
   * epoch, so a resumed run continues with the next batch.
   */
  readonly signal?: AbortSignal;
  readonly onBatch?: (event: BatchEvent) => void | Promise<void>;
  readonly onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
}

/** Options after validation and defaults: the trainer reads these only. */
interface ResolvedOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: Schedule;
  readonly momentum: Schedule;
  readonly l2: number;
  readonly l1: number;
  readonly sparsity: Required<SparsityTarget> | undefined;
  readonly centering: number | undefined;
  readonly learnVariance: boolean;
  readonly varianceScale: number;
  readonly method: TrainingMethod;
  readonly tempering: TemperingOptions;
  readonly fastWeights: { readonly learningRate: number; readonly decay: number };
  readonly objective: TrainingObjective;
  readonly hybridWeight: number;
  readonly k: number;
  readonly chains: number;
  readonly positivePhase: 'probabilities' | 'samples';
  readonly shuffle: boolean;
  readonly seed: number;
  readonly validation: Dataset | undefined;
  readonly freeEnergySamples: number;
  readonly checkInterval: number;
  readonly maxParameter: number;
  readonly signal: AbortSignal | undefined;
  readonly onBatch: TrainOptions['onBatch'];
  readonly onEpoch: TrainOptions['onEpoch'];
}

function positiveInteger(name: string, x: number): number {
  if (!Number.isInteger(x) || x < 1) throw new ArgumentError(`${name} must be a positive integer, got ${x}`);
  return x;
}

function positiveFinite(name: string, x: number): number {
  if (!Number.isFinite(x) || x <= 0) throw new ArgumentError(`${name} must be a finite number > 0, got ${x}`);
  return x;
}

function nonNegative(name: string, x: number): number {
  if (!Number.isFinite(x) || x < 0) throw new ArgumentError(`${name} must be a finite number >= 0, got ${x}`);
  return x;
}

function centeringRate(c: TrainOptions['centering']): number | undefined {
  if (!c) return undefined;
  const rate = c === true ? 0.01 : (c.rate ?? 0.01);
  if (!(rate > 0 && rate <= 1)) throw new ArgumentError(`centering rate must be in (0, 1], got ${rate}`);
  return rate;
}

/** A boolean option: true, false or absent (a string such as 'no' is not read as true). */
function flag(name: string, x: unknown, fallback: boolean): boolean {
  if (x === undefined) return fallback;
  if (typeof x !== 'boolean') throw new ArgumentError(`${name} must be true or false, got ${JSON.stringify(x)}`);
  return x;
}

function resolveOptions(options: TrainOptions, rows: number): ResolvedOptions {
  const epochs =
    options.epochs === Number.POSITIVE_INFINITY ? options.epochs : positiveInteger('epochs', options.epochs);
  const batchSize = positiveInteger('batchSize', options.batchSize ?? 100);
  const learningRate = options.learningRate ?? 0.1;
  checkSchedule('learningRate', learningRate, epochs, 0, Number.POSITIVE_INFINITY);
  const momentum = options.momentum ?? 0;
  checkSchedule('momentum', momentum, epochs, 0, 1);
  const method = options.method ?? 'cd';
  if (method !== 'cd' && method !== 'pcd' && method !== 'fpcd' && method !== 'pt') {
    throw new ArgumentError(`method must be 'cd', 'pcd', 'fpcd' or 'pt', got ${String(method)}`);
  }
  if (options.fastWeights && method !== 'fpcd') throw new ArgumentError(`fastWeights needs method 'fpcd'`);
  // Options that would have no effect are refused, as fastWeights is: a silent no-op hides a mistake.
  if (options.tempering && method !== 'pt') throw new ArgumentError(`tempering needs method 'pt'`);
  if (options.chains !== undefined && method === 'cd')
    throw new ArgumentError(`chains is for persistent chains (method 'pcd', 'fpcd' or 'pt'); CD starts at the data`);
  const fastDecay = options.fastWeights?.decay ?? 19 / 20;
  if (!(fastDecay >= 0 && fastDecay < 1))
    throw new ArgumentError(`fastWeights.decay must be in [0, 1), got ${fastDecay}`);
  const fastWeights = {
    learningRate: nonNegative(
      'fastWeights.learningRate',
      options.fastWeights?.learningRate ?? scheduleValue(learningRate, 0, epochs),
    ),
    decay: fastDecay,
  };
  if (options.tempering) temperatureLadder(options.tempering);
  const positivePhase = options.positivePhase ?? 'probabilities';
  if (positivePhase !== 'probabilities' && positivePhase !== 'samples') {
    throw new ArgumentError(`positivePhase must be 'probabilities' or 'samples', got ${String(positivePhase)}`);
  }
  let sparsity: Required<SparsityTarget> | undefined;
  if (options.sparsity) {
    const { target, cost, decay = 0.95 } = options.sparsity;
    if (!(target > 0 && target < 1)) throw new ArgumentError(`sparsity target must be in (0, 1), got ${target}`);
    nonNegative('sparsity cost', cost);
    if (!(decay >= 0 && decay < 1)) throw new ArgumentError(`sparsity decay must be in [0, 1), got ${decay}`);
    sparsity = { target, cost, decay };
  }
  const objective = options.objective ?? 'generative';
  if (objective !== 'generative' && objective !== 'discriminative' && objective !== 'hybrid')
    throw new ArgumentError(`objective must be 'generative', 'discriminative' or 'hybrid', got ${String(objective)}`);
  if (options.hybridWeight !== undefined && objective !== 'hybrid')
    throw new ArgumentError(`hybridWeight is for objective 'hybrid'`);
  if (objective === 'discriminative' && (method !== 'cd' || sparsity || options.centering || options.learnVariance))
    throw new ArgumentError(
      `objective 'discriminative' has no negative phase: method must be 'cd', without sparsity, centring or learned variances`,
    );
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new ArgumentError(`seed must be a non-negative integer, got ${seed}`);
  return {
    epochs,
    batchSize,
    learningRate,
    momentum,
    l2: nonNegative('l2', options.l2 ?? 0),
    l1: nonNegative('l1', options.l1 ?? 0),
    sparsity,
    centering: centeringRate(options.centering),
    learnVariance: options.learnVariance ?? false,
    varianceScale: nonNegative('varianceLearningRateScale', options.varianceLearningRateScale ?? 0.1),
    method,
    tempering: options.tempering ?? {},
    fastWeights,
    objective,
    hybridWeight: nonNegative('hybridWeight', options.hybridWeight ?? 0.01),
    k: positiveInteger('k', options.k ?? 1),
    chains: positiveInteger('chains', options.chains ?? Math.min(batchSize, rows)),
    positivePhase,
    shuffle: flag('shuffle', options.shuffle, true),
    seed,
    validation: options.validation,
    freeEnergySamples: positiveInteger('freeEnergySamples', options.freeEnergySamples ?? 1000),
    checkInterval: positiveInteger(
      'divergenceCheckInterval',
      options.divergenceCheckInterval ?? Number.MAX_SAFE_INTEGER,
    ),
    maxParameter: positiveFinite('maxParameter', options.maxParameter ?? 1e4),
    signal: options.signal,
    onBatch: options.onBatch,
    onEpoch: options.onEpoch,
  };
}

/** The parts that options name: the negative phase, and the gradient terms in the order they apply. */
function buildParts(ctx: PartContext, o: ResolvedOptions): { negative: NegativePhase; terms: GradientTerm[] } {
  const negative =
    o.method === 'pcd'
      ? new PersistentChains(ctx, o.chains)
      : o.method === 'fpcd'
        ? new FastPersistentChains(ctx, o.chains, o.fastWeights)
        : o.method === 'pt'
          ? new TemperedChains(ctx, o.chains, o.tempering)
          : new ContrastiveDivergence(ctx);
  const terms: GradientTerm[] = [];
  if (o.objective !== 'generative') terms.push(new Discriminative(ctx));
  if (o.learnVariance) terms.push(new LearnedVariance(ctx, o.varianceScale));
  if (o.centering) terms.push(new Centering(ctx, o.centering));
  if (o.l2 > 0 || o.l1 > 0) terms.push(new WeightDecay(ctx, o.l2, o.l1));
  if (o.sparsity) terms.push(new Sparsity(ctx, o.sparsity));
  return { negative, terms };
}

/** Device buffers of the positive phase for one batch size. */
interface BatchWorkspace extends PositivePhase {
  readonly uh: Tensor;
  readonly diff: Tensor;
  readonly rowErr: Tensor;
  readonly host: Float32Array;
}

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
  private readonly workspaces = new Map<number, BatchWorkspace>();
  /** Momentum: the velocity of W, a and b. */
  private readonly velocity: readonly [Tensor, Tensor, Tensor];
  // Gradient buffers, ascent direction.
  private readonly gW: Tensor;
  private readonly ga: Tensor;
  private readonly gb: Tensor;
  private readonly sumV0: Tensor;
  private readonly sumVk: Tensor;
  private readonly sumPos: Tensor;
  private readonly sumNeg: Tensor;
  private readonly batchErr: Tensor;
  private readonly epochErr: Tensor;
  private readonly checksum: [Tensor, Tensor, Tensor, Tensor];
  private readonly perm: Uint32Array;
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

  constructor(model: RBM, data: Dataset | DataSource, options: TrainOptions) {
    checkTrainingData(data);
    if (data.cols !== model.numVisible) {
      throw new ShapeError(
        `train: data${data.source ? ` in ${data.source}` : ''} has ${data.cols} columns, the model has ${model.numVisible} visible units`,
      );
    }
    this.checkBatches = isDataSource(data);
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
    this.o = resolveOptions(options, data.rows);
    const chains = this.o.method === 'cd' ? 0 : this.o.chains;
    const temperatures = this.o.method === 'pt' ? temperatureLadder(this.o.tempering).length : 1;
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
    if (model.gaussian && (this.o.method === 'pt' || this.o.method === 'fpcd' || this.o.centering)) {
      throw new ArgumentError(
        'parallel tempering, fast-weights PCD and centring are implemented for Bernoulli visible units only',
      );
    }
    if (this.o.learnVariance && !model.gaussian) {
      throw new ArgumentError('learnVariance needs gaussian visible units');
    }
    this.backend = model.backend;
    this.scope = new Scope(model.backend);
    this.gibbs = new RandomStream(this.o.seed, Streams.gibbs);
    this.shuffleRng = new RandomStream(this.o.seed, Streams.shuffle);
    this.random = new DeviceRandom(model.backend, this.gibbs);
    this.state = new StateRegistry(model.backend, this.scope, !model.gaussian);
    const nv = model.numVisible;
    const nh = model.numHidden;
    const s = this.scope;
    // A rollback restores the model with the state; z is updated by the learned-variance term.
    this.state.rollbackAlso(model.W, model.a, model.b, ...(model.z ? [model.z] : []));
    this.velocity = [
      this.state.tensor('velocity.weights', nv, nh),
      this.state.tensor('velocity.visible_bias', 1, nv),
      this.state.tensor('velocity.hidden_bias', 1, nh),
    ];
    const parts = buildParts(
      { model, backend: model.backend, scope: s, state: this.state, random: this.random },
      this.o,
    );
    this.negativePhase = parts.negative;
    this.terms = parts.terms;
    this.chainsLoaded = this.negativePhase.start === undefined;
    this.gW = s.tensor(nv, nh);
    this.ga = s.tensor(1, nv);
    this.gb = s.tensor(1, nh);
    this.sumV0 = s.tensor(1, nv);
    this.sumVk = s.tensor(1, nv);
    this.sumPos = s.tensor(1, nh);
    this.sumNeg = s.tensor(1, nh);
    this.batchErr = s.tensor(1, 1);
    this.epochErr = s.tensor(1, 1);
    this.checksum = [s.tensor(1, nh), s.tensor(1, 1), s.tensor(1, 1), s.tensor(1, 1)];
    this.perm = Uint32Array.from({ length: data.rows }, (_, i) => i);
  }

  get epochs(): number {
    return this.o.epochs;
  }

  private workspace(size: number): BatchWorkspace {
    let ws = this.workspaces.get(size);
    if (!ws) {
      const s = this.scope;
      const nv = this.model.numVisible;
      const nh = this.model.numHidden;
      ws = {
        size,
        v: s.tensor(size, nv),
        ph: s.tensor(size, nh),
        h: s.tensor(size, nh),
        uh: s.tensor(size, nh),
        pv: s.tensor(size, nv),
        diff: s.tensor(size, nv),
        rowErr: s.tensor(size, 1),
        host: new Float32Array(size * nv),
      };
      this.workspaces.set(size, ws);
    }
    return ws;
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'Trainer used after dispose()');
  }

  private batchCount(): number {
    return Math.ceil(this.data.rows / this.o.batchSize);
  }

  /** Uploads the examples of batch `batch` of the current permutation (identity when not shuffling). */
  private async loadBatch(batch: number): Promise<BatchWorkspace> {
    const { rows, cols } = this.data;
    const start = batch * this.o.batchSize;
    const size = Math.min(this.o.batchSize, rows - start);
    const ws = this.workspace(size);
    const indices = this.perm.subarray(start, start + size);
    await this.data.readRows(indices, ws.host);
    if (this.checkBatches) checkBatch(ws.host, indices, cols, this.data.source, this.model.units, this.locate);
    this.backend.write(ws.v, ws.host);
    return ws;
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

  /** One gradient step on the batch in `ws`: all on the device, no readback; one unit where the backend fuses. */
  private gradientStep(ws: BatchWorkspace, learningRate: number, momentum: number): void {
    // The discriminative objective's step has a label of its own: a backend may treat it apart.
    const label = this.o.objective === 'generative' ? 'train-step' : 'train-step:discriminative';
    fused(this.backend, label, () => this.gradientOps(ws, learningRate, momentum), {
      scratch: this.stepScratch(ws),
    });
  }

  /**
   * The step's workspace, which no later step reads before writing: the batch's buffers, the gradient and
   * its sums, the sampler's buffers. Not batchErr (onBatch reads it) nor anything in the state registry.
   */
  private stepScratch(ws: BatchWorkspace): Tensor[] {
    return [
      ws.ph,
      ws.h,
      ws.uh,
      ws.pv,
      ws.diff,
      ws.rowErr,
      this.gW,
      this.ga,
      this.gb,
      this.sumV0,
      this.sumVk,
      this.sumPos,
      this.sumNeg,
      ...(this.negativePhase.scratch?.() ?? []),
    ];
  }

  private gradientOps(ws: BatchWorkspace, learningRate: number, momentum: number): void {
    const be = this.backend;
    const m = this.model;
    const B = ws.size;

    // Positive phase: p(h = 1 | v0), and a sample h0 ~ p(h | v0).
    m.hiddenProbabilities(ws.ph, ws.v);
    this.random.uniform(ws.uh);
    be.bernoulli(ws.h, ws.ph, ws.uh);
    const pos = this.o.positivePhase === 'samples' ? ws.h : ws.ph;

    // Reconstruction error, from p(v | h0): CD's first half-step, computed here for every sampler.
    m.visibleProbabilities(ws.pv, ws.h);
    be.binary('sub', ws.diff, ws.v, ws.pv);
    be.unary('square', ws.diff, ws.diff);
    be.sum(ws.rowErr, ws.diff, 1);
    be.sum(this.batchErr, ws.rowErr, 0);
    be.binary('add', this.epochErr, this.epochErr, this.batchErr);

    // Negative phase: the model's v and p(h = 1 | v) from the sampler's chains (none for the
    // discriminative objective, whose gradient the Discriminative term adds exactly).
    const generative = this.o.objective !== 'discriminative';
    const neg = generative ? this.negativePhase.sample(ws, this.o.k) : { v: ws.v, ph: ws.ph };

    // Gradient (ascent): data statistics over B examples minus chain statistics over C chains. The visible
    // units' statistic is v as the hidden units see it (Gaussian units: -dE/dW_ij = (v_i / sigma_i^2) h_j,
    // -dE/da_i = (v_i - a_i) / sigma_i^2). The hybrid objective weights it by alpha.
    const C = neg.v.rows;
    const w = this.o.objective === 'hybrid' ? this.o.hybridWeight : 1;
    be.sum(this.sumV0, ws.v, 0);
    if (generative) {
      be.matMul(this.gW, m.scaledVisible(ws.v), pos, { transposeA: true, alpha: w / B });
      be.matMul(this.gW, m.scaledVisible(neg.v), neg.ph, { transposeA: true, alpha: -w / C, beta: 1 });
      be.sum(this.sumVk, neg.v, 0);
      be.axpby(this.ga, w / B, this.sumV0, -w / C, this.sumVk);
      m.units.scaleBiasGradient(m, this.ga);
      be.sum(this.sumPos, pos, 0);
      be.sum(this.sumNeg, neg.ph, 0);
      be.axpby(this.gb, w / B, this.sumPos, -w / C, this.sumNeg);
    } else {
      be.fill(this.gW, 0);
      be.fill(this.ga, 0);
      be.fill(this.gb, 0);
    }

    if (this.terms.length > 0 || this.negativePhase.afterGradient) {
      // sumPos holds the sum of p(h | v0) once `dataHiddenSum` has been asked for (with sampled h0 it
      // held the sum of h0 until then).
      let hiddenSum = pos === ws.ph && generative;
      const step: GradientStep = {
        gW: this.gW,
        ga: this.ga,
        gb: this.gb,
        batch: ws,
        negative: neg,
        positive: pos,
        sumV: this.sumV0,
        dataHiddenSum: () => {
          if (!hiddenSum) be.sum(this.sumPos, ws.ph, 0);
          hiddenSum = true;
          return this.sumPos;
        },
      };
      for (const term of this.terms) term.apply(step);
      this.negativePhase.afterGradient?.(step);
    }

    // Momentum and update: velocity <- momentum velocity + lr g;  theta <- theta + velocity.
    const [vW, va, vb] = this.velocity;
    be.axpby(vW, momentum, vW, learningRate, this.gW);
    be.axpby(va, momentum, va, learningRate, this.ga);
    be.axpby(vb, momentum, vb, learningRate, this.gb);
    be.axpby(m.W, 1, m.W, 1, vW);
    be.axpby(m.a, 1, m.a, 1, va);
    be.axpby(m.b, 1, m.b, 1, vb);
    for (const term of this.terms) term.update?.(learningRate, momentum);
  }

  /**
   * Whether every parameter is finite and within the blow-up bound, with one readback. s = LSE(W^2) +
   * LSE(a^2) + LSE(b^2) (log-sum-exp over all entries) lies between max x^2 and 3 max x^2 + 3 log(size):
   * it is NaN or infinite when a parameter is (or its square overflows), and above maxParameter^2 only when
   * some |x| exceeds about maxParameter / sqrt(3). The gradient buffers serve as scratch: they are
   * recomputed by the next step.
   */
  private async parametersSound(): Promise<boolean> {
    const be = this.backend;
    const m = this.model;
    const [rowW, total, sa, sb] = this.checksum;
    be.unary('square', this.gW, m.W);
    be.unary('square', this.ga, m.a);
    be.unary('square', this.gb, m.b);
    be.logSumExp(rowW, this.gW, 0);
    be.logSumExp(total, rowW, 1);
    be.logSumExp(sa, this.ga, 1);
    be.logSumExp(sb, this.gb, 1);
    be.binary('add', total, total, sa);
    be.binary('add', total, total, sb);
    const [x] = await be.read(total);
    return Number.isFinite(x!) && x! <= this.o.maxParameter ** 2;
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
    for (let i = 0; i < this.perm.length; i++) this.perm[i] = i;
    if (o.shuffle) this.shuffleRng.shuffle(this.perm);
    this.backend.fill(this.epochErr, this.epochErrorCarry);
    this.epochErrorCarry = 0;
    const batches = this.batchCount();
    const firstBatch = this.batchInEpoch;

    let intervalStart = firstBatch;
    let snap = this.takeSnapshot();
    let stepAtInterval = this.step;
    for (let batch = firstBatch; batch < batches; batch++) {
      const ws = await this.loadBatch(batch);
      this.gradientStep(ws, learningRate, momentum);
      this.step++;
      if (this.o.onBatch) {
        await this.o.onBatch({
          epoch,
          batch,
          step: this.step,
          batchSize: ws.size,
          learningRate,
          momentum,
          readReconstructionError: () => this.readScalar(this.batchErr, ws.size),
        });
      }
      const aborted = this.o.signal?.aborted === true && batch < batches - 1;
      const intervalEnd = aborted || batch === batches - 1 || (batch + 1 - intervalStart) % o.checkInterval === 0;
      if (intervalEnd) {
        if (!(await this.parametersSound())) {
          await this.locateDivergence(snap, stepAtInterval, intervalStart, batch, learningRate, momentum);
        }
        if (batch < batches - 1) {
          intervalStart = batch + 1;
          snap = this.takeSnapshot();
          stepAtInterval = this.step;
        }
      }
      if (aborted) {
        // Stop between batches: exportState now records this epoch's position.
        this.batchInEpoch = batch + 1;
        this.shuffleRng.offset = this.epochShuffleStart;
        const [errSum] = await this.backend.read(this.epochErr);
        this.epochErrorCarry = errSum!;
        throw new TrainingAbortedError(this.epoch, batch + 1, batches);
      }
    }
    this.batchInEpoch = 0;
    this.epoch++;
    const [errSum] = await this.backend.read(this.epochErr);
    let metrics: EpochMetrics = {
      epoch,
      step: this.step,
      learningRate,
      momentum,
      reconstructionError: errSum! / this.data.rows,
      seconds: 0,
    };
    if (this.o.validation) {
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
      this.gradientStep(await this.loadBatch(batch), learningRate, momentum);
      this.step++;
      if (!(await this.parametersSound())) {
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

/** Training data must hold rows: a Dataset's values fill rows x cols exactly. */
function checkTrainingData(data: Dataset | DataSource): void {
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
