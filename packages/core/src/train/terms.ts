import { memo } from '../backend/scope.js';
import type { Tensor } from '../backend/types.js';
import { ArgumentError } from '../errors.js';
import { LabelScorer } from '../model/labels.js';
import { boolean, choice, declarePart, given, needs, option, read, real, valueAt } from './declare.js';
import type { GradientStep, GradientTerm, PartContext } from './parts.js';

/**
 * Gradient terms beside the likelihood's, applied in the order a trainer lists them: learned variances,
 * centring, weight decay, sparsity. Each adds to the gradient in place (ascent direction).
 */

/**
 * The discriminative objective of a classification RBM (Larochelle & Bengio 2008, equation 5): adds the
 * exact gradient of mean log p(y | x) over the batch, the labels being the batch's label units. Alone (not
 * the hybrid's half), it also writes the batch's training error: the summed -log p(y | x).
 */
export class Discriminative implements GradientTerm {
  readonly name = 'discriminative';
  private readonly scorer: LabelScorer;
  private readonly ctx: PartContext;
  private readonly logp = new Map<number, Tensor>();
  private readonly reportsError: boolean;

  constructor(ctx: PartContext, reportsError: boolean) {
    this.ctx = ctx;
    this.reportsError = reportsError;
    this.scorer = new LabelScorer(ctx.model, ctx.scope);
  }

  apply(step: GradientStep): void {
    const v = step.batch.v;
    let logp = this.logp.get(v.rows);
    if (!logp) {
      logp = this.ctx.scope.tensor(v.rows, this.scorer.layout.numClasses);
      this.logp.set(v.rows, logp);
    }
    this.scorer.logProbabilities(logp, v);
    this.scorer.addGradient(step, v, logp, 1, this.reportsError ? step.batchError : undefined);
  }
}

/** Weight decay on W only (not the biases): the gradient of -(l2/2)|W|^2 - l1|W|_1. */
export class WeightDecay implements GradientTerm {
  readonly name = 'weight-decay';
  private readonly ctx: PartContext;
  private readonly l2: number;
  private readonly l1: number;
  private readonly sign: Tensor | undefined;

  constructor(ctx: PartContext, l2: number, l1: number) {
    this.ctx = ctx;
    this.l2 = l2;
    this.l1 = l1;
    this.sign = l1 > 0 ? ctx.scope.tensor(ctx.model.numVisible, ctx.model.numHidden) : undefined;
  }

  apply(step: GradientStep): void {
    const { backend: be, model: m } = this.ctx;
    if (this.l2 > 0) be.axpby(step.gW, 1, step.gW, -this.l2, m.W);
    if (this.l1 > 0) {
      be.unary('sign', this.sign!, m.W);
      be.axpby(step.gW, 1, step.gW, -this.l1, this.sign!);
    }
  }
}

/**
 * Sparsity (Hinton 2010, section 11): a running estimate q <- decay q + (1 - decay) mean p(h | v0) of each
 * hidden unit's activation, and the gradient of -cost * cross-entropy(target, q) taken through q's last
 * term: b and W pushed by -(q - target).
 */
export class Sparsity implements GradientTerm {
  readonly name = 'sparsity';
  private readonly ctx: PartContext;
  private readonly q: Tensor;
  private readonly target: Tensor;
  private readonly delta: Tensor;
  private readonly cost: number;
  private readonly decay: number;

  constructor(ctx: PartContext, options: { readonly target: number; readonly cost: number; readonly decay: number }) {
    this.ctx = ctx;
    const nh = ctx.model.numHidden;
    this.q = ctx.state.tensor('sparsity_estimate', 1, nh, 'unit');
    ctx.backend.fill(this.q, options.target);
    this.target = ctx.scope.tensor(1, 1, Float32Array.of(options.target));
    this.delta = ctx.scope.tensor(1, nh);
    this.cost = options.cost;
    this.decay = options.decay;
  }

  apply(step: GradientStep): void {
    const be = this.ctx.backend;
    const B = step.batch.size;
    be.axpby(this.q, this.decay, this.q, (1 - this.decay) / B, step.dataHiddenSum());
    be.binary('sub', this.delta, this.q, this.target);
    be.axpby(step.gb, 1, step.gb, -this.cost, this.delta);
    be.matMul(step.gW, step.sumV, this.delta, { transposeA: true, alpha: -this.cost / B, beta: 1 });
  }
}

