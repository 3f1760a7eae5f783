import type { Backend, HostArray } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { decodeModel, encodeModel } from '../io/model-file.js';
import type { DecodeOptions } from '../io/safetensors.js';
import {
  argmaxRows,
  type ClassificationReport,
  checkLabels,
  classificationReport,
  classLogProbabilities,
  jointRows,
  labelLayout,
} from '../model/labels.js';
import { RBM } from '../model/rbm.js';
import type { TrainOptions } from '../train/config.js';
import type { EpochMetrics } from '../train/options.js';
import { Trainer } from '../train/trainer.js';
import type { Estimator, SampleScores } from './interface.js';

/**
 * A classification RBM on a backend: an {@link RBM} whose last softmax group holds the labels, with exact
 * predictions. Train it with {@link ClassificationRBM.fit}, or with a {@link Trainer} on {@link jointRows}
 * (`objective` generative, discriminative or hybrid).
 */
export class ClassificationRBM implements Estimator<LabelledRows, LabelledInputs> {
  readonly model: RBM;
  readonly numInputs: number;
  readonly numClasses: number;

  private constructor(model: RBM) {
    const layout = labelLayout(model);
    this.model = model;
    this.numInputs = layout.numInputs;
    this.numClasses = layout.numClasses;
  }

  /** Wraps a model whose last softmax group is the label layer. */
  static fromModel(model: RBM): ClassificationRBM {
    return new ClassificationRBM(model);
  }

