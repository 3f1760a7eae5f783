import type { Backend } from '../backend/types.js';
import { ArgumentError, ModelFormatError, RbmError, ShapeError } from '../errors.js';
import { checkParameters, type HiddenUnits, RBM, type RbmParameters } from '../model/rbm.js';
import { COLLABORATIVE_MODEL_TYPE, type CollaborativeFile, collaborativeFrom } from './collaborative-file.js';
import { DBM_MODEL_TYPE, type DbmFile, dbmFrom } from './dbm-file.js';
import { encodeModelFile, metadataJson, type OpenedModelFile, openModelFile } from './format.js';
import type { DecodeOptions, SafeTensor } from './safetensors.js';

export { checkFormat, MODEL_FORMAT, MODEL_FORMAT_VERSION } from './format.js';

/**
 * The rbmjs model file: safetensors with W as an F32 [numVisible, numHidden] tensor `weights`, and 1-D
 * `visible_bias` and `hidden_bias`; metadata (strings) says what the file is and how it was made.
 */

export const MODEL_TYPE = 'bernoulli-bernoulli';
/** Gaussian visible units: the file adds a 1-D `log_variance` tensor (z = log sigma^2). */
export const GAUSSIAN_MODEL_TYPE = 'gaussian-bernoulli';
/** Softmax groups ending the visible layer: metadata `softmax_groups` holds their sizes (a JSON array). */
export const SOFTMAX_MODEL_TYPE = 'softmax-bernoulli';
/**
 * Hidden units other than Bernoulli name the second half of the type: `bernoulli-nrelu`, `gaussian-nrelu`,
 * `bernoulli-gaussian` (see model/hidden-units.ts).
 */
const HIDDEN_MODEL_TYPES = ['bernoulli-nrelu', 'gaussian-nrelu', 'bernoulli-gaussian'];
const MODEL_TYPES = [MODEL_TYPE, GAUSSIAN_MODEL_TYPE, SOFTMAX_MODEL_TYPE, ...HIDDEN_MODEL_TYPES];

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
  const softmax = parameters.visibleUnits === 'softmax';
  return encodeModelFile(
    modelType(parameters),
    layerTensors(parameters, ''),
    softmax ? { softmax_groups: JSON.stringify(parameters.softmaxGroups) } : {},
    metadata,
    extra,
  );
}

function modelType(p: RbmParameters): string {
  return `${p.visibleUnits ?? 'bernoulli'}-${p.hiddenUnits ?? 'bernoulli'}`;
}

/** One RBM's tensors, their names prefixed (`layers.1.` in a DBN file). */
function layerTensors(p: RbmParameters, prefix: string): Record<string, SafeTensor> {
  const { numVisible, numHidden } = p;
  return {
    [`${prefix}weights`]: { dtype: 'F32', shape: [numVisible, numHidden], data: p.weights },
    [`${prefix}visible_bias`]: { dtype: 'F32', shape: [numVisible], data: p.visibleBias },
    [`${prefix}hidden_bias`]: { dtype: 'F32', shape: [numHidden], data: p.hiddenBias },
    ...(p.visibleUnits === 'gaussian'
      ? {
          [`${prefix}log_variance`]: {
            dtype: 'F32' as const,
            shape: [numVisible],
            data: p.logVariance ?? new Float32Array(numVisible),
          },
        }
      : {}),
  };
}

