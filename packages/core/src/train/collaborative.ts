import { memo } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Tensor } from '../backend/types.js';
import { checkMemory, ROW_COPIES, TRAINING_WEIGHT_COPIES } from '../budget.js';
import type { Ratings } from '../data/ratings.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { predictionPass, predictQueries, ratingErrors } from '../evaluate/ratings.js';
import type { CollaborativeModel } from '../model/collaborative.js';
import { ratedSets, Workspace } from '../model/collaborative-batch.js';
import {
  gatherItemRows,
  oneOn,
  paddedRows,
  SparseBatch,
  sparseHiddenProbabilities,
  sparseReconstruction,
} from '../model/collaborative-sparse.js';
import type { RandomStream } from '../random/stream.js';
import { Streams } from '../random/stream.js';
import { choice, integer, type OptionDeclaration, option, real } from './declare.js';
import type { BoundFamily, EpochSettings, FamilyBatches, LoopContext, ModelFamily } from './family.js';
import type { EpochMetrics } from './options.js';
import { checkSchedule, type Schedule, scheduleValue } from './schedule.js';
/**
 * Training and prediction of the collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007):
 * CD-T over batches of users, T raised during training as the paper does, momentum and weight decay,
 * held-out RMSE after each epoch, early stopping on it. A step is one fused unit (`cf-step`); a
 * prediction pass another (`cf-predict`), or the host's where that is less work (predictQueries).
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
  /**
   * How a batch is held on the device: `dense` (K one-hot matrices [users, items]: one matrix product per
   * level, whatever the users rated), `sparse` (the ratings as triples: gathers and scatters of the rated
   * items' rows only), or `auto` (default): sparse where the ratings fill under {@link SPARSE_DENSITY} of the
   * users x items matrix. Both give the same numbers up to float32 rounding, from the same random draws.
   */
  readonly batchLayout?: BatchLayout | 'auto';
}

export type BatchLayout = 'dense' | 'sparse';

/**
 * `auto` takes the sparse layout below this density (ratings / (users x items)). Measured on onnxruntime:cpu,
 * 20,000 users x 2,000 items, 100 hidden units (docs/recommend.md): the sparse epoch is 3.0x faster at 2.26%,
 * 1.5x at 5%, 0.66x at 10%; the two meet near 7%.
 */
export const SPARSE_DENSITY = 0.05;

/** The layout `auto` (or a given one) comes to for these ratings; anything else is refused by name. */
export function resolveBatchLayout(layout: BatchLayout | 'auto' | undefined, r: Ratings): BatchLayout {
  if (layout === 'dense' || layout === 'sparse') return layout;
  if (layout !== undefined && layout !== 'auto')
    throw new ArgumentError(`batchLayout must be 'dense', 'sparse' or 'auto', got ${JSON.stringify(layout)}`);
  const cells = r.users.length * r.items.length;
  return cells > 0 && r.user.length / cells < SPARSE_DENSITY ? 'sparse' : 'dense';
}

/** A collaborative epoch's metrics: the {@link Trainer}'s, with T of CD-T and the held-out figures. */
export type CollaborativeEpoch = EpochMetrics & { readonly gibbsSteps: number };

export const COLLABORATIVE_DEFAULTS = {
  epochs: 60,
  batchSize: 100,
  learningRate: 0.03,
  momentum: { kind: 'piecewise', boundaries: [5], values: [0.5, 0.9] },
  weightDecay: 0.001,
  gibbsSteps: { kind: 'piecewise', boundaries: [15, 25], values: [1, 3, 5] },
} as const;

/**
 * The recommender's training options as it declares them (the CLI makes its flags from these, and refuses the
 * flags it does not declare). A given `gibbsSteps` is one T throughout.
 */
