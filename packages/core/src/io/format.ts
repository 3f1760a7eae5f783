import { ModelFormatError } from '../errors.js';

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
