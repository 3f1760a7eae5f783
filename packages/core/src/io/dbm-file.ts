import { ModelFormatError, RbmError } from '../errors.js';
import { checkDbmParameters, type DbmParameters } from '../model/dbm.js';
import type { DbmTrainerState } from '../train/dbm.js';
import { checkFormat, MODEL_FORMAT, MODEL_FORMAT_VERSION } from './format.js';
import { type DecodeOptions, decodeSafetensors, encodeSafetensors, type SafeTensor } from './safetensors.js';

/**
 * A deep Boltzmann machine file: safetensors with `weights.<l>` F32 [n_l, n_{l+1}] and `biases.<l>` F32
 * [n_l] (layer 0 visible); metadata `model` is `dbm` and `sizes` the layer sizes (a JSON array), checked
 * against the tensors. A checkpoint adds the trainer's state: tensors `state.chains.<l>`,
 * `state.velocity.<i>`, `state.pretrain_bias.<l>` and metadata `dbm_state` (stage, epoch, random streams).
 */
export const DBM_MODEL_TYPE = 'dbm';

export interface DbmFile {
  readonly parameters: DbmParameters;
  readonly metadata: Readonly<Record<string, string>>;
  /** The trainer's state, in a checkpoint. */
  readonly state?: DbmTrainerState;
}

function f32(shape: number[], data: Float32Array): SafeTensor {
  return { dtype: 'F32', shape, data };
}

export function encodeDbm(
  p: DbmParameters,
  metadata: Readonly<Record<string, string>> = {},
  state?: DbmTrainerState,
): Uint8Array {
  checkDbmParameters(p);
  const tensors: Record<string, SafeTensor> = {};
  p.weights.forEach((w, l) => {
    tensors[`weights.${l}`] = f32([p.sizes[l]!, p.sizes[l + 1]!], w);
  });
  p.biases.forEach((b, l) => {
    tensors[`biases.${l}`] = f32([p.sizes[l]!], b);
  });
  const extra: Record<string, string> = {};
  if (state) {
    state.chains.forEach((x, l) => {
      tensors[`state.chains.${l}`] = f32([x.length], x);
    });
    state.velocities.forEach((x, i) => {
      tensors[`state.velocity.${i}`] = f32([x.length], x);
    });
    state.pretrainBiases.forEach((x, l) => {
      tensors[`state.pretrain_bias.${l}`] = f32([x.length], x);
    });
    extra.dbm_state = JSON.stringify({
      stage: state.stage,
      epoch: state.epoch,
      shuffle: state.shuffle,
      gibbs: state.gibbs,
    });
  }
  return encodeSafetensors(tensors, {
    ...metadata,
    ...extra,
    format: MODEL_FORMAT,
    format_version: MODEL_FORMAT_VERSION,
    model: DBM_MODEL_TYPE,
    sizes: JSON.stringify(p.sizes),
  });
}

export function decodeDbm(bytes: Uint8Array, options: DecodeOptions = {}): DbmFile {
  const where = options.source ? `${options.source}: ` : '';
  const { tensors, metadata } = decodeSafetensors(bytes, options);
  checkFormat(metadata, where);
  if (metadata.model !== DBM_MODEL_TYPE)
    throw new ModelFormatError(
      `${where}model type ${JSON.stringify(metadata.model)} is not a deep Boltzmann machine (dbm)`,
    );
  let sizes: unknown;
  try {
    sizes = JSON.parse(metadata.sizes ?? 'null');
  } catch {
    sizes = undefined;
  }
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
  let state: DbmTrainerState | undefined;
  if (metadata.dbm_state !== undefined) {
    let s: Partial<DbmTrainerState>;
    try {
      s = JSON.parse(metadata.dbm_state);
    } catch {
      throw new ModelFormatError(`${where}metadata dbm_state is not JSON`);
    }
    const list = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const name = `state.${prefix}.${i}`;
        const t = tensors.get(name);
        if (t?.dtype !== 'F32') throw new ModelFormatError(`${where}checkpoint tensor ${name} is missing`);
        known.add(name);
        return t.data as Float32Array;
      });
    if (typeof s.stage !== 'number' || typeof s.epoch !== 'number' || !s.shuffle || !s.gibbs)
      throw new ModelFormatError(`${where}metadata dbm_state lacks stage, epoch or random streams`);
    state = {
      stage: s.stage,
      epoch: s.epoch,
      shuffle: s.shuffle,
      gibbs: s.gibbs,
      chains: list('chains', L + 1),
      velocities: list('velocity', 2 * L + 1),
      pretrainBiases: list('pretrain_bias', L + 1),
    };
  }
  const stray = [...tensors.keys()].find((name) => !known.has(name));
  if (stray) throw new ModelFormatError(`${where}tensor ${stray} is not part of a ${sizes.join('-')} DBM file`);
  return state ? { parameters, metadata, state } : { parameters, metadata };
}
