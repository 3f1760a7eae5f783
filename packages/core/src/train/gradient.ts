import type { Dataset } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource } from '../data/source.js';
import { ArgumentError, TrainingAbortedError } from '../errors.js';
import { RBM } from '../model/rbm.js';
import type { TrainOptions } from './config.js';
import { Trainer } from './trainer.js';

/**
 * The trainer's own estimate of the log-likelihood gradient at a model's parameters, from one minibatch:
 * what one step with learning rate 1, no momentum and no weight decay adds to the parameters,
 *
 *   dW = <v h^T>_batch - <v h^T>_chains,   da = <v>_batch - <v>_chains,   db = <h>_batch - <h>_chains,
 *
 * where the data term's h is p(h = 1 | v) (the default, Rao-Blackwellised) or a sample
 * (`positivePhase: 'samples'`). The model is not changed (the step runs on a copy). Which rows formed the
 * minibatch comes back too, so that two estimators can be compared on the same batch: with the same seed,
 * the batch, the hidden sample h0 and the Gibbs chains are the same whatever `positivePhase` is, and two
 * estimates differ by exactly their data terms.
 */
export interface GradientEstimate {
  readonly weights: Float64Array;
  readonly visibleBias: Float64Array;
  readonly hiddenBias: Float64Array;
  /** The rows of `data` that formed the minibatch. */
  readonly rows: Uint32Array;
}

export type GradientOptions = Omit<
  TrainOptions,
  'epochs' | 'learningRate' | 'momentum' | 'l1' | 'l2' | 'signal' | 'onBatch' | 'onEpoch' | 'validation'
>;

export async function gradientEstimate(
  model: RBM,
  data: Dataset | DataSource,
  options: GradientOptions = {},
): Promise<GradientEstimate> {
  const p = await model.parameters();
  const copy = RBM.fromParameters(model.backend, p);
  const source = isDataSource(data) ? data : datasetSource(data);
  // The rows the trainer reads for its first minibatch (it reads them just before the step).
  let lastRead = new Uint32Array(0);
  const recording: DataSource = {
    rows: source.rows,
    cols: source.cols,
    ...(source.source ? { source: source.source } : {}),
    readRows(indices, out) {
      lastRead = Uint32Array.from(indices as ArrayLike<number>);
      return source.readRows(indices, out);
    },
  };
  const stop = new AbortController();
  let rows = new Uint32Array(0);
  const trainer = new Trainer(copy, recording, {
    ...options,
    epochs: 1,
    learningRate: 1,
    momentum: 0,
    signal: stop.signal,
    onBatch: () => {
      rows = lastRead;
      stop.abort();
    },
  });
  // Terms besides the objective's (sparsity, centring, learned variances, max-norm) change the step itself.
  const changing = trainer.terms.filter((t) => t.name !== 'discriminative').map((t) => t.name);
  if (changing.length > 0) {
    trainer.dispose();
    copy.dispose();
    throw new ArgumentError(
      `gradientEstimate: ${changing.join(', ')} change${changing.length === 1 ? 's' : ''} the step itself`,
    );
  }
  try {
    await trainer.run();
  } catch (error) {
    if (!(error instanceof TrainingAbortedError)) throw error;
  } finally {
    trainer.dispose();
  }
  const q = await copy.parameters();
  copy.dispose();
  const diff = (x: Float32Array, y: Float32Array) => Float64Array.from(x, (v, i) => v - y[i]!);
  return {
    weights: diff(q.weights, p.weights),
    visibleBias: diff(q.visibleBias, p.visibleBias),
    hiddenBias: diff(q.hiddenBias, p.hiddenBias),
    rows,
  };
}
