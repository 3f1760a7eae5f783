import { QueuePacer } from '../backend/pace.js';
import { memo, Scope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Tensor } from '../backend/types.js';
import { checkMemory, float32Bytes, formatBytes } from '../budget.js';
import type { Dataset } from '../data/dataset.js';
import { checkBatch, type DataSource, datasetSource, isDataSource } from '../data/source.js';
import { ArgumentError, RbmError, ShapeError, TrainingAbortedError } from '../errors.js';
import type { DBM } from '../model/dbm.js';
import { checkIterations } from '../model/dbm.js';
import { DeviceRandom } from '../random/device.js';
import { type RandomState, RandomStream, Streams } from '../random/stream.js';
import { checkSchedule, type Schedule, scheduleValue } from './schedule.js';

/**
 * Training a deep Boltzmann machine (Salakhutdinov & Hinton 2009; Salakhutdinov & Larochelle 2010):
 *
 * 1. Greedy pretraining, one RBM per pair of layers (l, l + 1), each CD-1 on the layer below's mean-field
 *    activities, with the doubled-input trick: an RBM whose hidden layer will also hear from above sees its
 *    input twice (p(h | v) = sigmoid(2 v W + c)), one whose visible layer hears from below gets twice the
 *    top-down input (p(v | h) = sigmoid(2 h W^T + b)); S&H 2009 section 3.1 for two layers, the middle
 *    RBMs doubled both ways (S&H 2012). Composing, a middle layer's bias is the mean of its two RBMs' biases.
 * 2. Joint training by stochastic approximation: the data term from mean field, mu = argmax of the bound
 *    given v, the model term from persistent Gibbs chains over every layer (PCD):
 *      dW_l = <mu_l^T mu_{l+1}>_data - <s_l^T s_{l+1}>_chains,  db_l = <mu_l> - <s_l>,
 *    with momentum and weight decay. Each update is one fused unit (`dbm-step`); each pretraining update too.
 */

export interface DbmTrainOptions {
  /** Joint-training epochs (default 10). */
  readonly epochs?: number;
  /** Examples per mini-batch (default 100). */
  readonly batchSize?: number;
  /** Joint training's learning rate (default 0.005), of the mean gradient over a batch. */
  readonly learningRate?: Schedule;
  /**
   * Momentum (default 0.5). Hinton's 0.9 after 5 epochs made the persistent chains fall behind: on the 6-4-3
   * test model the exact log-likelihood then swung between -2.4 and -9 nats, against a steady -2.3 at 0.5.
   */
  readonly momentum?: Schedule;
  /** L2 weight decay on W (default 0.0002, S&H's weight cost). */
  readonly weightDecay?: number;
  /** Persistent chains (default 100, S&H's fantasy particles). */
  readonly chains?: number;
  /** Gibbs sweeps of the chains per update (default 1). */
  readonly gibbsSteps?: number;
  /** Mean-field iterations per update (default 10). */
  readonly meanFieldIterations?: number;
  /** Pretraining epochs per RBM (default 10; 0: no pretraining, joint training from small random weights). */
  readonly pretrainEpochs?: number;
  /** Pretraining's learning rate (default 0.05). */
  readonly pretrainLearningRate?: number;
  /** Seed of the initialisation's caller, shuffling and sampling (default 0). */
  readonly seed?: number;
}

export const DBM_DEFAULTS = {
  epochs: 10,
  batchSize: 100,
  learningRate: 0.005,
  momentum: 0.5,
  weightDecay: 0.0002,
  chains: 100,
  gibbsSteps: 1,
  meanFieldIterations: 10,
  pretrainEpochs: 10,
  pretrainLearningRate: 0.05,
  seed: 0,
} as const satisfies Required<DbmTrainOptions>;

/** Where a run stands: stage l < L pretrains the RBM of layers (l, l + 1); stage L is joint training. */
export interface DbmProgress {
  readonly stage: number;
  /** Epochs done in the stage. */
  readonly epoch: number;
}

