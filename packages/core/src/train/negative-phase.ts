import type { Tensor } from '../backend/types.js';
import { ArgumentError } from '../errors.js';
import { assertBinaryHidden } from '../model/parameters.js';
import { ParallelTempering, type TemperingOptions, temperatureLadder } from '../sample/tempering.js';
import {
  checkValue,
  choice,
  declarePart,
  given,
  integer,
  needs,
  option,
  type RawOptions,
  type ResolveContext,
  read,
  real,
  valueAt,
} from './declare.js';
import type { GradientStep, NegativePhase, NegativeStatistics, PartContext, PositivePhase } from './parts.js';
import { type Schedule, scheduleValue } from './schedule.js';

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
    if (t < k) m.sampleHidden(c.h, c.ph, random, c.uh);
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
    m.sampleHidden(c.h, c.ph, random, c.uh);
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
    const replicas = Array.from({ length: pt.size }, (_, r) => pt.replicaStates(r));
    ctx.state.register('tempering', replicas, 'states');
    ctx.state.property('temperingParity', pt, 'parity', 'flag');
    ctx.state.property('swapRounds', pt, 'swapRounds');
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

/** The samplers' slice of the options. */
export interface SamplerOptions {
  /**
   * `cd` (default), `pcd`, `fpcd` (PCD with fast weights) or `pt`: persistent chains run as parallel
   * tempering (replica exchange), the model statistics taken from the beta = 1 replica (Desjardins et al. 2010).
   */
  readonly method?: TrainingMethod;
  /** Number of persistent chains (default: the batch size, at most the number of examples). */
  readonly chains?: number;
  /**
   * `fpcd`: the fast weights' learning rate (default: the learning rate of the first epoch, kept constant as
   * in Tieleman & Hinton 2009) and decay per update (default 19/20).
   */
  readonly fastWeights?: { readonly learningRate?: number; readonly decay?: number };
  /** Temperature ladder for `pt` (default: 10 inverse temperatures from 1 down to 0.1). */
  readonly tempering?: TemperingOptions;
}

/** A sampler's entry: what it is, and how it is built from the resolved options. */
interface SamplerEntry {
  readonly help: string;
  /** Persistent chains: `chains` applies. */
  readonly persistent: boolean;
  /** Implemented for binary visible units only (Bernoulli, softmax). */
  readonly binaryOnly?: boolean;
  build(ctx: PartContext, o: ResolvedSampler): NegativePhase;
}

/** The sampler options as the trainer builds from them: chains counted, the ladder drawn. */
export interface ResolvedSampler {
  readonly method: TrainingMethod;
  readonly chains: number;
  readonly fastWeights?: { readonly learningRate: number; readonly decay: number };
  readonly tempering?: { readonly betas: readonly number[] };
}

/** The one list of negative-phase samplers: `method` names one of these. */
export const SAMPLERS = {
  cd: {
    help: 'contrastive divergence, from the data (Hinton 2002)',
    persistent: false,
    build: (ctx) => new ContrastiveDivergence(ctx),
  },
  pcd: {
    help: 'persistent chains (Tieleman 2008)',
    persistent: true,
    build: (ctx, o) => new PersistentChains(ctx, o.chains),
  },
  fpcd: {
    help: 'PCD with fast weights (Tieleman & Hinton 2009)',
    persistent: true,
    binaryOnly: true,
    build: (ctx, o) => new FastPersistentChains(ctx, o.chains, o.fastWeights!),
  },
  pt: {
    help: 'parallel tempering: persistent chains with replica exchange (Desjardins et al. 2010)',
    persistent: true,
    binaryOnly: true,
    build: (ctx, o) => new TemperedChains(ctx, o.chains, o.tempering!),
  },
} as const satisfies Record<string, SamplerEntry>;

export type TrainingMethod = keyof typeof SAMPLERS;
export const TRAINING_METHODS = Object.keys(SAMPLERS) as TrainingMethod[];

const persistentMethods = TRAINING_METHODS.filter((m) => SAMPLERS[m].persistent).join(', ');

