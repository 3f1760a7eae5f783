import { type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Tensor } from '../backend/types.js';
import { checkMemory, modelMemory } from '../budget.js';
import { ArgumentError } from '../errors.js';
import { assertBinaryHidden } from '../model/parameters.js';
import type { RBM, SampleOptions, Samples } from '../model/rbm.js';
import { steppedLoop } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';

/**
 * Parallel tempering (replica exchange; Swendsen & Wang 1986, for RBMs Desjardins et al. 2010): replicas of
 * the chains run at inverse temperatures 1 = beta_1 > beta_2 > ... > beta_M of p_beta(v, h) ∝ exp(-beta E(v, h)),
 * whose conditionals the model gives at each beta (Bernoulli units: p(h = 1 | v) = sigmoid(beta (b + v W)) and
 * p(v = 1 | h) = sigmoid(beta (a + W h))).
 * Hot replicas cross energy barriers; adjacent replicas swap states with probability
 *
 *   min(1, exp((beta_m - beta_{m+1}) (E(v_m, h_m) - E(v_{m+1}, h_{m+1})))),
 *
 * which leaves the product of the tempered distributions invariant, so the beta = 1 replica samples the model.
 * Swaps alternate between even and odd pairs. Everything runs on the device: a swap is
 * x_m <- x_m + s (x_{m+1} - x_m) with s in {0, 1} per chain, so no state is read back.
 */

export interface TemperingOptions {
  /** Inverse temperatures, the first 1, decreasing (default: `temperatures` evenly spaced from 1 to `betaMin`). */
  readonly betas?: ArrayLike<number>;
  /** Without `betas`: how many replicas (default 10), */
  readonly temperatures?: number;
  /** and the lowest inverse temperature (default 0.1), the ladder linear from 1. */
  readonly betaMin?: number;
}

export function temperatureLadder(options: TemperingOptions = {}): number[] {
  if (options.betas !== undefined && (options.temperatures !== undefined || options.betaMin !== undefined))
    throw new ArgumentError('a temperature ladder is given by betas, or by temperatures and betaMin: not both');
  const n = options.temperatures ?? 10;
  const betaMin = options.betaMin ?? 0.1;
  if (!Number.isSafeInteger(n) || n < 2)
    throw new ArgumentError(`temperatures must be an integer >= 2 for parallel tempering, got ${n}`);
  if (!(betaMin > 0 && betaMin < 1)) throw new ArgumentError(`betaMin must be in (0, 1), got ${betaMin}`);
  // beta_m = 1 - (1 - betaMin) m / (n - 1), m = 0 .. n - 1
  const betas = Array.from(options.betas ?? Array.from({ length: n }, (_, m) => 1 - ((1 - betaMin) * m) / (n - 1)));
  if (betas.length < 2 || betas[0] !== 1)
    throw new ArgumentError('a temperature ladder starts at beta = 1 and has at least two rungs');
  for (let m = 1; m < betas.length; m++) {
    if (!(betas[m]! < betas[m - 1]! && betas[m]! > 0)) {
      throw new ArgumentError(`inverse temperatures must decrease and stay positive (beta[${m}] = ${betas[m]})`);
    }
  }
  return betas;
}

interface Replica {
  readonly beta: number;
  readonly v: Tensor;
  readonly h: Tensor;
  readonly ph: Tensor;
  readonly energy: Tensor;
}

export class ParallelTempering {
  readonly chains: number;
  readonly betas: readonly number[];
  private readonly model: RBM;
  private readonly random: DeviceRandom;
  private readonly replicas: Replica[];
  private readonly pv: Tensor;
  private readonly uv: Tensor;
  private readonly uh: Tensor;
  private readonly vw: Tensor;
  private readonly col: Tensor;
  private readonly accept: Tensor;
  private readonly uSwap: Tensor;
  private readonly dv: Tensor;
  private readonly dh: Tensor;
  private readonly scalar: Tensor;
  /** Accepted swaps per pair, accumulated on the device ([1, M - 1] after reading). */
  private readonly accepted: Tensor[];
  /** Which pairs swap next (0: even pairs, 1: odd pairs). */
  parity = 0;
  swapRounds = 0;

  constructor(model: RBM, scope: Scope, random: DeviceRandom, chains: number, options: TemperingOptions = {}) {
    assertBinaryHidden(model, 'parallel tempering');
    this.model = model;
    this.random = random;
    this.chains = chains;
    this.betas = temperatureLadder(options);
    const nv = model.numVisible;
    const nh = model.numHidden;
    const need = modelMemory(nv, nh, chains * this.betas.length);
    checkMemory(`parallel tempering: ${chains} chains x ${this.betas.length} temperatures`, need.bytes, need.detail);
    this.replicas = this.betas.map((beta) => ({
      beta,
      v: scope.tensor(chains, nv),
      h: scope.tensor(chains, nh),
      ph: scope.tensor(chains, nh),
      energy: scope.tensor(chains, 1),
    }));
    this.pv = scope.tensor(chains, nv);
    this.uv = scope.tensor(chains, nv);
    this.uh = scope.tensor(chains, nh);
    this.vw = scope.tensor(chains, nh);
    this.col = scope.tensor(chains, 1);
    this.accept = scope.tensor(chains, 1);
    this.uSwap = scope.tensor(chains, 1);
    this.dv = scope.tensor(chains, nv);
    this.dh = scope.tensor(chains, nh);
    this.scalar = scope.tensor(1, 1);
    this.accepted = this.betas.slice(1).map(() => scope.tensor(1, 1));
  }

