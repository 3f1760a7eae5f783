import { type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import { checkMemory, modelMemory } from '../budget.js';
import { AbortedError, ArgumentError } from '../errors.js';
import type { RBM } from '../model/rbm.js';
import { afterChunk, type Watch } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type AisEstimate, type AisSchedule, aisBetas, forwardInterval, logMeanExp } from './ais.js';
import { annealingBase, annealingPath, type BaseOptions, largestHiddenInput } from './anneal.js';

/**
 * Sequential Monte Carlo on the AIS path (Del Moral, Doucet & Jasra 2006): forward AIS runs ("particles")
 * that are resampled when their weights degenerate, along inverse temperatures chosen as the runs go.
 *
 * - Adaptive schedule: from beta, the next beta' is the largest for which the step's conditional effective
 *   sample size (Zhou, Johansen & Aston 2016),
 *
 *     CESS = (sum_i W_i w_i)^2 / sum_i W_i w_i^2,   W the normalised weights, w_i = p*_beta'(v_i) / p*_beta(v_i),
 *
 *   stays at a fraction `cess` of the runs. w_i is taken to first order, log w_i ~ (beta' - beta) g_i with
 *   g_i = d/dbeta log p*_beta(v_i) = (a - a_A).v_i + sum_j x_ij sigmoid(beta x_ij), x = b + v W (one row sum on
 *   the device); the weights themselves are the exact increments. Steps come where the path changes fast
 *   (the sharp modes of a PCD model), few where it does not.
 * - Resampling: when Kish's ESS of the weights falls below `resample` of the runs, runs are drawn with
 *   probability W_i (multinomial), the segment's mean weight goes into Z-hat and the weights restart at 1.
 *   Z-hat = Z_0 prod_segments mean(w) is unbiased for a fixed schedule (Del Moral 2004), so log Z-hat is a
 *   stochastic lower bound on log Z as forward AIS's is. An adaptive schedule is chosen from the same runs,
 *   which biases Z-hat by O(1/runs) (Beskos, Jasra, Kantas & Thiery 2016); a run on the schedule a first
 *   (pilot) run found has none (`schedule: pilot.betas`).
 * - Spread: Lee & Whiteley (2018)'s estimate of Var(Z-hat) / Z^2 from each run's Eve index (its ancestor at
 *   beta = 0): 1 - (N / (N - 1))^(R + 1) (1 - sum_e Wbar_e^2), Wbar_e the weight of the runs descending from
 *   e, R the resamplings (with none it is the usual variance of a mean). When every run descends from one
 *   ancestor it is 1: the interval has no lower end.
 */

export interface SmcOptions extends Watch, BaseOptions {
  /** Particles (default 1,000). */
  readonly runs?: number;
  readonly seed?: number;
  /**
   * The adaptive schedule's conditional ESS per step, as a fraction of the runs (default 0.99): closer to 1,
   * more and smaller steps (about 1 / sqrt(1 - cess) times as many).
   */
  readonly cess?: number;
  /** Resample when Kish's ESS falls below this fraction of the runs (default 0.5; 0 never: plain AIS). */
  readonly resample?: number;
  /** Gibbs sweeps at each inverse temperature (default 1). */
  readonly sweeps?: number;
  /** A fixed schedule in place of the adaptive one (a pilot run's `betas`, or any AIS schedule). */
  readonly schedule?: AisSchedule;
  /** The adaptive schedule's most steps (default 1,000,000): every step is at least 1 / maxSteps. */
  readonly maxSteps?: number;
}

export interface SmcEstimate extends AisEstimate {
  /** The inverse temperatures the runs went through, 0 to 1 (the adaptive schedule as chosen). */
  readonly betas: Float64Array;
  /** How many times the runs were resampled. */
  readonly resamplings: number;
  /** Distinct Eve indices (ancestors at beta = 0) among the final runs: 1 means one run's line carries all. */
  readonly ancestors: number;
  /** Lee & Whiteley's estimate of Var(Z-hat) / Z^2 (see the module comment). */
  readonly relativeVariance: number;
}

