import type { Dataset } from '../data/dataset.js';
import type { RBM } from '../model/rbm.js';
import type { Watch } from '../progress.js';
import { type AisEstimate, type AisSchedule, aisBetas, aisWarnings, annealedImportanceSampling } from './ais.js';
import { type RaiseEstimate, reverseAnnealedImportanceSampling } from './raise.js';

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
  /** Both sides' schedule (default S&M's 14,500 steps). */
  readonly schedule?: AisSchedule;
  readonly seed?: number;
  /** The base model's data (base rates; default: `data`, the examples evaluated). */
  readonly baseData?: Dataset;
  /** Warn when the bounds are further apart than this many nats (default 1). */
  readonly maxWidth?: number;
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
  readonly ais: AisEstimate;
  readonly raise: RaiseEstimate;
  /** Reasons not to trust the bracket (see {@link aisWarnings}); empty when none is found. */
  readonly warnings: string[];
}

/** Forward AIS and RAISE on the same examples, schedule and base model: the mean log-likelihood bracketed. */
export async function likelihoodBounds(
  model: RBM,
  data: Dataset,
  options: BoundsOptions = {},
): Promise<LikelihoodBounds> {
  const baseData = options.baseData ?? data;
  const chains = options.chains ?? 1;
  // One progress count over both: RAISE first, reporting its own total (passes x (steps + sweeps)), then AIS's
  // K steps after it. The two draw from their own streams, so the order changes no number.
  const K = aisBetas(options.schedule).length - 1;
  const report = options.onProgress;
  let raiseTotal = 0;
  const common = {
    ...(options.schedule ? { schedule: options.schedule } : {}),
    seed: options.seed ?? 0,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const raise = await reverseAnnealedImportanceSampling(model, data, {
    chains,
    ...(options.sweeps !== undefined ? { sweeps: options.sweeps } : {}),
    baseData,
    ...common,
    ...(report
      ? {
          onProgress: (done: number, total: number) => {
            raiseTotal = total;
            report(done, total + K);
          },
        }
      : {}),
  });
  const ais = await annealedImportanceSampling(model, {
    runs: options.runs ?? 1000,
    data: baseData,
    ...common,
    ...(report ? { onProgress: (done: number) => report(raiseTotal + done, raiseTotal + K) } : {}),
  });
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
    warnings: aisWarnings(ais, undefined, { raise, maxWidth: options.maxWidth ?? 1 }),
  };
}
