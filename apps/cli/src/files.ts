import { constants, type Stats } from 'node:fs';
import { access, lstat, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { type AnyModelFile, FileError, type ModelFile } from '@rbmjs/core';
import { asFileError, fileKind, readAnyModelFile, removeStaleTemporaries, writeFileAtomic } from '@rbmjs/core/node';
import { UsageError } from './errors.js';

/** The longest file name (one path component) Linux and macOS file systems take, in bytes. */
const NAME_MAX = 255;
/** The longest path the system calls take, in bytes. */
const PATH_MAX = 4095;
/** The temporary name an atomic write uses adds this much to the file's name. */
const TEMPORARY_SUFFIX = 32;

/**
 * Writes an output the way every command does: its folder created if missing (checked writable before any
 * work by {@link checkOutputs}), then an atomic write.
 */
export async function writeOutput(
  path: string,
  bytes: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch((e: unknown) => {
    throw asFileError(e, path, 'cannot write');
  });
  await writeFileAtomic(path, bytes, options);
}

/**
 * Reads a model file that must hold one RBM: a deep belief network is refused in words a user can act on,
 * naming the command (`rbm predict takes one RBM`).
 */
export async function readRbmFile(path: string, command: string): Promise<ModelFile & { readonly bytes: number }> {
  return rbmOnly(await readAnyModelFile(path), path, command);
}

/** The file if it holds one RBM; else the usage error of {@link readRbmFile}. */
export function rbmOnly<F extends AnyModelFile>(file: F, path: string, command: string): F & { kind: 'rbm' } {
  if (file.kind === 'dbn')
    throw new UsageError(
      `${path} is a deep belief network (${file.layers.length} layers); rbm ${command} takes one RBM (rbm info, sample and transform take a DBN)`,
    );
  if (file.kind === 'dbm')
    throw new UsageError(
      `${path} is a deep Boltzmann machine (${file.parameters.sizes.join('-')}); rbm ${command} takes one RBM (rbm info, eval, sample and transform take a DBM)`,
    );
  return file as F & { kind: 'rbm' };
}

/** A file beside `out`: its name without the extension, plus `suffix` (model.safetensors -> model.best.safetensors). */
export function sidePath(out: string, suffix: string): string {
  const ext = extname(out);
  return join(dirname(out), `${basename(out, ext)}${suffix}`);
}

/**
 * The rule for every file the CLI writes, checked before any work starts: an existing path is refused
 * without --force; with it, only regular files are replaced (never a device, a FIFO, a directory or a
 * symlink); an output is never one of the command's inputs, nor another of its outputs; its folder exists
 * (or can be created) and is writable.
 */

export interface PlannedOutput {
  readonly path: string;
  /** What it is, for messages: "model file", "--csv file". */
  readonly what: string;
  /** May replace an existing regular file without --force (a checkpoint of the run being resumed). */
  readonly replaceable?: boolean;
}

async function statOrUndefined(path: string, follow: boolean): Promise<Stats | undefined> {
  try {
    return follow ? await stat(path) : await lstat(path);
  } catch {
    return undefined;
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Checks that `path`'s folder exists or can be created, and is writable, and that its names are not too long. */
async function checkFolder(path: string, what: string): Promise<void> {
  const full = resolve(path);
  const long = full
    .split(sep)
    .find((part, i, all) => Buffer.byteLength(part) + (i === all.length - 1 ? TEMPORARY_SUFFIX : 0) > NAME_MAX);
  if (long !== undefined)
    throw new FileError(
      `${path}: cannot write the ${what}: the name ${JSON.stringify(long.length > 40 ? `${long.slice(0, 40)}...` : long)} is ${Buffer.byteLength(long)} bytes, more than the ${NAME_MAX - TEMPORARY_SUFFIX} a file name may have here`,
      path,
      'ENAMETOOLONG',
    );
  if (Buffer.byteLength(full) + TEMPORARY_SUFFIX > PATH_MAX)
    throw new FileError(
      `${path}: cannot write the ${what}: the path is ${Buffer.byteLength(full)} bytes, more than the ${PATH_MAX - TEMPORARY_SUFFIX} a path may have here`,
      path,
      'ENAMETOOLONG',
    );
  let dir = dirname(resolve(path));
  for (;;) {
    const st = await statOrUndefined(dir, true);
    if (st) {
      if (!st.isDirectory()) {
        throw new FileError(
          `${path}: cannot write the ${what}: ${dir} is ${fileKind(st)}, not a directory`,
          path,
          'ENOTDIR',
        );
      }
      try {
        await access(dir, constants.W_OK);
      } catch {
        throw new FileError(`${path}: cannot write the ${what}: the folder ${dir} is not writable`, path, 'EACCES');
      }
      return;
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

export async function checkOutputs(
  outputs: ReadonlyArray<PlannedOutput>,
  options: { force: boolean; inputs: ReadonlyArray<string> },
): Promise<void> {
  const inputs: Array<{ path: string; st: Stats }> = [];
  for (const path of options.inputs) {
    const st = await statOrUndefined(path, true);
    if (st) inputs.push({ path, st });
  }
  const seen = new Map<string, PlannedOutput>();
  for (const out of outputs) {
    const full = resolve(out.path);
    const twin = seen.get(full);
    if (twin) throw new FileError(`${out.path} is both the ${twin.what} and the ${out.what}`, out.path, 'EEXIST');
    seen.set(full, out);
    const own = await statOrUndefined(out.path, false);
    if (own) {
      if (own.isSymbolicLink() || !own.isFile()) {
        const target = own.isSymbolicLink() ? await statOrUndefined(out.path, true) : undefined;
        const kind = own.isSymbolicLink() ? `a symbolic link${target ? '' : ' (dangling)'}` : fileKind(own);
        throw new FileError(
          `${out.path} exists and is ${kind}; the ${out.what} replaces regular files only`,
          out.path,
          'ENOTREG',
        );
      }
      const input = inputs.find((i) => sameFile(i.st, own));
      if (input) {
        throw new FileError(
          `${out.path} is an input of this command (${input.path}); refusing to write the ${out.what} over it`,
          out.path,
          'EEXIST',
        );
      }
      if (!options.force && !out.replaceable) {
        throw new FileError(`${out.path} exists; use --force to replace it (the ${out.what})`, out.path, 'EEXIST');
      }
    }
    await checkFolder(out.path, out.what);
  }
}

/** Removes what killed writes of these outputs left behind; returns the paths removed. */
export async function cleanTemporaries(paths: ReadonlyArray<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const p of paths) removed.push(...(await removeStaleTemporaries(p)));
  return removed;
}
