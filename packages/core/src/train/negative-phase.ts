import type { Tensor } from '../backend/types.js';
import { ParallelTempering, type TemperingOptions } from '../sample/tempering.js';
import type { GradientStep, NegativePhase, NegativeStatistics, PartContext, PositivePhase } from './parts.js';

/**
 * Negative-phase samplers: where the model term <v h^T>_model of the gradient comes from.
 * - {@link ContrastiveDivergence} (CD-k, Hinton 2002): k sweeps from the data, started at h0 ~ p(h | v0).
 * - {@link PersistentChains} (PCD-k, Tieleman 2008): chains that carry over from one update to the next.
 * - {@link FastPersistentChains} (FPCD, Tieleman & Hinton 2009): persistent chains that run on the parameters
 *   plus fast weights, which learn quickly and decay quickly and so push the chains out of the modes they sit in.
 * - {@link TemperedChains} (Desjardins et al. 2010): persistent chains run as parallel tempering.
 */

/** Gibbs chain state: v and the buffers of one sweep. */
interface Chain {
  readonly v: Tensor;
  readonly pv: Tensor;
  readonly uv: Tensor;
  readonly h: Tensor;
  readonly ph: Tensor;
  readonly uh: Tensor;
}

function newChain(ctx: PartContext, size: number, v?: Tensor): Chain {
  const { scope: s, model } = ctx;
  const nv = model.numVisible;
  const nh = model.numHidden;
  return {
    v: v ?? s.tensor(size, nv),
    pv: s.tensor(size, nv),
    uv: s.tensor(size, nv),
    h: s.tensor(size, nh),
    ph: s.tensor(size, nh),
    uh: s.tensor(size, nh),
  };
}

/**
 * k sweeps of block Gibbs sampling v -> h -> v from a chain whose first p(v | h) is `pv`; leaves c.v and
 * c.ph = p(h = 1 | c.v). The last h is not sampled: the statistics use p(h | v) (Rao-Blackwellised).
 */
function sweeps(ctx: PartContext, c: Chain, pv: Tensor, k: number): NegativeStatistics {
  const { model: m, backend: be, random } = ctx;
  let mean = pv;
  for (let t = 1; t <= k; t++) {
    if (t > 1) {
      m.visibleProbabilities(c.pv, c.h);
      mean = c.pv;
    }
    m.sampleVisible(c.v, mean, random, c.uv);
    m.hiddenProbabilities(c.ph, c.v);
    if (t < k) {
      random.uniform(c.uh);
      be.bernoulli(c.h, c.ph, c.uh);
    }
  }
  return { v: c.v, ph: c.ph };
}

export class ContrastiveDivergence implements NegativePhase {
  readonly name = 'cd';
  private readonly ctx: PartContext;
  /** One chain per batch size (the last batch of an epoch may be smaller). */
  private readonly chainsBySize = new Map<number, Chain>();

  constructor(ctx: PartContext) {
    this.ctx = ctx;
  }

  sample(batch: PositivePhase, k: number): NegativeStatistics {
    let c = this.chainsBySize.get(batch.size);
    if (!c) {
      c = newChain(this.ctx, batch.size);
      this.chainsBySize.set(batch.size, c);
    }
    // The chain starts at h0, whose p(v | h0) the loop has already computed.
    return sweeps(this.ctx, c, batch.pv, k);
  }

  scratch(): Tensor[] {
    return [...this.chainsBySize.values()].flatMap((c) => [c.v, c.pv, c.uv, c.h, c.ph, c.uh]);
  }
}

export class PersistentChains implements NegativePhase {
  readonly name = 'pcd';
  readonly chains: number;
  private readonly ctx: PartContext;
  private readonly chain: Chain;

  constructor(ctx: PartContext, chains: number) {
    this.ctx = ctx;
    this.chains = chains;
    const v = ctx.state.tensor('chains', chains, ctx.model.numVisible, 'states');
    this.chain = newChain(ctx, chains, v);
  }

  start(v: Tensor): void {
    this.ctx.backend.copy(this.chain.v, v);
  }

  sample(_batch: PositivePhase, k: number): NegativeStatistics {
    const { model: m, backend: be, random } = this.ctx;
    const c = this.chain;
    m.hiddenProbabilities(c.ph, c.v);
    random.uniform(c.uh);
    be.bernoulli(c.h, c.ph, c.uh);
    m.visibleProbabilities(c.pv, c.h);
    return sweeps(this.ctx, c, c.pv, k);
  }

  /** All but the chains' states. */
  scratch(): Tensor[] {
    const c = this.chain;
    return [c.pv, c.uv, c.h, c.ph, c.uh];
  }
}

export class TemperedChains implements NegativePhase {
  readonly name = 'pt';
  readonly chains: number;
  readonly tempering: ParallelTempering;

