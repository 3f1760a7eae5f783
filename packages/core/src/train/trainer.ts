import { Scope } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { checkBatch, type DataSource, datasetSource, isDataSource, readHead } from '../data/source.js';
import { ArgumentError, DataError, DivergenceError, RbmError, ShapeError, TrainingAbortedError } from '../errors.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { ParallelTempering, type TemperingOptions, temperatureLadder } from '../sample/tempering.js';
import { checkSchedule, type Schedule, scheduleValue } from './schedule.js';

/**
 * Maximum-likelihood training by stochastic gradient ascent on the mean log-likelihood. The gradient is
 *
 *   d log p(v) / dW = <v h^T>_data - <v h^T>_model
 *
 * (and likewise v for a, h for b). The data term is taken analytically with p(h = 1 | v) (Rao-Blackwellised;
 * `positivePhase: 'samples'` uses a sampled h instead); the model term from Gibbs chains: CD-k starts them
 * at the data (Hinton 2002), PCD keeps persistent chains on the device across updates (Tieleman 2008).
 */

export type TrainingMethod = 'cd' | 'pcd' | 'pt';

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
  /** Temperature ladder for `pt` (default: 10 inverse temperatures from 1 down to 0.1). */
  readonly tempering?: TemperingOptions;
  /** Gaussian visible units: learn the log variances z too (default false: they stay as they are). */
  readonly learnVariance?: boolean;
  /** Learning rate of z relative to the learning rate (default 0.1: variances are easily destabilised). */
  readonly varianceLearningRateScale?: number;
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

/**
 * Everything besides the model that a resumed run needs to continue exactly where a checkpoint left off:
 * counters, the positions of the random streams, momentum, the sparsity estimate and the persistent chains.
 * Checkpoints are taken between epochs.
 */
export interface TrainerState {
  readonly epoch: number;
  /** Batches of `epoch` already done (0 between epochs: a run stopped by its signal stops inside one). */
  readonly batch?: number;
  /** Sum of the reconstruction errors of those batches. */
  readonly epochErrorSum?: number;
  readonly step: number;
  readonly gibbsOffset: number;
  readonly shuffleOffset: number;
  readonly velocity: {
    readonly weights: Float32Array;
    readonly visibleBias: Float32Array;
    readonly hiddenBias: Float32Array;
  };
  readonly sparsityEstimate?: Float32Array;
  /** Gaussian units with learned variances: the velocity of the log variances. */
  readonly varianceVelocity?: Float32Array;
  /** Parallel tempering: every replica's states (replica-major), and which pairs swap next. */
  readonly tempering?: { readonly states: Float32Array; readonly parity: number; readonly swapRounds: number };
  /** Centring offsets mu and lambda. */
  readonly offsets?: { readonly visible: Float32Array; readonly hidden: Float32Array; readonly initialised: boolean };
  readonly chains?: Float32Array;
}

interface ResolvedOptions {
  epochs: number;
  batchSize: number;
  learningRate: Schedule;
  momentum: Schedule;
  l2: number;
  l1: number;
  sparsity: Required<SparsityTarget> | undefined;
  centering: number | undefined;
  learnVariance: boolean;
  varianceScale: number;
  method: TrainingMethod;
  k: number;
  chains: number;
  positivePhase: 'probabilities' | 'samples';
  shuffle: boolean;
  seed: number;
  freeEnergySamples: number;
  checkInterval: number;
  maxParameter: number;
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

function resolveOptions(options: TrainOptions, rows: number): ResolvedOptions {
  const epochs = positiveInteger('epochs', options.epochs);
  const batchSize = positiveInteger('batchSize', options.batchSize ?? 100);
  const learningRate = options.learningRate ?? 0.1;
  checkSchedule('learningRate', learningRate, epochs, 0, Number.POSITIVE_INFINITY);
  const momentum = options.momentum ?? 0;
  checkSchedule('momentum', momentum, epochs, 0, 1);
  const method = options.method ?? 'cd';
  if (method !== 'cd' && method !== 'pcd' && method !== 'pt') {
    throw new ArgumentError(`method must be 'cd', 'pcd' or 'pt', got ${String(method)}`);
  }
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
    k: positiveInteger('k', options.k ?? 1),
    chains: positiveInteger('chains', options.chains ?? Math.min(batchSize, rows)),
    positivePhase,
    shuffle: options.shuffle ?? true,
    seed,
    freeEnergySamples: positiveInteger('freeEnergySamples', options.freeEnergySamples ?? 1000),
    checkInterval: positiveInteger(
      'divergenceCheckInterval',
      options.divergenceCheckInterval ?? Number.MAX_SAFE_INTEGER,
    ),
    maxParameter: positiveFinite('maxParameter', options.maxParameter ?? 1e4),
  };
}