/** log Z by sequential Monte Carlo along the AIS path (module comment); forward only, binary hidden units. */
export async function sequentialMonteCarlo(model: RBM, options: SmcOptions = {}): Promise<SmcEstimate> {
  const runs = options.runs ?? 1000;
  if (!Number.isInteger(runs) || runs < 2) throw new ArgumentError(`SMC needs at least 2 runs, got ${runs}`);
  const cess = options.cess ?? 0.99;
  if (!(cess > 0 && cess < 1)) throw new ArgumentError(`cess must be in (0, 1), got ${cess}`);
  const resample = options.resample ?? 0.5;
  if (!(resample >= 0 && resample < 1)) throw new ArgumentError(`resample must be in [0, 1), got ${resample}`);
  const sweeps = options.sweeps ?? 1;
  if (!Number.isInteger(sweeps) || sweeps < 1)
    throw new ArgumentError(`sweeps must be a positive integer, got ${sweeps}`);
  const maxSteps = options.maxSteps ?? 1_000_000;
  if (!Number.isInteger(maxSteps) || maxSteps < 1)
    throw new ArgumentError(`maxSteps must be a positive integer, got ${maxSteps}`);
  {
    const need = modelMemory(model.numVisible, model.numHidden, 3 * runs);
    checkMemory(`SMC with runs: ${runs}`, need.bytes, need.detail);
  }
  const fixed = options.schedule === undefined ? undefined : aisBetas(options.schedule);
  const label = 'SMC';
  if (options.signal?.aborted) throw new AbortedError(label, 0, 1000);
  const base = await annealingBase(model, options);
  const maxAbsInput = await largestHiddenInput(model);
  const be = model.backend;
  const nv = model.numVisible;
  const seed = options.seed ?? 0;
  const picks = new RandomStream(seed, Streams.smc);

  return withScope(be, async (scope: Scope) => {
    // The device draws on AIS's stream: with no resampling and a fixed schedule, SMC is AIS, number for number.
    const rnd = new DeviceRandom(be, new RandomStream(seed, Streams.ais));
    const path = annealingPath(model, scope, base, runs, rnd, maxAbsInput);
    const { v, X, s, logw } = path;
    const g = scope.tensor(runs, 1);
    const t = scope.tensor(runs, model.numHidden);
    const scratch = { scratch: [s, t, ...path.scratch] };
    /** g = d/dbeta log p*_beta(v) from X of the current v; only the adaptive schedule needs it. */
    const slope = (beta: number) => {
      if (fixed) return;
      be.axpby(t, beta, X, 0, X);
      be.unary('sigmoid', t, t);
      be.binary('mul', t, t, X);
      be.sum(g, t, 1);
      be.matMul(g, v, path.dA, { transposeB: true, alpha: 1, beta: 1 });
    };
    fused(
      be,
      'smc-start',
      () => {
        path.drawBase();
        path.hiddenInput();
        slope(0);
      },
      scratch,
    );

    const logW = new Float64Array(runs); // log-weights since the last resampling
    let eve = Int32Array.from({ length: runs }, (_, i) => i);
    let logZSegments = 0; // sum over finished segments of log mean(w)
    let resamplings = 0;
    const betas: number[] = [0];
    let beta = 0;
    let steps = 0;
    while (beta < 1) {
      let to: number;
      if (fixed) {
        to = fixed[steps + 1]!;
      } else {
        if (steps >= maxSteps - 1) to = 1;
        else to = nextBeta(beta, logW, await be.read(g), cess, 1 / maxSteps);
      }
      const last = to >= 1;
      const from = beta;
      fused(
        be,
        'smc-step',
        () => {
          path.accumulate(from, to);
          if (last) return;
          path.transition(to);
          for (let k = 1; k < sweeps; k++) path.sweep(to);
          path.hiddenInput();
          slope(to);
        },
        scratch,
      );
      const inc = await be.read(logw);
      be.fill(logw, 0);
      for (let i = 0; i < runs; i++) logW[i]! += inc[i]!;
      beta = last ? 1 : to;
      betas.push(beta);
      steps++;
      const now = resample > 0 && !last ? logMeanExp(logW) : undefined;
      if (now && now.effectiveSampleSize < resample * runs) {
        logZSegments += now.log;
        const ancestors = multinomial(logW, picks);
        const old = await be.read(v);
        const moved = new Float32Array(old.length);
        for (let i = 0; i < runs; i++) moved.set(old.subarray(ancestors[i]! * nv, (ancestors[i]! + 1) * nv), i * nv);
        be.write(v, moved);
        eve = Int32Array.from(ancestors, (a) => eve[a]!);
        logW.fill(0);
        resamplings++;
        // The moved v needs its hidden input X again (the next step's weights read it), and g with it.
        fused(
          be,
          'smc-slope',
          () => {
            path.hiddenInput();
            slope(beta);
          },
          scratch,
        );
      }
      if ((steps % 100 === 0 || last) && (options.signal || options.onProgress))
        await afterChunk(label, Math.floor(beta * 1000), 1000, options);
    }

    const final = logMeanExp(logW);
    const logZ = base.logZBase + base.shift + logZSegments + final.log;
    const relativeVariance = eveVariance(logW, eve, resamplings);
    return {
      logZ,
      ...forwardInterval(logZ, Math.sqrt(relativeVariance)),
      direction: 'forward',
      runs,
      steps,
      // log mean exp of these is log Z - log Z_0, as forward AIS's weights are.
      logWeights: logW.map((x) => x + logZSegments + base.shift),
      logZBase: base.logZBase,
      effectiveSampleSize: final.effectiveSampleSize,
      betas: Float64Array.from(betas),
      resamplings,
      ancestors: new Set(eve).size,
      relativeVariance,
    };
  });
}