/**
 * Centring (Melchior, Fischer & Wiskott, JMLR 2016): with offsets mu, lambda following sliding averages of
 * the data means of v and p(h | v),
 *   dW_c = <(v - mu)(h - lambda)^T>_data - <...>_model = dW - mu^T db - da^T lambda
 *   da_c = da - lambda dW_c^T,   db_c = db - mu dW_c
 * (the centred gradient of the uncentred parameters; the model's distribution does not depend on offsets).
 */
export class Centering implements GradientTerm {
  readonly name = 'centering';
  private readonly ctx: PartContext;
  private readonly mu: Tensor;
  private readonly lambda: Tensor;
  private readonly rate: number;
  /** Whether the offsets have been set from a first batch. */
  private readonly progress = { initialised: 0 };

  constructor(ctx: PartContext, rate: number) {
    this.ctx = ctx;
    this.rate = rate;
    const binary = !ctx.model.gaussian;
    this.mu = ctx.state.tensor('offsets.visible', 1, ctx.model.numVisible, binary ? 'unit' : 'finite');
    this.lambda = ctx.state.tensor('offsets.hidden', 1, ctx.model.numHidden, 'unit');
    ctx.state.property('offsetsInitialised', this.progress, 'initialised', 'flag');
  }

  apply(step: GradientStep): void {
    const be = this.ctx.backend;
    const { mu, lambda, rate: nu } = this;
    const B = step.batch.size;
    if (!this.progress.initialised) {
      be.axpby(mu, 1 / B, step.sumV, 0, step.sumV);
      be.fill(lambda, 0.5);
      this.progress.initialised = 1;
    } else {
      be.axpby(mu, 1 - nu, mu, nu / B, step.sumV);
    }
    be.axpby(lambda, 1 - nu, lambda, nu / B, step.dataHiddenSum());
    be.matMul(step.gW, mu, step.gb, { transposeA: true, alpha: -1, beta: 1 });
    be.matMul(step.gW, step.ga, lambda, { transposeA: true, alpha: -1, beta: 1 });
    be.matMul(step.ga, lambda, step.gW, { transposeB: true, alpha: -1, beta: 1 });
    be.matMul(step.gb, mu, step.gW, { alpha: -1, beta: 1 });
  }
}

/**
 * Learned variances of Gaussian visible units (Cho, Ilin & Raiko 2011), z = log sigma^2:
 *   -dE/dz_i = exp(-z_i) ((v_i - a_i)^2 / 2 - v_i (W h)_i),
 * with momentum of its own and a learning rate scaled down (variances are easily destabilised).
 */
export class LearnedVariance implements GradientTerm {
  readonly name = 'learned-variance';
  private readonly ctx: PartContext;
  private readonly velocity: Tensor;
  private readonly gz: Tensor;
  private readonly data: Tensor;
  private readonly model: Tensor;
  private readonly scale: number;
  private readonly wide = new Map<string, Tensor>();

  constructor(ctx: PartContext, learningRateScale: number) {
    this.ctx = ctx;
    const nv = ctx.model.numVisible;
    this.velocity = ctx.state.tensor('velocity.log_variance', 1, nv);
    this.gz = ctx.scope.tensor(1, nv);
    this.data = ctx.scope.tensor(1, nv);
    this.model = ctx.scope.tensor(1, nv);
    this.scale = learningRateScale;
  }

  apply(step: GradientStep): void {
    const be = this.ctx.backend;
    const { v, ph } = step.negative;
    this.statistic(this.data, step.batch.v, step.positive);
    this.statistic(this.model, v, ph);
    be.axpby(this.gz, 1 / step.batch.size, this.data, -1 / v.rows, this.model);
    be.binary('mul', this.gz, this.gz, this.ctx.model.precision!);
  }

  update(learningRate: number, momentum: number): void {
    const { backend: be, model: m } = this.ctx;
    be.axpby(this.velocity, momentum, this.velocity, learningRate * this.scale, this.gz);
    be.axpby(m.z!, 1, m.z!, 1, this.velocity);
    m.refreshVariance();
  }

