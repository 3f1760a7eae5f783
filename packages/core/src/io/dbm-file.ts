import { ModelFormatError, RbmError } from '../errors.js';
import { checkDbmParameters, type DbmParameters } from '../model/dbm.js';
import { encodeModelFile, metadataJson, type OpenedModelFile, openModelFile } from './format.js';
import type { DecodeOptions, SafeTensor } from './safetensors.js';

/**
 * A deep Boltzmann machine file: safetensors with `weights.<l>` F32 [n_l, n_{l+1}] and `biases.<l>` F32
 * [n_l] (layer 0 visible); metadata `model` is `dbm` and `sizes` the layer sizes (a JSON array), checked
 * against the tensors. A checkpoint adds the trainer's state as every family's does (io/checkpoint.ts);
 * checkpoints of earlier versions held it as `state.*` tensors and `dbm_state` metadata, read there too.
 */
export const DBM_MODEL_TYPE = 'dbm';

export interface DbmFile {
  readonly parameters: DbmParameters;
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor of the file (a checkpoint's state among them). */
  readonly tensors: ReadonlyMap<string, SafeTensor>;
}

/** Tensors a checkpoint adds to a model file (io/checkpoint.ts), and those of earlier DBM checkpoints. */
const STATE_PREFIXES = ['trainer.', 'monitor.best.', 'state.'];

function f32(shape: number[], data: Float32Array): SafeTensor {
  return { dtype: 'F32', shape, data };
}

export function encodeDbm(
  p: DbmParameters,
  metadata: Readonly<Record<string, string>> = {},
  extra: Readonly<Record<string, SafeTensor>> = {},
): Uint8Array {
  checkDbmParameters(p);
  const tensors: Record<string, SafeTensor> = {};
  p.weights.forEach((w, l) => {
    tensors[`weights.${l}`] = f32([p.sizes[l]!, p.sizes[l + 1]!], w);
  });
  p.biases.forEach((b, l) => {
    tensors[`biases.${l}`] = f32([p.sizes[l]!], b);
  });
  return encodeModelFile(DBM_MODEL_TYPE, tensors, { sizes: JSON.stringify(p.sizes) }, metadata, extra);
}

export function decodeDbm(bytes: Uint8Array, options: DecodeOptions = {}): DbmFile {
  return dbmFrom(openModelFile(bytes, options, [DBM_MODEL_TYPE], 'a deep Boltzmann machine (dbm)'));
}

/** The DBM's reader, after the header path every kind shares ({@link openModelFile}). */
export function dbmFrom({ tensors, metadata, where }: OpenedModelFile): DbmFile {
  const sizes = metadataJson(metadata, 'sizes');
  if (!Array.isArray(sizes) || sizes.length < 3 || !sizes.every((n) => Number.isInteger(n) && n > 0))
    throw new ModelFormatError(
      `${where}a dbm file needs metadata sizes (a JSON array of at least 3 positive integers), got ${JSON.stringify(metadata.sizes ?? null)}`,
    );
  const get = (name: string, shape: number[]) => {
    const t = tensors.get(name);
    if (!t) throw new ModelFormatError(`${where}missing tensor ${name}`);
    if (t.dtype !== 'F32') throw new ModelFormatError(`${where}tensor ${name} is ${t.dtype}, expected F32`);
    if (t.shape.join() !== shape.join())
      throw new ModelFormatError(
        `${where}tensor ${name} has shape [${t.shape.join(', ')}], the sizes ${sizes} need [${shape.join(', ')}]`,
      );
    return t.data as Float32Array;
  };
  const L = sizes.length - 1;
  const weights = Array.from({ length: L }, (_, l) => get(`weights.${l}`, [sizes[l], sizes[l + 1]]));
  const biases = sizes.map((n: number, l) => get(`biases.${l}`, [n]));
  const parameters: DbmParameters = { sizes, weights, biases };
  try {
    checkDbmParameters(parameters);
  } catch (error) {
    throw new ModelFormatError(`${where}${error instanceof RbmError ? error.message : String(error)}`);
  }
  const known = new Set([...weights.map((_, l) => `weights.${l}`), ...biases.map((_, l) => `biases.${l}`)]);
  const stray = [...tensors.keys()].find((name) => !known.has(name) && !STATE_PREFIXES.some((x) => name.startsWith(x)));
  if (stray) throw new ModelFormatError(`${where}tensor ${stray} is not part of a ${sizes.join('-')} DBM file`);
  return { parameters, metadata, tensors };
}
