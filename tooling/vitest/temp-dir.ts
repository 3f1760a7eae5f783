import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest's global setup: one temporary directory for the whole run, set as TMPDIR before the workers start,
 * so every `mkdtemp(join(tmpdir(), ...))` of the tests, and of the `rbm` processes they spawn, lands in it;
 * the teardown removes it, so runs leave nothing behind in the system's temporary directory.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'rbmjs-tests-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