  /** out[1, nv] = sum over rows of (v - a)^2 / 2 - v * (h W^T). */
  private statistic(out: Tensor, v: Tensor, h: Tensor): void {
    const { backend: be, model: m } = this.ctx;
    const t = this.wideScratch(v.rows, 0);
    const s = this.wideScratch(v.rows, 1);
    be.matMul(t, h, m.W, { transposeB: true });
    be.binary('mul', t, t, v);
    be.binary('sub', s, v, m.a);
    be.unary('square', s, s);
    be.axpby(s, 0.5, s, -1, t);
    be.sum(out, s, 0);
  }

  private wideScratch(rows: number, slot: number): Tensor {
    return memo(this.wide, `${rows}:${slot}`, () => this.ctx.scope.tensor(rows, this.ctx.model.numVisible));
  }
}

// ---- The terms' options: each term's slice, declared once (config.ts lists them in the order they apply).

/**
 * What the gradient ascends (classification RBMs, whose last softmax group is the label; Larochelle &
 * Bengio 2008): `generative` the log-likelihood log p(x, y) (every RBM), `discriminative` the exact
 * log p(y | x), `hybrid` log p(y | x) + hybridWeight * log p(x, y).
 */
export type TrainingObjective = 'generative' | 'discriminative' | 'hybrid';

export interface ObjectiveOptions {
  /**
   * `generative` (default), or for a classification RBM `discriminative` or `hybrid` (see
   * {@link TrainingObjective}). The discriminative gradient is exact: no chains.
   */
  readonly objective?: TrainingObjective;
  /** `hybrid`: the weight alpha of the generative gradient (default 0.01, Larochelle & Bengio's MNIST setting). */
  readonly hybridWeight?: number;
}

const OBJECTIVE = option(
  'objective',
  'a classifier: log p(x, y) (generative), the exact log p(y | x) (discriminative), or their hybrid',
  choice(['generative', 'discriminative', 'hybrid']),
  { default: 'generative', flag: '--objective <o>' },
);
const HYBRID_WEIGHT = option('hybridWeight', 'objective hybrid: weight of the generative gradient', real(0), {
  default: 0.01,
  flag: '--alpha <x>',
});

export const objectivePart = declarePart<ObjectiveOptions>({
  name: 'objective',
  options: [OBJECTIVE, HYBRID_WEIGHT],
  resolve(raw, _done, ctx) {
    const objective = read<TrainingObjective>(OBJECTIVE, raw, ctx);
    needs(
      ctx,
      given(raw, 'hybridWeight') && objective !== 'hybrid',
      'hybridWeight',
      `${ctx.spell('objective')} hybrid`,
    );
    const chained = ['sparsity', 'centering', 'learnVariance'].filter((p) => valueAt(raw, p));
    if (objective === 'discriminative' && ((raw.method ?? 'cd') !== 'cd' || chained.length > 0))
      throw new ArgumentError(
        `${ctx.spell('objective')} discriminative is exact and has no negative phase: no ${['method', ...chained].map(ctx.spell).join(', ')}`,
      );
    return { objective, ...(objective === 'hybrid' ? { hybridWeight: read<number>(HYBRID_WEIGHT, raw, ctx) } : {}) };
  },
  build: (ctx, o) =>
    o.objective === 'generative' ? undefined : new Discriminative(ctx, o.objective === 'discriminative'),
});

export interface VarianceOptions {
  /** Gaussian visible units: learn the log variances z too (default false: they stay as they are). */
  readonly learnVariance?: boolean;
  /** Learning rate of z relative to the learning rate (default 0.1: variances are easily destabilised). */
  readonly varianceLearningRateScale?: number;
}

const LEARN_VARIANCE = option('learnVariance', 'gaussian units: learn the variances too', boolean, { default: false });
const VARIANCE_SCALE = option(
  'varianceLearningRateScale',
  'learning rate of the log variances, relative to the learning rate',
  real(0),
  { default: 0.1, flag: false },
);

export const learnVariancePart = declarePart<VarianceOptions>({
  name: 'learned-variance',
  options: [LEARN_VARIANCE, VARIANCE_SCALE],
  resolve(raw, _done, ctx) {
    const on = read<boolean>(LEARN_VARIANCE, raw, ctx);
    const scale = read<number>(VARIANCE_SCALE, raw, ctx);
    if (on && ctx.units !== undefined && ctx.units !== 'gaussian')
      throw new ArgumentError(`${ctx.spell('learnVariance')} needs gaussian visible units`);
    return on ? { learnVariance: true, varianceLearningRateScale: scale } : {};
  },
  build: (ctx, o) => (o.learnVariance ? new LearnedVariance(ctx, o.varianceLearningRateScale) : undefined),
});

