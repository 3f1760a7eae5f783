import { type Ratings, ratingsFromIndices } from '../data/ratings.js';
import { ModelFormatError, RbmError } from '../errors.js';
import { type CollaborativeParameters, checkCollaborativeParameters } from '../model/collaborative.js';
import { encodeModelFile, metadataJson, type OpenedModelFile, openModelFile } from './format.js';
import type { DecodeOptions, SafeTensor } from './safetensors.js';

/**
 * The collaborative-filtering RBM's file: the rbmjs model format (safetensors, metadata `format` rbmjs,
 * `model` collaborative) with
 *   weights [items, K, H], visible_bias [items, K], hidden_bias [H], rated_weights [items, H] (conditional),
 *   ratings [n, 3] (user, item, level indices, float32): the training ratings, each user's evidence when
 *   asked for recommendations without a ratings file;
 * metadata `orientation`: `user` (one RBM a user: the visible units are the items, as above) or `item` (the
 * I-RBM: one RBM an item, the visible units are the users, so `weights` is [users, K, H]);
 * the rating scale in metadata `levels` (a JSON array), and the ids, so that predictions speak the data's
 * ids: `user_ids` / `item_ids` as F64 tensors when every id is a decimal integer (MovieLens), else metadata
 * `users` / `items` (JSON arrays of strings). Checkpoints add `trainer.*` and `best.*` tensors and the
 * `rbmjs_checkpoint` metadata.
 */
export const COLLABORATIVE_MODEL_TYPE = 'collaborative';

export interface CollaborativeFile {
  readonly parameters: CollaborativeParameters;
  /** Whose RBM: `user` (its visible units are items), or `item` (the I-RBM: its visible units are users). */
  readonly orientation: 'user' | 'item';
  readonly users: readonly string[];
  readonly items: readonly string[];
  /** The training ratings, when the file keeps them. */
  readonly ratings: Ratings | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, SafeTensor>;
}

const INTEGER_ID = /^(0|[1-9]\d{0,14})$/;

function idTensorOrMetadata(
  ids: readonly string[],
  name: string,
): [Record<string, SafeTensor>, Record<string, string>] {
  if (ids.every((id) => INTEGER_ID.test(id)))
    return [{ [`${name}_ids`]: { dtype: 'F64', shape: [ids.length], data: Float64Array.from(ids, Number) } }, {}];
  return [{}, { [`${name}s`]: JSON.stringify(ids) }];
}

/** The model's own tensors (a checkpoint's best-so-far copy uses the prefix `best.`). */
export function collaborativeTensors(p: CollaborativeParameters, prefix = ''): Record<string, SafeTensor> {
  const { numItems: M, numHidden: H } = p;
  const K = p.levels.length;
  return {
    [`${prefix}weights`]: { dtype: 'F32', shape: [M, K, H], data: p.weights },
    [`${prefix}visible_bias`]: { dtype: 'F32', shape: [M, K], data: p.visibleBias },
    [`${prefix}hidden_bias`]: { dtype: 'F32', shape: [H], data: p.hiddenBias },
    ...(p.ratedWeights
      ? { [`${prefix}rated_weights`]: { dtype: 'F32' as const, shape: [M, H], data: p.ratedWeights } }
      : {}),
  };
}

export function encodeCollaborative(
  parameters: CollaborativeParameters,
  ids: { readonly users: readonly string[]; readonly items: readonly string[]; readonly orientation?: 'user' | 'item' },
  options: {
    readonly ratings?: Ratings;
    readonly metadata?: Readonly<Record<string, string>>;
    readonly extra?: Readonly<Record<string, SafeTensor>>;
  } = {},
): Uint8Array {
  checkCollaborativeParameters(parameters);
  const orientation = ids.orientation ?? 'user';
  const units = orientation === 'item' ? ids.users : ids.items;
  if (units.length !== parameters.numItems)
    throw new ModelFormatError(
      `encodeCollaborative: ${units.length} ${orientation === 'item' ? 'user' : 'item'} ids for ${parameters.numItems} visible units`,
    );
  const [userTensors, userMeta] = idTensorOrMetadata(ids.users, 'user');
  const [itemTensors, itemMeta] = idTensorOrMetadata(ids.items, 'item');
  const r = options.ratings;
  const ratings: Record<string, SafeTensor> = {};
  if (r) {
    const n = r.user.length;
    const data = new Float32Array(n * 3);
    for (let k = 0; k < n; k++) {
      data[3 * k] = r.user[k]!;
      data[3 * k + 1] = r.item[k]!;
      data[3 * k + 2] = r.level[k]!;
    }
    ratings.ratings = { dtype: 'F32', shape: [n, 3], data };
  }
  return encodeModelFile(
    COLLABORATIVE_MODEL_TYPE,
    { ...collaborativeTensors(parameters), ...userTensors, ...itemTensors, ...ratings },
    { ...userMeta, ...itemMeta, orientation, levels: JSON.stringify(parameters.levels) },
    options.metadata,
    options.extra,
  );
}

