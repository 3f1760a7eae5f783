// What the bench scripts share: where the CLI and the peers are, the flags, a scratch folder, and running a
// command to its output (an error with its stderr when it fails).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
/** The built CLI, and the folder of the peers. */
export const BIN = join(here, '..', 'dist', 'bin.js');
export const PEERS = join(here, '..', 'peers');
export const CLI_PACKAGE = join(here, '..', 'package.json');

/**
 * A bench script's set-up: its flags, each a string (`defaults`: flag -> its default, null for none), and a
 * fresh scratch folder.
 */
export function benchScript(name, defaults) {
  const options = Object.fromEntries(
    Object.entries(defaults).map(([flag, value]) => [
      flag,
      { type: 'string', ...(value === null ? {} : { default: value }) },
    ]),
  );
  const { values } = parseArgs({ options });
  return { o: values, dir: mkdtempSync(join(tmpdir(), `rbm-${name}-bench-`)) };
}

/** Runs `cmd args` and returns its standard output; throws with its standard error when it fails. */
export function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}