/** What a checkpoint holds besides the parameters, to resume exactly at an epoch boundary. */
export interface DbmTrainerState extends DbmProgress {
  /** The chains' states of every layer (joint training), [chains, n_l] each. */
  readonly chains: readonly Float32Array[];
  /** Velocities of W_l, then of b_l (the stage's). */
  readonly velocities: readonly Float32Array[];
  /** Pretraining: the visible biases of RBMs 1..L-1 (averaged into b_l when pretraining ends). */
  readonly pretrainBiases: readonly Float32Array[];
  readonly shuffle: RandomState;
  readonly gibbs: RandomState;
}

export interface DbmEpoch {
  /** `pretrain` (then `layer`: the RBM's lower layer) or `joint`. */
  readonly phase: 'pretrain' | 'joint';
  readonly layer?: number;
  readonly epoch: number;
  readonly epochs: number;
  /** Mean squared error of v against p(v | mu_1) (joint) or the RBM's reconstruction (pretraining). */
  readonly reconstructionError: number;
  readonly seconds: number;
}

export interface DbmRunOptions {
  readonly signal?: AbortSignal;
  readonly onEpoch?: (epoch: DbmEpoch, trainer: DbmTrainer) => void | Promise<void>;
}

type Resolved = {
  -readonly [K in keyof typeof DBM_DEFAULTS]: K extends 'learningRate' | 'momentum' ? Schedule : number;
};

function positiveInteger(name: string, x: number, min = 1): void {
  if (!Number.isInteger(x) || x < min) throw new ArgumentError(`${name} must be an integer >= ${min}, got ${x}`);
}

/** The options with their defaults, checked. */
export function dbmTrainConfig(options: DbmTrainOptions = {}): Resolved {
  const c = { ...DBM_DEFAULTS, ...options } as Resolved;
  positiveInteger('epochs', c.epochs, 0);
  positiveInteger('batchSize', c.batchSize);
  positiveInteger('chains', c.chains);
  positiveInteger('gibbsSteps', c.gibbsSteps);
  positiveInteger('pretrainEpochs', c.pretrainEpochs, 0);
  checkIterations(c.meanFieldIterations);
  checkSchedule('learningRate', c.learningRate, Math.max(1, c.epochs), Number.MIN_VALUE, Number.POSITIVE_INFINITY);
  checkSchedule('momentum', c.momentum, Math.max(1, c.epochs), 0, 1);
  if (!(c.weightDecay >= 0) || !Number.isFinite(c.weightDecay))
    throw new ArgumentError(`weightDecay must be a finite number >= 0, got ${c.weightDecay}`);
  if (!(c.pretrainLearningRate > 0) || !Number.isFinite(c.pretrainLearningRate))
    throw new ArgumentError(`pretrainLearningRate must be a positive number, got ${c.pretrainLearningRate}`);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0)
    throw new ArgumentError(`seed must be a non-negative safe integer, got ${c.seed}`);
  return c;
}

/** Per-batch-size workspace. */
interface Workspace {
  readonly v: Tensor;
  readonly mu: Tensor[];
  readonly x: Tensor[];
  readonly u: Tensor[];
  readonly pv: Tensor;
}

export class DbmTrainer {
  readonly model: DBM;
  readonly config: Resolved;
  private readonly source: DataSource;
  private readonly scope: Scope;
  private readonly shuffle: RandomStream;
  private readonly gibbs: RandomStream;
  private readonly random: DeviceRandom;
  private readonly chains: Tensor[];
  private readonly chainP: Tensor[];
  private readonly chainU: Tensor[];
  /** Velocities of W_l and b_l, and pretraining's RBM visible biases c_l (l = 1..L-1). */
  private readonly dW: Tensor[];
  private readonly db: Tensor[];
  private readonly c: Tensor[];
  private readonly grad: Tensor[];
  private readonly errorSum: Tensor;
  private readonly errorCol: Tensor;
  private readonly workspaces = new Map<number, Workspace>();
  private progress: DbmProgress;
  private disposed = false;

