import { type Ratings, ratingsFromIndices } from '../data/ratings.js';
import { ModelFormatError, RbmError } from '../errors.js';
import { type CollaborativeParameters, checkCollaborativeParameters } from '../model/collaborative.js';
import { encodeModelFile, metadataJson, type OpenedModelFile, openModelFile } from './format.js';
import type { DecodeOptions, SafeTensor } from './safetensors.js';

/**
 * The collaborative-filtering RBM's file: the rbmjs model format (safetensors, metadata `format` rbmjs,
 * `model` collaborative) with
 *   weights [items, K, H], visible_bias [items, K], hidden_bias [H], rated_weights [items, H] (conditional),
 *   the training ratings, each user's evidence when asked for recommendations without a ratings file, by
 *   user as the reader lays them out (CSR, 5 bytes a rating: 100 million ratings are 0.5 GB):
 *   ratings_start I32 [users + 1] (user u's ratings are ratings_start[u] .. ratings_start[u + 1] - 1),
 *   ratings_item I32 [n] (item indices, ascending within a user), ratings_level U8 [n] (level indices);
 *   files written before these hold ratings [n, 3] (user, item, level indices, float32), still read;
 *   a model saved without its ratings (`rbm train --no-evidence`) has none of them;
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
  const ratings: Record<string, SafeTensor> = r
    ? {
        ratings_start: { dtype: 'I32', shape: [r.userStart.length], data: r.userStart },
        ratings_item: { dtype: 'I32', shape: [r.item.length], data: r.item },
        // Last: one byte a value would leave any tensor after it unaligned.
        ratings_level: { dtype: 'U8', shape: [r.level.length], data: r.level },
      }
    : {};
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
  const ratings = tensors.has('ratings_start')
    ? evidenceFrom(tensors, { users, items, levels: levels as number[] }, where)
    : legacyEvidence(tensors, { users, items, levels: levels as number[] }, where);
  return { parameters, orientation, users, items, ratings, metadata, tensors };
}

type Ids = Pick<Ratings, 'users' | 'items' | 'levels'>;

function evidenceTensor(
  tensors: ReadonlyMap<string, SafeTensor>,
  name: string,
  dtype: 'I32' | 'U8',
  length: number | undefined,
  where: string,
): SafeTensor['data'] {
  const t = tensors.get(name);
  if (!t)
    throw new ModelFormatError(`${where}tensor ${name} is missing (the ratings are ratings_start, _item, _level)`);
  if (t.dtype !== dtype || t.shape.length !== 1 || (length !== undefined && t.shape[0] !== length))
    throw new ModelFormatError(
      `${where}tensor ${name} is ${t.dtype} [${t.shape.join(', ')}], expected ${dtype} [${length ?? 'n'}]`,
    );
  return t.data;
}

/** The ratings as CSR (ratings_start, ratings_item, ratings_level), checked: no sort, one pass. */
function evidenceFrom(tensors: ReadonlyMap<string, SafeTensor>, ids: Ids, where: string): Ratings {
  const start = evidenceTensor(tensors, 'ratings_start', 'I32', ids.users.length + 1, where) as Int32Array;
  const item = evidenceTensor(tensors, 'ratings_item', 'I32', undefined, where) as Int32Array;
  const n = item.length;
  const level = evidenceTensor(tensors, 'ratings_level', 'U8', n, where) as Uint8Array;
  if (start[0] !== 0 || start[ids.users.length] !== n)
    throw new ModelFormatError(
      `${where}ratings_start runs from ${start[0]} to ${start[ids.users.length]}, expected 0 to ${n}`,
    );
  const user = new Int32Array(n);
  for (let u = 0; u < ids.users.length; u++) {
    const [s, e] = [start[u]!, start[u + 1]!];
    if (!(e >= s && e <= n))
      throw new ModelFormatError(`${where}ratings_start[${u + 1}] is ${e}, after ${s}: the offsets must not fall`);
    for (let k = s; k < e; k++) {
      const [i, l] = [item[k]!, level[k]!];
      if (!(i >= 0 && i < ids.items.length && (k === s || i > item[k - 1]!) && l < ids.levels.length))
        throw new ModelFormatError(
          `${where}rating ${k} (user ${u}) is item ${i} at level ${l}: items must be in 0..${ids.items.length - 1}, ascending within a user, levels below ${ids.levels.length}`,
        );
    }
    user.fill(u, s, e);
  }
  return { ...ids, user, item, level, userStart: start };
}

/** The ratings as files before ratings_start held them: [n, 3] float32 (user, item, level) rows. */
function legacyEvidence(tensors: ReadonlyMap<string, SafeTensor>, ids: Ids, where: string): Ratings | undefined {
  const t = tensors.get('ratings');
  if (!t) return undefined;
  const { users, items, levels } = ids;
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
  return ratingsFromIndices(ids, uu, ii, ll);
}