/** Reads one RBM's tensors (names prefixed) of the given model type; `groups` for softmax models. */
function readLayer(
  tensors: ReadonlyMap<string, SafeTensor>,
  prefix: string,
  type: string,
  groupsText: string | undefined,
  where: string,
): RbmParameters {
  const [visibleName, hiddenName] = type.split('-') as [string, HiddenUnits];
  const gaussian = visibleName === 'gaussian';
  const get = (name: string, rank: number) => {
    const t = tensors.get(prefix + name);
    if (!t) throw new ModelFormatError(`${where}missing tensor ${prefix}${name}`);
    if (t.shape.length !== rank)
      throw new ModelFormatError(`${where}tensor ${prefix}${name} has rank ${t.shape.length}, expected ${rank}`);
    if (t.dtype !== 'F32') throw new ModelFormatError(`${where}tensor ${prefix}${name} is ${t.dtype}, expected F32`);
    return t;
  };
  const W = get('weights', 2);
  const a = get('visible_bias', 1);
  const b = get('hidden_bias', 1);
  const [numVisible, numHidden] = W.shape as [number, number];
  if (a.shape[0] !== numVisible || b.shape[0] !== numHidden) {
    throw new ModelFormatError(
      `${where}shapes disagree: ${prefix}weights [${numVisible}, ${numHidden}], ${prefix}visible_bias [${a.shape[0]}], ${prefix}hidden_bias [${b.shape[0]}]`,
    );
  }
  const z = gaussian ? get('log_variance', 1) : undefined;
  if (z && z.shape[0] !== numVisible) {
    throw new ModelFormatError(
      `${where}${prefix}log_variance has ${z.shape[0]} values, weights have ${numVisible} rows`,
    );
  }
  let groups: number[] | undefined;
  if (type === SOFTMAX_MODEL_TYPE) {
    groups = metadataJson({ groups: groupsText ?? 'null' }, 'groups') as number[] | undefined;
    if (!Array.isArray(groups))
      throw new ModelFormatError(
        `${where}a softmax model needs its group sizes (softmax_groups, a JSON array), got ${JSON.stringify(groupsText ?? null)}`,
      );
  }
  const parameters: RbmParameters = {
    numVisible,
    numHidden,
    weights: W.data as Float32Array,
    visibleBias: a.data as Float32Array,
    hiddenBias: b.data as Float32Array,
    ...(z ? { visibleUnits: 'gaussian' as const, logVariance: z.data as Float32Array } : {}),
    ...(groups ? { visibleUnits: 'softmax' as const, softmaxGroups: groups } : {}),
    ...(hiddenName !== 'bernoulli' ? { hiddenUnits: hiddenName } : {}),
  };
  try {
    checkParameters(parameters);
  } catch (error) {
    throw new ModelFormatError(`${where}${prefix}${error instanceof RbmError ? error.message : String(error)}`);
  }
  return parameters;
}

/** What a file of another kind is, for the refusal of a decoder that does not take it. */
function otherKind(model: string | undefined): string {
  if (model === DBN_MODEL_TYPE)
    return '; this file is a deep belief network, which this command or function does not take (library: decodeDbn)';
  if (model === DBM_MODEL_TYPE)
    return '; this file is a deep Boltzmann machine: rbm eval, sample, transform and info take it (library: decodeDbm)';
  if (model === COLLABORATIVE_MODEL_TYPE)
    return '; this file is a collaborative-filtering RBM: rbm eval --ratings, rbm recommend and rbm info take it (library: decodeCollaborative)';
  return '';
}

export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): ModelFile {
  return modelFrom(openModelFile(bytes, options, MODEL_TYPES, `supported (${MODEL_TYPES.join(', ')})`, otherKind));
}

function modelFrom({ tensors, metadata, where }: OpenedModelFile): ModelFile {
  const parameters = readLayer(tensors, '', metadata.model!, metadata.softmax_groups, where);
  return { parameters, metadata, tensors };
}

/**
 * A deep belief network file: one safetensors file with every layer's RBM, bottom first, as tensors
 * `layers.<i>.weights`, `layers.<i>.visible_bias`, `layers.<i>.hidden_bias` (and `layers.0.log_variance`
 * for Gaussian inputs); metadata `model` is `dbn` and `layers` a JSON array of each layer's
 * { "visible", "hidden", "model" (its RBM type), "softmax_groups"? }, checked against the tensors.
 */
export const DBN_MODEL_TYPE = 'dbn';

export interface DbnFile {
  readonly layers: readonly RbmParameters[];
  readonly metadata: Readonly<Record<string, string>>;
}

interface LayerRecord {
  readonly visible: number;
  readonly hidden: number;
  readonly model: string;
  readonly softmax_groups?: readonly number[];
}

/** Checks that a stack of RBMs composes: each layer's visible units are the hidden units below it. */
export function checkStack(layers: readonly RbmParameters[], where = ''): void {
  if (layers.length < 1) throw new ShapeError(`${where}a deep belief network needs at least one layer`);
  for (let i = 1; i < layers.length; i++) {
    if (layers[i]!.numVisible !== layers[i - 1]!.numHidden)
      throw new ShapeError(
        `${where}layer ${i} has ${layers[i]!.numVisible} visible units, layer ${i - 1} below it ${layers[i - 1]!.numHidden} hidden units`,
      );
    if ((layers[i - 1]!.hiddenUnits ?? 'bernoulli') !== 'bernoulli')
      throw new ArgumentError(`${where}layer ${i - 1} of a deep belief network must have Bernoulli hidden units`);
    if ((layers[i]!.visibleUnits ?? 'bernoulli') !== 'bernoulli')
      throw new ArgumentError(
        `${where}layer ${i} must have Bernoulli visible units (the hidden units below are binary)`,
      );
  }
}