const METHOD = option(
  'method',
  TRAINING_METHODS.map((m) => `${m}: ${SAMPLERS[m].help}`).join('; '),
  choice(TRAINING_METHODS),
  { default: 'cd', flag: '--method <m>' },
);
const CHAINS = option('chains', 'persistent chains (default: the batch size)', integer(1));
const FAST_RATE = option(
  'fastWeights.learningRate',
  'fpcd: learning rate of the fast weights (default: the learning rate)',
  real(0),
  { flag: '--fast-lr <x>' },
);
const FAST_DECAY = option('fastWeights.decay', 'fpcd: decay of the fast weights per update', real(0, 1, '[)'), {
  default: 0.95,
  flag: '--fast-decay <x>',
});
const TEMPERATURES = option('tempering.temperatures', 'pt: replicas', integer(2), {
  default: 10,
  flag: '--temperatures <n>',
});
const BETA_MIN = option(
  'tempering.betaMin',
  'pt: lowest inverse temperature (ladder linear from 1)',
  real(0, 1, '()'),
  { default: 0.1, flag: '--beta-min <b>' },
);
const BETAS = option(
  'tempering.betas',
  'pt: the inverse temperatures, 1 first, decreasing',
  { kind: 'numbers' },
  { flag: false },
);

export const samplerPart = declarePart<SamplerOptions, ResolvedSampler>({
  name: 'sampler',
  options: [METHOD, CHAINS, FAST_RATE, FAST_DECAY, TEMPERATURES, BETA_MIN, BETAS],
  resolve(raw, done, ctx) {
    const method = read<TrainingMethod>(METHOD, raw, ctx);
    const entry: SamplerEntry = SAMPLERS[method];
    const is = (m: TrainingMethod) => `${ctx.spell('method')} ${m}`;
    for (const path of ['fastWeights.learningRate', 'fastWeights.decay', 'fastWeights'])
      needs(ctx, given(raw, path) && method !== 'fpcd', path, is('fpcd'));
    for (const path of ['tempering.temperatures', 'tempering.betaMin', 'tempering.betas', 'tempering'])
      needs(ctx, given(raw, path) && method !== 'pt', path, is('pt'));
    needs(
      ctx,
      given(raw, 'chains') && !entry.persistent,
      'chains',
      `${ctx.spell('method')} ${persistentMethods} (CD's chains start at the data)`,
    );
    if (entry.binaryOnly && ctx.units === 'gaussian')
      throw new ArgumentError(
        `${ctx.spell('method')} ${method} is implemented for binary visible units only, not gaussian`,
      );
    const chains = read<number | undefined>(CHAINS, raw, ctx);
    const learningRate = done.learningRate as Schedule;
    return {
      method,
      ...(chains !== undefined ? { chains } : {}),
      ...(method === 'fpcd' ? { fastWeights: fastWeights(raw, learningRate, done.epochs as number, ctx) } : {}),
      ...(method === 'pt' ? { tempering: { betas: ladder(raw, ctx) } } : {}),
    };
  },
  build: (ctx, o) => {
    // FPCD and PT sample the hidden layer as Bernoulli units themselves.
    if (o.method === 'fpcd' || o.method === 'pt') assertBinaryHidden(ctx.model, `method ${o.method}`);
    return (SAMPLERS[o.method] as SamplerEntry).build(ctx, o);
  },
});

function fastWeights(raw: RawOptions, learningRate: Schedule, epochs: number, ctx: ResolveContext) {
  const rate = read<number | undefined>(FAST_RATE, raw, ctx) ?? scheduleValue(learningRate, 0, epochs);
  return {
    learningRate: checkValue<number>(FAST_RATE, rate, ctx),
    decay: read<number>(FAST_DECAY, raw, ctx),
  };
}

function ladder(raw: RawOptions, ctx: ResolveContext): number[] {
  const betas = raw.tempering === undefined ? undefined : valueAt(raw, 'tempering.betas');
  if (betas !== undefined) {
    checkValue(BETAS, betas, ctx);
    return temperatureLadder({ betas: betas as ArrayLike<number> });
  }
  return temperatureLadder({
    temperatures: read<number>(TEMPERATURES, raw, ctx),
    betaMin: read<number>(BETA_MIN, raw, ctx),
  });
}
