import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'vitest';

export const BIN = join(import.meta.dirname, '..', 'dist', 'bin.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed after the time limit: the command hung. */
  timedOut: boolean;
  seconds: number;
  /** The peak resident set in bytes, where the run was asked to measure it (`rss: true`). */
  maxRssBytes?: number;
}

const RSS_HOOK = join(import.meta.dirname, 'fixtures', 'rss', 'maxrss.cjs');
const RSS_LINE = /\nrbmjs-test maxrss (\d+)\n$/;

/**
 * Runs the built `rbm` binary. A command still running after `timeoutMs` is killed and reported as
 * `timedOut`, so that a hang fails a test instead of stalling the suite.
 */
export function rbm(args: string[], options: { cwd?: string; timeoutMs?: number; rss?: boolean } = {}): Promise<Run> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (pnpm build)`);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const node = options.rss ? ['--require', RSS_HOOK, BIN] : [BIN];
    const child = spawn(process.execPath, [...node, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const rss = options.rss ? RSS_LINE.exec(stderr) : null;
      if (rss) stderr = stderr.slice(0, rss.index);
      resolve({ code, stdout, stderr, timedOut, seconds, ...(rss ? { maxRssBytes: 1024 * Number(rss[1]) } : {}) });
    });
  });
}

/**
 * A command line written as a template: the literal text splits at whitespace; each interpolated value is one
 * argument, whatever it holds (a path with spaces stays whole), or joins the word it touches; an interpolated
 * array that stands alone gives its elements as arguments. `argv\`train --data ${data} --out ${model}\``.
 */
export function argv(literals: TemplateStringsArray, ...values: Array<string | number | readonly string[]>): string[] {
  const args: string[] = [];
  let word: string | undefined;
  const split = (text: string) => {
    for (const [i, part] of text.split(/\s+/).entries()) {
      if (i > 0 && word !== undefined) {
        args.push(word);
        word = undefined;
      }
      if (part !== '') word = (word ?? '') + part;
    }
  };
  literals.forEach((literal, i) => {
    split(literal);
    if (i === values.length) return;
    const value = values[i]!;
    if (Array.isArray(value)) {
      const alone = word === undefined && /^(\s|$)/.test(literals[i + 1]!);
      if (!alone) throw new Error(`argv: an array must stand alone, got one beside "${word ?? literals[i + 1]}"`);
      args.push(...value);
    } else word = (word ?? '') + String(value);
  });
  if (word !== undefined) args.push(word);
  return args;
}

/** Debian's Python, which has NumPy, PyTorch and scikit-learn where CI installs them. */
export const PYTHON = '/usr/bin/python3';

/**
 * `it` for a test that runs a Python peer needing `modules`: it runs where they import, and where CI requires
 * the peers (RBMJS_REQUIRE_PEER=1, so that a missing one fails instead of skipping); elsewhere it is skipped,
 * its name saying why.
 */
export function peerIt(modules: readonly string[]): typeof it {
  const ok = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
  if (ok || process.env.RBMJS_REQUIRE_PEER === '1') return it;
  return ((name: string, ...rest: unknown[]) =>
    (it.skip as (...a: unknown[]) => void)(
      `${name} (skipped: ${PYTHON} cannot import ${modules.join(', ')})`,
      ...rest,
    )) as typeof it;
}