export function encodeDbn(
  layers: readonly RbmParameters[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  checkStack(layers);
  const tensors: Record<string, SafeTensor> = {};
  const records: LayerRecord[] = layers.map((p, i) => {
    checkParameters(p);
    Object.assign(tensors, layerTensors(p, `layers.${i}.`));
    return {
      visible: p.numVisible,
      hidden: p.numHidden,
      model: modelType(p),
      ...(p.softmaxGroups ? { softmax_groups: [...p.softmaxGroups] } : {}),
    };
  });
  return encodeModelFile(DBN_MODEL_TYPE, tensors, { layers: JSON.stringify(records) }, metadata);
}

export function decodeDbn(bytes: Uint8Array, options: DecodeOptions = {}): DbnFile {
  return dbnFrom(openModelFile(bytes, options, [DBN_MODEL_TYPE], 'a deep belief network (dbn)'));
}

function dbnFrom({ tensors, metadata, where }: OpenedModelFile): DbnFile {
  const records = metadataJson(metadata, 'layers');
  if (!Array.isArray(records) || records.length === 0)
    throw new ModelFormatError(
      `${where}a dbn file needs metadata layers (a JSON array, one entry per layer), got ${JSON.stringify(metadata.layers ?? null)}`,
    );
  const layers = records.map((r: Partial<LayerRecord>, i) => {
    if (typeof r !== 'object' || r === null || typeof r.model !== 'string' || !MODEL_TYPES.includes(r.model))
      throw new ModelFormatError(`${where}layers[${i}] in the metadata is ${JSON.stringify(r)}`);
    const p = readLayer(
      tensors,
      `layers.${i}.`,
      r.model,
      r.softmax_groups ? JSON.stringify(r.softmax_groups) : undefined,
      `${where}layer ${i} of ${records.length}: `,
    );
    for (const key of ['visible', 'hidden'] as const)
      if (typeof r[key] !== 'number')
        throw new ModelFormatError(
          `${where}layer ${i}: the metadata's ${key} is ${JSON.stringify(r[key] ?? null)} (${typeof r[key]}), not a number`,
        );
    if (p.numVisible !== r.visible || p.numHidden !== r.hidden)
      throw new ModelFormatError(
        `${where}layer ${i}: the metadata says ${r.visible} x ${r.hidden}, its tensors are ${p.numVisible} x ${p.numHidden}`,
      );
    return p;
  });
  // Every tensor belongs to one layer, under a name that layer's units have.
  const known = new Set(
    layers.flatMap((p, i) =>
      ['weights', 'visible_bias', 'hidden_bias', ...(p.visibleUnits === 'gaussian' ? ['log_variance'] : [])].map(
        (n) => `layers.${i}.${n}`,
      ),
    ),
  );
  const extra = [...tensors.keys()].filter((name) => !known.has(name));
  if (extra.length > 0) {
    const m = /^layers\.(\d+)\./.exec(extra[0]!);
    throw new ModelFormatError(
      m && Number(m[1]) < layers.length
        ? `${where}tensor ${extra[0]} is not one of layer ${m[1]}'s (${[...known].filter((n) => n.startsWith(`layers.${m[1]}.`)).join(', ')})`
        : `${where}tensor ${extra[0]} belongs to no layer of the ${layers.length} the metadata lists`,
    );
  }
  try {
    checkStack(layers);
  } catch (error) {
    throw new ModelFormatError(`${where}${error instanceof RbmError ? error.message : String(error)}`);
  }
  return { layers, metadata };
}

/** A model file of any of these kinds: one RBM, a deep belief network, or a deep Boltzmann machine. */
export type AnyModelFile =
  | ({ readonly kind: 'rbm' } & ModelFile)
  | ({ readonly kind: 'dbn' } & DbnFile)
  | ({ readonly kind: 'dbm' } & DbmFile)
  | ({ readonly kind: 'collaborative' } & CollaborativeFile);

/** Decodes a model file of any kind (the header read once, then the kind's own reader). */
export function decodeAnyModel(bytes: Uint8Array, options: DecodeOptions = {}): AnyModelFile {
  const kinds = [...MODEL_TYPES, DBN_MODEL_TYPE, DBM_MODEL_TYPE, COLLABORATIVE_MODEL_TYPE];
  const opened = openModelFile(bytes, options, kinds, `one of ${kinds.join(', ')}`);
  switch (opened.metadata.model) {
    case DBN_MODEL_TYPE:
      return { kind: 'dbn', ...dbnFrom(opened) };
    case DBM_MODEL_TYPE:
      return { kind: 'dbm', ...dbmFrom(opened) };
    case COLLABORATIVE_MODEL_TYPE:
      return { kind: 'collaborative', ...collaborativeFrom(opened) };
    default:
      return { kind: 'rbm', ...modelFrom(opened) };
  }
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
