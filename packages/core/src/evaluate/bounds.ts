import type { Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import type { RBM } from '../model/rbm.js';
import type { Watch } from '../progress.js';
import { type AisEstimate, type AisSchedule, aisBetas, aisWarnings, annealedImportanceSampling } from './ais.js';
import { type RaiseEstimate, reverseAnnealedImportanceSampling } from './raise.js';
import { type SmcEstimate, sequentialMonteCarlo } from './smc.js';

/**
 * Both sides of the mean test log-likelihood of an RBM too large to enumerate:
 * - upper: mean(-F(v)) - log Z-hat with forward AIS's log Z-hat, a stochastic lower bound on log Z
 *   (Salakhutdinov & Murray 2008), so a stochastic upper bound on the mean log p(v);
 * - lower: RAISE's mean log p-hat(v) (Burda, Grosse & Salakhutdinov 2015), a stochastic lower bound on the
 *   mean log q(v) of the model that the annealing defines, conservative for the RBM in practice.
 * "Stochastic": each side can be crossed by chance, by t nats with probability at most e^-t; the +-3 sigma
 * intervals say how far the run-to-run noise reaches.
 */
export interface BoundsOptions extends Watch {
  /** Forward AIS runs (default 1,000). */
  readonly runs?: number;
  /** RAISE chains per example (default 1). */
  readonly chains?: number;
  /** RAISE's sweeps at beta = 1 before annealing down (default 5,000; see `RaiseOptions.sweeps`). */
  readonly sweeps?: number;
  /**
   * RAISE chains for the examples a pilot finds stuck (default `chains`; see `RaiseOptions.stuckChains`): the
   * first round runs a one-chain pilot, each later round takes the last round's estimates as its pilot.
   */
  readonly stuckChains?: number;
  /** Nats below the pilot's median that flag an example as stuck (default 3). */
  readonly stuckGap?: number;
  /** Both sides' schedule (default S&M's 14,500 steps; with `smc`, the adaptive one). */
  readonly schedule?: AisSchedule;
  /**
   * The upper side by sequential Monte Carlo (smc.ts) in place of forward AIS: runs resampled at ESS below
   * `resample` of them, and without `schedule`, inverse temperatures chosen at a conditional ESS of `cess`;
   * RAISE then anneals on the temperatures SMC went through, so both sides share one path.
   */
  readonly smc?: { readonly cess?: number; readonly resample?: number };
  /** Gibbs sweeps at each inverse temperature, both sides (default 1). */
  readonly stepSweeps?: number;
  readonly seed?: number;
  /** The base model's data (base rates; default: `data`, the examples evaluated), e.g. `modelSamplesForBase`'s. */
  readonly baseData?: Dataset;
  /** The base model's visible biases themselves, in place of `baseData`'s base rates (zeros: uniform). */
  readonly baseVisibleBias?: Float32Array;
  /** Warn when the bounds are further apart than this many nats (default 1, or `width`). */
  readonly maxWidth?: number;
  /**
   * Keep going until the bracket is at most this wide (nats): each round runs both sides again with twice
   * the Gibbs sweeps at each temperature (and a new seed), until the last round's bracket is this narrow, the
   * next round would not fit in `budgetSeconds` (it is taken to cost twice the last), or `maxRounds` ran.
   * Without it, one round.
   */
  readonly width?: number;
  /** Wall-clock budget of all rounds, seconds (default: none; with `width` the rounds stop at `maxRounds`). */
  readonly budgetSeconds?: number;
  /** Most rounds (default 8 with `width`, else 1). */
  readonly maxRounds?: number;
  /** Called after each round, with the bracket it gave. */
  readonly onRound?: (round: BoundsRound) => void;
}

/** One round of {@link likelihoodBounds}: its sweeps a temperature and the bracket it gave. */
export interface BoundsRound {
  readonly round: number;
  readonly stepSweeps: number;
  readonly steps: number;
  readonly lower: number;
  readonly upper: number;
  readonly width: number;
  readonly lowerEstimate: number;
  readonly upperEstimate: number;
  /** Examples RAISE gave `stuckChains` chains. */
  readonly stuck: number;
  /** The round's own wall time, and the total since the first round began. */
  readonly seconds: number;
  readonly elapsed: number;
}

export interface LikelihoodBounds {
  /**
   * The low end of RAISE's +-3 sigma interval, nats per example: a stochastic lower bound that the run's
   * noise is unlikely to carry above the value. (A converged estimate sits on the value, so its point
   * estimate alone is crossed half the time; the interval's end is not.)
   */
  readonly lower: number;
  /** The high end of forward AIS's interval: +Infinity when that interval is open (too few effective runs). */
  readonly upper: number;
  readonly width: number;
  /** The point estimates, and each one's +-3 sigma interval. */
  readonly lowerEstimate: number;
  readonly upperEstimate: number;
  readonly lowerInterval: readonly [number, number];
  readonly upperInterval: readonly [number, number];
  /** The upper side's estimate of log Z: forward AIS's, or SMC's (`smc`). */
  readonly ais: AisEstimate | SmcEstimate;
  readonly raise: RaiseEstimate;
  /** Reasons not to trust the bracket (see {@link aisWarnings}); empty when none is found. */
  readonly warnings: string[];
  /** Every round (one without `width`); the bracket above is the last one's. */
  readonly rounds: readonly BoundsRound[];
  /** Why the rounds stopped: the bracket is `width` wide or less, the budget, or `maxRounds`. */
  readonly stopped: 'width' | 'budget' | 'rounds';
}

/**
 * Forward AIS (or SMC) and RAISE on the same examples, schedule and base model: the mean log-likelihood
 * bracketed, in rounds of doubling sweeps until it is `width` wide or the budget is spent.
 */
export async function likelihoodBounds(
  model: RBM,
  data: Dataset,
  options: BoundsOptions = {},
): Promise<LikelihoodBounds> {
  const width = options.width;
  if (width !== undefined && !(width > 0)) throw new ArgumentError(`width must be positive, got ${width}`);
  const maxRounds = options.maxRounds ?? (width === undefined ? 1 : 8);
  if (!Number.isInteger(maxRounds) || maxRounds < 1)
    throw new ArgumentError(`maxRounds must be a positive integer, got ${maxRounds}`);
  const budget = options.budgetSeconds ?? Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const rounds: BoundsRound[] = [];
  const firstSweeps = options.stepSweeps ?? 1;
  let previous: Omit<LikelihoodBounds, 'rounds' | 'stopped'> | undefined;
  for (let r = 0; ; r++) {
    const started = performance.now();
    const stepSweeps = firstSweeps * 2 ** r;
    const b = await oneRound(model, data, {
      ...options,
      stepSweeps,
      seed: (options.seed ?? 0) + r * 7919,
      ...(previous ? { pilot: previous.raise.perExample } : {}),
    });
    previous = b;
    const now = performance.now();
    const round: BoundsRound = {
      round: r + 1,
      stepSweeps,
      steps: b.ais.steps,
      lower: b.lower,
      upper: b.upper,
      width: b.width,
      lowerEstimate: b.lowerEstimate,
      upperEstimate: b.upperEstimate,
      stuck: b.raise.stuck.length,
      seconds: (now - started) / 1000,
      elapsed: (now - t0) / 1000,
    };
    rounds.push(round);
    options.onRound?.(round);
    const stopped =
      width !== undefined && b.width <= width
        ? 'width'
        : r + 1 >= maxRounds
          ? 'rounds'
          : round.elapsed + 2 * round.seconds > budget
            ? 'budget'
            : undefined;
    if (stopped) return { ...b, rounds, stopped };
  }
}

/** One round: both sides once, at the options' sweeps a temperature. */
async function oneRound(
  model: RBM,
  data: Dataset,
  options: BoundsOptions & { readonly pilot?: Float64Array },
): Promise<Omit<LikelihoodBounds, 'rounds' | 'stopped'>> {
  const base = options.baseVisibleBias
    ? { baseVisibleBias: options.baseVisibleBias }
    : { baseData: options.baseData ?? data };
  const chains = options.chains ?? 1;
  const report = options.onProgress;
  const common = {
    seed: options.seed ?? 0,
    ...(options.stepSweeps !== undefined ? { stepSweeps: options.stepSweeps } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const raiseOn = (schedule: AisSchedule | undefined, progress?: (done: number, total: number) => void) =>
    reverseAnnealedImportanceSampling(model, data, {
      chains,
      ...(options.sweeps !== undefined ? { sweeps: options.sweeps } : {}),
      ...(options.stuckChains !== undefined ? { stuckChains: options.stuckChains } : {}),
      ...(options.stuckGap !== undefined ? { stuckGap: options.stuckGap } : {}),
      ...(options.pilot ? { pilot: options.pilot } : {}),
      ...base,
      ...common,
      ...(schedule ? { schedule } : {}),
      ...(progress ? { onProgress: progress } : {}),
    });
  let ais: AisEstimate | SmcEstimate;
  let raise: RaiseEstimate;
  if (options.smc) {
    // SMC first (it reports thousandths of the way to beta = 1), then RAISE on its temperatures.
    const smc = await sequentialMonteCarlo(model, {
      runs: options.runs ?? 1000,
      ...base,
      ...(options.smc.cess !== undefined ? { cess: options.smc.cess } : {}),
      ...(options.smc.resample !== undefined ? { resample: options.smc.resample } : {}),
      ...(options.schedule ? { schedule: options.schedule } : {}),
      ...(options.stepSweeps !== undefined ? { sweeps: options.stepSweeps } : {}),
      seed: common.seed,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(report ? { onProgress: (done: number) => report(done, 2000) } : {}),
    });
    ais = smc;
    raise = await raiseOn(smc.betas, report ? (done, total) => report(1000 + (1000 * done) / total, 2000) : undefined);
  } else {
    // One progress count over both: RAISE first, reporting its own total (passes x (steps + sweeps)), then
    // AIS's K steps after it. The two draw from their own streams, so the order changes no number.
    const K = aisBetas(options.schedule).length - 1;
    let raiseTotal = 0;
    raise = await raiseOn(
      options.schedule,
      report
        ? (done, total) => {
            raiseTotal = total;
            report(done, total + K);
          }
        : undefined,
    );
    ais = await annealedImportanceSampling(model, {
      runs: options.runs ?? 1000,
      ...base,
      ...(options.schedule ? { schedule: options.schedule } : {}),
      ...common,
      ...(report ? { onProgress: (done: number) => report(raiseTotal + done, raiseTotal + K) } : {}),
    });
  }
  const negF = raise.meanNegativeFreeEnergy;
  const upper = negF - ais.logZLow;
  const lower = raise.low;
  return {
    lower,
    upper,
    width: upper - lower,
    lowerEstimate: raise.mean,
    upperEstimate: negF - ais.logZ,
    lowerInterval: [raise.low, raise.high],
    upperInterval: [negF - ais.logZHigh, negF - ais.logZLow],
    ais,
    raise,
    warnings: aisWarnings(ais, undefined, { raise, maxWidth: options.maxWidth ?? options.width ?? 1 }),
  };
}
