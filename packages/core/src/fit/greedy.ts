import type { Backend } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource, sourceColumnMeans } from '../data/source.js';
import { ArgumentError, RbmError } from '../errors.js';
import { DBN } from '../model/dbn.js';
import { type InitOptions, RBM } from '../model/rbm.js';
import type { TrainOptions } from '../train/config.js';
import type { EpochMetrics } from '../train/options.js';
import { Trainer } from '../train/trainer.js';

/** One layer of a greedy stack: its hidden units, and the training options (epochs, ...) of its RBM. */
export interface LayerSpec extends TrainOptions {
  readonly numHidden: number;
  /** Initial weights' scale and seed (see {@link InitOptions}). */
  readonly weightScale?: number;
  readonly initSeed?: number;
}

export interface GreedyOptions {
  /** Visible units of the bottom layer (default bernoulli; the layers above are always Bernoulli). */
  readonly visibleUnits?: InitOptions['visibleUnits'];
  /** After each layer's epochs: which layer (0-based) and its metrics. */
  readonly onEpoch?: (layer: number, metrics: EpochMetrics) => void | Promise<void>;
  /** Rows per batch of the up pass that makes the next layer's data (default 1000). */
  readonly transformBatch?: number;
  /** Stops training between batches and between layers (a {@link TrainingAbortedError} names the layer). */
  readonly signal?: AbortSignal;
}

/**
 * Greedy layer-wise training (Hinton, Osindero & Teh 2006; Bengio et al. 2007): layer 1 is an RBM trained
 * on the data, layer l + 1 an RBM trained on p(h_l = 1 | ...) of the data under the layers below (the
 * probabilities, as Hinton's practical guide advises for the data of the next layer).
 */
export async function trainGreedy(
  backend: Backend,
  data: Dataset | DataSource,
  layers: readonly LayerSpec[],
  options: GreedyOptions = {},
): Promise<{ dbn: DBN; history: EpochMetrics[][] }> {
  if (layers.length === 0) throw new ArgumentError('trainGreedy needs at least one layer');
  const trained: RBM[] = [];
  const history: EpochMetrics[][] = [];
  let input: Dataset | DataSource = data;
  try {
    for (let l = 0; l < layers.length; l++) {
      const { numHidden, weightScale, initSeed, onEpoch, ...train } = layers[l]!;
      if (options.signal?.aborted)
        throw new RbmError('ABORTED', `greedy training aborted before layer ${l + 1} of ${layers.length}`);
      const src = isDataSource(input) ? input : datasetSource(input);
      const means = await sourceColumnMeans(src, 1024, l === 0 ? (options.visibleUnits ?? 'bernoulli') : 'bernoulli');
      const model = RBM.create(backend, {
        numVisible: src.cols,
        numHidden,
        means,
        ...(initSeed !== undefined ? { seed: initSeed } : train.seed !== undefined ? { seed: train.seed } : {}),
        ...(weightScale !== undefined ? { weightScale } : {}),
        ...(l === 0 && options.visibleUnits ? { visibleUnits: options.visibleUnits } : {}),
      });
      trained.push(model);
      const layerHistory: EpochMetrics[] = [];
      const trainer = new Trainer(model, input, {
        ...train,
        ...(options.signal && !train.signal ? { signal: options.signal } : {}),
        onEpoch: async (m) => {
          layerHistory.push(m);
          await onEpoch?.(m);
          await options.onEpoch?.(l, m);
        },
      });
      try {
        await trainer.run();
      } finally {
        trainer.dispose();
      }
      history.push(layerHistory);
      if (l < layers.length - 1) {
        const features = await DBN.fromLayers([model]).transform(src, options.transformBatch ?? 1000);
        input = { data: features, rows: src.rows, cols: numHidden, source: `layer ${l + 1} features` };
      }
    }
  } catch (error) {
    for (const m of trained) m.dispose();
    throw error;
  }
  return { dbn: DBN.fromLayers(trained), history };
}