  /** The beta = 1 replica: its visible states, and p(h = 1 | v) at beta = 1 after the last sweep. */
  get v(): Tensor {
    return this.replicas[0]!.v;
  }
  get ph(): Tensor {
    return this.replicas[0]!.ph;
  }

  /** Starts every replica at the same visible states. */
  setStates(v: Tensor): void {
    for (const r of this.replicas) this.model.backend.copy(r.v, v);
  }

  /** Number of replicas. */
  get size(): number {
    return this.replicas.length;
  }

  /** States of a replica (0 is beta = 1). */
  replicaStates(m: number): Tensor {
    return this.replicas[m]!.v;
  }

  /** One Gibbs sweep v -> h -> v in every replica, then h ~ p(h | v) for the energies and the statistics. */
  sweep(): void {
    const m = this.model;
    for (const r of this.replicas) {
      this.hidden(r);
      m.visibleProbabilities(this.pv, r.h, r.beta);
      m.sampleVisible(r.v, this.pv, this.random, this.uv, r.beta);
      this.hidden(r);
    }
  }

  /** r.ph = p(h = 1 | v) at the replica's beta, r.h a sample of it. */
  private hidden(r: Replica): void {
    this.model.hiddenProbabilities(r.ph, r.v, r.beta);
    this.random.uniform(this.uh);
    this.model.backend.bernoulli(r.h, r.ph, this.uh);
  }

  /** One round of replica exchange between the pairs of the current parity (even, then odd, ...). */
  swap(): void {
    const be = this.model.backend;
    for (const r of this.replicas) this.model.energy(r.energy, r.v, r.h, this.vw);
    for (let k = this.parity; k + 1 < this.replicas.length; k += 2) {
      const x = this.replicas[k]!;
      const y = this.replicas[k + 1]!;
      // accept = u < exp((beta_x - beta_y) (E_x - E_y))
      be.binary('sub', this.col, x.energy, y.energy);
      be.axpby(this.col, x.beta - y.beta, this.col, 0, this.col);
      be.unary('exp', this.col, this.col);
      this.random.uniform(this.uSwap);
      be.bernoulli(this.accept, this.col, this.uSwap);
      // x <- x + s (y - x), y <- y - s (y - x), for v and h (the energies are recomputed next round).
      be.binary('sub', this.dv, y.v, x.v);
      be.binary('mul', this.dv, this.dv, this.accept);
      be.binary('add', x.v, x.v, this.dv);
      be.binary('sub', y.v, y.v, this.dv);
      be.binary('sub', this.dh, y.h, x.h);
      be.binary('mul', this.dh, this.dh, this.accept);
      be.binary('add', x.h, x.h, this.dh);
      be.binary('sub', y.h, y.h, this.dh);
      const acc = this.accepted[k]!;
      be.sum(this.scalar, this.accept, 0);
      be.binary('add', acc, acc, this.scalar);
    }
    this.parity = 1 - this.parity;
    this.swapRounds++;
    // After swaps, p(h | v) of the beta = 1 replica must describe its (possibly new) v.
    const top = this.replicas[0]!;
    this.model.hiddenProbabilities(top.ph, top.v);
  }

  /** Fraction of attempted swaps accepted for each adjacent pair (one readback per pair). */
  async acceptanceRates(): Promise<number[]> {
    const rates: number[] = [];
    for (let k = 0; k < this.accepted.length; k++) {
      const [x] = await this.model.backend.read(this.accepted[k]!);
      // Pair k is attempted every other round, starting at round k % 2.
      const attempts = Math.floor((this.swapRounds + 1 - (k % 2)) / 2) * this.chains;
      rates.push(attempts > 0 ? x! / attempts : 0);
    }
    return rates;
  }
}

/**
 * Samples like {@link RBM.sample}, but with parallel tempering: each of the chains has replicas at the
 * inverse temperatures of `options.tempering` (default: 10 from 1 to 0.1) that swap states after every
 * sweep; the beta = 1 replicas are returned, with p(v | h) of a last h drawn from them.
 */
export async function temperedSample(
  model: RBM,
  options: SampleOptions & { readonly tempering?: TemperingOptions },
): Promise<Samples> {
  if (model.gaussian) throw new ArgumentError('parallel tempering is implemented for Bernoulli visible units only');
  const be = model.backend;
  return withScope(be, async (scope) => {
    const rnd = new DeviceRandom(be, new RandomStream(options.seed ?? 0, Streams.sample));
    const v = model.startStates(scope, options, rnd);
    const B = v.rows;
    const pt = new ParallelTempering(model, scope, rnd, B, options.tempering ?? {});
    pt.setStates(v);
    await steppedLoop(
      'parallel tempering',
      options.steps,
      () =>
        fused(be, 'tempering-sweep', () => {
          pt.sweep();
          pt.swap();
        }),
      options,
    );
    const pv = scope.tensor(B, model.numVisible);
    const h = scope.tensor(B, model.numHidden);
    const u = scope.tensor(B, model.numHidden);
    rnd.uniform(u);
    be.bernoulli(h, pt.ph, u);
    model.visibleProbabilities(pv, h);
    const [probabilities, states] = await Promise.all([be.read(pv), be.read(pt.v)]);
    return { probabilities, states, rows: B };
  });
}