function idsFrom(
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata: Readonly<Record<string, string>>,
  name: 'user' | 'item',
  where: string,
): string[] {
  const t = tensors.get(`${name}_ids`);
  if (t) return Array.from(t.data, (x) => String(x));
  const ids = metadataJson(metadata, `${name}s`);
  if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string'))
    throw new ModelFormatError(
      `${where}a collaborative model needs its ${name} ids (${name}_ids, or metadata ${name}s)`,
    );
  return ids as string[];
}

/** Reads the model's tensors (named with `prefix`) against the file's levels. */
export function readCollaborativeTensors(
  tensors: ReadonlyMap<string, SafeTensor>,
  levels: readonly number[],
  prefix: string,
  where: string,
): CollaborativeParameters {
  const get = (name: string, rank: number, optional = false) => {
    const t = tensors.get(prefix + name);
    if (!t) {
      if (optional) return undefined;
      throw new ModelFormatError(`${where}missing tensor ${prefix}${name}`);
    }
    if (t.shape.length !== rank || t.dtype !== 'F32')
      throw new ModelFormatError(
        `${where}tensor ${prefix}${name} is ${t.dtype} of rank ${t.shape.length}, expected F32 of rank ${rank}`,
      );
    return t;
  };
  const W = get('weights', 3)!;
  const [M, K, H] = W.shape as [number, number, number];
  if (K !== levels.length)
    throw new ModelFormatError(`${where}${prefix}weights have ${K} levels, the metadata lists ${levels.length}`);
  const d = get('rated_weights', 2, true);
  const parameters: CollaborativeParameters = {
    numItems: M,
    numHidden: H,
    levels,
    weights: W.data as Float32Array,
    visibleBias: get('visible_bias', 2)!.data as Float32Array,
    hiddenBias: get('hidden_bias', 1)!.data as Float32Array,
    ...(d ? { ratedWeights: d.data as Float32Array } : {}),
  };
  try {
    checkCollaborativeParameters(parameters);
  } catch (error) {
    throw new ModelFormatError(`${where}${prefix}${error instanceof RbmError ? error.message : String(error)}`);
  }
  return parameters;
}

export function decodeCollaborative(bytes: Uint8Array, options: DecodeOptions = {}): CollaborativeFile {
  return collaborativeFrom(
    openModelFile(bytes, options, [COLLABORATIVE_MODEL_TYPE], 'a collaborative-filtering model (collaborative)'),
  );
}

/** The recommender's reader, after the header path every kind shares ({@link openModelFile}). */
export function collaborativeFrom({ tensors, metadata, where }: OpenedModelFile): CollaborativeFile {
  const levels = metadataJson(metadata, 'levels');
  if (!Array.isArray(levels) || !levels.every((x) => typeof x === 'number'))
    throw new ModelFormatError(
      `${where}metadata levels must be a JSON array of numbers, got ${JSON.stringify(metadata.levels ?? null)}`,
    );
  const parameters = readCollaborativeTensors(tensors, levels as number[], '', where);
  const users = idsFrom(tensors, metadata, 'user', where);
  const items = idsFrom(tensors, metadata, 'item', where);
  const orientation = metadata.orientation ?? 'user';
  if (orientation !== 'user' && orientation !== 'item')
    throw new ModelFormatError(`${where}metadata orientation is ${JSON.stringify(orientation)}, not user or item`);
  const units = orientation === 'item' ? users : items;
  if (units.length !== parameters.numItems)
    throw new ModelFormatError(
      `${where}${units.length} ${orientation === 'item' ? 'user' : 'item'} ids for ${parameters.numItems} visible units`,
    );
  const t = tensors.get('ratings');
  let ratings: Ratings | undefined;
  if (t) {
    if (t.shape.length !== 2 || t.shape[1] !== 3)
      throw new ModelFormatError(`${where}tensor ratings has shape [${t.shape.join(', ')}], expected [n, 3]`);
    const n = t.shape[0]!;
    const [uu, ii, ll] = [new Int32Array(n), new Int32Array(n), new Uint8Array(n)];
    for (let k = 0; k < n; k++) {
      const [u, i, l] = [t.data[3 * k]!, t.data[3 * k + 1]!, t.data[3 * k + 2]!];
      if (
        !(
          Number.isInteger(u) &&
          u >= 0 &&
          u < users.length &&
          Number.isInteger(i) &&
          i >= 0 &&
          i < items.length &&
          Number.isInteger(l) &&
          l >= 0 &&
          l < levels.length
        )
      )
        throw new ModelFormatError(
          `${where}ratings row ${k} is (${u}, ${i}, ${l}): outside ${users.length} users, ${items.length} items, ${levels.length} levels`,
        );
      [uu[k], ii[k], ll[k]] = [u, i, l];
    }
    ratings = ratingsFromIndices({ users, items, levels: levels as number[] }, uu, ii, ll);
  }
  return { parameters, orientation, users, items, ratings, metadata, tensors };
}