export const COLLABORATIVE_OPTIONS: readonly OptionDeclaration[] = [
  option('epochs', 'epochs', integer(1), { default: COLLABORATIVE_DEFAULTS.epochs, flag: '--epochs <n>' }),
  option('batchSize', 'users per batch (default: 100, fewer on small data: 20 batches an epoch)', integer(1), {
    flag: '--batch <n>',
  }),
  option(
    'learningRate',
    'learning rate',
    { kind: 'schedule', min: 0, max: Number.POSITIVE_INFINITY },
    { default: COLLABORATIVE_DEFAULTS.learningRate, flag: false },
  ),
  option('momentum', 'momentum (default 0.5, then 0.9)', { kind: 'schedule', min: 0, max: 1 }, { flag: false }),
  option('weightDecay', 'L2 weight decay of W and D', real(0), {
    default: COLLABORATIVE_DEFAULTS.weightDecay,
    flag: '--l2 <x>',
  }),
  option('gibbsSteps', 'T of CD-T (default 1, 3, then 5)', integer(1), { flag: '--k <n>' }),
  option('seed', 'seed of initialisation, hold-out split, shuffling and sampling', integer(0), {
    default: 0,
    flag: '--seed <n>',
  }),
  option('patience', 'stop after this many epochs without a better held-out RMSE', integer(1), {
    flag: '--early-stop <patience>',
  }),
  option(
    'batchLayout',
    `batches as matrices over every item (dense) or as the ratings alone (sparse); auto: sparse below ${SPARSE_DENSITY * 100}% density`,
    choice(['auto', 'dense', 'sparse']),
    { default: 'auto', flag: '--batch-layout <layout>' },
  ),
];

/** 100 users a batch, or fewer where that would leave under 20 updates an epoch (never under 10). */
export function defaultBatchSize(cases: number): number {
  return Math.min(COLLABORATIVE_DEFAULTS.batchSize, Math.max(10, Math.ceil(cases / 20)));
}

/** Batches of users in the epoch's order, one step each (a batch is its users' indices). */
class UserBatches implements FamilyBatches<Uint32Array> {
  private readonly order_: Uint32Array;
  private readonly size: number;

  constructor(users: number, batchSize: number) {
    this.order_ = new Uint32Array(users);
    this.size = Math.min(batchSize, users);
  }

  get count(): number {
    return Math.ceil(this.order_.length / this.size);
  }

  order(rng: RandomStream | undefined): void {
    for (let u = 0; u < this.order_.length; u++) this.order_[u] = u;
    rng?.shuffle(this.order_);
  }

  endsInterval(): boolean {
    return false;
  }

  runLength(): number {
    return 1;
  }

  async read(batch: number): Promise<Uint32Array> {
    return this.order_.subarray(batch * this.size, (batch + 1) * this.size);
  }

  readAhead(): void {}

  async settle(): Promise<void> {}
}

/**
 * Checks the model, ratings and options, and describes the recommender's training to the {@link Trainer}:
 * CD-T on batches of users with momentum and weight decay of W and D, the held-out RMSE and MAE after each
 * epoch, the best epoch kept (and early stopping with `patience`, counted once the RMSE fell 1% below the
 * first epoch's).
 */
