import { ModelFormatError } from '../errors.js';
import { type DecodeOptions, decodeSafetensors, encodeSafetensors, type SafeTensor } from './safetensors.js';

/** What every rbmjs model file's metadata says it is: the format and its version. */
export const MODEL_FORMAT = 'rbmjs';
export const MODEL_FORMAT_VERSION = '1';

/** Refuses metadata that is not the rbmjs format at the version this reads (every model kind's first check). */
export function checkFormat(metadata: Readonly<Record<string, string>>, where: string): void {
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
}

/** A model file's header and tensors, read once, whatever its kind. */
export interface OpenedModelFile {
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  readonly metadata: Readonly<Record<string, string>>;
  /** `source: `, for messages (empty without a source). */
  readonly where: string;
}

/**
 * The first steps of every model-file decoder, in one place: the safetensors container (bounded, checked),
 * the rbmjs format and version, then the model type, which must be one of `types` (`what` says what they
 * are, for the refusal; `hint` may add what the file is instead).
 */
export function openModelFile(
  bytes: Uint8Array,
  options: DecodeOptions,
  types: readonly string[],
  what: string,
  hint: (model: string | undefined) => string = () => '',
): OpenedModelFile {
  const where = options.source ? `${options.source}: ` : '';
  const { tensors, metadata } = decodeSafetensors(bytes, options);
  checkFormat(metadata, where);
  if (!types.includes(metadata.model!))
    throw new ModelFormatError(
      `${where}model type ${JSON.stringify(metadata.model)} is not ${what}${hint(metadata.model)}`,
    );
  return { tensors, metadata, where };
}

/** A metadata entry parsed as JSON; undefined when it is missing or not JSON (the caller says what it needs). */
export function metadataJson(metadata: Readonly<Record<string, string>>, key: string): unknown {
  const text = metadata[key];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The last step of every model-file encoder, in one place: the model's tensors with any `extra` ones (a
 * checkpoint's state; a name of the model's own is refused), and the metadata with the format, its version,
 * the model type and the kind's own `entries` (which the caller's metadata cannot override).
 */
export function encodeModelFile(
  model: string,
  tensors: Readonly<Record<string, SafeTensor>>,
  entries: Readonly<Record<string, string>>,
  metadata: Readonly<Record<string, string>> = {},
  extra: Readonly<Record<string, SafeTensor>> = {},
): Uint8Array {
  for (const name of Object.keys(extra))
    if (name in tensors) throw new ModelFormatError(`encoding a ${model} file: extra tensor ${name} is a model tensor`);
  return encodeSafetensors(
    { ...tensors, ...extra },
    { ...metadata, format: MODEL_FORMAT, format_version: MODEL_FORMAT_VERSION, model, ...entries },
  );
}
