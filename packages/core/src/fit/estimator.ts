import { Scope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, HostArray, Tensor } from '../backend/types.js';
import { type Dataset, describeNonDataset, hasRowsAndCols } from '../data/dataset.js';
import {
  checkBatch,
  type DataSource,
  datasetSource,
  isDataSource,
  readHead,
  sourceColumnMeans,
} from '../data/source.js';
import { ArgumentError, RbmError, ShapeError } from '../errors.js';
import { exactLogLikelihood } from '../evaluate/exact.js';
import { pseudoLogLikelihood } from '../evaluate/pseudo-likelihood.js';
import {
  EarlyStopping,
  figureIncreases,
  type ValidationFigure,
  type ValidationFigures,
  type ValidationOptions,
  validationFigures,
} from '../evaluate/validation.js';
import { decodeModel, encodeModel } from '../io/model-file.js';
import type { DecodeOptions } from '../io/safetensors.js';
import type { HiddenUnits } from '../model/hidden-units.js';
import { asDataset, RBM, type RbmParameters, type Samples } from '../model/rbm.js';
import type { VisibleUnits } from '../model/units.js';
import { type ConditionalSampleOptions, conditionalSample } from '../sample/conditional.js';
import type { TrainOptions } from '../train/config.js';
import type { EpochMetrics } from '../train/options.js';
import { checkTrainingData, Trainer } from '../train/trainer.js';
import { canonicalOptions, type Estimator, type SampleScores } from './interface.js';

/**
 * An RBM with scikit-learn's estimator vocabulary (BernoulliRBM: fit, partial_fit, transform, score_samples,
 * gibbs), made idiomatic for TypeScript: asynchronous where results come back from the backend, typed
 * options, and the low-level {@link RBM} and {@link Trainer} underneath for anything else.
 *
 * ```ts
 * const rbm = new RbmEstimator(backend, { numHidden: 500, epochs: 10, learningRate: 0.05, batchSize: 100 });
 * await rbm.fit(train, { validation, earlyStopping: { figure: 'pseudo-likelihood', patience: 3 } });
 * const features = await rbm.transform(test); // p(h = 1 | v), rows x 500, for a classifier
 * ```
 */

export interface EstimatorOptions extends Omit<TrainOptions, 'epochs' | 'validation' | 'onEpoch'> {
  readonly numHidden: number;
  /** Epochs of {@link RbmEstimator.fit} (default 10). */
  readonly epochs?: number;
  readonly visibleUnits?: VisibleUnits;
  /** Hidden units (default bernoulli): gaussian or nrelu (Nair & Hinton 2010) for real-valued features. */
  readonly hiddenUnits?: HiddenUnits;
  /** Standard deviation of the initial weights (default 0.01). */
  readonly weightScale?: number;
}

export interface FitOptions {
  /** Held-out rows: their figures are computed after each epoch. */
  readonly validation?: Dataset;
  /** Which figures (default: reconstruction, or the early-stopping figure). */
  readonly figures?: readonly ValidationFigure[];
  /** Stop when `figure` on the validation rows has not improved for `patience` epochs; keep the best model. */
  readonly earlyStopping?: { readonly figure: ValidationFigure; readonly patience: number; readonly minDelta?: number };
  /** Options of the validation figures (AIS settings, seed, states). */
  readonly validationOptions?: Omit<ValidationOptions, 'figures' | 'train'>;
  readonly onEpoch?: (metrics: EpochMetrics, figures: ValidationFigures | undefined) => void | Promise<void>;
}

export interface FitResult {
  readonly history: ReadonlyArray<{ readonly metrics: EpochMetrics; readonly figures?: ValidationFigures }>;
  /** With early stopping: the epoch (0-based) whose model was kept, and its figure. */
  readonly bestEpoch?: number;
  readonly best?: number;
  readonly stoppedEarly: boolean;
}

export type ScoreKind = 'pseudo-likelihood' | 'free-energy' | 'log-likelihood';

