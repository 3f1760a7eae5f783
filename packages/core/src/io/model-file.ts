import type { Backend } from '../backend/types.js';
import { ModelFormatError, RbmError } from '../errors.js';
import { checkParameters, RBM, type RbmParameters } from '../model/rbm.js';
import { type DecodeOptions, decodeSafetensors, encodeSafetensors, type SafeTensor } from './safetensors.js';

/**
 * The rbmjs model file: safetensors with W as an F32 [numVisible, numHidden] tensor `weights`, and 1-D
 * `visible_bias` and `hidden_bias`; metadata (strings) says what the file is and how it was made.
 */

export const MODEL_FORMAT = 'rbmjs';
export const MODEL_FORMAT_VERSION = '1';
export const MODEL_TYPE = 'bernoulli-bernoulli';
/** Gaussian visible units: the file adds a 1-D `log_variance` tensor (z = log sigma^2). */
export const GAUSSIAN_MODEL_TYPE = 'gaussian-bernoulli';

export interface ModelFile {
  readonly parameters: RbmParameters;
  /** All metadata, including `format`, `format_version` and `model`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor in the file, the model's and any others (a checkpoint's trainer state). */
  readonly tensors: ReadonlyMap<string, SafeTensor>;
}

/**
 * Encodes a model file. `extra` tensors (a checkpoint's trainer state) are stored beside the model's; their
 * names must not be the model's own.
 */
export function encodeModel(
  parameters: RbmParameters,
  metadata: Readonly<Record<string, string>> = {},
  extra: Readonly<Record<string, SafeTensor>> = {},
): Uint8Array {
  checkParameters(parameters);
  for (const name of ['weights', 'visible_bias', 'hidden_bias', 'log_variance']) {
    if (name in extra) throw new ModelFormatError(`encodeModel: extra tensor ${name} is a model tensor`);
  }
  const { numVisible, numHidden } = parameters;
  const gaussian = parameters.visibleUnits === 'gaussian';
  return encodeSafetensors(
    {
      weights: { dtype: 'F32', shape: [numVisible, numHidden], data: parameters.weights },
      visible_bias: { dtype: 'F32', shape: [numVisible], data: parameters.visibleBias },
      hidden_bias: { dtype: 'F32', shape: [numHidden], data: parameters.hiddenBias },
      ...(gaussian
        ? {
            log_variance: {
              dtype: 'F32' as const,
              shape: [numVisible],
              data: parameters.logVariance ?? new Float32Array(numVisible),
            },
          }
        : {}),
      ...extra,
    },
    {
      ...metadata,
      format: MODEL_FORMAT,
      format_version: MODEL_FORMAT_VERSION,
      model: gaussian ? GAUSSIAN_MODEL_TYPE : MODEL_TYPE,
    },
  );
}

export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): ModelFile {
  const where = options.source ? `${options.source}: ` : '';
  const { tensors, metadata } = decodeSafetensors(bytes, options);
  if (metadata.format !== MODEL_FORMAT) {
    throw new ModelFormatError(
      `${where}not an rbmjs model (metadata format is ${JSON.stringify(metadata.format ?? null)})`,
    );
  }
  if (metadata.format_version !== MODEL_FORMAT_VERSION) {
    throw new ModelFormatError(
      `${where}model format version ${metadata.format_version} is not supported (this reads ${MODEL_FORMAT_VERSION})`,
    );
  }
  if (metadata.model !== MODEL_TYPE && metadata.model !== GAUSSIAN_MODEL_TYPE) {
    throw new ModelFormatError(
      `${where}model type ${JSON.stringify(metadata.model)} is not supported (${MODEL_TYPE}, ${GAUSSIAN_MODEL_TYPE})`,
    );
  }
  const gaussian = metadata.model === GAUSSIAN_MODEL_TYPE;
  const get = (name: string, rank: number) => {
    const t = tensors.get(name);
    if (!t) throw new ModelFormatError(`${where}missing tensor ${name}`);
    if (t.shape.length !== rank)
      throw new ModelFormatError(`${where}tensor ${name} has rank ${t.shape.length}, expected ${rank}`);
    if (t.dtype !== 'F32') throw new ModelFormatError(`${where}tensor ${name} is ${t.dtype}, expected F32`);
    return t;
  };
  const W = get('weights', 2);
  const a = get('visible_bias', 1);
  const b = get('hidden_bias', 1);
  const [numVisible, numHidden] = W.shape as [number, number];
  if (a.shape[0] !== numVisible || b.shape[0] !== numHidden) {
    throw new ModelFormatError(
      `${where}shapes disagree: weights [${numVisible}, ${numHidden}], visible_bias [${a.shape[0]}], hidden_bias [${b.shape[0]}]`,
    );
  }
  const z = gaussian ? get('log_variance', 1) : undefined;
  if (z && z.shape[0] !== numVisible) {
    throw new ModelFormatError(`${where}log_variance has ${z.shape[0]} values, weights have ${numVisible} rows`);
  }
  const parameters: RbmParameters = {
    numVisible,
    numHidden,
    weights: W.data as Float32Array,
    visibleBias: a.data as Float32Array,
    hiddenBias: b.data as Float32Array,
    ...(z ? { visibleUnits: 'gaussian' as const, logVariance: z.data as Float32Array } : {}),
  };
  try {
    checkParameters(parameters);
  } catch (error) {
    throw new ModelFormatError(`${where}${error instanceof RbmError ? error.message : String(error)}`);
  }
  return { parameters, metadata, tensors };
}

/** Serialises a model (reads its parameters back from the device). */
export async function saveModel(model: RBM, metadata: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
  return encodeModel(await model.parameters(), metadata);
}

/** Loads a model file onto a backend. */
export function loadModel(
  backend: Backend,
  bytes: Uint8Array,
  options: DecodeOptions = {},
): { model: RBM; metadata: Readonly<Record<string, string>> } {
  const file = decodeModel(bytes, options);
  return { model: RBM.fromParameters(backend, file.parameters), metadata: file.metadata };
}
