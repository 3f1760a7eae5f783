import { unzipSync, zipSync } from 'fflate';
import { ArgumentError, ModelFormatError, TooLargeError } from '../errors.js';
import { checkParameters, type RbmParameters } from '../model/parameters.js';
import { decodeNpy, encodeNpy, type NpyArray } from './npy.js';

/**
 * scikit-learn's BernoulliRBM, both ways, as a NumPy .npz archive of its fitted attributes:
 *   components_        [n_components, n_features] = W^T
 *   intercept_hidden_  [n_components]            = b
 *   intercept_visible_ [n_features]              = a
 * A BernoulliRBM whose attributes are set from the file computes the same transform, sigmoid(v W + b), and the
 * same free energy, -a.v - sum_j softplus(b_j + (v W)_j) (its `_free_energy`), as the rbmjs model. Only
 * Bernoulli visible and hidden units have a BernoulliRBM; other models are refused by name.
 */

export const SKLEARN_ARRAYS = ['components_', 'intercept_hidden_', 'intercept_visible_'] as const;

/** The most bytes one array of an archive may unpack to (2^31: a model of 2^28 float64 weights). */
export const MAX_SKLEARN_ARRAY_BYTES = 2 ** 31;

/** The .npz bytes of a Bernoulli-Bernoulli RBM's parameters, as float32 arrays (the model's own values). */
export function encodeSklearnRbm(p: RbmParameters): Uint8Array {
  checkParameters(p);
  const units = `${p.visibleUnits ?? 'bernoulli'} visible and ${p.hiddenUnits ?? 'bernoulli'} hidden units`;
  if ((p.visibleUnits ?? 'bernoulli') !== 'bernoulli' || (p.hiddenUnits ?? 'bernoulli') !== 'bernoulli')
    throw new ArgumentError(
      `scikit-learn's BernoulliRBM has Bernoulli visible and hidden units; this model has ${units}`,
    );
  const { numVisible: V, numHidden: H } = p;
  const components = new Float32Array(H * V);
  for (let i = 0; i < V; i++) for (let j = 0; j < H; j++) components[j * V + i] = p.weights[i * H + j]!;
  return zipSync(
    {
      'components_.npy': [encodeNpy(components, [H, V]), { level: 0 }],
      'intercept_hidden_.npy': [encodeNpy(Float32Array.from(p.hiddenBias), [H]), { level: 0 }],
      'intercept_visible_.npy': [encodeNpy(Float32Array.from(p.visibleBias), [V]), { level: 0 }],
    },
    // numpy.savez's fixed date: the archive is a function of the parameters alone.
    { mtime: new Date(1980, 0, 1) },
  );
}

/**
 * Reads a BernoulliRBM's attributes from .npz bytes (numpy.savez or savez_compressed) into Bernoulli-Bernoulli
 * parameters; `source` names the file in errors. Other arrays in the archive are ignored.
 */
export function decodeSklearnRbm(bytes: Uint8Array, source = 'archive'): RbmParameters {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        const name = f.name.replace(/\.npy$/, '');
        if (!(SKLEARN_ARRAYS as readonly string[]).includes(name)) return false;
        if (f.originalSize > MAX_SKLEARN_ARRAY_BYTES)
          throw new TooLargeError(
            `${source}: ${f.name} unpacks to ${f.originalSize} bytes, more than ${MAX_SKLEARN_ARRAY_BYTES}`,
          );
        return true;
      },
    });
  } catch (error) {
    if (error instanceof TooLargeError) throw error;
    throw new ModelFormatError(
      `${source}: not a NumPy .npz archive (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const arrays: Partial<Record<(typeof SKLEARN_ARRAYS)[number], NpyArray>> = {};
  for (const name of SKLEARN_ARRAYS) {
    const file = files[`${name}.npy`];
    if (!file)
      throw new ModelFormatError(
        `${source}: no ${name} array; a BernoulliRBM's archive holds ${SKLEARN_ARRAYS.join(', ')} (numpy.savez(path, components_=rbm.components_, ...))`,
      );
    arrays[name] = decodeNpy(file, `${source}: ${name}`);
  }
  const c = arrays.components_!;
  const hb = arrays.intercept_hidden_!;
  const vb = arrays.intercept_visible_!;
  if (c.shape.length !== 2)
    throw new ModelFormatError(
      `${source}: components_ has shape (${c.shape.join(', ')}), expected (n_components, n_features)`,
    );
  const [H, V] = c.shape as [number, number];
  if (hb.shape.length !== 1 || hb.shape[0] !== H)
    throw new ModelFormatError(
      `${source}: intercept_hidden_ has shape (${hb.shape.join(', ')}), expected (${H},) for ${H} components`,
    );
  if (vb.shape.length !== 1 || vb.shape[0] !== V)
    throw new ModelFormatError(
      `${source}: intercept_visible_ has shape (${vb.shape.join(', ')}), expected (${V},) for ${V} features`,
    );
  const weights = new Float32Array(V * H);
  for (let i = 0; i < V; i++) for (let j = 0; j < H; j++) weights[i * H + j] = c.data[j * V + i]!;
  const p: RbmParameters = {
    numVisible: V,
    numHidden: H,
    weights,
    visibleBias: Float32Array.from(vb.data),
    hiddenBias: Float32Array.from(hb.data),
  };
  try {
    checkParameters(p);
  } catch (error) {
    throw new ModelFormatError(`${source}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return p;
}
