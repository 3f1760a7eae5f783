import { QueuePacer } from '../backend/pace.js';
import { memo } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Tensor } from '../backend/types.js';
import { checkMemory, ROW_COPIES, TRAINING_WEIGHT_COPIES } from '../budget.js';
import type { Ratings } from '../data/ratings.js';
import { ArgumentError, RbmError, ShapeError, TrainingAbortedError } from '../errors.js';
import { predictQueries, ratingErrors } from '../evaluate/ratings.js';
import type { CollaborativeModel, CollaborativeParameters } from '../model/collaborative.js';
import { ratedSets, Workspace } from '../model/collaborative-batch.js';
import { DeviceRandom } from '../random/device.js';
import { type RandomState, RandomStream, Streams } from '../random/stream.js';
import { checkSchedule, type Schedule, scheduleValue } from './schedule.js';

/**
 * Training and prediction of the collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007):
 * CD-T over batches of users, T raised during training as the paper does, momentum and weight decay,
 * held-out RMSE after each epoch, early stopping on it. A step is one fused unit (`cf-step`); a
 * prediction pass another (`cf-predict`).
 */

export interface CollaborativeTrainOptions {
  /** Epochs (default 60). */
  readonly epochs?: number;
  /**
   * Users per batch (default: 100, or fewer on small data sets: at least 20 batches an epoch, at least 10
   * users a batch).
   */
  readonly batchSize?: number;
  /** Learning rate, per user (the gradient is averaged over the batch; default 0.03). */
  readonly learningRate?: Schedule;
  /** Momentum (default 0.5 for 5 epochs, then 0.9). */
  readonly momentum?: Schedule;
  /** L2 weight decay of W and D (default 0.001). */
  readonly weightDecay?: number;
  /**
   * Gibbs steps T of CD-T (default 1 for 15 epochs, 3 to 25, then 5: the paper starts at T = 1 and raises
   * it "as learning converges").
   */
  readonly gibbsSteps?: Schedule;
  readonly seed?: number;
  /**
   * Stop when the held-out RMSE has not improved for this many epochs, and keep the best epoch's model. The
   * count starts once the RMSE has fallen 1% below the first epoch's: on a small data set the first epochs
   * can be a plateau (small initial weights), which is not convergence.
   */
  readonly patience?: number;
  readonly onEpoch?: (e: CollaborativeEpoch) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

export interface CollaborativeEpoch {
  /** 0-based. */
  readonly epoch: number;
  readonly gibbsSteps: number;
  readonly learningRate: number;
  readonly seconds: number;
  /** Held-out RMSE and MAE of the mean-field prediction (with held-out ratings). */
  readonly rmse?: number;
  readonly mae?: number;
  /** Whether this epoch's model is the best so far (the one kept with early stopping). */
  readonly best?: boolean;
}

export const COLLABORATIVE_DEFAULTS = {
  epochs: 60,
  batchSize: 100,
  learningRate: 0.03,
  momentum: { kind: 'piecewise', boundaries: [5], values: [0.5, 0.9] },
  weightDecay: 0.001,
  gibbsSteps: { kind: 'piecewise', boundaries: [15, 25], values: [1, 3, 5] },
} as const;

/** 100 users a batch, or fewer where that would leave under 20 updates an epoch (never under 10). */
export function defaultBatchSize(cases: number): number {
  return Math.min(COLLABORATIVE_DEFAULTS.batchSize, Math.max(10, Math.ceil(cases / 20)));
}

/** What a checkpoint holds to continue a run exactly. */
export interface CollaborativeTrainerState {
  readonly epoch: number;
  readonly gibbs: RandomState;
  readonly shuffle: RandomState;
  /** Velocities, in the order of the model's `tensors`. */
  readonly velocities: Float32Array[];
  readonly best?: { readonly epoch: number; readonly rmse: number; readonly parameters: CollaborativeParameters };
  /** Early stopping: the first epoch's held-out RMSE, and the epochs since the best one that count. */
  readonly firstRmse?: number;
  readonly sinceBest?: number;
}

/** Trains a {@link CollaborativeModel} on ratings, with held-out ratings (same ids) for RMSE and early stopping. */
export class CollaborativeTrainer {
  readonly model: CollaborativeModel;
  readonly train: Ratings;
  readonly heldOut: Ratings | undefined;
  private readonly o: Required<Omit<CollaborativeTrainOptions, 'onEpoch' | 'signal' | 'patience'>> &
    Pick<CollaborativeTrainOptions, 'onEpoch' | 'signal' | 'patience'>;
  private readonly velocities: Tensor[];
  private readonly gibbs: RandomStream;
  private readonly shuffle: RandomStream;
  private readonly random: DeviceRandom;
  private readonly rated: Int32Array[] | undefined;
  private readonly spaces = new Map<number, Workspace>();
  private epoch = 0;
  private best: CollaborativeTrainerState['best'];
  /** The first epoch's held-out RMSE (early stopping counts once learning has left it). */
  private first: number | undefined;
  private since = 0;

