import { type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, Tensor } from '../backend/types.js';
import { checkMemory, modelMemory } from '../budget.js';
import { AbortedError, ArgumentError } from '../errors.js';
import type { RBM } from '../model/rbm.js';
import { afterChunk, type Watch } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type AisEstimate, type AisSchedule, aisBetas, forwardInterval, logMeanExp } from './ais.js';
import { annealingBase, annealingPath, type BaseOptions, largestHiddenInput } from './anneal.js';
import { softplusSlope } from './increment.js';

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
 *   ancestor it is 1: the interval has no lower end. It can come out at or below 0 (it is unbiased, not
 *   positive); the last segment's variance of its mean weight is its floor.
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

/** The SMC settings every path shares, checked (defaults in {@link SmcOptions}). */
export interface SmcSettings {
  readonly runs: number;
  readonly cess: number;
  readonly resample: number;
  readonly sweeps: number;
  readonly maxSteps: number;
  /** The fixed schedule's inverse temperatures, or undefined for the adaptive one. */
  readonly fixed: Float64Array | undefined;
}

/** {@link SmcOptions}' settings with their defaults, or an ArgumentError naming the bad one. */
export function smcSettings(options: SmcOptions, defaultRuns = 1000): SmcSettings {
  const runs = options.runs ?? defaultRuns;
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
  const fixed = options.schedule === undefined ? undefined : aisBetas(options.schedule);
  return { runs, cess, resample, sweeps, maxSteps, fixed };
}

/**
 * What {@link smcLoop} drives: one annealing path's runs (an RBM's, a DBM's), ops only, which the loop fuses
 * into units.
 */
export interface SmcPath {
  /** The runs' states, [runs, n] each: resampling moves their rows together. */
  readonly states: readonly Tensor[];
  /** Each run's log-weight increments since the loop last cleared it, [runs, 1]. */
  readonly logw: Tensor;
  /** The moves' workspace: nothing in it outlives a unit. */
  readonly scratch: readonly Tensor[];
  /** The states ~ the base model. */
  drawBase(): void;
  /** What {@link SmcPath.accumulate} and {@link SmcPath.slope} read of the current states. */
  prepare(): void;
  /** logw += log p*_to - log p*_from of the current states, leaving what a transition at `to` needs. */
  accumulate(from: number, to: number): void;
  transition(beta: number): void;
  /** A whole sweep at beta from the states alone. */
  sweep(beta: number): void;
  /** g = d/dbeta log p*_beta of the current states, [runs, 1]. */
  slope(beta: number, g: Tensor): void;
  /** The fused units' names. */
  readonly units: { readonly start: string; readonly step: string; readonly slope: string };
}

/** What {@link smcLoop} found: the last segment's log-weights and what the estimate and its spread need. */
export interface SmcRun {
  /** log-weights since the last resampling. */
  readonly logW: Float64Array;
  /** Sum over the finished segments of log mean(w). */
  readonly logZSegments: number;
  readonly eve: Int32Array;
  readonly resamplings: number;
  readonly betas: Float64Array;
  readonly steps: number;
}

/**
 * The SMC loop (module comment) on any annealing path: steps to the adaptive (or fixed) next beta, each one
 * fused unit, weights summed in float64 on the host, multinomial resampling by `picks`.
 */
export async function smcLoop(
  be: Backend,
  scope: Scope,
  path: SmcPath,
  settings: SmcSettings,
  picks: RandomStream,
  label: string,
  watch: Watch,
): Promise<SmcRun> {
  const { runs, cess, resample, sweeps, maxSteps, fixed } = settings;
  const g = scope.tensor(runs, 1);
  const scratch = { scratch: path.scratch };
  /** g from the current states; only the adaptive schedule needs it. */
  const slope = (beta: number) => {
    if (!fixed) path.slope(beta, g);
  };
  fused(
    be,
    path.units.start,
    () => {
      path.drawBase();
      path.prepare();
      slope(0);
    },
    scratch,
  );

  const logW = new Float64Array(runs); // log-weights since the last resampling
  let eve = Int32Array.from({ length: runs }, (_, i) => i);
  let logZSegments = 0;
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
      path.units.step,
      () => {
        path.accumulate(from, to);
        if (last) return;
        path.transition(to);
        for (let k = 1; k < sweeps; k++) path.sweep(to);
        path.prepare();
        slope(to);
      },
      scratch,
    );
    const inc = await be.read(path.logw);
    be.fill(path.logw, 0);
    for (let i = 0; i < runs; i++) logW[i]! += inc[i]!;
    beta = last ? 1 : to;
    betas.push(beta);
    steps++;
    const now = resample > 0 && !last ? logMeanExp(logW) : undefined;
    if (now && now.effectiveSampleSize < resample * runs) {
      logZSegments += now.log;
      const ancestors = multinomial(logW, picks);
      for (const t of path.states) {
        const old = await be.read(t);
        const n = t.cols;
        const moved = new Float32Array(old.length);
        for (let i = 0; i < runs; i++) moved.set(old.subarray(ancestors[i]! * n, (ancestors[i]! + 1) * n), i * n);
        be.write(t, moved);
      }
      eve = Int32Array.from(ancestors, (a) => eve[a]!);
      logW.fill(0);
      resamplings++;
      // The moved states need their inputs again (the next step's weights read them), and g with them.
      fused(
        be,
        path.units.slope,
        () => {
          path.prepare();
          slope(beta);
        },
        scratch,
      );
    }
    if ((steps % 100 === 0 || last) && (watch.signal || watch.onProgress))
      await afterChunk(label, Math.floor(beta * 1000), 1000, watch);
  }
  return { logW, logZSegments, eve, resamplings, betas: Float64Array.from(betas), steps };
}