  constructor(model: DBM, data: Dataset | DataSource, options: DbmTrainOptions = {}, state?: DbmTrainerState) {
    this.model = model;
    this.config = dbmTrainConfig(options);
    this.source = isDataSource(data) ? data : datasetSource(data);
    if (this.source.cols !== model.numVisible)
      throw new ShapeError(`data have ${this.source.cols} columns, the DBM's visible layer ${model.numVisible} units`);
    if (this.source.rows < 1) throw new ArgumentError('training data have no rows');
    const c = this.config;
    const sizes = model.sizes;
    const units = sizes.reduce((t, n) => t + n, 0);
    const weights = sizes.slice(0, -1).reduce((t, n, l) => t + n * sizes[l + 1]!, 0);
    const bytes = float32Bytes(3 * units * (c.chains + Math.min(c.batchSize, this.source.rows)) + 2 * weights);
    checkMemory(
      `DBM training (batch ${c.batchSize}, ${c.chains} chains)`,
      bytes,
      `${formatBytes(bytes)} for chains, mean-field workspace, velocities and gradients`,
    );
    const be = model.backend;
    this.scope = new Scope(be);
    const s = this.scope;
    this.shuffle = state ? RandomStream.fromState(state.shuffle) : new RandomStream(c.seed, Streams.shuffle);
    this.gibbs = state ? RandomStream.fromState(state.gibbs) : new RandomStream(c.seed, Streams.dbmChains);
    this.random = new DeviceRandom(be, this.gibbs);
    this.chains = sizes.map((n) => s.tensor(c.chains, n));
    this.chainP = sizes.map((n) => s.tensor(c.chains, n));
    this.chainU = sizes.map((n) => s.tensor(c.chains, n));
    this.dW = sizes.slice(0, -1).map((n, l) => s.tensor(n, sizes[l + 1]!));
    this.db = sizes.map((n) => s.tensor(1, n));
    this.c = sizes.map((n) => s.tensor(1, n));
    this.grad = sizes.slice(0, -1).map((n, l) => s.tensor(n, sizes[l + 1]!));
    this.errorSum = s.tensor(1, 1);
    this.errorCol = s.tensor(1, 1);
    this.progress = { stage: c.pretrainEpochs > 0 ? 0 : model.depth, epoch: 0 };
    if (state) this.restore(state);
    else this.startChains();
  }

  /** The chains start at random (p = 1/2 in every layer). */
  private startChains(): void {
    const be = this.model.backend;
    this.chains.forEach((t, l) => {
      be.fill(this.chainP[l]!, 0.5);
      this.random.uniform(t);
      be.bernoulli(t, this.chainP[l]!, t);
    });
  }

  private restore(state: DbmTrainerState): void {
    const be = this.model.backend;
    const L = this.model.depth;
    if (!Number.isInteger(state.stage) || state.stage < 0 || state.stage > L)
      throw new ArgumentError(`checkpoint stage ${state.stage} is not one of 0..${L}`);
    if (state.chains.length !== L + 1 || state.velocities.length !== 2 * L + 1 || state.pretrainBiases.length !== L + 1)
      throw new ShapeError('checkpoint state does not fit this DBM (chains, velocities or biases)');
    const put = (t: Tensor, x: Float32Array, what: string) => {
      if (x.length !== t.rows * t.cols)
        throw new ShapeError(`checkpoint ${what} has ${x.length} values, expected ${t.rows * t.cols}`);
      be.write(t, x);
    };
    for (const [l, x] of state.chains.entries()) put(this.chains[l]!, x, `chains of layer ${l}`);
    for (const [i, x] of state.velocities.entries()) {
      if (i < L) put(this.dW[i]!, x, `velocity of W_${i}`);
      else put(this.db[i - L]!, x, `velocity of b_${i - L}`);
    }
    for (const [l, x] of state.pretrainBiases.entries()) put(this.c[l]!, x, `pretraining bias ${l}`);
    this.progress = { stage: state.stage, epoch: state.epoch };
  }

