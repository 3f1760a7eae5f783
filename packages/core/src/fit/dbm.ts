import type { Backend, HostArray } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource, sourceColumnMeans } from '../data/source.js';
import { ArgumentError, RbmError } from '../errors.js';
import { type DbmBoundOptions, type DbmBounds, dbmVariationalBound } from '../evaluate/dbm.js';
import { DBM, type DbmParameters, type DbmSamples, DEFAULT_MEAN_FIELD_ITERATIONS } from '../model/dbm.js';
import { DBM_DEFAULTS, type DbmEpoch, DbmTrainer, type DbmTrainOptions } from '../train/dbm.js';
import { checkTrainingData } from '../train/trainer.js';

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
export interface DbmEstimatorOptions extends DbmTrainOptions {
  /** Hidden layer sizes, bottom first (at least two). */
  readonly hidden: readonly number[];
  /** Standard deviation of the initial weights (default 0.01). */
  readonly weightScale?: number;
}

export class DbmEstimator {
  readonly backend: Backend;
  readonly options: DbmEstimatorOptions;
  private dbm: DBM | undefined;

  constructor(backend: Backend, options: DbmEstimatorOptions) {
    if (!Array.isArray(options.hidden) || options.hidden.length < 2)
      throw new ArgumentError(
        `a deep Boltzmann machine needs at least two hidden layers (hidden: [500, 1000]), got ${JSON.stringify(options.hidden)}`,
      );
    const known = new Set(['hidden', 'weightScale', ...Object.keys(DBM_DEFAULTS)]);
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
    const e = new DbmEstimator(backend, { ...options, hidden: p.sizes.slice(1) });
    e.dbm = DBM.fromParameters(backend, p);
    return e;
  }

  /** Pretrains greedily and trains jointly (see {@link DbmTrainer}); returns every epoch's figures. */
  async fit(
    data: Dataset | DataSource,
    options: { signal?: AbortSignal; onEpoch?: (e: DbmEpoch) => void | Promise<void> } = {},
  ): Promise<DbmEpoch[]> {
    checkTrainingData(data);
    const src = isDataSource(data) ? data : datasetSource(data);
    const { hidden, weightScale, ...train } = this.options;
    const means = await sourceColumnMeans(src);
    this.dbm?.dispose();
    this.dbm = DBM.create(this.backend, {
      sizes: [src.cols, ...hidden],
      means,
      ...(train.seed !== undefined ? { seed: train.seed } : {}),
      ...(weightScale !== undefined ? { weightScale } : {}),
    });
    const trainer = new DbmTrainer(this.dbm, src, train);
    const history: DbmEpoch[] = [];
    try {
      await trainer.run({
        ...(options.signal ? { signal: options.signal } : {}),
        onEpoch: async (e) => {
          history.push(e);
          await options.onEpoch?.(e);
        },
      });
    } finally {
      trainer.dispose();
    }
    return history;
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
  async scoreSamples(data: Dataset, options: DbmBoundOptions = {}): Promise<DbmBounds> {
    return dbmVariationalBound(this.model, data, options);
  }

  async sample(options: { chains?: number; steps: number; seed?: number }): Promise<DbmSamples> {
    return this.model.sample(options);
  }

  dispose(): void {
    this.dbm?.dispose();
    this.dbm = undefined;
  }
}
