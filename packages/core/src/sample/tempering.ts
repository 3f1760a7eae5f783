import type { Scope } from '../backend/scope.js';
import type { Tensor } from '../backend/types.js';
import { ArgumentError } from '../errors.js';
import type { RBM } from '../model/rbm.js';
import type { DeviceRandom } from '../random/device.js';

/**
 * Parallel tempering (replica exchange; Swendsen & Wang 1986, for RBMs Desjardins et al. 2010): replicas of
 * the chains run at inverse temperatures 1 = beta_1 > beta_2 > ... > beta_M of p_beta(v, h) ∝ exp(-beta E(v, h)),
 * whose conditionals are p(h = 1 | v) = sigmoid(beta (b + v W)) and p(v = 1 | h) = sigmoid(beta (a + W h)).
 * Hot replicas cross energy barriers; adjacent replicas swap states with probability
 *
 *   min(1, exp((beta_m - beta_{m+1}) (E(v_m, h_m) - E(v_{m+1}, h_{m+1})))),
 *
 * which leaves the product of the tempered distributions invariant, so the beta = 1 replica samples the model.
 * Swaps alternate between even and odd pairs. Everything runs on the device: a swap is
 * x_m <- x_m + s (x_{m+1} - x_m) with s in {0, 1} per chain, so no state is read back.
 */

export interface TemperingOptions {
  /** Inverse temperatures, the first 1, decreasing (default: 10 evenly spaced from 1 down to 0.1). */
  readonly betas?: ArrayLike<number>;
}

export function temperatureLadder(options: TemperingOptions = {}): number[] {
  const betas = Array.from(options.betas ?? Array.from({ length: 10 }, (_, m) => 1 - (0.9 * m) / 9));
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
    this.model = model;
    this.random = random;
    this.chains = chains;
    this.betas = temperatureLadder(options);
    const nv = model.numVisible;
    const nh = model.numHidden;
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
    const be = this.model.backend;
    const m = this.model;
    for (const r of this.replicas) {
      this.hidden(r);
      // p(v = 1 | h) = sigmoid(beta (a + W h))
      be.matMul(this.pv, r.h, m.W, { transposeB: true });
      be.binary('add', this.pv, this.pv, m.a);
      be.axpby(this.pv, r.beta, this.pv, 0, this.pv);
      be.unary('sigmoid', this.pv, this.pv);
      this.random.uniform(this.uv);
      be.bernoulli(r.v, this.pv, this.uv);
      this.hidden(r);
    }
  }

  /** r.ph = p(h = 1 | v) at the replica's beta, r.h a sample of it. */
  private hidden(r: Replica): void {
    const be = this.model.backend;
    be.matMul(r.ph, r.v, this.model.W);
    be.binary('add', r.ph, r.ph, this.model.b);
    be.axpby(r.ph, r.beta, r.ph, 0, r.ph);
    be.unary('sigmoid', r.ph, r.ph);
    this.random.uniform(this.uh);
    be.bernoulli(r.h, r.ph, this.uh);
  }

  /** E(v, h) = -a.v - b.h - v W h for each chain of a replica. */
  private energy(r: Replica): void {
    const be = this.model.backend;
    const m = this.model;
    be.matMul(this.vw, r.v, m.W);
    be.binary('mul', this.vw, this.vw, r.h);
    be.sum(r.energy, this.vw, 1);
    be.matMul(r.energy, r.v, m.a, { transposeB: true, beta: 1 });
    be.matMul(r.energy, r.h, m.b, { transposeB: true, beta: 1 });
    be.axpby(r.energy, -1, r.energy, 0, r.energy);
  }

  /** One round of replica exchange between the pairs of the current parity (even, then odd, ...). */
  swap(): void {
    const be = this.model.backend;
    for (const r of this.replicas) this.energy(r);
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
    be.matMul(top.ph, top.v, this.model.W);
    be.binary('add', top.ph, top.ph, this.model.b);
    be.unary('sigmoid', top.ph, top.ph);
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
