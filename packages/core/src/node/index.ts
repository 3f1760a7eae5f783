/**
 * Node-only helpers (`@rbmjs/core/node`): atomic files and model files on disk. The main entry of
 * @rbmjs/core never imports this, so it stays isomorphic.
 *
 * @packageDocumentation
 * @module @rbmjs/core/node
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Backend } from '../backend/types.js';
import { RbmError } from '../errors.js';
import { loadModel, saveModel } from '../io/model-file.js';
import type { DecodeOptions } from '../io/safetensors.js';
import type { RBM } from '../model/rbm.js';

/**
 * Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of the
 * folder. A crash leaves either the old file or the new one, never a torn one.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  if (options.overwrite === false) {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new RbmError('INVALID_ARGUMENT', `${path} exists; refusing to overwrite it`);
  }
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (error) {
    await fh.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  try {
    const dh = await open(dir, constants.O_RDONLY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

/** Saves a model to a safetensors file, atomically. */
export async function saveModelFile(
  model: RBM,
  path: string,
  options: { metadata?: Readonly<Record<string, string>>; overwrite?: boolean } = {},
): Promise<void> {
  const bytes = await saveModel(model, options.metadata);
  await writeFileAtomic(path, bytes, options.overwrite === undefined ? {} : { overwrite: options.overwrite });
}

/** Loads a model file onto a backend; errors name the file. */
export async function loadModelFile(
  backend: Backend,
  path: string,
  options: Omit<DecodeOptions, 'source'> = {},
): Promise<{ model: RBM; metadata: Readonly<Record<string, string>> }> {
  const bytes = await readFile(path);
  return loadModel(backend, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    ...options,
    source: path,
  });
}
