import type { Backend, HostArray } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource, sourceColumnMeans } from '../data/source.js';
import { ArgumentError, RbmError } from '../errors.js';
import { type DbmBoundOptions, type DbmBounds, dbmVariationalBound } from '../evaluate/dbm.js';
import { decodeDbm, encodeDbm } from '../io/dbm-file.js';
import type { DecodeOptions } from '../io/safetensors.js';
import { DBM, type DbmParameters, type DbmSamples, DEFAULT_MEAN_FIELD_ITERATIONS } from '../model/dbm.js';
import { DBM_DEFAULTS, type DbmTrainOptions } from '../train/dbm.js';
import { dbmFamily } from '../train/dbm-family.js';
import type { EpochMetrics } from '../train/options.js';
import { checkTrainingData, Trainer } from '../train/trainer.js';
import { canonicalOptions, type Estimator, type SampleScores } from './interface.js';

/**
 * A deep Boltzmann machine with the estimator vocabulary of {@link RbmEstimator}: fit, transform (mean-field
 * features), scoreSamples (the variational bound with AIS's log Z), sample.
 *
 * ```ts
 * const dbm = new DbmEstimator(backend, { hidden: [500, 1000], pretrainEpochs: 10, epochs: 20 });
 * await dbm.fit(train);
 * const features = await dbm.transform(test); // [mu_1, mu_2] per row, rows x 1500
 * ```
 */
export interface DbmEstimatorOptions extends Omit<DbmTrainOptions, 'weightDecay' | 'gibbsSteps'> {
  /** Hidden layer sizes, bottom first (at least two). */
  readonly numHidden?: readonly number[];
  /** @deprecated The name before the estimators shared theirs: {@link numHidden}. */
  readonly hidden?: readonly number[];
  /** L2 weight decay on W (default 0.0002, S&H's weight cost). */
  readonly l2?: number;
  /** @deprecated {@link l2}. */
  readonly weightDecay?: number;
  /** Gibbs sweeps of the persistent chains per update (default 1). */
  readonly k?: number;
  /** @deprecated {@link k}. */
  readonly gibbsSteps?: number;
  /** Standard deviation of the initial weights (default 0.01). */
  readonly weightScale?: number;
}

/** The trainer's options from the estimator's (its names are the DBM family's own). */
function trainOptions(o: DbmEstimatorOptions): DbmTrainOptions {
  const { numHidden: _n, hidden: _h, weightScale: _w, l2, k, weightDecay: _d, gibbsSteps: _g, ...rest } = o;
  return { ...rest, ...(l2 !== undefined ? { weightDecay: l2 } : {}), ...(k !== undefined ? { gibbsSteps: k } : {}) };
}

export class DbmEstimator implements Estimator<Dataset | DataSource, Dataset> {
  readonly backend: Backend;
  readonly options: DbmEstimatorOptions;
  private dbm: DBM | undefined;
  /** partialFit calls since the last fit: each draws its own randomness. */
  private partialFits = 0;

  constructor(backend: Backend, given: DbmEstimatorOptions) {
    const options = canonicalOptions(given, ['hidden', 'weightDecay', 'gibbsSteps', 'initScale']);
    if (!Array.isArray(options.numHidden) || options.numHidden.length < 2)
      throw new ArgumentError(
        `a deep Boltzmann machine needs at least two hidden layers (numHidden: [500, 1000]), got ${JSON.stringify(options.numHidden)}`,
      );
    const own = Object.keys(DBM_DEFAULTS).filter((k) => k !== 'weightDecay' && k !== 'gibbsSteps');
    const known = new Set(['numHidden', 'weightScale', 'l2', 'k', ...own]);
    const unknown = Object.keys(options).filter((k) => !known.has(k));
    if (unknown.length > 0)
      throw new ArgumentError(
        `DbmEstimator: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; it takes ${[...known].join(', ')}`,
      );
    this.backend = backend;
    this.options = options;
  }

  get model(): DBM {
    if (!this.dbm) throw new RbmError('NOT_FITTED', 'the estimator has no model yet: call fit first');
    return this.dbm;
  }