/** The estimate from a finished loop: log Z = log Z_0 + shift + the segments + the last segment's mean. */
export function smcEstimate(run: SmcRun, logZBase: number, shift: number): SmcEstimate {
  const { logW, logZSegments, eve, resamplings } = run;
  const final = logMeanExp(logW);
  const logZ = logZBase + shift + logZSegments + final.log;
  // Lee & Whiteley's estimate is unbiased but can fall to 0 or below (clamped) after a few resamplings; the
  // last segment's own variance of the mean is a floor (Var(Z-hat) >= E[Var(Z-hat | all before it)]), so the
  // interval is never narrower than the last segment alone makes it.
  const relativeVariance = Math.max(eveVariance(logW, eve, resamplings), final.relativeError ** 2);
  return {
    logZ,
    ...forwardInterval(logZ, Math.sqrt(relativeVariance)),
    direction: 'forward',
    runs: logW.length,
    steps: run.steps,
    // log mean exp of these is log Z - log Z_0, as forward AIS's weights are.
    logWeights: logW.map((x) => x + logZSegments + shift),
    logZBase,
    effectiveSampleSize: final.effectiveSampleSize,
    betas: run.betas,
    resamplings,
    ancestors: new Set(eve).size,
    relativeVariance,
  };
}

/** log Z by sequential Monte Carlo along the AIS path (module comment); forward only, binary hidden units. */
export async function sequentialMonteCarlo(model: RBM, options: SmcOptions = {}): Promise<SmcEstimate> {
  const settings = smcSettings(options);
  const { runs } = settings;
  {
    const need = modelMemory(model.numVisible, model.numHidden, 3 * runs);
    checkMemory(`SMC with runs: ${runs}`, need.bytes, need.detail);
  }
  const label = 'SMC';
  if (options.signal?.aborted) throw new AbortedError(label, 0, 1000);
  const base = await annealingBase(model, options);
  const maxAbsInput = await largestHiddenInput(model);
  const be = model.backend;
  const seed = options.seed ?? 0;

  return withScope(be, async (scope: Scope) => {
    // The device draws on AIS's stream: with no resampling and a fixed schedule, SMC is AIS, number for number.
    const rnd = new DeviceRandom(be, new RandomStream(seed, Streams.ais));
    const path = annealingPath(model, scope, base, runs, rnd, maxAbsInput);
    const { v, X } = path;
    const t = scope.tensor(runs, model.numHidden);
    const run = await smcLoop(
      be,
      scope,
      {
        states: [v],
        logw: path.logw,
        scratch: [path.s, t, ...path.scratch],
        drawBase: path.drawBase,
        prepare: path.hiddenInput,
        accumulate: path.accumulate,
        transition: path.transition,
        sweep: path.sweep,
        /** g = (a - a_A).v + sum_j x_j sigmoid(beta x_j), x = b + v W. */
        slope(beta, g) {
          softplusSlope(be, g, X, t, beta);
          be.matMul(g, v, path.dA, { transposeB: true, alpha: 1, beta: 1 });
        },
        units: { start: 'smc-start', step: 'smc-step', slope: 'smc-slope' },
      },
      settings,
      new RandomStream(seed, Streams.smc),
      label,
      options,
    );
    return smcEstimate(run, base.logZBase, base.shift);
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