/**
 * The largest beta' in (beta, 1] whose first-order conditional ESS (module comment) is at least `target`,
 * by bisection; at least beta + minStep.
 */
export function nextBeta(
  beta: number,
  logW: Float64Array,
  g: ArrayLike<number>,
  target: number,
  minStep: number,
): number {
  const n = logW.length;
  const W = relativeWeights(logW);
  const fraction = (d: number) => {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) if (W[i]! > 0) m = Math.max(m, d * g[i]!);
    let s1 = 0;
    let s2 = 0;
    let s0 = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(d * g[i]! - m);
      s0 += W[i]!;
      s1 += W[i]! * e;
      s2 += W[i]! * e * e;
    }
    return (s1 * s1) / (s0 * s2);
  };
  const room = 1 - beta;
  if (fraction(room) >= target) return 1;
  let lo = 0;
  let hi = room;
  for (let k = 0; k < 60 && hi - lo > 1e-12 * room; k++) {
    const mid = (lo + hi) / 2;
    if (fraction(mid) >= target) lo = mid;
    else hi = mid;
  }
  return Math.min(1, beta + Math.max(lo, minStep));
}

/** Multinomial resampling: `n` ancestors drawn with probability proportional to exp(logW), in order. */
function multinomial(logW: Float64Array, random: RandomStream): Int32Array {
  const n = logW.length;
  const W = relativeWeights(logW);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += W[i]!;
    cdf[i] = total;
  }
  const u = new Float64Array(n);
  random.uniform(u);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = u[i]! * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    out[i] = lo;
  }
  return out;
}

/** Lee & Whiteley's relative variance of Z-hat from the Eve indices (module comment), clamped to [0, 1]. */
function eveVariance(logW: Float64Array, eve: Int32Array, resamplings: number): number {
  const n = logW.length;
  const W = relativeWeights(logW);
  let total = 0;
  const byEve = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const w = W[i]!;
    total += w;
    byEve.set(eve[i]!, (byEve.get(eve[i]!) ?? 0) + w);
  }
  let same = 0;
  for (const w of byEve.values()) same += (w / total) ** 2;
  const v = 1 - (n / (n - 1)) ** (resamplings + 1) * (1 - same);
  return Math.min(1, Math.max(0, v));
}

/** exp(logW - max logW): the weights relative to the largest, safe from overflow. */
function relativeWeights(logW: Float64Array): Float64Array {
  let top = Number.NEGATIVE_INFINITY;
  for (const x of logW) top = Math.max(top, x);
  return Float64Array.from(logW, (x) => Math.exp(x - top));
}
