import { withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { HostArray, Tensor } from '../backend/types.js';
import type { Dataset } from '../data/dataset.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { assertBinaryHidden } from '../model/parameters.js';
import { asDataset, type RBM, type Samples } from '../model/rbm.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';

/**
 * Conditional sampling (inpainting, denoising): the visible units split into clamped ones C, held at their
 * values in the given rows, and free ones, which are sampled from p(v_free | v_C). Block Gibbs sampling stays
 * exact for the conditional: h ~ p(h | v), then v_free ~ p(v_free | h) (the visible units are independent
 * given h, so clamping is dropping the clamped units' draws). `mean-field` iterates the deterministic map
 * v_free <- E[v_free | h = p(h = 1 | v)] instead: a fast completion, not a sample.
 */

export interface ConditionalSampleOptions {
  /** The rows to complete: their clamped units are kept, the rest are ignored. */
  readonly data: Dataset | HostArray;
  /**
   * 1 where a unit is clamped, 0 where it is free: numVisible values (one mask for every row) or
   * rows x numVisible (a mask per row).
   */
  readonly mask: ArrayLike<number>;
  /** Gibbs sweeps, or mean-field iterations. */
  readonly steps: number;
  readonly seed?: number;
  /** `gibbs` (default): samples of p(v_free | v_clamped); `mean-field`: the deterministic completion. */
  readonly method?: 'gibbs' | 'mean-field';
}

/** Checks a mask for `rows` rows of `cols` units and returns it as float32 with its row count (1 or rows). */
export function checkMask(mask: ArrayLike<number>, rows: number, cols: number): { values: Float32Array; rows: number } {
  if (mask === null || typeof mask !== 'object' || typeof mask.length !== 'number')
    throw new ArgumentError(`mask: expected an array of 0s and 1s, got ${mask === null ? 'null' : typeof mask}`);
  const maskRows = mask.length === cols ? 1 : mask.length === rows * cols ? rows : 0;
  if (maskRows === 0) {
    throw new ShapeError(
      `mask has ${mask.length} values; expected ${cols} (one per visible unit)${rows > 1 ? ` or ${rows * cols} (one per unit of each of the ${rows} rows)` : ''}`,
    );
  }
  const values = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) {
    const x = mask[i];
    if (x !== 0 && x !== 1) {
      const at = maskRows === 1 ? `unit ${i}` : `row ${Math.floor(i / cols)}, unit ${i % cols}`;
      throw new ArgumentError(`mask value at ${at} is ${x}; a mask holds 1 (clamped) or 0 (free)`);
    }
    values[i] = x;
  }
  return { values, rows: maskRows };
}

/**
 * Completes the free units of each row of `data` given its clamped units (see the module comment). Returns,
 * per row, the clamped values with the free units' last p(v | h) (`probabilities`) and their last sampled
 * states (`states`; with `mean-field`, the completion in both).
 */
export async function conditionalSample(model: RBM, options: ConditionalSampleOptions): Promise<Samples> {
  assertBinaryHidden(model, 'conditional sampling');
  const { steps } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new ArgumentError(`steps must be a positive integer, got ${steps}`);
  const method = options.method ?? 'gibbs';
  if (method !== 'gibbs' && method !== 'mean-field')
    throw new ArgumentError(`method must be 'gibbs' or 'mean-field', got ${String(method)}`);
  const nv = model.numVisible;
  const data = asDataset(options.data, nv, 'conditionalSample data');
  const mask = checkMask(options.mask, data.rows, nv);
  const be = model.backend;
  return withScope(be, async (scope) => {
    const B = data.rows;
    const v0 = model.upload(scope, data, 'visible', 'conditionalSample data');
    const m = scope.tensor(mask.rows, nv, mask.values);
    const rnd = new DeviceRandom(be, new RandomStream(options.seed ?? 0, Streams.sample));
    const v = scope.tensor(B, nv);
    const pv = scope.tensor(B, nv);
    const uv = scope.tensor(B, nv);
    const diff = scope.tensor(B, nv);
    const h = scope.tensor(B, model.numHidden);
    const uh = scope.tensor(B, model.numHidden);
    /** x <- x + m (v0 - x): the clamped units take their data values. */
    const clamp = (x: Tensor) => {
      be.binary('sub', diff, v0, x);
      be.binary('mul', diff, diff, m);
      be.binary('add', x, x, diff);
    };
    // The free units start at p = 1/2 (Gaussian units: at the visible biases), sampled for Gibbs.
    if (model.units.binary) be.fill(pv, 0.5);
    else {
      be.fill(pv, 0);
      be.binary('add', pv, pv, model.a);
    }
    if (method === 'gibbs') model.sampleVisible(v, pv, rnd, uv);
    else be.copy(v, pv);
    clamp(v);
    for (let t = 0; t < steps; t++) {
      fused(be, method === 'gibbs' ? 'conditional-gibbs-sweep' : 'mean-field-sweep', () => {
        model.hiddenProbabilities(h, v);
        if (method === 'gibbs') {
          rnd.uniform(uh);
          be.bernoulli(h, h, uh);
        }
        model.visibleProbabilities(pv, h);
        if (method === 'gibbs') model.sampleVisible(v, pv, rnd, uv);
        else be.copy(v, pv);
        clamp(v);
        clamp(pv);
      });
    }
    const [probabilities, states] = await Promise.all([be.read(pv), be.read(v)]);
    return { probabilities, states, rows: B };
  });
}