export function collaborativeFamily(
  model: CollaborativeModel,
  train: Ratings,
  heldOut?: Ratings,
  options: CollaborativeTrainOptions = {},
): ModelFamily<CollaborativeModel, Uint32Array> {
  const d = COLLABORATIVE_DEFAULTS;
  const o = {
    epochs: options.epochs ?? d.epochs,
    batchSize: options.batchSize ?? defaultBatchSize(train.users.length),
    learningRate: options.learningRate ?? d.learningRate,
    momentum: options.momentum ?? d.momentum,
    weightDecay: options.weightDecay ?? d.weightDecay,
    gibbsSteps: options.gibbsSteps ?? d.gibbsSteps,
    seed: options.seed ?? 0,
    patience: options.patience,
    layout: resolveBatchLayout(options.batchLayout, train),
  };
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
  if (o.patience !== undefined && !heldOut) throw new ArgumentError('early stopping (patience) needs held-out ratings');
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
  // A dense batch's workspace is 3K + 8 rows of B x M (V_k, the mask, r, P_k, V~_k, six of scratch); a backend
  // holds copies of them (host staging, its own buffers, the queued uploads QueuePacer bounds), a held-out
  // pass a workspace of its own. Measured: 571 MiB RSS on onnxruntime:cpu, 10,000 x 10,000 ids, conditional,
  // held-out ratings; this estimate says 720 MiB. A sparse batch holds K + 2 rows of H per rated item (device
  // scratch, twice: the tensors and a compiled unit's intermediates), in each of the sparse batches kept; here
  // for batches of twice the mean ratings (each batch is checked again when it is first made, at its size).
  // The held-out pass has a dense workspace of its own where it runs on the device (predictionPass).
  const rows = 3 * K + 8;
  const typical = paddedRows(Math.ceil((2 * B * train.user.length) / Math.max(1, train.users.length)));
  const sparseValues = o.layout === 'sparse' ? SPARSE_BATCHES_KEPT * sparseBatchValues(K, H, typical) : 0;
  const pass = heldOut ? predictionPass(model, train, heldOut) : undefined;
  const denseRows = o.layout === 'dense' || pass === 'device';
  checkMemory(
    `training a collaborative RBM of ${M} items x ${K} levels x ${H} hidden units, batches of ${B} users`,
    4 * (TRAINING_WEIGHT_COPIES * M * (K + 1) * H + (denseRows ? ROW_COPIES * B * rows * M : 0) + sparseValues),
    `${TRAINING_WEIGHT_COPIES} copies of the weights${denseRows ? ` and ${ROW_COPIES} of ${B} x ${rows} rows of ${M} items` : ''}${o.layout === 'sparse' ? ` and the sparse batches' ${K + 2} rows of ${H} per rating` : ''}, float32`,
  );
  const rated = model.conditional ? ratedSets(heldOut ? [train, heldOut] : [train], train.users.length) : undefined;
  return {
    kind: 'collaborative',
    model,
    backend: model.backend,
    parameters: model.tensors.map((tensor, k) => ({ name: model.tensorNames[k]!, tensor })),
    stages: [{ name: 'train', epochs: o.epochs }],
    seed: o.seed,
    gibbsStream: Streams.gibbs,
    binaryStates: true,
    maxParameter: 1e4,
    ...(heldOut ? { monitor: { figure: 'rmse', patience: o.patience, settle: 0.01 } } : {}),
    settings: (_stage, epoch): EpochSettings => ({
      learningRate: scheduleValue(o.learningRate, epoch, o.epochs),
      momentum: scheduleValue(o.momentum, epoch, o.epochs),
      gibbsSteps: scheduleValue(o.gibbsSteps, epoch, o.epochs),
    }),
    bind: (ctx) => new CollaborativeSteps(model, train, heldOut, rated, { ...o, pass: pass ?? 'host' }, ctx),
  };
}

/** Sparse batches kept between steps (least recently used dropped): each size is its own set of tensors. */
const SPARSE_BATCHES_KEPT = 4;

/** Float32 values a sparse batch of N padded ratings holds on the device, twice (tensors, a unit's intermediates). */
function sparseBatchValues(K: number, H: number, N: number): number {
  return 2 * (K + 2) * H * N;
}

/** The recommender's velocities, workspaces and CD-T step, bound to a trainer. */
class CollaborativeSteps implements BoundFamily<Uint32Array> {
  readonly batches: UserBatches;
  private readonly velocities: Tensor[];
  private readonly spaces = new Map<number, Workspace>();
  /** Sparse batches by (users, padded ratings, padded r), most recently used last. */
  private readonly sparse = new Map<string, SparseBatch>();
  private one: Tensor | undefined;
  /** e and -e of the sparse step's gradient, as [1, 1] tensors. */
  private scales: [Tensor, Tensor] | undefined;

