import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { FileError, RbmError } from '../errors.js';
import { type CollaborativeFile, decodeCollaborative } from '../io/collaborative-file.js';
import { type AnyModelFile, decodeAnyModel, decodeModel, type ModelFile } from '../io/model-file.js';
import { type DecodeOptions, decodeSafetensorsHeader, safetensorsHeaderLength } from '../io/safetensors.js';
import { decodeSklearnRbm } from '../io/sklearn.js';
import type { RbmParameters } from '../model/parameters.js';

/**
 * Reading files without surprises: only regular files are read (a FIFO would block forever, /dev/zero
 * never ends), a size bound is checked before a byte is read, and every failure is a {@link FileError}
 * that names the path and says what went wrong in words.
 */

/** What `fs.stat` says of a path (structural, so the declarations need no Node types). */
export interface StatsLike {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}

/** What a path is, in words, for messages ("a FIFO", "a directory"). */
export function fileKind(st: StatsLike): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many levels of symbolic links (a symlink loop?)',
  ENAMETOOLONG: 'file name too long',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
  EEXIST: 'exists already',
  EXDEV: 'cannot rename across file systems',
};

/** An fs error as a {@link FileError} naming the path; anything else is returned as it is. */
export function asFileError(error: unknown, path: string, doing = 'cannot read'): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // Our own errors (a data error raised while a stream was written) keep their type.
  if (typeof code !== 'string' || error instanceof RbmError) return error;
  return new FileError(`${path}: ${doing}: ${ERRNO_TEXT[code] ?? code}`, path, code, { cause: error });
}

/** Refuses anything but a regular file, saying what the path is instead. */
function assertRegular(st: StatsLike, path: string, what: string): void {
  if (!st.isFile()) throw new FileError(`${path}: ${fileKind(st)}, not a regular ${what}`, path, 'ENOTREG');
}

/** O_NONBLOCK: should the path have become a FIFO since the stat, open returns at once instead of waiting. */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Opens a path for reading only if it is a regular file (following symlinks), without blocking: a FIFO,
 * device, socket or directory is refused with what it is (`what` names the file in messages: "model
 * file"). The path is checked before the open and the descriptor after it. Returns the handle and its size.
 */
export async function openRegularFile(path: string, what = 'file'): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    assertRegular(await stat(path), path, what);
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    throw asFileError(error, path);
  }
  try {
    const fst = await handle.stat();
    assertRegular(fst, path, what);
    return { handle, size: fst.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Opens a path for synchronous reading only if it is a regular file (following symlinks), without
 * blocking: a FIFO, device, socket or directory is refused with what it is. Returns a file descriptor
 * and the file's size.
 */
export function openRegularFileSync(path: string, what = 'file'): { fd: number; size: number } {
  let fd: number;
  try {
    assertRegular(statSync(path), path, what);
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    throw asFileError(error, path);
  }
  try {
    const fst = fstatSync(fd);
    assertRegular(fst, path, what);
    return { fd, size: fst.size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** Reads exactly `length` bytes at `position`, or fails naming the path (the file shrank under us). */
export async function readExactly(
  handle: FileHandle,
  path: string,
  length: number,
  position: number,
): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buf, done, length - done, position + done));
    } catch (error) {
      throw asFileError(error, path);
    }
    if (n === 0) throw new FileError(`${path}: ended after ${done} of ${length} bytes (changed while reading?)`, path);
    done += n;
  }
  return buf;
}

/** Model files larger than this are refused unless asked (a 784-500 model is 1.6 MB). */
export const DEFAULT_MAX_MODEL_BYTES = 2 ** 31;

export interface ReadModelOptions extends Omit<DecodeOptions, 'source'> {
  /** Largest accepted file (default {@link DEFAULT_MAX_MODEL_BYTES}). */
  readonly maxBytes?: number;
}