/** Host counters that a divergence rollback restores beside the device tensors. */
interface Snapshot {
  readonly gibbs: number;
  readonly offsetsInitialised: boolean;
  readonly parity: number;
  readonly swapRounds: number;
}

/** Device buffers for one batch size. */
interface BatchWorkspace {
  readonly size: number;
  readonly v0: Tensor;
  readonly ph0: Tensor;
  readonly h0: Tensor;
  readonly uh0: Tensor;
  readonly pv: Tensor;
  readonly diff: Tensor;
  readonly rowErr: Tensor;
  readonly host: Float32Array;
  /** Gaussian units: v0 / sigma^2. */
  readonly scaled: Tensor | undefined;
  /** CD chains start at the batch, so they have its size; PCD uses the persistent chains instead. */
  readonly chain: Chain | undefined;
}

/** Gibbs chain state: v and the buffers of one sweep. */
interface Chain {
  readonly size: number;
  readonly v: Tensor;
  readonly pv: Tensor;
  readonly uv: Tensor;
  readonly h: Tensor;
  readonly ph: Tensor;
  readonly uh: Tensor;
}

/** The state of training that is not the model: what a divergence rollback restores. */
interface DeviceState {
  readonly velocity: [Tensor, Tensor, Tensor];
  readonly q: Tensor | undefined;
  /** Centring offsets mu [1, nv] and lambda [1, nh]. */
  readonly offsets: { readonly mu: Tensor; readonly lambda: Tensor } | undefined;
  readonly chains: Chain | undefined;
  readonly tempering: ParallelTempering | undefined;
  /** Gaussian units with learned variances: the velocity of z. */
  readonly varianceVelocity: Tensor | undefined;
}

export class Trainer {
  readonly model: RBM;
  readonly data: DataSource;
  /** True when the rows come from a source that was not validated up front (checked batch by batch). */
  private readonly checkBatches: boolean;
  private readonly backend: Backend;
  private readonly o: ResolvedOptions;
  private readonly options: TrainOptions;
  private readonly scope: Scope;
  private readonly gibbs: RandomStream;
  private readonly shuffleRng: RandomStream;
  private readonly random: DeviceRandom;
  private readonly workspaces = new Map<number, BatchWorkspace>();
  private readonly state: DeviceState;
  // Gradient buffers, ascent direction.
  private readonly gW: Tensor;
  private readonly ga: Tensor;
  private readonly gb: Tensor;
  private readonly gz: Tensor | undefined;
  private readonly sumV0: Tensor;
  private readonly sumVk: Tensor;
  private readonly sumPos: Tensor;
  private readonly sumNeg: Tensor;
  private readonly signW: Tensor | undefined;
  private readonly sparsityTarget: Tensor | undefined;
  private readonly sparsityDelta: Tensor | undefined;
  private readonly batchErr: Tensor;
  private readonly epochErr: Tensor;
  private readonly checksum: [Tensor, Tensor, Tensor, Tensor];
  private readonly perm: Uint32Array;
  /** PCD chains start from training examples, loaded (asynchronously) before the first step. */
  private chainsLoaded: boolean;
  /** Whether the centring offsets have been set from a first batch. */
  private offsetsInitialised = false;
  /** Completed epochs and optimiser steps. */
  epoch = 0;
  step = 0;
  private disposed = false;
  /** Batches of the current epoch already done, and the shuffle position its order was drawn from. */
  private batchInEpoch = 0;
  private epochShuffleStart = 0;
  private epochErrorCarry = 0;