export class RbmEstimator implements Estimator<Dataset | DataSource, Dataset | HostArray> {
  readonly backend: Backend;
  readonly options: EstimatorOptions;
  private rbm: RBM | undefined;
  /** partialFit calls so far: each gets its own seed offset, so that batches are shuffled differently. */
  private partialFits = 0;

  constructor(backend: Backend, given: EstimatorOptions) {
    // One name for each option across the estimators; the other families' old names are read as these.
    const options = canonicalOptions(given, ['weightDecay', 'gibbsSteps', 'initScale']);
    if (!Number.isInteger(options.numHidden) || options.numHidden < 1)
      throw new ArgumentError(`numHidden must be a positive integer, got ${options.numHidden}`);
    this.backend = backend;
    this.options = options;
  }

  /** The fitted model (throws before fit, partialFit or load). */
  get model(): RBM {
    if (!this.rbm) throw new RbmError('NOT_FITTED', 'the estimator has no model yet: call fit or partialFit first');
    return this.rbm;
  }

  get fitted(): boolean {
    return this.rbm !== undefined;
  }

  /** Starts from given parameters (a loaded model file) instead of fitting. */
  static fromParameters(backend: Backend, params: RbmParameters, options: Partial<EstimatorOptions> = {}) {
    const e = new RbmEstimator(backend, { ...options, numHidden: params.numHidden });
    e.rbm = RBM.fromParameters(backend, params);
    return e;
  }