  /**
   * A new classification RBM: `numInputs` Bernoulli inputs and a label group of `numClasses` units, W ~
   * N(0, weightScale^2); with `inputs` and `labels`, the visible biases start at the data's log-odds and log
   * class frequencies (Hinton 2010, section 8).
   */
  static create(
    backend: Backend,
    options: {
      readonly numInputs: number;
      readonly numClasses: number;
      readonly numHidden: number;
      readonly seed?: number;
      readonly weightScale?: number;
      readonly inputs?: Dataset;
      readonly labels?: ArrayLike<number>;
    },
  ): ClassificationRBM {
    const { numInputs, numClasses } = options;
    if (!Number.isInteger(numClasses) || numClasses < 2)
      throw new ArgumentError(`numClasses must be an integer >= 2, got ${numClasses}`);
    if ((options.inputs === undefined) !== (options.labels === undefined))
      throw new ArgumentError('inputs and labels come together');
    const data = options.inputs ? jointRows(options.inputs, options.labels!, numClasses) : undefined;
    if (data && options.inputs!.cols !== numInputs)
      throw new ShapeError(`inputs have ${options.inputs!.cols} columns, numInputs is ${numInputs}`);
    const model = RBM.create(backend, {
      numVisible: numInputs + numClasses,
      numHidden: options.numHidden,
      visibleUnits: 'softmax',
      softmaxGroups: [numClasses],
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.weightScale !== undefined ? { weightScale: options.weightScale } : {}),
      ...(data ? { data } : {}),
    });
    return new ClassificationRBM(model);
  }

  /** log p(y = k | x) [rows * C], exactly (free energy per class). */
  logProbabilities(inputs: Dataset | HostArray): Promise<Float64Array> {
    return classLogProbabilities(this.model, inputs);
  }

  /** p(y = k | x) [rows * C]. */
  async predictProba(inputs: Dataset | HostArray): Promise<Float64Array> {
    return (await this.logProbabilities(inputs)).map(Math.exp);
  }

  /** The most probable class of each row. */
  async predict(inputs: Dataset | HostArray): Promise<Int32Array> {
    return argmaxRows(await this.logProbabilities(inputs), this.numClasses);
  }

  /** Accuracy, error, cross-entropy and confusion matrix on labelled inputs. */
  async evaluate(inputs: Dataset | HostArray, labels: ArrayLike<number>): Promise<ClassificationReport> {
    return classificationReport(await this.logProbabilities(inputs), labels, this.numClasses);
  }

  /**
   * Trains on labelled inputs (a {@link Trainer} on {@link jointRows}; `objective` defaults to `hybrid`).
   * With `validation`, the held-out error is measured after every epoch and the model ends with the
   * parameters of the best epoch; `patience` stops after that many epochs without improvement.
   */
  async fit(
    inputs: Dataset | LabelledRows,
    labelsOrOptions?: ArrayLike<number> | FitOptions,
    more?: FitOptions,
  ): Promise<ClassifierHistory> {
    // fit(inputs, labels, options), or the estimator interface's fit({ inputs, labels }, options).
    if ('inputs' in inputs)
      return this.fitRows(inputs.inputs, inputs.labels, (labelsOrOptions as FitOptions | undefined) ?? { epochs: 10 });
    return this.fitRows(inputs, labelsOrOptions as ArrayLike<number>, more ?? { epochs: 10 });
  }

  private async fitRows(inputs: Dataset, labels: ArrayLike<number>, options: FitOptions): Promise<ClassifierHistory> {
    const { heldOut, patience, ...train } = options;
    if (heldOut) checkLabels(heldOut.labels, this.numClasses, heldOut.inputs.rows, 'held-out labels');
    if (patience !== undefined && !heldOut) throw new ArgumentError('patience needs held-out data (heldOut)');
    const data = jointRows(inputs, labels, this.numClasses);
    const errors: number[] = [];
    // The held-out error each epoch, watched by the trainer's early stopping (the model ends with the best).
    const trainer = new Trainer(this.model, data, {
      objective: 'hybrid',
      ...train,
      ...(heldOut
        ? {
            figures: async () => {
              const { error } = await this.evaluate(heldOut.inputs, heldOut.labels);
              errors.push(error);
              return { heldOutError: error };
            },
            monitor: { figure: 'heldOutError', ...(patience !== undefined ? { patience } : {}) },
          }
        : {}),
    });
    try {
      await trainer.run();
    } finally {
      trainer.dispose();
    }
    const best = trainer.bestEpoch;
    return { heldOutErrors: errors, ...(best ? { bestEpoch: best.epoch, bestError: best.value } : {}) };
  }

  /** The features of labelled inputs for the estimator interface: p(y = k | x) [rows * C]. */
  async transform(data: { readonly inputs: Dataset | HostArray }): Promise<Float32Array> {
    return Float32Array.from(await this.predictProba(data.inputs));
  }

  /** log p(y | x) of each labelled row (the discriminative objective's figure), exactly. */
  async scoreSamples(data: {
    readonly inputs: Dataset | HostArray;
    readonly labels: ArrayLike<number>;
  }): Promise<SampleScores> {
    const logp = await this.logProbabilities(data.inputs);
    const C = this.numClasses;
    const rows = logp.length / C;
    checkLabels(data.labels, C, rows, 'labels');
    return {
      values: Float64Array.from({ length: rows }, (_, r) => logp[r * C + data.labels[r]!]!),
      figure: 'log p(y | x)',
    };
  }

  /**
   * More epochs on labelled inputs from the current model (one by default): a fresh pass, as scikit-learn's
   * partial_fit (momentum and persistent chains start again).
   */
  async partialFit(
    data: { readonly inputs: Dataset; readonly labels: ArrayLike<number> },
    options: TrainOptions | { readonly epochs?: number } = {},
  ): Promise<EpochMetrics[]> {
    const trainer = new Trainer(this.model, jointRows(data.inputs, data.labels, this.numClasses), {
      objective: 'hybrid',
      ...options,
      epochs: options.epochs ?? 1,
    });
    try {
      return await trainer.run();
    } finally {
      trainer.dispose();
    }
  }

  /** The model file (an RBM file whose last softmax group is the label layer). */
  async save(metadata: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
    return encodeModel(await this.model.parameters(), metadata);
  }

  /** Reads what {@link save} wrote. */
  static load(backend: Backend, bytes: Uint8Array, options: DecodeOptions = {}): ClassificationRBM {
    return new ClassificationRBM(RBM.fromParameters(backend, decodeModel(bytes, options).parameters));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** What {@link ClassificationRBM.fit} measured: the held-out error after each epoch, and the best. */
export interface ClassifierHistory {
  readonly heldOutErrors: readonly number[];
  /** 0-based epoch of the kept model. */
  readonly bestEpoch?: number;
  readonly bestError?: number;
}

/** Labelled rows, as the estimator interface passes them. */
export interface LabelledRows {
  readonly inputs: Dataset;
  readonly labels: ArrayLike<number>;
}

/** Inputs to transform, or labelled inputs to score. */
export interface LabelledInputs {
  readonly inputs: Dataset | HostArray;
  readonly labels: ArrayLike<number>;
}

/** {@link ClassificationRBM.fit}'s options: the trainer's, held-out data for the best epoch, and patience. */
export type FitOptions = TrainOptions & {
  readonly heldOut?: { readonly inputs: Dataset; readonly labels: ArrayLike<number> };
  readonly patience?: number;
};
