import { ArgumentError } from '../errors.js';
import type { EpochMetrics } from '../train/options.js';

/**
 * One estimator interface for every model family, in scikit-learn's vocabulary (`BaseEstimator`): the RBM
 * (`RbmEstimator`), the classifier (`ClassificationRBM`), the DBM (`DbmEstimator`) and the recommender
 * (`CollaborativeRBM`) each implement it, with one set of option names.
 */

/** A per-example figure, with whatever detail it rests on beside it. */
export interface SampleScores<D = undefined> {
  /** One value per example (a row, a labelled row, a held-out rating). */
  readonly values: Float64Array;
  /** What the values are: `pseudo-likelihood`, `log-likelihood`, `free-energy`, `variational-bound`, ... */
  readonly figure: string;
  /** The detail behind the values (the DBM's AIS estimate of log Z, the recommender's RMSE and MAE). */
  readonly detail?: D;
}

/**
 * What every estimator does. `Data` is what it fits (a Dataset or DataSource, labelled rows, ratings), `Input`
 * what it transforms and scores. Each adds what only it means (`predict`, `recommend`, `gibbs`, ...), and
 * `sample` where sampling means something; each has a static `load(backend, bytes)` that reads what `save`
 * wrote.
 */
export interface Estimator<Data, Input = Data> {
  /** Fits a new model to `data`, replacing any earlier one. */
  fit(data: Data, options?: object): Promise<unknown>;
  /** More epochs on `data` from the current model (the first call starts one). */
  partialFit(data: Data, options?: { readonly epochs?: number }): Promise<readonly EpochMetrics[]>;
  /** The features the model gives each example. */
  transform(data: Input): Promise<Float32Array>;
  /** A figure per example. */
  scoreSamples(data: Input): Promise<SampleScores<unknown>>;
  /** The model file. */
  save(metadata?: Readonly<Record<string, string>>): Promise<Uint8Array>;
  dispose(): void;
}

/**
 * The estimators' option names, one for each idea, with the names earlier versions used kept as deprecated
 * aliases: `numHidden` (was `hidden` for the DBM), `l2` (was `weightDecay`), `k` (was `gibbsSteps`),
 * `weightScale` (was `initScale`).
 */
export const DEPRECATED_OPTION_NAMES = {
  hidden: 'numHidden',
  weightDecay: 'l2',
  gibbsSteps: 'k',
  initScale: 'weightScale',
} as const;

/**
 * Options with the deprecated names read as the canonical ones; `only` lists the deprecated names this
 * estimator reads. Both names given with different values is an {@link ArgumentError}.
 */
export function canonicalOptions<T extends object>(
  options: T,
  only: readonly (keyof typeof DEPRECATED_OPTION_NAMES)[],
): T {
  const out: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  for (const old of only) {
    if (!(old in out)) continue;
    const name = DEPRECATED_OPTION_NAMES[old];
    if (name in out && JSON.stringify(out[name]) !== JSON.stringify(out[old]))
      throw new ArgumentError(`give ${name} (or its deprecated name ${old}), not both with different values`);
    out[name] = out[old];
    delete out[old];
  }
  return out as T;
}