  constructor(model: CollaborativeModel, train: Ratings, heldOut?: Ratings, options: CollaborativeTrainOptions = {}) {
    const d = COLLABORATIVE_DEFAULTS;
    this.o = {
      epochs: options.epochs ?? d.epochs,
      batchSize: options.batchSize ?? defaultBatchSize(train.users.length),
      learningRate: options.learningRate ?? d.learningRate,
      momentum: options.momentum ?? d.momentum,
      weightDecay: options.weightDecay ?? d.weightDecay,
      gibbsSteps: options.gibbsSteps ?? d.gibbsSteps,
      seed: options.seed ?? 0,
      ...(options.patience !== undefined ? { patience: options.patience } : {}),
      ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const o = this.o;
    if (!Number.isInteger(o.epochs) || o.epochs < 1)
      throw new ArgumentError(`epochs must be a positive integer, got ${o.epochs}`);
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
      throw new ArgumentError(`batchSize must be a positive integer, got ${o.batchSize}`);
    checkSchedule('learningRate', o.learningRate, o.epochs, Number.MIN_VALUE, Number.POSITIVE_INFINITY);
    checkSchedule('momentum', o.momentum, o.epochs, 0, 1);
    checkSchedule('gibbsSteps', o.gibbsSteps, o.epochs, 1, 1001);
    for (let e = 0; e < o.epochs; e++)
      if (!Number.isInteger(scheduleValue(o.gibbsSteps, e, o.epochs)))
        throw new ArgumentError(`gibbsSteps at epoch ${e} is not a whole number`);
    if (!(o.weightDecay >= 0)) throw new ArgumentError(`weightDecay must be at least 0, got ${o.weightDecay}`);
    if (o.patience !== undefined && (!Number.isInteger(o.patience) || o.patience < 1))
      throw new ArgumentError(`patience must be a positive integer, got ${o.patience}`);
    if (o.patience !== undefined && !heldOut)
      throw new ArgumentError('early stopping (patience) needs held-out ratings');
    if (train.items.length !== model.numItems || train.levels.length !== model.numLevels)
      throw new ShapeError(
        `the model has ${model.numItems} items and ${model.numLevels} levels, the ratings ${train.items.length} and ${train.levels.length}`,
      );
    if (heldOut && heldOut.user.length === 0)
      throw new ArgumentError('the held-out ratings are empty: no held-out RMSE can be computed (give some, or none)');
    if (heldOut && (heldOut.items !== train.items || heldOut.users.length !== train.users.length))
      throw new ShapeError('the held-out ratings must share the training ratings ids (holdoutSplit or alignRatings)');
    const B = Math.min(o.batchSize, train.users.length);
    const M = model.numItems;
    const H = model.numHidden;
    const K = model.numLevels;
    // A batch's workspace is 3K + 8 rows of B x M (V_k, the mask, r, P_k, V~_k, six of scratch); a backend
    // holds copies of them (host staging, its own buffers, the queued uploads QueuePacer bounds), a held-out
    // pass a workspace of its own. Measured: 571 MiB RSS on onnxruntime:cpu, 10,000 x 10,000 ids, conditional,
    // held-out ratings; this estimate says 720 MiB.
    const rows = 3 * K + 8;
    checkMemory(
      `training a collaborative RBM of ${M} items x ${K} levels x ${H} hidden units, batches of ${B} users`,
      4 * (TRAINING_WEIGHT_COPIES * M * (K + 1) * H + ROW_COPIES * B * rows * M),
      `${TRAINING_WEIGHT_COPIES} copies of the weights and ${ROW_COPIES} of ${B} x ${rows} rows of ${M} items, float32`,
    );
    this.model = model;
    this.train = train;
    this.heldOut = heldOut;
    this.velocities = model.tensors.map((t) => model.backend.tensor(t.rows, t.cols));
    this.gibbs = new RandomStream(o.seed, Streams.gibbs);
    this.shuffle = new RandomStream(o.seed, Streams.shuffle);
    this.random = new DeviceRandom(model.backend, this.gibbs);
    this.rated = model.conditional ? ratedSets(heldOut ? [train, heldOut] : [train], train.users.length) : undefined;
  }

  get epochsDone(): number {
    return this.epoch;
  }

  /** One CD-T step on a batch of users (one fused unit). */
  private step(users: ArrayLike<number>, T: number, lr: number, m: number): Workspace {
    const model = this.model;
    const be = model.backend;
    const ws = memo(
      this.spaces,
      users.length,
      () => new Workspace(be, users.length, model.numItems, model.numHidden, model.numLevels),
    );
    ws.input.load(this.train, users, this.rated);
    const { V, mask, rated } = ws.input;
    const e = lr / users.length;
    const decay = lr * this.o.weightDecay;
    const vel = this.velocities;
    const K = model.numLevels;
    fused(
      be,
      'cf-step',
      () => {
        model.hiddenProbabilities(ws.ph0, V, rated);
        this.random.uniform(ws.uh);
        be.bernoulli(ws.h, ws.ph0, ws.uh);
        for (let t = 1; t <= T; t++) {
          model.visibleProbabilities(ws.P, ws.h, ws.lse, ws.tmp);
          model.sampleVisible(ws.Vn, ws.P, mask, this.random, ws);
          model.hiddenProbabilities(ws.ph, ws.Vn, rated);
          if (t < T) {
            this.random.uniform(ws.uh);
            be.bernoulli(ws.h, ws.ph, ws.uh);
          }
        }
        // Velocities: v <- m v + e (<V^T p(h|V)>_data - <V^T p(h|V)>_recon) - lr decay W; then theta <- theta + v.
        for (let k = 0; k < K; k++) {
          be.matMul(vel[k]!, V[k]!, ws.ph0, { transposeA: true, alpha: e, beta: m });
          be.matMul(vel[k]!, ws.Vn[k]!, ws.ph, { transposeA: true, alpha: -e, beta: 1 });
          if (decay > 0) be.axpby(vel[k]!, 1, vel[k]!, -decay, model.W[k]!);
        }
        be.binary('sub', ws.dh, ws.ph0, ws.ph);
        let n = K;
        if (model.D) {
          be.matMul(vel[n]!, rated, ws.dh, { transposeA: true, alpha: e, beta: m });
          if (decay > 0) be.axpby(vel[n]!, 1, vel[n]!, -decay, model.D);
          n++;
        }
        for (let k = 0; k < K; k++) {
          be.binary('sub', ws.tmp, V[k]!, ws.Vn[k]!);
          be.sum(ws.ga, ws.tmp, 0);
          be.axpby(vel[n + k]!, m, vel[n + k]!, e, ws.ga);
        }
        be.sum(ws.gh, ws.dh, 0);
        be.axpby(vel[n + K]!, m, vel[n + K]!, e, ws.gh);
        model.tensors.forEach((p, k) => {
          be.axpby(p, 1, p, 1, vel[k]!);
        });
      },
      { scratch: ws.scratch },
    );
    return ws;
  }

  /**
   * Runs the remaining epochs; returns the held-out figures of each. With held-out ratings the model ends with
   * the best epoch's parameters (lowest held-out RMSE), with or without early stopping.
   */
  async run(): Promise<CollaborativeEpoch[]> {
    const o = this.o;
    const history: CollaborativeEpoch[] = [];
    const U = this.train.users.length;
    const order = new Uint32Array(U);
    for (; this.epoch < o.epochs; this.epoch++) {
      const B = Math.min(o.batchSize, U);
      if (o.signal?.aborted) throw new TrainingAbortedError(this.epoch, 0, Math.ceil(U / B));
      const snapshot = await this.model.parameters();
      const started = performance.now();
      const T = scheduleValue(o.gibbsSteps, this.epoch, o.epochs);
      const lr = scheduleValue(o.learningRate, this.epoch, o.epochs);
      const m = scheduleValue(o.momentum, this.epoch, o.epochs);
      for (let u = 0; u < U; u++) order[u] = u;
      this.shuffle.shuffle(order);
      // Paced: a backend that queues runs (ONNX Runtime) holds a copy of each batch's uploads until it runs.
      const pacer = new QueuePacer(this.model.backend);
      for (let s = 0; s < U; s += B)
        await pacer.issued(this.step(order.subarray(s, s + B), T, lr, m).input.uploadBytes);
      // A finite check once an epoch (one read): NaN or infinity anywhere reaches the hidden biases.
      const b = await this.model.backend.read(this.model.b);
      if (!b.every(Number.isFinite)) {
        this.model.setParameters(snapshot);
        throw new RbmError(
          'DIVERGED',
          `training diverged in epoch ${this.epoch + 1} (non-finite hidden biases); the model keeps the parameters from the start of that epoch: lower the learning rate`,
        );
      }
      let figures: { rmse: number; mae: number } | undefined;
      let best: boolean | undefined;
      if (this.heldOut) {
        figures = ratingErrors(
          await predictQueries(this.model, this.train, this.heldOut, {
            batchSize: o.batchSize,
            ...(this.rated ? { rated: this.rated } : {}),
          }),
          this.heldOut,
        );
        this.first ??= figures.rmse;
        best = !this.best || figures.rmse < this.best.rmse;
        if (best) {
          this.best = { epoch: this.epoch, rmse: figures.rmse, parameters: await this.model.parameters() };
          this.since = 0;
        } else if (this.best!.rmse < 0.99 * this.first!) this.since++;
      }
      const event: CollaborativeEpoch = {
        epoch: this.epoch,
        gibbsSteps: T,
        learningRate: lr,
        seconds: (performance.now() - started) / 1000,
        ...(figures ?? {}),
        ...(best !== undefined ? { best } : {}),
      };
      history.push(event);
      await o.onEpoch?.(event);
      if (o.patience !== undefined && this.since >= o.patience) {
        this.epoch++;
        break;
      }
    }
    // Whenever a held-out figure is watched, the model ends as its best epoch left it, so that what a model
    // file states (that epoch and its RMSE) is what it holds; early stopping only ends the run sooner.
    if (this.best) this.model.setParameters(this.best.parameters);
    return history;
  }

  /** The best held-out epoch so far (with held-out ratings). */
  get bestEpoch(): { readonly epoch: number; readonly rmse: number } | undefined {
    return this.best ? { epoch: this.best.epoch, rmse: this.best.rmse } : undefined;
  }

  async exportState(): Promise<CollaborativeTrainerState> {
    const be = this.model.backend;
    return {
      epoch: this.epoch,
      gibbs: this.gibbs.state(),
      shuffle: this.shuffle.state(),
      velocities: await Promise.all(this.velocities.map(async (t) => Float32Array.from(await be.read(t)))),
      ...(this.best ? { best: this.best } : {}),
      ...(this.first !== undefined ? { firstRmse: this.first, sinceBest: this.since } : {}),
    };
  }

  /** Restores a state from {@link exportState}; everything is checked before anything is written. */
  importState(state: CollaborativeTrainerState): void {
    const count = (name: string, x: unknown, max = Number.MAX_SAFE_INTEGER) => {
      if (!Number.isSafeInteger(x) || (x as number) < 0 || (x as number) > max)
        throw new ArgumentError(`trainer state: ${name} must be a whole number in 0..${max}, got ${JSON.stringify(x)}`);
    };
    const figure = (name: string, x: unknown) => {
      if (typeof x !== 'number' || !Number.isFinite(x) || x < 0)
        throw new ArgumentError(`trainer state: ${name} must be a finite number >= 0, got ${JSON.stringify(x)}`);
    };
    count('epoch', state.epoch, this.o.epochs);
    count('gibbs.offset', state.gibbs?.offset);
    count('shuffle.offset', state.shuffle?.offset);
    if (state.best) {
      count('best.epoch', state.best.epoch, Math.max(0, state.epoch - 1));
      figure('best.rmse', state.best.rmse);
    }
    if (state.firstRmse !== undefined) {
      figure('firstRmse', state.firstRmse);
      count('sinceBest', state.sinceBest ?? 0, state.epoch);
    }
    if (state.velocities.length !== this.velocities.length)
      throw new ShapeError(`the state has ${state.velocities.length} velocities, the model ${this.velocities.length}`);
    state.velocities.forEach((v, k) => {
      const t = this.velocities[k]!;
      if (v.length !== t.rows * t.cols)
        throw new ShapeError(`velocity ${k} has ${v.length} values, expected ${t.rows * t.cols}`);
      this.model.backend.write(t, v);
    });
    this.epoch = state.epoch;
    this.gibbs.offset = state.gibbs.offset;
    this.shuffle.offset = state.shuffle.offset;
    this.best = state.best;
    this.first = state.firstRmse;
    this.since = state.sinceBest ?? 0;
  }

  dispose(): void {
    for (const ws of this.spaces.values()) ws.dispose();
    this.spaces.clear();
    for (const t of this.velocities) this.model.backend.dispose(t);
  }
}