  constructor(model: RBM, data: Dataset | DataSource, options: TrainOptions) {
    if (data.cols !== model.numVisible) {
      throw new ShapeError(
        `train: data${data.source ? ` in ${data.source}` : ''} has ${data.cols} columns, the model has ${model.numVisible} visible units`,
      );
    }
    this.checkBatches = isDataSource(data);
    if (!isDataSource(data)) assertVisibleData(data, model.visibleUnits);
    if (options.validation) {
      if (options.validation.cols !== model.numVisible) {
        throw new ShapeError(
          `validation data has ${options.validation.cols} columns, the model has ${model.numVisible} visible units`,
        );
      }
      assertVisibleData(options.validation, model.visibleUnits);
    }
    this.model = model;
    this.data = isDataSource(data) ? data : datasetSource(data);
    this.options = options;
    this.o = resolveOptions(options, data.rows);
    if (model.gaussian && (this.o.method === 'pt' || this.o.centering)) {
      throw new ArgumentError('parallel tempering and centring are implemented for Bernoulli visible units only');
    }
    if (this.o.learnVariance && !model.gaussian) {
      throw new ArgumentError('learnVariance needs gaussian visible units');
    }
    this.backend = model.backend;
    this.scope = new Scope(model.backend);
    this.gibbs = new RandomStream(this.o.seed, Streams.gibbs);
    this.shuffleRng = new RandomStream(this.o.seed, Streams.shuffle);
    this.random = new DeviceRandom(model.backend, this.gibbs);
    const nv = model.numVisible;
    const nh = model.numHidden;
    const s = this.scope;
    this.state = {
      velocity: [s.tensor(nv, nh), s.tensor(1, nv), s.tensor(1, nh)],
      q: this.o.sparsity ? s.tensor(1, nh) : undefined,
      offsets: this.o.centering ? { mu: s.tensor(1, nv), lambda: s.tensor(1, nh) } : undefined,
      varianceVelocity: this.o.learnVariance ? s.tensor(1, nv) : undefined,
      chains: this.o.method === 'pcd' ? this.newChain(this.o.chains) : undefined,
      tempering:
        this.o.method === 'pt'
          ? new ParallelTempering(model, s, this.random, this.o.chains, options.tempering ?? {})
          : undefined,
    };
    if (this.state.q) this.backend.fill(this.state.q, this.o.sparsity!.target);
    this.chainsLoaded = !this.state.chains && !this.state.tempering;
    this.gW = s.tensor(nv, nh);
    this.ga = s.tensor(1, nv);
    this.gb = s.tensor(1, nh);
    this.gz = this.o.learnVariance ? s.tensor(1, nv) : undefined;
    this.sumV0 = s.tensor(1, nv);
    this.sumVk = s.tensor(1, nv);
    this.sumPos = s.tensor(1, nh);
    this.sumNeg = s.tensor(1, nh);
    this.signW = this.o.l1 > 0 ? s.tensor(nv, nh) : undefined;
    if (this.o.sparsity) {
      this.sparsityTarget = s.tensor(1, 1, Float32Array.of(this.o.sparsity.target));
      this.sparsityDelta = s.tensor(1, nh);
    }
    this.batchErr = s.tensor(1, 1);
    this.epochErr = s.tensor(1, 1);
    this.checksum = [s.tensor(1, nh), s.tensor(1, 1), s.tensor(1, 1), s.tensor(1, 1)];
    this.perm = Uint32Array.from({ length: data.rows }, (_, i) => i);
  }

  get epochs(): number {
    return this.o.epochs;
  }

