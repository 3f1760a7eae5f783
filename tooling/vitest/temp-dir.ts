import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest's global setup: one temporary directory for the whole run, set as TMPDIR before the workers start,
 * so every `mkdtemp(join(tmpdir(), ...))` of the tests, and of the `rbm` and Chromium processes they spawn,
 * lands in it; the teardown removes it, so runs leave nothing behind in the system's temporary directory.
 * Vitest calls it once per project: only the first call makes the directory (nesting one per project made
 * paths too long for Chromium's socket), and only its teardown removes it.
 */
export default function setup(): () => void {
  if (process.env.RBMJS_TESTS_TMPDIR) return () => {};
  const dir = mkdtempSync(join(tmpdir(), 'rbmjs-tests-'));
  const previous = process.env.TMPDIR;
  process.env.RBMJS_TESTS_TMPDIR = dir;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    delete process.env.RBMJS_TESTS_TMPDIR;
    rmSync(dir, { recursive: true, force: true });
  };
}