  private async initialise(data: Dataset | DataSource): Promise<RBM> {
    this.rbm?.dispose();
    const o = this.options;
    const means = isDataSource(data) ? await sourceColumnMeans(data, 1024, o.visibleUnits ?? 'bernoulli') : undefined;
    this.rbm = RBM.create(this.backend, {
      numVisible: data.cols,
      numHidden: o.numHidden,
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.weightScale !== undefined ? { weightScale: o.weightScale } : {}),
      ...(o.visibleUnits ? { visibleUnits: o.visibleUnits } : {}),
      ...(o.hiddenUnits ? { hiddenUnits: o.hiddenUnits } : {}),
      ...(isDataSource(data) ? { means: means! } : { data }),
    });
    return this.rbm;
  }

  private trainOptions(epochs: number, seedOffset = 0): TrainOptions {
    const { numHidden: _h, epochs: _e, visibleUnits: _v, hiddenUnits: _u, weightScale: _w, ...train } = this.options;
    return { ...train, epochs, seed: (this.options.seed ?? 0) + seedOffset };
  }

  /**
   * Fits a new model to `data` (replacing any earlier one): `epochs` epochs, or fewer with early stopping, in
   * which case the model left is the best one seen.
   */
  async fit(data: Dataset | DataSource, options: FitOptions = {}): Promise<FitResult> {
    checkFitData(data, 'fit');
    checkTrainingData(data);
    const epochs = this.options.epochs ?? 10;
    const stop = options.earlyStopping;
    if (stop) new EarlyStopping(stop.figure, stop.patience, stop.minDelta); // checks the settings
    if (stop && !options.validation) throw new ArgumentError('earlyStopping needs validation data');
    const figures = options.figures ?? (stop ? [stop.figure] : ['reconstruction' as const]);
    if (stop && !figures.includes(stop.figure))
      throw new ArgumentError(`the early-stopping figure ${stop.figure} is not among the figures computed`);
    if (options.validation && options.validation.cols !== data.cols)
      throw new ShapeError(`validation rows have ${options.validation.cols} values, the data ${data.cols}`);
    const model = await this.initialise(data);
    this.partialFits = 0;
    const history: Array<{ metrics: EpochMetrics; figures?: ValidationFigures }> = [];
    const trainSample =
      options.validation && figures.includes('free-energy-gap')
        ? await readHead(isDataSource(data) ? data : datasetSource(data), options.validation.rows)
        : undefined;
    let last: ValidationFigures | undefined;
    // The validation figures each epoch; early stopping on one of them is the trainer's (the best kept).
    const trainer = new Trainer(model, data, {
      ...this.trainOptions(epochs),
      ...(options.validation
        ? {
            figures: async () => {
              last = await validationFigures(model, options.validation!, {
                ...options.validationOptions,
                figures,
                ...(trainSample ? { train: trainSample } : {}),
              });
              return stop ? { [stop.figure]: last[stop.figure]! } : {};
            },
          }
        : {}),
      ...(stop
        ? {
            monitor: {
              figure: stop.figure,
              mode: figureIncreases(stop.figure) ? 'max' : 'min',
              patience: stop.patience,
              ...(stop.minDelta !== undefined ? { minDelta: stop.minDelta } : {}),
            },
          }
        : {}),
      onEpoch: async (m) => {
        const metrics = stop ? withoutKey(m, stop.figure) : m;
        history.push(last ? { metrics, figures: last } : { metrics });
        await options.onEpoch?.(metrics, last);
      },
    });
    try {
      await trainer.run();
    } finally {
      trainer.dispose();
    }
    const best = trainer.bestEpoch;
    return {
      history,
      stoppedEarly: history.length < epochs,
      ...(best ? { bestEpoch: best.epoch, best: best.value } : {}),
    };
  }

  /**
   * More training on `data` (one epoch by default), starting the model on the first call. Each call is a fresh
   * pass: momentum and persistent chains start again, as in scikit-learn's partial_fit.
   */
  async partialFit(data: Dataset | DataSource, options: { epochs?: number } = {}): Promise<EpochMetrics[]> {
    checkFitData(data, 'partialFit');
    checkTrainingData(data);
    const model = this.rbm && this.rbm.numVisible === data.cols ? this.rbm : undefined;
    if (this.rbm && !model)
      throw new ShapeError(
        `partialFit: data have ${data.cols} columns, the model has ${this.rbm.numVisible} visible units`,
      );
    const m = model ?? (await this.initialise(data));
    const trainer = new Trainer(m, data, this.trainOptions(options.epochs ?? 1, ++this.partialFits));
    try {
      return await trainer.run();
    } finally {
      trainer.dispose();
    }
  }

  /**
   * p(h = 1 | v) of every row, in batches: features for a classifier. A {@link DataSource} is read batch by
   * batch, so only the features need fit in memory (see {@link transformBatches} when they do not).
   */
  async transform(data: Dataset | DataSource | HostArray, options: { batchSize?: number } = {}): Promise<Float32Array> {
    const source = this.asSource(data);
    const out = new Float32Array(source.rows * this.model.numHidden);
    for await (const batch of this.transformBatches(source, options))
      out.set(batch.features, batch.start * this.model.numHidden);
    return out;
  }

  /** The features batch by batch, rows `start` to `start + rows`: nothing is held longer than one batch. */
  async *transformBatches(
    data: Dataset | DataSource | HostArray,
    options: { batchSize?: number } = {},
  ): AsyncGenerator<{ readonly start: number; readonly rows: number; readonly features: Float32Array }> {
    const model = this.model;
    const source = this.asSource(data);
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ArgumentError(`batchSize must be a positive integer, got ${batchSize}`);
    const be = model.backend;
    const buf = new Float32Array(Math.min(batchSize, source.rows) * source.cols);
    // The same device tensors for every full batch, so that a backend that compiles the step does so once.
    const scope = new Scope(be);
    const tensors = new Map<number, { v: Tensor; ph: Tensor }>();
    try {
      for (let start = 0; start < source.rows; start += batchSize) {
        const rows = Math.min(batchSize, source.rows - start);
        const view = buf.subarray(0, rows * source.cols);
        const indices = Uint32Array.from({ length: rows }, (_, i) => start + i);
        await source.readRows(indices, view);
        checkBatch(view, indices, source.cols, source.source, model.units, source.locate?.bind(source));
        let t = tensors.get(rows);
        if (!t) {
          t = { v: scope.tensor(rows, source.cols), ph: scope.tensor(rows, model.numHidden) };
          tensors.set(rows, t);
        }
        const { v, ph } = t;
        be.write(v, view);
        fused(be, 'transform', () => model.hiddenProbabilities(ph, v));
        yield { start, rows, features: Float32Array.from(await be.read(ph)) };
      }
    } finally {
      scope.dispose();
    }
  }

  private asSource(data: Dataset | DataSource | HostArray): DataSource {
    const cols = this.model.numVisible;
    if (!ArrayBuffer.isView(data) && isDataSource(data as Dataset | DataSource)) {
      const src = data as DataSource;
      if (src.cols !== cols)
        throw new ShapeError(`${src.source ?? 'data'}: ${src.cols} columns, the model has ${cols} visible units`);
      return src;
    }
    return datasetSource(asDataset(data, cols, 'transform'));
  }

  /**
   * A score per row: `pseudo-likelihood` (default; sum_i log p(v_i | v_-i), every bit, exact), `free-energy`
   * (F(v); lower is likelier) or `log-likelihood` (exact log p(v), small models only).
   */
  async scoreSamples(data: Dataset | HostArray, score: ScoreKind = 'pseudo-likelihood'): Promise<SampleScores> {
    const model = this.model;
    const ds = asDataset(data, model.numVisible, 'scoreSamples');
    const scored = (values: Float64Array) => ({ values, figure: score });
    if (score === 'pseudo-likelihood') return scored((await pseudoLogLikelihood(model, ds)).perExample);
    if (score === 'free-energy') return scored(Float64Array.from(await model.freeEnergy(ds)));
    if (score === 'log-likelihood') return scored((await exactLogLikelihood(model, ds)).perExample);
    throw new ArgumentError(
      `score must be 'pseudo-likelihood', 'free-energy' or 'log-likelihood', got ${String(score)}`,
    );
  }

  /** `steps` block Gibbs sweeps v -> h -> v from each row; the sampled states (scikit-learn's gibbs). */
  async gibbs(v: Dataset | HostArray, options: { steps?: number; seed?: number } = {}): Promise<HostArray> {
    const model = this.model;
    const init = asDataset(v, model.numVisible, 'gibbs');
    const s = await model.sample({ init, steps: options.steps ?? 1, seed: options.seed ?? 0 });
    return s.states;
  }

  /** Samples from the model: `chains` chains of `steps` sweeps from random states. */
  sample(options: { chains?: number; steps: number; seed?: number }): Promise<Samples> {
    return this.model.sample(options);
  }

  /** Completes the free units of each row given the clamped ones (see {@link conditionalSample}). */
  complete(options: ConditionalSampleOptions): Promise<Samples> {
    return conditionalSample(this.model, options);
  }

  /** The model file (safetensors; `metadata` added to its header). */
  async save(metadata: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
    return encodeModel(await this.model.parameters(), metadata);
  }

  /** Reads what {@link save} wrote (or any RBM model file). */
  static load(
    backend: Backend,
    bytes: Uint8Array,
    options: DecodeOptions & { readonly estimator?: Partial<EstimatorOptions> } = {},
  ): RbmEstimator {
    return RbmEstimator.fromParameters(backend, decodeModel(bytes, options).parameters, options.estimator);
  }

  dispose(): void {
    this.rbm?.dispose();
    this.rbm = undefined;
  }
}

/** Metrics without one figure (the early-stopping figure the trainer saw is reported with the others). */
function withoutKey(m: EpochMetrics, key: string): EpochMetrics {
  const { [key]: _, ...rest } = m as unknown as Record<string, unknown>;
  return rest as unknown as EpochMetrics;
}

/** A Dataset or DataSource, not a bare array: a typed error that says what came instead. */
function checkFitData(data: unknown, what: string): void {
  if (hasRowsAndCols(data)) return;
  const wrap = Array.isArray(data) || ArrayBuffer.isView(data) ? ' (wrap it: createDataset(values, rows, cols))' : '';
  throw new ArgumentError(
    `${what}: data must be a Dataset { data, rows, cols } or a DataSource, got ${describeNonDataset(data)}${wrap}`,
  );
}