/**
 * Reads and decodes a model file (or checkpoint) in bounded steps: the 8-byte length, then the header
 * (at most `maxHeaderBytes`), which is validated against the file's size (truncation, trailing bytes,
 * holes) before the tensors are read. A 1 GB file whose header describes 1 MB of tensors is refused after
 * reading its header.
 */
export function readModelFile(path: string, options: ReadModelOptions = {}): Promise<Sized<ModelFile>> {
  return readDecoded(path, options, decodeModel);
}

/** Reads a model file of any kind (an RBM, a DBN, a DBM, a recommender), bounded as {@link readModelFile}. */
export function readAnyModelFile(path: string, options: ReadModelOptions = {}): Promise<Sized<AnyModelFile>> {
  return readDecoded(path, options, decodeAnyModel);
}

/** Reads and decodes a collaborative-filtering model file, bounded as {@link readModelFile}. */
export function readCollaborativeFile(path: string, options: ReadModelOptions = {}): Promise<Sized<CollaborativeFile>> {
  return readDecoded(path, options, decodeCollaborative);
}

/** A decoded file and its size in bytes. */
export type Sized<F> = F & { readonly bytes: number };

/** Reads a file bounded as {@link readModelFile} and decodes it with `decoder`. */
async function readDecoded<F>(
  path: string,
  options: ReadModelOptions,
  decoder: (bytes: Uint8Array, options: DecodeOptions) => F,
): Promise<Sized<F>> {
  const { bytes, size, decode } = await readModelBytes(path, options);
  return { ...decoder(bytes, decode), bytes: size };
}

/** A model file's metadata, from its header alone (bounded: the 8-byte length, then at most the header). */
export async function readModelMetadata(
  path: string,
  options: Omit<DecodeOptions, 'source'> = {},
): Promise<Readonly<Record<string, string>>> {
  const decode: DecodeOptions = { ...options, source: path };
  const { handle, size } = await openRegularFile(path, 'model file');
  try {
    return (await readHeader(handle, path, size, decode)).metadata;
  } finally {
    await handle.close();
  }
}

/** The 8-byte length, then the header (bounded by `maxHeaderBytes`), validated against the file's size. */
async function readHeader(handle: FileHandle, path: string, size: number, decode: DecodeOptions) {
  // A file shorter than 8 bytes is refused here, as truncated.
  const headerLen = safetensorsHeaderLength(await readExactly(handle, path, Math.min(size, 8), 0), decode);
  const prefix = await readExactly(handle, path, Math.min(size, 8 + headerLen), 0);
  return decodeSafetensorsHeader(prefix, size, decode);
}

async function readModelBytes(
  path: string,
  options: ReadModelOptions,
): Promise<{ bytes: Uint8Array; size: number; decode: DecodeOptions }> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const decode: DecodeOptions = { ...options, source: path };
  const { handle, size } = await openRegularFile(path, 'model file');
  try {
    await readHeader(handle, path, size, decode);
    if (size > maxBytes) {
      throw new FileError(
        `${path}: ${size} bytes of tensors, more than the limit of ${maxBytes} (raise maxBytes to read it)`,
        path,
        'EFBIG',
      );
    }
    return { bytes: await readExactly(handle, path, size, 0), size, decode };
  } finally {
    await handle.close();
  }
}

/**
 * Reads a scikit-learn BernoulliRBM's .npz archive (see io/sklearn.ts) into RBM parameters: a regular file
 * only, at most `maxBytes` (default {@link DEFAULT_MAX_MODEL_BYTES}), each array bounded as it unpacks.
 */
export async function readSklearnFile(path: string, options: { maxBytes?: number } = {}): Promise<RbmParameters> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const { handle, size } = await openRegularFile(path, 'scikit-learn archive');
  try {
    if (size > maxBytes)
      throw new FileError(`${path}: ${size} bytes, more than the limit of ${maxBytes} for an archive`, path, 'EFBIG');
    return decodeSklearnRbm(await readExactly(handle, path, size, 0), path);
  } finally {
    await handle.close();
  }
}