  constructor(ctx: PartContext, chains: number, options: TemperingOptions) {
    this.chains = chains;
    const pt = new ParallelTempering(ctx.model, ctx.scope, ctx.random, chains, options);
    this.tempering = pt;
    ctx.state.register(
      'tempering',
      Array.from({ length: pt.size }, (_, r) => pt.replicaStates(r)),
      'states',
    );
    ctx.state.counter(
      'temperingParity',
      () => pt.parity,
      (x) => {
        pt.parity = x;
      },
      'flag',
    );
    ctx.state.counter(
      'swapRounds',
      () => pt.swapRounds,
      (x) => {
        pt.swapRounds = x;
      },
    );
  }

  start(v: Tensor): void {
    this.tempering.setStates(v);
  }

  sample(_batch: PositivePhase, k: number): NegativeStatistics {
    const pt = this.tempering;
    for (let t = 1; t <= k; t++) {
      pt.sweep();
      pt.swap();
    }
    return { v: pt.v, ph: pt.ph };
  }
}

export interface FastWeightsOptions {
  /** Learning rate of the fast weights (Tieleman & Hinton keep it at the regular rate's initial value). */
  readonly learningRate: number;
  /** Their decay per update: theta_fast <- decay theta_fast + rate g (default 19/20, as in the paper). */
  readonly decay?: number;
}

/**
 * Fast-weights PCD (Tieleman & Hinton, "Using fast weights to improve persistent contrastive divergence",
 * ICML 2009). The chains sample from the model with parameters theta + theta_fast; the fast parameters follow
 *
 *   theta_fast <- decay theta_fast + rate_fast g
 *
 * with g the same gradient estimate as the regular parameters (after the trainer's terms), so they quickly
 * raise the energy where the chains have just been and lower it where the data are. The statistics returned
 * for the gradient are p(h = 1 | v) of the chains' states under the regular parameters: the gradient stays an
 * estimate of the regular model's. Bernoulli visible units.
 */
export class FastPersistentChains implements NegativePhase {
  readonly name = 'fpcd';
  readonly chains: number;
  readonly learningRate: number;
  readonly decay: number;
  private readonly ctx: PartContext;
  private readonly chain: Chain;
  /** theta_fast, checkpointed with the chains. */
  private readonly fastW: Tensor;
  private readonly fastA: Tensor;
  private readonly fastB: Tensor;
  /** theta + theta_fast, formed before each sampling run. */
  private readonly W: Tensor;
  private readonly a: Tensor;
  private readonly b: Tensor;

  constructor(ctx: PartContext, chains: number, options: FastWeightsOptions) {
    this.ctx = ctx;
    this.chains = chains;
    this.learningRate = options.learningRate;
    this.decay = options.decay ?? 19 / 20;
    const { model: m, state, scope: s } = ctx;
    const v = state.tensor('chains', chains, m.numVisible, 'states');
    this.chain = newChain(ctx, chains, v);
    this.fastW = state.tensor('fast.weights', m.numVisible, m.numHidden);
    this.fastA = state.tensor('fast.visible_bias', 1, m.numVisible);
    this.fastB = state.tensor('fast.hidden_bias', 1, m.numHidden);
    this.W = s.tensor(m.numVisible, m.numHidden);
    this.a = s.tensor(1, m.numVisible);
    this.b = s.tensor(1, m.numHidden);
  }

  start(v: Tensor): void {
    this.ctx.backend.copy(this.chain.v, v);
  }

  sample(_batch: PositivePhase, k: number): NegativeStatistics {
    const { model: m, backend: be, random } = this.ctx;
    const c = this.chain;
    be.axpby(this.W, 1, m.W, 1, this.fastW);
    be.axpby(this.a, 1, m.a, 1, this.fastA);
    be.axpby(this.b, 1, m.b, 1, this.fastB);
    for (let t = 0; t < k; t++) {
      // h ~ p(h | v; theta + theta_fast), then v ~ p(v | h; theta + theta_fast).
      be.matMul(c.ph, c.v, this.W);
      be.binary('add', c.ph, c.ph, this.b);
      be.unary('sigmoid', c.ph, c.ph);
      random.uniform(c.uh);
      be.bernoulli(c.h, c.ph, c.uh);
      be.matMul(c.pv, c.h, this.W, { transposeB: true });
      be.binary('add', c.pv, c.pv, this.a);
      be.unary('sigmoid', c.pv, c.pv);
      random.uniform(c.uv);
      be.bernoulli(c.v, c.pv, c.uv);
    }
    m.hiddenProbabilities(c.ph, c.v);
    return { v: c.v, ph: c.ph };
  }

  /** theta_fast <- decay theta_fast + rate g, with the step's finished gradient. */
  afterGradient(step: GradientStep): void {
    const be = this.ctx.backend;
    be.axpby(this.fastW, this.decay, this.fastW, this.learningRate, step.gW);
    be.axpby(this.fastA, this.decay, this.fastA, this.learningRate, step.ga);
    be.axpby(this.fastB, this.decay, this.fastB, this.learningRate, step.gb);
  }

  /** All but the chains' states and the fast weights. */
  scratch(): Tensor[] {
    const c = this.chain;
    return [c.pv, c.uv, c.h, c.ph, c.uh, this.W, this.a, this.b];
  }
}
