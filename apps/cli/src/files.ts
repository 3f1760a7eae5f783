import { constants, type Stats } from 'node:fs';
import { access, lstat, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { FileError } from '@rbmjs/core';
import { fileKind, removeStaleTemporaries } from '@rbmjs/core/node';

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

/** Checks that `path`'s folder exists or can be created, and is writable. */
async function checkFolder(path: string, what: string): Promise<void> {
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