  constructor(
    private readonly model: CollaborativeModel,
    private readonly train: Ratings,
    private readonly heldOut: Ratings | undefined,
    private readonly rated: Int32Array[] | undefined,
    private readonly o: {
      readonly batchSize: number;
      readonly weightDecay: number;
      readonly layout: BatchLayout;
      /** Where the held-out pass runs (predictionPass: the one with less work). */
      readonly pass: 'device' | 'host';
    },
    private readonly ctx: LoopContext,
  ) {
    this.batches = new UserBatches(train.users.length, o.batchSize);
    // Velocities, in the order of the model's tensors (the names checkpoints of earlier versions gave them).
    this.velocities = model.tensors.map((t, k) => ctx.state.tensor(`velocity.${k}`, t.rows, t.cols));
  }

  /** One CD-T step on a batch of users (one fused unit), in the layout chosen. */
  run(users: Uint32Array, _count: number, _stage: number, s: EpochSettings) {
    return this.o.layout === 'sparse' ? this.runSparse(users, s) : this.runDense(users, s);
  }

  private runDense(users: Uint32Array, s: EpochSettings) {
    const model = this.model;
    const vel = this.velocities;
    const random = this.ctx.random;
    const be = model.backend;
    const ws = memo(
      this.spaces,
      users.length,
      () => new Workspace(be, users.length, model.numItems, model.numHidden, model.numLevels),
    );
    ws.input.load(this.train, users, this.rated);
    const { V, mask, rated } = ws.input;
    const T = s.gibbsSteps!;
    const lr = s.learningRate;
    const m = s.momentum;
    const e = lr / users.length;
    const decay = lr * this.o.weightDecay;
    const K = model.numLevels;
    fused(
      be,
      'cf-step',
      () => {
        model.hiddenProbabilities(ws.ph0, V, rated);
        random.uniform(ws.uh);
        be.bernoulli(ws.h, ws.ph0, ws.uh);
        for (let t = 1; t <= T; t++) {
          model.visibleProbabilities(ws.P, ws.h, ws.lse, ws.tmp);
          model.sampleVisible(ws.Vn, ws.P, mask, random, ws);
          model.hiddenProbabilities(ws.ph, ws.Vn, rated);
          if (t < T) {
            random.uniform(ws.uh);
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
    // Paced by bytes: a backend that queues runs (ONNX Runtime) holds a copy of each batch's uploads until it runs.
    return { size: users.length, uploadBytes: ws.input.uploadBytes };
  }

  /**
   * The same CD-T step on the batch's ratings as triples (model/collaborative-sparse.ts): the gradient
   * reaches the rated items' rows only; momentum and weight decay still move every row, as in the dense step.
   */
  private runSparse(users: Uint32Array, s: EpochSettings) {
    const model = this.model;
    const vel = this.velocities;
    const random = this.ctx.random;
    const be = model.backend;
    const [M, H, K] = [model.numItems, model.numHidden, model.numLevels];
    const [n, nr] = SparseBatch.sizes(this.train, users, this.rated);
    const R = this.rated ? paddedRows(nr) : undefined;
    const key = `${users.length}:${paddedRows(n)}:${R}`;
    let batch = this.sparse.get(key);
    if (batch) this.sparse.delete(key);
    else {
      const N = paddedRows(n);
      const bytes = 4 * SPARSE_BATCHES_KEPT * sparseBatchValues(K, H, N);
      checkMemory(
        `a sparse batch of ${users.length} users with ${n} ratings`,
        bytes,
        `${SPARSE_BATCHES_KEPT} batches kept of ${K + 2} rows of ${H} per rating, ${N} ratings padded, twice, float32; smaller batches (batchSize) need less`,
      );
      batch = new SparseBatch(be, users.length, N, R, M, H, K);
    }
    this.sparse.set(key, batch);
    if (this.sparse.size > SPARSE_BATCHES_KEPT) {
      const [oldest, old] = this.sparse.entries().next().value!;
      this.sparse.delete(oldest);
      old.dispose();
    }
    batch.load(this.train, users, this.rated);
    this.one ??= oneOn(be);
    const one = this.one;
    this.scales ??= [be.tensor(1, 1), be.tensor(1, 1)];
    const scales = this.scales;
    const b = batch;
    const T = s.gibbsSteps!;
    const [lr, m] = [s.learningRate, s.momentum];
    const e = lr / users.length;
    const decay = lr * this.o.weightDecay;
    fused(
      be,
      'cf-sparse-step',
      () => {
        gatherItemRows(model, b, one);
        sparseHiddenProbabilities(model, b, b.ph0, b.level);
        random.uniform(b.uh);
        be.bernoulli(b.h, b.ph0, b.uh);
        for (let t = 1; t <= T; t++) {
          sparseReconstruction(model, b, random);
          sparseHiddenProbabilities(model, b, b.ph, b.Vn);
          if (t < T) {
            random.uniform(b.uh);
            be.bernoulli(b.h, b.ph, b.uh);
          }
        }
        // The item rows are done with: G_0 and G_1 hold e p(h | V) and -e p(h | V~) at each triple's user.
        const [pg0, pgn] = [b.G[0]!, b.G[1]!];
        // (Scaled by [1, 1] tensors: an axpby with a zero term multiplies that term too, for NaN's sake.)
        be.write(scales[0], Float32Array.of(e));
        be.write(scales[1], Float32Array.of(-e));
        be.gather(pg0, b.ph0, b.user);
        be.binary('mul', pg0, pg0, scales[0]);
        be.gather(pgn, b.ph, b.user);
        be.binary('mul', pgn, pgn, scales[1]);
        for (let k = 0; k < K; k++) {
          // v <- m v - lr decay W, then + e ([l = k] p(h | V) - v~_k p(h | V~)) into the rated items' rows.
          be.axpby(vel[k]!, m, vel[k]!, -decay, decay > 0 ? model.W[k]! : vel[k]!);
          be.binary('mul', b.x, pg0, b.level[k]!);
          be.binary('mul', b.y, pgn, b.Vn[k]!);
          be.binary('add', b.x, b.x, b.y);
          be.scatterAdd(vel[k]!, b.item, b.x);
        }
        be.binary('sub', b.dh, b.ph0, b.ph);
        let q = K;
        if (model.D && b.dg) {
          be.axpby(vel[q]!, m, vel[q]!, -decay, decay > 0 ? model.D : vel[q]!);
          be.gather(b.dg, b.dh, b.ratedUser!);
          be.binary('mul', b.dg, b.dg, b.ratedMask!);
          be.axpby(b.dg, e, b.dg, 0, b.dg);
          be.scatterAdd(vel[q]!, b.ratedItem!, b.dg);
          q++;
        }
        for (let k = 0; k < K; k++) {
          // The visible biases' gradient sum_t ([l = k] - v~_k), per item, as a column, then as a row.
          be.binary('sub', b.tmp, b.level[k]!, b.Vn[k]!);
          be.fill(b.gaColumn, 0);
          be.scatterAdd(b.gaColumn, b.item, b.tmp);
          be.matMul(b.ga, one, b.gaColumn, { transposeB: true });
          be.axpby(vel[q + k]!, m, vel[q + k]!, e, b.ga);
        }
        be.sum(b.gh, b.dh, 0);
        be.axpby(vel[q + K]!, m, vel[q + K]!, e, b.gh);
        model.tensors.forEach((p, k) => {
          be.axpby(p, 1, p, 1, vel[k]!);
        });
      },
      { scratch: b.scratch },
    );
    return { size: users.length, uploadBytes: b.uploadBytes };
  }

  /** The held-out RMSE and MAE of the mean-field prediction (with held-out ratings). */
  async figures(): Promise<Readonly<Record<string, number>>> {
    if (!this.heldOut) return {};
    return ratingErrors(
      await predictQueries(this.model, this.train, this.heldOut, {
        batchSize: this.o.batchSize,
        on: this.o.pass,
        ...(this.rated ? { rated: this.rated } : {}),
      }),
      this.heldOut,
    );
  }

  dispose(): void {
    for (const ws of this.spaces.values()) ws.dispose();
    this.spaces.clear();
    for (const b of this.sparse.values()) b.dispose();
    this.sparse.clear();
    for (const t of [this.one, ...(this.scales ?? [])]) if (t) this.model.backend.dispose(t);
    this.one = undefined;
    this.scales = undefined;
  }
}