  /** The position and the state a checkpoint needs (read back from the device). */
  async exportState(): Promise<DbmTrainerState> {
    const be = this.model.backend;
    const read = async (t: Tensor) => Float32Array.from(await be.read(t));
    return {
      ...this.progress,
      chains: await Promise.all(this.chains.map(read)),
      velocities: await Promise.all([...this.dW, ...this.db].map(read)),
      pretrainBiases: await Promise.all(this.c.map(read)),
      shuffle: this.shuffle.state(),
      gibbs: this.gibbs.state(),
    };
  }

  get position(): DbmProgress {
    return this.progress;
  }

  private workspace(B: number): Workspace {
    return memo(this.workspaces, B, () => {
      const sizes = this.model.sizes;
      const s = this.scope;
      return {
        v: s.tensor(B, sizes[0]!),
        mu: sizes.map((n) => s.tensor(B, n)),
        x: sizes.map((n) => s.tensor(B, n)),
        u: sizes.map((n) => s.tensor(B, n)),
        pv: s.tensor(B, sizes[0]!),
      };
    });
  }

  /** Resets the velocities (a new stage). */
  private resetVelocities(): void {
    const be = this.model.backend;
    for (const t of [...this.dW, ...this.db]) be.fill(t, 0);
  }

  /** Runs the remaining stages: pretraining (unless done or switched off), then joint training. */
  async run(options: DbmRunOptions = {}): Promise<void> {
    const L = this.model.depth;
    const c = this.config;
    while (this.progress.stage <= L) {
      const joint = this.progress.stage === L;
      const epochs = joint ? c.epochs : c.pretrainEpochs;
      while (this.progress.epoch < epochs) {
        const t0 = performance.now();
        const error = await this.epoch(options.signal);
        this.progress = { stage: this.progress.stage, epoch: this.progress.epoch + 1 };
        await this.checkFinite();
        await options.onEpoch?.(
          {
            phase: joint ? 'joint' : 'pretrain',
            ...(joint ? {} : { layer: this.progress.stage }),
            epoch: this.progress.epoch - 1,
            epochs,
            reconstructionError: error,
            seconds: (performance.now() - t0) / 1000,
          },
          this,
        );
      }
      if (joint) break;
      this.endStage();
    }
  }

  /** After pretraining RBM l: on to the next stage; after the last, the middle biases are averaged. */
  private endStage(): void {
    const L = this.model.depth;
    const be = this.model.backend;
    const next = this.progress.stage + 1;
    if (next === L) for (let l = 1; l < L; l++) be.axpby(this.model.b[l]!, 0.5, this.model.b[l]!, 0.5, this.c[l]!);
    this.resetVelocities();
    this.progress = { stage: next, epoch: 0 };
  }

  private async checkFinite(): Promise<void> {
    const be = this.model.backend;
    for (let l = 0; l < this.model.W.length; l++) {
      const w = await be.read(this.model.W[l]!);
      for (let i = 0; i < w.length; i++)
        if (!Number.isFinite(w[i]!))
          throw new RbmError(
            'DIVERGED',
            `DBM training diverged in ${this.progress.stage < this.model.depth ? `pretraining RBM ${this.progress.stage + 1}` : 'joint training'}, epoch ${this.progress.epoch}: W_${l} has a non-finite value at index ${i} (lower the learning rate or the momentum)`,
          );
    }
  }

