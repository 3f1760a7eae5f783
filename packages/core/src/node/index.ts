/**
 * Node-only helpers (`@rbmjs/core/node`): atomic files and model files on disk. The main entry of
 * @rbmjs/core never imports this, so it stays isomorphic.
 *
 * @packageDocumentation
 * @module @rbmjs/core/node
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Backend } from '../backend/types.js';
import type { Ratings } from '../data/ratings.js';
import { FileError } from '../errors.js';
import { type Checkpoint, decodeCheckpoint } from '../io/checkpoint.js';
import { saveModel } from '../io/model-file.js';
import { RBM } from '../model/rbm.js';
import { asFileError, type ReadModelOptions, readAnyModelFile, readModelFile } from './files.js';
import { ratingsLines } from './ratings.js';

export {
  asFileError,
  DEFAULT_MAX_MODEL_BYTES,
  fileKind,
  openRegularFileSync,
  type ReadModelOptions,
  readAnyModelFile,
  readCollaborativeFile,
  readModelFile,
  readModelMetadata,
  readSklearnFile,
  type Sized,
  type StatsLike,
} from './files.js';

export {
  DEFAULT_MAX_RATINGS_BYTES,
  MAX_RATINGS_LINE_BYTES,
  type ReadRatingsOptions,
  ratingsLines,
  readRatingsFile,
} from './ratings.js';

/** The temporary name {@link writeFileAtomic} writes `path` under before renaming it into place. */
function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Puts `tmp` in place at `path` only if nothing is there, atomically: a hard link fails with EEXIST when another
 * writer got there first (two runs onto one output: one wins, the other is refused, no model is lost). Where the
 * file system has no hard links, the check and the rename are two steps.
 */
async function linkFresh(tmp: string, path: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FileError(`${path} exists; refusing to overwrite it`, path, 'EEXIST');
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw error;
    if (await lstat(path).catch(() => undefined))
      throw new FileError(`${path} exists; refusing to overwrite it`, path, 'EEXIST');
    await rename(tmp, path);
    return;
  }
  await rm(tmp, { force: true });
}

/**
 * Removes the temporary files that killed writes of `path` left behind (`.NAME.PID.RAND.tmp` in its folder)
 * when the process PID no longer runs. Returns the paths removed.
 */
export async function removeStaleTemporaries(path: string): Promise<string[]> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processRuns(pid)) continue;
    const full = join(dir, name);
    const st = await lstat(full).catch(() => undefined);
    if (!st?.isFile()) continue;
    await rm(full, { force: true });
    removed.push(full);
  }
  return removed;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of the
 * folder. A crash leaves either the old file or the new one, never a torn one. `bytes` may be a stream of
 * chunks (an async iterable), written as they come: a failure while producing them leaves no file behind.
 * `overwrite: false` refuses an existing `path`, also one that appears while the bytes are written (the
 * temporary file is hard-linked into place, which fails if another writer got there first).
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const existing = await lstat(path).catch(() => undefined);
  if (existing && options.overwrite === false) {
    throw new FileError(`${path} exists; refusing to overwrite it`, path, 'EEXIST');
  }
  if (existing && !existing.isFile()) {
    // Replace regular files only: never a device node, a FIFO, a directory or a symlink (dangling or not).
    throw new FileError(
      `${path} exists and is ${existing.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; refusing to replace it`,
      path,
      'ENOTREG',
    );
  }
  const dir = dirname(path);
  const tmp = temporaryName(path);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
  } catch (error) {
    throw asFileError(error, path, 'cannot write');
  }
  try {
    if (bytes instanceof Uint8Array) await fh.writeFile(bytes);
    else for await (const chunk of bytes) await fh.write(chunk);
    await fh.sync();
  } catch (error) {
    await fh.close();
    await rm(tmp, { force: true });
    throw asFileError(error, path, 'cannot write');
  }
  await fh.close();
  try {
    if (options.overwrite === false) await linkFresh(tmp, path);
    else await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error instanceof FileError ? error : asFileError(error, path, 'cannot write');
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

/**
 * Loads a model file onto a backend; errors name the file. Only regular files are read, the header first
 * and bounded, so a FIFO, a device or a huge file with a small header is refused without reading it whole.
 */
export async function loadModelFile(
  backend: Backend,
  path: string,
  options: ReadModelOptions = {},
): Promise<{ model: RBM; metadata: Readonly<Record<string, string>>; bytes: number }> {
  const file = await readModelFile(path, options);
  return { model: RBM.fromParameters(backend, file.parameters), metadata: file.metadata, bytes: file.bytes };
}

/** Reads a checkpoint file: bounded like a model file (regular files only, header first), then decoded. */
export async function readCheckpoint<Job>(path: string, options: ReadModelOptions = {}): Promise<Checkpoint<Job>> {
  return decodeCheckpoint<Job>(await readAnyModelFile(path, options), path);
}

/**
 * Writes ratings as `user<TAB>item<TAB>rating` lines ({@link ratingsLines}: chunks, never one string), as
 * {@link writeFileAtomic} writes (a regular file replaced whole, or nothing).
 */
export async function writeRatingsFile(
  path: string,
  r: Ratings,
  options: { readonly separator?: string; readonly onProgress?: (written: number, total: number) => void } = {},
): Promise<void> {
  await writeFileAtomic(path, ratingsLines(r, options));
}
