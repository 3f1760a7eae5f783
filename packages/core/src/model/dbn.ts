import { withScope } from '../backend/scope.js';
import type { Backend, HostArray, Tensor } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource } from '../data/source.js';
import { ArgumentError, RbmError, ShapeError } from '../errors.js';
import { checkStack } from '../io/model-file.js';
import { steppedLoop } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { asDataset, RBM, type RbmParameters, type SampleOptions, type Samples } from './rbm.js';

/**
 * A deep belief network (Hinton, Osindero & Teh, "A fast learning algorithm for deep belief nets", 2006):
 * a stack of RBMs, each trained on the hidden probabilities of the one below (greedy layer-wise). As a
 * generative model the top two layers are an RBM and the layers below are directed, top-down sigmoid
 * belief nets p(h_{l-1} | h_l) (the lower RBMs' p(v | h)):
 *
 *   generation: Gibbs sampling in the top RBM, then one down pass h_{l-1} ~ p(h_{l-1} | h_l) to the data;
 *   features:   the up pass h_l = p(h_l = 1 | h_{l-1}) (mean field, as in the greedy training).
 */
export class DBN {
  readonly layers: readonly RBM[];
  private disposed = false;

  private constructor(layers: RBM[]) {
    this.layers = layers;
  }

  /** Layers bottom first; each layer's visible units must be the hidden units below it. */
  static fromParameters(backend: Backend, layers: readonly RbmParameters[]): DBN {
    checkStack(layers);
    const models: RBM[] = [];
    try {
      for (const p of layers) models.push(RBM.fromParameters(backend, p));
    } catch (error) {
      for (const m of models) m.dispose();
      throw error;
    }
    return new DBN(models);
  }

  /** Wraps trained RBMs (not copied: the DBN owns them now). */
  static fromLayers(layers: readonly RBM[]): DBN {
    checkStack(
      layers.map((m) => ({
        numVisible: m.numVisible,
        numHidden: m.numHidden,
        visibleUnits: m.visibleUnits,
      })) as RbmParameters[],
    );
    return new DBN([...layers]);
  }

  get backend(): Backend {
    return this.layers[0]!.backend;
  }

  /** Units per layer, data first: [784, 500, 500]. */
  get sizes(): number[] {
    return [this.layers[0]!.numVisible, ...this.layers.map((m) => m.numHidden)];
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'DBN used after dispose()');
  }

  async parameters(): Promise<RbmParameters[]> {
    this.live();
    return Promise.all(this.layers.map((m) => m.parameters()));
  }

  /** out[B, top] = the up pass from v [B, nv]; `hidden[l]` are [B, n_l] buffers for the layers below the top. */
  upPass(out: Tensor, v: Tensor, hidden: readonly Tensor[]): void {
    let x = v;
    this.layers.forEach((m, l) => {
      const h = l === this.layers.length - 1 ? out : hidden[l]!;
      m.hiddenProbabilities(h, x);
      x = h;
    });
  }

  /**
   * The top layer's features of each row, h_L = p(h_L = 1 | h_{L-1}), ..., h_1 = p(h_1 = 1 | v) (the up
   * pass), `batchSize` rows at a time (default 1000): from a Dataset, a typed array of whole rows, or a
   * {@link DataSource}.
   */
  async transform(data: Dataset | HostArray | DataSource, batchSize = 1000): Promise<Float32Array> {
    this.live();
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ArgumentError(`batchSize must be a positive integer, got ${batchSize}`);
    const bottom = this.layers[0]!;
    const src =
      !ArrayBuffer.isView(data) && isDataSource(data as Dataset | DataSource)
        ? (data as DataSource)
        : datasetSource(asDataset(data, bottom.numVisible, 'DBN transform'));
    if (src.cols !== bottom.numVisible)
      throw new ShapeError(
        `${src.source ?? 'data'} has ${src.cols} columns, the network's bottom layer ${bottom.numVisible} visible units`,
      );
    const top = this.layers.at(-1)!.numHidden;
    const out = new Float32Array(src.rows * top);
    const buf = new Float32Array(Math.min(batchSize, src.rows) * src.cols);
    for (let start = 0; start < src.rows; start += batchSize) {
      const n = Math.min(batchSize, src.rows - start);
      const view = buf.subarray(0, n * src.cols);
      const indices = Uint32Array.from({ length: n }, (_, i) => start + i);
      await src.readRows(indices, view);
      const features = await withScope(this.backend, async (scope) => {
        const v = bottom.upload(
          scope,
          { data: view, rows: n, cols: src.cols, ...(src.source ? { source: src.source } : {}) },
          'visible',
          'DBN transform',
        );
        const h = scope.tensor(n, top);
        this.upPass(
          h,
          v,
          this.layers.slice(0, -1).map((m) => scope.tensor(n, m.numHidden)),
        );
        return this.backend.read(h);
      });
      out.set(features, start * top);
    }
    return out;
  }

  /**
   * Generates `chains` samples: `steps` Gibbs sweeps in the top RBM (started as {@link RBM.sample} starts
   * them, or from the up pass of `init` rows), then a down pass: h_{l-1} ~ p(h_{l-1} | h_l), and at the
   * bottom p(v | h_1) (`probabilities`) with a sample of it (`states`). One seeded stream (`sample`).
   */
  async sample(options: SampleOptions): Promise<Samples> {
    this.live();
    const be = this.backend;
    const top = this.layers.at(-1)!;
    const below = this.layers.slice(0, -1);
    return withScope(be, async (scope) => {
      const rnd = new DeviceRandom(be, new RandomStream(options.seed ?? 0, Streams.sample));
      let v: Tensor;
      if (options.init) {
        const bottom = this.layers[0]!;
        const x = bottom.upload(scope, options.init, 'visible', 'DBN sample init');
        if (below.length === 0) v = x;
        else {
          const hidden = below.map((m) => scope.tensor(x.rows, m.numHidden));
          v = hidden.at(-1)!;
          let y = x;
          below.forEach((m, l) => {
            m.hiddenProbabilities(hidden[l]!, y);
            y = hidden[l]!;
          });
          const u = scope.tensor(v.rows, v.cols);
          rnd.uniform(u);
          be.bernoulli(v, v, u);
        }
        if (!Number.isInteger(options.steps) || options.steps < 1)
          throw new ArgumentError(`steps must be a positive integer, got ${options.steps}`);
      } else v = top.startStates(scope, options, rnd);
      const B = v.rows;
      const pv = scope.tensor(v.rows, top.numVisible);
      await steppedLoop('DBN sampling', options.steps, top.gibbsSweeper(scope, v, rnd, pv), options);
      // Down pass through the directed layers.
      let probabilities = pv;
      let states = v;
      for (let l = below.length - 1; l >= 0; l--) {
        const m = below[l]!;
        const p = scope.tensor(B, m.numVisible);
        const s = scope.tensor(B, m.numVisible);
        m.visibleProbabilities(p, states);
        m.sampleVisible(s, p, rnd, scope.tensor(B, m.numVisible));
        probabilities = p;
        states = s;
      }
      const [pr, st] = await Promise.all([be.read(probabilities), be.read(states)]);
      return { probabilities: pr, states: st, rows: B };
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const m of this.layers) m.dispose();
  }
}
