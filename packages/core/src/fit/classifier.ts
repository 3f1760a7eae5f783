import type { Backend, HostArray } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { ArgumentError, ShapeError, TrainingAbortedError } from '../errors.js';
import {
  argmaxRows,
  type ClassificationReport,
  checkLabels,
  classificationReport,
  classLogProbabilities,
  jointRows,
  labelLayout,
} from '../model/labels.js';
import { RBM, type RbmParameters } from '../model/rbm.js';
import type { TrainOptions } from '../train/config.js';
import { Trainer } from '../train/trainer.js';

/**
 * A classification RBM on a backend: an {@link RBM} whose last softmax group holds the labels, with exact
 * predictions. Train it with {@link ClassificationRBM.fit}, or with a {@link Trainer} on {@link jointRows}
 * (`objective` generative, discriminative or hybrid).
 */
export class ClassificationRBM {
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
    inputs: Dataset,
    labels: ArrayLike<number>,
    options: TrainOptions & {
      readonly heldOut?: { readonly inputs: Dataset; readonly labels: ArrayLike<number> };
      readonly patience?: number;
    },
  ): Promise<ClassifierHistory> {
    const { heldOut, patience, ...train } = options;
    if (heldOut) checkLabels(heldOut.labels, this.numClasses, heldOut.inputs.rows, 'held-out labels');
    if (patience !== undefined && !heldOut) throw new ArgumentError('patience needs held-out data (heldOut)');
    const data = jointRows(inputs, labels, this.numClasses);
    const errors: number[] = [];
    let best: { error: number; epoch: number; parameters: RbmParameters } | undefined;
    const stop = new AbortController();
    const trainer = new Trainer(this.model, data, {
      objective: 'hybrid',
      ...train,
      // The caller's signal and early stopping's own.
      signal: train.signal ? AbortSignal.any([stop.signal, train.signal]) : stop.signal,
      onEpoch: async (m) => {
        await train.onEpoch?.(m);
        if (!heldOut) return;
        const { error } = await this.evaluate(heldOut.inputs, heldOut.labels);
        errors.push(error);
        if (!best || error < best.error) best = { error, epoch: m.epoch, parameters: await this.model.parameters() };
        else if (patience !== undefined && m.epoch - best.epoch >= patience) stop.abort();
      },
    });
    try {
      await trainer.run();
    } catch (error) {
      if (!(error instanceof TrainingAbortedError && stop.signal.aborted)) throw error;
    } finally {
      trainer.dispose();
    }
    if (best) this.model.setParameters(best.parameters);
    return { heldOutErrors: errors, ...(best ? { bestEpoch: best.epoch, bestError: best.error } : {}) };
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