  /** One epoch of the current stage; returns the mean squared reconstruction error. */
  private async epoch(signal?: AbortSignal): Promise<number> {
    const src = this.source;
    const c = this.config;
    const be = this.model.backend;
    const N = src.rows;
    const perm = Uint32Array.from({ length: N }, (_, i) => i);
    this.shuffle.shuffle(perm);
    const batches = Math.ceil(N / c.batchSize);
    const buf = new Float32Array(Math.min(c.batchSize, N) * src.cols);
    const stage = this.progress.stage;
    const joint = stage === this.model.depth;
    const epochs = joint ? c.epochs : c.pretrainEpochs;
    const lr = joint ? scheduleValue(c.learningRate, this.progress.epoch, epochs) : c.pretrainLearningRate;
    const momentum = scheduleValue(c.momentum, this.progress.epoch, epochs);
    be.fill(this.errorSum, 0);
    const pacer = new QueuePacer(be);
    for (let i = 0; i < batches; i++) {
      if (signal?.aborted) throw new TrainingAbortedError(this.progress.epoch, i, batches);
      const idx = perm.subarray(i * c.batchSize, Math.min(N, (i + 1) * c.batchSize));
      const view = buf.subarray(0, idx.length * src.cols);
      await src.readRows(idx, view);
      if (src.checks !== 'bernoulli') checkBatch(view, idx, src.cols, src.source, 'bernoulli', src.locate?.bind(src));
      const ws = this.workspace(idx.length);
      be.write(ws.v, view);
      const scratch = { scratch: this.scratchOf(ws) };
      if (joint) fused(be, 'dbm-step', () => this.jointStep(ws, lr, momentum), scratch);
      else fused(be, 'dbm-pretrain-step', () => this.pretrainStep(ws, stage, lr, momentum), scratch);
      await pacer.issued(4 * view.length);
    }
    const e = await be.read(this.errorSum);
    return e[0]! / (N * this.model.sizes[joint ? 0 : stage]!);
  }

  /**
   * What a step writes and nobody reads before writing it again (the workspace, gradients, the chains'
   * conditionals and uniforms): a compiling backend need not copy them out of the unit.
   */
  private scratchOf(ws: Workspace): Tensor[] {
    return [
      ...ws.mu.slice(1),
      ...ws.x,
      ...ws.u,
      ws.pv,
      ...this.grad,
      ...this.chainP,
      ...this.chainU,
      ...this.rows.values(),
      this.errorCol,
    ];
  }

  /** velocity = momentum velocity + lr (gradient - decay W); W += velocity. `g` holds the gradient. */
  private update(param: Tensor, velocity: Tensor, g: Tensor, lr: number, momentum: number, decay: number): void {
    const be = this.model.backend;
    if (decay !== 0) be.axpby(g, 1, g, -decay, param);
    be.axpby(velocity, momentum, velocity, lr, g);
    be.axpby(param, 1, param, 1, velocity);
  }

  /** Adds sum (v - pv)^2 of the batch to the epoch's error; `scratch` is of v's shape. */
  private addError(v: Tensor, pv: Tensor, scratch: Tensor): void {
    const be = this.model.backend;
    be.binary('sub', scratch, v, pv);
    be.unary('square', scratch, scratch);
    be.sum(this.errorCol, this.sumRows(scratch), 1);
    be.axpby(this.errorSum, 1, this.errorSum, 1, this.errorCol);
  }

  private readonly rows = new Map<string, Tensor>();
  /** A [1, n] scratch row per width and slot. */
  private row(n: number, slot: string): Tensor {
    return memo(this.rows, `${slot}:${n}`, () => this.scope.tensor(1, n));
  }

  /** [1, n] column sums of x (scratch). */
  private sumRows(x: Tensor): Tensor {
    const t = this.row(x.cols, 'sum');
    this.model.backend.sum(t, x, 0);
    return t;
  }