  private newChain(size: number): Chain {
    const s = this.scope;
    const nv = this.model.numVisible;
    const nh = this.model.numHidden;
    return {
      size,
      v: s.tensor(size, nv),
      pv: s.tensor(size, nv),
      uv: s.tensor(size, nv),
      h: s.tensor(size, nh),
      ph: s.tensor(size, nh),
      uh: s.tensor(size, nh),
    };
  }

  private workspace(size: number): BatchWorkspace {
    let ws = this.workspaces.get(size);
    if (!ws) {
      const s = this.scope;
      const nv = this.model.numVisible;
      const nh = this.model.numHidden;
      ws = {
        size,
        v0: s.tensor(size, nv),
        ph0: s.tensor(size, nh),
        h0: s.tensor(size, nh),
        uh0: s.tensor(size, nh),
        pv: s.tensor(size, nv),
        diff: s.tensor(size, nv),
        rowErr: s.tensor(size, 1),
        host: new Float32Array(size * nv),
        scaled: this.model.gaussian ? s.tensor(size, nv) : undefined,
        chain: this.o.method === 'cd' ? this.newChain(size) : undefined,
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
    if (this.checkBatches) checkBatch(ws.host, indices, cols, this.data.source, this.model.visibleUnits);
    this.backend.write(ws.v0, ws.host);
    return ws;
  }

  /** Persistent chains start at the first `chains` training examples (cycling when there are fewer). */
  private async loadChains(): Promise<void> {
    const size = this.o.chains;
    const init = new Float32Array(size * this.model.numVisible);
    const indices = Uint32Array.from({ length: size }, (_, r) => r % this.data.rows);
    await this.data.readRows(indices, init);
    if (this.checkBatches) checkBatch(init, indices, this.data.cols, this.data.source, this.model.visibleUnits);
    if (this.state.chains) this.backend.write(this.state.chains.v, init);
    if (this.state.tempering) {
      const t = this.backend.tensor(size, this.model.numVisible, init);
      this.state.tempering.setStates(t);
      this.backend.dispose(t);
    }
    this.chainsLoaded = true;
  }

  /** One gradient step on the batch in `ws`: all on the device, no readback. */
  private gradientStep(ws: BatchWorkspace, learningRate: number, momentum: number): void {
    const be = this.backend;
    const m = this.model;
    const o = this.o;
    const B = ws.size;

    // Positive phase: p(h = 1 | v0), and a sample h0 ~ p(h | v0).
    m.hiddenProbabilities(ws.ph0, ws.v0);
    this.random.uniform(ws.uh0);
    be.bernoulli(ws.h0, ws.ph0, ws.uh0);
    const pos = o.positivePhase === 'samples' ? ws.h0 : ws.ph0;

    // Reconstruction error, from p(v | h0): the CD chain's first half-step, computed here for both methods.
    m.visibleProbabilities(ws.pv, ws.h0);
    be.binary('sub', ws.diff, ws.v0, ws.pv);
    be.unary('square', ws.diff, ws.diff);
    be.sum(ws.rowErr, ws.diff, 1);
    be.sum(this.batchErr, ws.rowErr, 0);
    be.binary('add', this.epochErr, this.epochErr, this.batchErr);

    // Negative phase: k sweeps of block Gibbs sampling, h -> v -> h.
    // Negative statistics: the model's v and p(h = 1 | v) from k sweeps of the chains.
    let negV: Tensor;
    let negPh: Tensor;
    if (this.state.tempering) {
      const pt = this.state.tempering;
      for (let t = 1; t <= o.k; t++) {
        pt.sweep();
        pt.swap();
      }
      negV = pt.v;
      negPh = pt.ph;
    } else {
      const c = ws.chain ?? this.state.chains!;
      // CD starts the chain at h0, whose p(v | h0) is already in ws.pv; PCD continues the persistent chain.
      let pv = ws.pv;
      if (o.method === 'pcd') {
        m.hiddenProbabilities(c.ph, c.v);
        this.random.uniform(c.uh);
        be.bernoulli(c.h, c.ph, c.uh);
        m.visibleProbabilities(c.pv, c.h);
        pv = c.pv;
      }
      for (let t = 1; t <= o.k; t++) {
        if (t > 1) {
          m.visibleProbabilities(c.pv, c.h);
          pv = c.pv;
        }
        m.sampleVisible(c.v, pv, this.random, c.uv);
        m.hiddenProbabilities(c.ph, c.v);
        if (t < o.k) {
          this.random.uniform(c.uh);
          be.bernoulli(c.h, c.ph, c.uh);
        }
      }
      negV = c.v;
      negPh = c.ph;
    }

    // Gradient (ascent): data statistics over B examples minus chain statistics over C chains.
    const C = negV.rows;
    // Gaussian units: -dE/dW_ij = (v_i / sigma_i^2) h_j and -dE/da_i = (v_i - a_i) / sigma_i^2.
    let v0s = ws.v0;
    if (m.gaussian) {
      v0s = ws.scaled!;
      be.binary('mul', v0s, ws.v0, m.precision!);
    }
    be.matMul(this.gW, v0s, pos, { transposeA: true, alpha: 1 / B });
    be.matMul(this.gW, m.scaledVisible(negV), negPh, { transposeA: true, alpha: -1 / C, beta: 1 });
    be.sum(this.sumV0, ws.v0, 0);
    be.sum(this.sumVk, negV, 0);
    be.axpby(this.ga, 1 / B, this.sumV0, -1 / C, this.sumVk);
    if (m.gaussian) be.binary('mul', this.ga, this.ga, m.precision!);
    be.sum(this.sumPos, pos, 0);
    be.sum(this.sumNeg, negPh, 0);
    be.axpby(this.gb, 1 / B, this.sumPos, -1 / C, this.sumNeg);
    // Learned variances (Cho, Ilin & Raiko 2011), z = log sigma^2:
    //   -dE/dz_i = exp(-z_i) ((v_i - a_i)^2 / 2 - v_i (W h)_i)
    if (o.learnVariance) {
      this.varianceStatistic(this.sumV0, ws.v0, pos);
      this.varianceStatistic(this.sumVk, negV, negPh);
      be.axpby(this.gz!, 1 / B, this.sumV0, -1 / C, this.sumVk);
      be.binary('mul', this.gz!, this.gz!, m.precision!);
    }

    // Centring (Melchior et al. 2016): with offsets mu, lambda following the data means of v and p(h|v),
    //   dW_c = <(v - mu)(h - lambda)^T>_data - <...>_model = dW - mu^T db - da^T lambda
    //   da_c = da - lambda dW_c^T,   db_c = db - mu dW_c
    // (the centred gradient of the uncentred parameters; the model's distribution does not depend on offsets).
    if (o.centering) {
      const { mu, lambda } = this.state.offsets!;
      const nu = o.centering;
      if (!this.offsetsInitialised) {
        be.axpby(mu, 1 / B, this.sumV0, 0, this.sumV0);
        be.fill(lambda, 0.5);
        this.offsetsInitialised = true;
      } else {
        be.axpby(mu, 1 - nu, mu, nu / B, this.sumV0);
      }
      if (pos !== ws.ph0) be.sum(this.sumPos, ws.ph0, 0);
      be.axpby(lambda, 1 - nu, lambda, nu / B, this.sumPos);
      be.matMul(this.gW, mu, this.gb, { transposeA: true, alpha: -1, beta: 1 });
      be.matMul(this.gW, this.ga, lambda, { transposeA: true, alpha: -1, beta: 1 });
      be.matMul(this.ga, lambda, this.gW, { transposeB: true, alpha: -1, beta: 1 });
      be.matMul(this.gb, mu, this.gW, { alpha: -1, beta: 1 });
    }

    // Weight decay (weights only, not biases): d/dW of -(l2/2)|W|^2 - l1|W|_1.
    if (o.l2 > 0) be.axpby(this.gW, 1, this.gW, -o.l2, m.W);
    if (o.l1 > 0) {
      be.unary('sign', this.signW!, m.W);
      be.axpby(this.gW, 1, this.gW, -o.l1, this.signW!);
    }
    // Sparsity (Hinton 2010, section 11): q <- decay q + (1 - decay) mean p(h|v0); push b and W by -(q - p).
    if (o.sparsity) {
      const q = this.state.q!;
      const { decay, cost } = o.sparsity;
      if (pos !== ws.ph0) be.sum(this.sumPos, ws.ph0, 0);
      be.axpby(q, decay, q, (1 - decay) / B, this.sumPos);
      be.binary('sub', this.sparsityDelta!, q, this.sparsityTarget!);
      be.axpby(this.gb, 1, this.gb, -cost, this.sparsityDelta!);
      be.matMul(this.gW, this.sumV0, this.sparsityDelta!, { transposeA: true, alpha: -cost / B, beta: 1 });
    }

    // Momentum and update: velocity <- momentum velocity + lr g;  theta <- theta + velocity.
    const [vW, va, vb] = this.state.velocity;
    be.axpby(vW, momentum, vW, learningRate, this.gW);
    be.axpby(va, momentum, va, learningRate, this.ga);
    be.axpby(vb, momentum, vb, learningRate, this.gb);
    be.axpby(m.W, 1, m.W, 1, vW);
    be.axpby(m.a, 1, m.a, 1, va);
    be.axpby(m.b, 1, m.b, 1, vb);
    if (o.learnVariance) {
      const vz = this.state.varianceVelocity!;
      be.axpby(vz, momentum, vz, learningRate * o.varianceScale, this.gz!);
      be.axpby(m.z!, 1, m.z!, 1, vz);
      m.refreshVariance();
    }
  }

  /**
   * out[1, nv] = sum over rows of (v - a)^2 / 2 - v * (h W^T), the statistic of the variance gradient.
   */
  private varianceStatistic(out: Tensor, v: Tensor, h: Tensor): void {
    const be = this.backend;
    const m = this.model;
    const t = this.wideScratch(v.rows, 0);
    const scratch = this.wideScratch(v.rows, 1);
    be.matMul(t, h, m.W, { transposeB: true });
    be.binary('mul', t, t, v);
    be.binary('sub', scratch, v, m.a);
    be.unary('square', scratch, scratch);
    be.axpby(scratch, 0.5, scratch, -1, t);
    be.sum(out, scratch, 0);
  }

  private readonly wide = new Map<string, Tensor>();
  private wideScratch(rows: number, slot: number): Tensor {
    const key = `${rows}:${slot}`;
    let t = this.wide.get(key);
    if (!t) {
      t = this.scope.tensor(rows, this.model.numVisible);
      this.wide.set(key, t);
    }
    return t;
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

  /** Everything a rollback must restore: device tensors to copy, host counters to remember. */
  private rollbackTensors(): Tensor[] {
    const st = this.state;
    const ts = [this.model.W, this.model.a, this.model.b, ...st.velocity];
    if (st.q) ts.push(st.q);
    if (st.chains) ts.push(st.chains.v);
    if (st.offsets) ts.push(st.offsets.mu, st.offsets.lambda);
    if (this.model.z) ts.push(this.model.z);
    if (st.varianceVelocity) ts.push(st.varianceVelocity);
    if (st.tempering) for (let r = 0; r < st.tempering.size; r++) ts.push(st.tempering.replicaStates(r));
    return ts;
  }

  private snapshotTensors: Tensor[] | undefined;

  private takeSnapshot(): Snapshot {
    const ts = this.rollbackTensors();
    if (!this.snapshotTensors) this.snapshotTensors = ts.map((t) => this.scope.tensor(t.rows, t.cols));
    ts.forEach((t, i) => {
      this.backend.copy(this.snapshotTensors![i]!, t);
    });
    return {
      gibbs: this.gibbs.offset,
      offsetsInitialised: this.offsetsInitialised,
      parity: this.state.tempering?.parity ?? 0,
      swapRounds: this.state.tempering?.swapRounds ?? 0,
    };
  }

  private restoreSnapshot(snap: Snapshot): void {
    this.offsetsInitialised = snap.offsetsInitialised;
    if (this.state.tempering) {
      this.state.tempering.parity = snap.parity;
      this.state.tempering.swapRounds = snap.swapRounds;
    }
    this.rollbackTensors().forEach((t, i) => {
      this.backend.copy(t, this.snapshotTensors![i]!);
    });
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
      if (this.options.onBatch) {
        await this.options.onBatch({
          epoch,
          batch,
          step: this.step,
          batchSize: ws.size,
          learningRate,
          momentum,
          readReconstructionError: () => this.readScalar(this.batchErr, ws.size),
        });
      }
      const aborted = this.options.signal?.aborted === true && batch < batches - 1;
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
    if (this.options.validation) {
      const n = o.freeEnergySamples;
      const train = await this.meanFreeEnergy(await readHead(this.data, n));
      const valid = await this.meanFreeEnergy(this.options.validation);
      metrics = { ...metrics, freeEnergyTrain: train, freeEnergyValidation: valid, freeEnergyGap: valid - train };
    }
    metrics = { ...metrics, seconds: (performance.now() - t0) / 1000 };
    await this.options.onEpoch?.(metrics);
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

  /** Copies the trainer's state to the host (a few readbacks; call it between epochs). */
  async exportState(): Promise<TrainerState> {
    this.live();
    if (!this.chainsLoaded) await this.loadChains();
    const f32 = async (t: Tensor) => Float32Array.from(await this.backend.read(t));
    const [vW, va, vb] = this.state.velocity;
    const state: TrainerState = {
      epoch: this.epoch,
      ...(this.batchInEpoch > 0 ? { batch: this.batchInEpoch, epochErrorSum: this.epochErrorCarry } : {}),
      step: this.step,
      gibbsOffset: this.gibbs.offset,
      shuffleOffset: this.shuffleRng.offset,
      velocity: { weights: await f32(vW), visibleBias: await f32(va), hiddenBias: await f32(vb) },
    };
    return {
      ...state,
      ...(this.state.q ? { sparsityEstimate: await f32(this.state.q) } : {}),
      ...(this.state.chains ? { chains: await f32(this.state.chains.v) } : {}),
      ...(this.state.tempering ? { tempering: await this.exportTempering(this.state.tempering) } : {}),
      ...(this.state.varianceVelocity ? { varianceVelocity: await f32(this.state.varianceVelocity) } : {}),
      ...(this.state.offsets
        ? {
            offsets: {
              visible: await f32(this.state.offsets.mu),
              hidden: await f32(this.state.offsets.lambda),
              initialised: this.offsetsInitialised,
            },
          }
        : {}),
    };
  }

  private async exportTempering(pt: ParallelTempering) {
    const nv = this.model.numVisible;
    const states = new Float32Array(pt.size * pt.chains * nv);
    for (let r = 0; r < pt.size; r++) states.set(await this.backend.read(pt.replicaStates(r)), r * pt.chains * nv);
    return { states, parity: pt.parity, swapRounds: pt.swapRounds };
  }

  /** Restores a state from {@link exportState} (same model shape and options). */
  importState(state: TrainerState): void {
    this.live();
    const nv = this.model.numVisible;
    const nh = this.model.numHidden;
    // Every value is checked before anything is written: finite, and binary where the units are binary.
    const binaryStates = !this.model.gaussian;
    const expect = (
      name: string,
      x: ArrayLike<number> | undefined,
      n: number,
      range: 'finite' | 'states' | 'unit' = 'finite',
    ): ArrayLike<number> => {
      if (!x || x.length !== n)
        throw new ShapeError(`trainer state: ${name} has ${x?.length ?? 0} values, expected ${n}`);
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        const ok =
          range === 'states' && binaryStates
            ? v === 0 || v === 1
            : range === 'unit'
              ? v >= 0 && v <= 1
              : Number.isFinite(v);
        if (!ok) {
          const want = range === 'states' && binaryStates ? '0 or 1' : range === 'unit' ? 'in [0, 1]' : 'finite';
          throw new DataError(`trainer state: ${name}[${i}] is ${v}, expected ${want}`, { row: i, value: v });
        }
      }
      return x;
    };
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
    if (
      state.tempering &&
      (![0, 1].includes(state.tempering.parity) ||
        !Number.isSafeInteger(state.tempering.swapRounds) ||
        state.tempering.swapRounds < 0)
    )
      throw new ArgumentError(
        `trainer state: tempering parity ${state.tempering.parity} / swapRounds ${state.tempering.swapRounds} are not 0 or 1 / a count`,
      );
    // Validate everything first, write after: a bad state leaves the trainer as it was.
    const [vW, va, vb] = this.state.velocity;
    expect('velocity.weights', state.velocity?.weights, nv * nh);
    expect('velocity.visibleBias', state.velocity?.visibleBias, nv);
    expect('velocity.hiddenBias', state.velocity?.hiddenBias, nh);
    if (this.state.q) expect('sparsityEstimate', state.sparsityEstimate, nh, 'unit');
    if (this.state.chains) expect('chains', state.chains, this.state.chains.size * nv, 'states');
    if (this.state.varianceVelocity) expect('varianceVelocity', state.varianceVelocity, nv);
    if (this.state.tempering)
      expect(
        'tempering.states',
        state.tempering?.states,
        this.state.tempering.size * this.state.tempering.chains * nv,
        'states',
      );
    if (this.state.offsets) {
      expect('offsets.visible', state.offsets?.visible, nv, binaryStates ? 'unit' : 'finite');
      expect('offsets.hidden', state.offsets?.hidden, nh, 'unit');
    }
    this.backend.write(vW, Float32Array.from(expect('velocity.weights', state.velocity.weights, nv * nh)));
    this.backend.write(va, Float32Array.from(expect('velocity.visibleBias', state.velocity.visibleBias, nv)));
    this.backend.write(vb, Float32Array.from(expect('velocity.hiddenBias', state.velocity.hiddenBias, nh)));
    if (this.state.q)
      this.backend.write(this.state.q, Float32Array.from(expect('sparsityEstimate', state.sparsityEstimate, nh)));
    if (this.state.chains) {
      this.backend.write(
        this.state.chains.v,
        Float32Array.from(expect('chains', state.chains, this.state.chains.size * nv)),
      );
      this.chainsLoaded = true;
    }
    if (this.state.varianceVelocity) {
      this.backend.write(
        this.state.varianceVelocity,
        Float32Array.from(expect('varianceVelocity', state.varianceVelocity, nv)),
      );
    }
    if (this.state.tempering) {
      const pt = this.state.tempering;
      const block = pt.chains * nv;
      const states = expect('tempering.states', state.tempering?.states, pt.size * block);
      for (let r = 0; r < pt.size; r++) {
        this.backend.write(
          pt.replicaStates(r),
          Float32Array.from(Array.prototype.slice.call(states, r * block, (r + 1) * block)),
        );
      }
      pt.parity = state.tempering!.parity;
      pt.swapRounds = state.tempering!.swapRounds;
      this.chainsLoaded = true;
    }
    if (this.state.offsets) {
      this.backend.write(
        this.state.offsets.mu,
        Float32Array.from(expect('offsets.visible', state.offsets?.visible, nv)),
      );
      this.backend.write(
        this.state.offsets.lambda,
        Float32Array.from(expect('offsets.hidden', state.offsets?.hidden, nh)),
      );
      this.offsetsInitialised = state.offsets?.initialised ?? false;
    }
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

  /** Runs the remaining epochs and returns their metrics. */
  async run(): Promise<EpochMetrics[]> {
    const history: EpochMetrics[] = [];
    while (this.epoch < this.o.epochs) {
      if (this.options.signal?.aborted)
        throw new TrainingAbortedError(this.epoch, this.batchInEpoch, this.batchCount());
      history.push(await this.trainEpoch());
    }
    return history;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scope.dispose();
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