export interface CenteringOptions {
  /**
   * Centring (Melchior, Fischer & Wiskott, JMLR 2016): the centred gradient, with offsets mu (visible) and
   * lambda (hidden) that follow sliding averages of the data means of v and p(h|v). `true` uses rate 0.01.
   */
  readonly centering?: boolean | { readonly rate?: number };
}

const CENTERING_RATE = option(
  'centering.rate',
  'centred gradient (Melchior et al. 2016), offsets updated at this rate',
  real(0, 1, '(]'),
  { default: 0.01, flag: '--centering [rate]' },
);

export const centeringPart = declarePart<CenteringOptions, { centering?: { rate: number } }>({
  name: 'centering',
  options: [CENTERING_RATE],
  resolve(raw, _done, ctx) {
    const c = raw.centering as unknown;
    if (c !== undefined && typeof c !== 'boolean' && (c === null || typeof c !== 'object' || Array.isArray(c)))
      throw new ArgumentError(
        `${ctx.spell('centering')} must be true, false or { rate }, got ${JSON.stringify(c)} (a rate goes in { rate: ${JSON.stringify(c)} })`,
      );
    if (!raw.centering) return {};
    // `true` has no rate of its own: the declared default.
    const rate = read<number>(CENTERING_RATE, raw, ctx);
    if (ctx.units === 'gaussian')
      throw new ArgumentError(`${ctx.spell('centering')} is implemented for binary visible units only, not gaussian`);
    return { centering: { rate } };
  },
  build: (ctx, o) => (o.centering ? new Centering(ctx, o.centering.rate) : undefined),
});

export interface WeightDecayOptions {
  /** L2 weight decay coefficient on W (default 0). */
  readonly l2?: number;
  /** L1 weight decay coefficient on W (default 0). */
  readonly l1?: number;
}

const L2 = option('l2', 'L2 weight decay', real(0), { default: 0 });
const L1 = option('l1', 'L1 weight decay', real(0), { default: 0 });

export const weightDecayPart = declarePart<WeightDecayOptions>({
  name: 'weight-decay',
  options: [L1, L2],
  resolve: (raw, _done, ctx) => ({ l1: read<number>(L1, raw, ctx), l2: read<number>(L2, raw, ctx) }),
  build: (ctx, o) => (o.l2 > 0 || o.l1 > 0 ? new WeightDecay(ctx, o.l2, o.l1) : undefined),
});

export interface SparsityTarget {
  /** Desired mean activation p of each hidden unit. */
  readonly target: number;
  /** Weight of the penalty (default 0.01). */
  readonly cost?: number;
  /** Decay of the running estimate q of the activation, q <- decay q + (1 - decay) mean(p(h|v)); 0.9-0.99. */
  readonly decay?: number;
}

export interface SparsityOptions {
  readonly sparsity?: SparsityTarget;
}

const SPARSITY_TARGET = option('sparsity.target', 'target mean activation of hidden units', real(0, 1, '()'));
const SPARSITY_COST = option('sparsity.cost', 'weight of the sparsity penalty', real(0), { default: 0.01 });
const SPARSITY_DECAY = option('sparsity.decay', 'decay of the running estimate of the activations', real(0, 1, '[)'), {
  default: 0.95,
  flag: false,
});

export const sparsityPart = declarePart<SparsityOptions, { sparsity?: Required<SparsityTarget> }>({
  name: 'sparsity',
  options: [SPARSITY_TARGET, SPARSITY_COST, SPARSITY_DECAY],
  resolve(raw, _done, ctx) {
    if (raw.sparsity === undefined) return {};
    for (const path of ['sparsity.cost', 'sparsity.decay'])
      needs(ctx, given(raw, path) && !given(raw, 'sparsity.target'), path, ctx.spell('sparsity.target'));
    if (!given(raw, 'sparsity.target')) throw new ArgumentError(`${ctx.spell('sparsity.target')} is missing`);
    return {
      sparsity: {
        target: read<number>(SPARSITY_TARGET, raw, ctx),
        cost: read<number>(SPARSITY_COST, raw, ctx),
        decay: read<number>(SPARSITY_DECAY, raw, ctx),
      },
    };
  },
  build: (ctx, o) => (o.sparsity ? new Sparsity(ctx, o.sparsity) : undefined),
});