  /** One joint update: mean field on the batch, Gibbs on the chains, the stochastic-approximation step. */
  private jointStep(ws: Workspace, lr: number, momentum: number): void {
    const m = this.model;
    const be = m.backend;
    const c = this.config;
    const L = m.depth;
    const B = ws.v.rows;
    const mu = [ws.v, ...ws.mu.slice(1)];
    m.meanFieldStart(mu, ws.x);
    for (let t = 0; t < c.meanFieldIterations; t++) m.meanFieldSweep(mu, ws.x);
    for (let t = 0; t < c.gibbsSteps; t++) m.gibbsSweep(this.chains, this.chainP, this.chainU, this.random);
    // The error: v against p(v | mu_1).
    m.layerInput(ws.pv, mu, 0);
    be.unary('sigmoid', ws.pv, ws.pv);
    this.addError(ws.v, ws.pv, ws.u[0]!);
    const M = c.chains;
    for (let l = 0; l < L; l++) {
      const g = this.grad[l]!;
      be.matMul(g, mu[l]!, mu[l + 1]!, { transposeA: true, alpha: 1 / B });
      be.matMul(g, this.chains[l]!, this.chains[l + 1]!, { transposeA: true, alpha: -1 / M, beta: 1 });
      this.update(m.W[l]!, this.dW[l]!, g, lr, momentum, c.weightDecay);
    }
    for (let l = 0; l <= L; l++) {
      const g = this.row(m.sizes[l]!, 'grad');
      const t = this.sumRows(this.chains[l]!);
      be.sum(g, mu[l]!, 0);
      be.axpby(g, 1 / B, g, -1 / M, t);
      this.update(m.b[l]!, this.db[l]!, g, lr, momentum, 0);
    }
  }

  /**
   * One CD-1 update of the RBM of layers (l, l + 1), on the batch's bottom-up activities mu_l (doubled
   * weights below the top, as in mean field's start): visible bias b_0 (l = 0) or c_l, hidden bias b_{l+1}.
   */
  private pretrainStep(ws: Workspace, l: number, lr: number, momentum: number): void {
    const m = this.model;
    const be = m.backend;
    const L = m.depth;
    const B = ws.v.rows;
    const mu = [ws.v, ...ws.mu.slice(1)];
    for (let k = 1; k <= l; k++) {
      m.layerInput(ws.x[k]!, mu, k, 2, 0);
      be.unary('sigmoid', mu[k]!, ws.x[k]!);
    }
    const up = l + 1 < L ? 2 : 1;
    const down = l > 0 ? 2 : 1;
    const W = m.W[l]!;
    const hb = m.b[l + 1]!;
    const vb = l === 0 ? m.b[0]! : this.c[l]!;
    const x = mu[l]!;
    const nh = m.sizes[l + 1]!;
    const ph0 = ws.mu[l + 1]!;
    const ph1 = ws.x[l + 1]!;
    const h0 = ws.u[l + 1]!;
    const pv1 = ws.x[l]!;
    // ph0 = sigmoid(up x W + c), h0 ~ ph0, pv1 = sigmoid(down h0 W^T + b), ph1 = sigmoid(up pv1 W + c).
    be.matMul(ph0, x, W, { alpha: up });
    be.binary('add', ph0, ph0, hb);
    be.unary('sigmoid', ph0, ph0);
    this.random.uniform(h0);
    be.bernoulli(h0, ph0, h0);
    be.matMul(pv1, h0, W, { transposeB: true, alpha: down });
    be.binary('add', pv1, pv1, vb);
    be.unary('sigmoid', pv1, pv1);
    be.matMul(ph1, pv1, W, { alpha: up });
    be.binary('add', ph1, ph1, hb);
    be.unary('sigmoid', ph1, ph1);
    this.addError(x, pv1, ws.u[l]!);
    const g = this.grad[l]!;
    be.matMul(g, x, ph0, { transposeA: true, alpha: 1 / B });
    be.matMul(g, pv1, ph1, { transposeA: true, alpha: -1 / B, beta: 1 });
    this.update(W, this.dW[l]!, g, lr, momentum, this.config.weightDecay);
    const gv = this.row(m.sizes[l]!, 'grad-visible');
    be.sum(gv, x, 0);
    be.axpby(gv, 1 / B, gv, -1 / B, this.sumRows(pv1));
    this.update(vb, this.db[l]!, gv, lr, momentum, 0);
    const gh = this.row(nh, 'grad-hidden');
    be.sum(gh, ph0, 0);
    be.axpby(gh, 1 / B, gh, -1 / B, this.sumRows(ph1));
    this.update(hb, this.db[l + 1]!, gh, lr, momentum, 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scope.dispose();
  }
}