  static fromParameters(backend: Backend, p: DbmParameters, options: Partial<DbmEstimatorOptions> = {}): DbmEstimator {
    const e = new DbmEstimator(backend, { ...options, numHidden: p.sizes.slice(1) });
    e.dbm = DBM.fromParameters(backend, p);
    return e;
  }

  /** Pretrains greedily and trains jointly (the {@link Trainer} with {@link dbmFamily}); returns every epoch's figures. */
  async fit(
    data: Dataset | DataSource,
    options: { signal?: AbortSignal; onEpoch?: (e: EpochMetrics) => void | Promise<void> } = {},
  ): Promise<EpochMetrics[]> {
    checkTrainingData(data);
    const src = isDataSource(data) ? data : datasetSource(data);
    const { numHidden, weightScale } = this.options;
    const train = trainOptions(this.options);
    const means = await sourceColumnMeans(src);
    this.dbm?.dispose();
    this.dbm = DBM.create(this.backend, {
      sizes: [src.cols, ...numHidden!],
      means,
      ...(train.seed !== undefined ? { seed: train.seed } : {}),
      ...(weightScale !== undefined ? { weightScale } : {}),
    });
    this.partialFits = 0;
    const trainer = new Trainer(dbmFamily(this.dbm, src, train), options);
    try {
      return await trainer.run();
    } finally {
      trainer.dispose();
    }
  }

  /**
   * More joint training on `data` (one epoch by default) from the current model, with fresh persistent chains
   * (as scikit-learn's partial_fit, each call a fresh pass); the first call fits a model (with pretraining).
   */
  async partialFit(data: Dataset | DataSource, options: { readonly epochs?: number } = {}): Promise<EpochMetrics[]> {
    const epochs = options.epochs ?? 1;
    if (!this.dbm) return this.fit(data, {}).then((h) => h.slice(-epochs));
    const src = isDataSource(data) ? data : datasetSource(data);
    const train = trainOptions(this.options);
    const seed = (train.seed ?? DBM_DEFAULTS.seed) + ++this.partialFits;
    const trainer = new Trainer(dbmFamily(this.dbm, src, { ...train, pretrainEpochs: 0, epochs, seed }));
    try {
      return await trainer.run();
    } finally {
      trainer.dispose();
    }
  }

  /** Mean-field features: every hidden layer's mu, side by side ([rows, n_1 + ... + n_L]). */
  async transform(data: Dataset, iterations = DEFAULT_MEAN_FIELD_ITERATIONS): Promise<Float32Array> {
    const parts = await this.model.meanFieldFeatures(data, iterations);
    const sizes = this.model.sizes.slice(1);
    const width = sizes.reduce((t, n) => t + n, 0);
    const out = new Float32Array(data.rows * width);
    for (let r = 0; r < data.rows; r++) {
      let offset = r * width;
      parts.forEach((p: HostArray, l) => {
        out.set(p.subarray(r * sizes[l]!, (r + 1) * sizes[l]!), offset);
        offset += sizes[l]!;
      });
    }
    return out;
  }

  /** The mean-field lower bound on log p(v) of each row (AIS's log Z), with the estimate it rests on. */
  async scoreSamples(data: Dataset, options: DbmBoundOptions = {}): Promise<SampleScores<DbmBounds>> {
    const bounds = await dbmVariationalBound(this.model, data, options);
    return { values: bounds.perExample, figure: 'variational-bound', detail: bounds };
  }

  async sample(options: { chains?: number; steps: number; seed?: number }): Promise<DbmSamples> {
    return this.model.sample(options);
  }

  /** The DBM file (safetensors; `metadata` added to its header). */
  async save(metadata: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
    return encodeDbm(await this.model.parameters(), metadata);
  }

  /** Reads what {@link save} wrote. */
  static load(backend: Backend, bytes: Uint8Array, options: DecodeOptions = {}): DbmEstimator {
    return DbmEstimator.fromParameters(backend, decodeDbm(bytes, options).parameters);
  }

  dispose(): void {
    this.dbm?.dispose();
    this.dbm = undefined;
  }
}
