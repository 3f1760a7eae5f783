import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..', '..');

/**
 * Runs the first ts code block of a doc (`README.md`, `docs/using.md`) as written and returns what it printed.
 * The block is written into this package so that its imports resolve, and run with tsx resolved from here,
 * in `cwd` (for the files it writes).
 */
async function runDocExample(doc: string, cwd?: string): Promise<string> {
  const text = await readFile(join(root, doc), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(text)?.[1];
  expect(code, `${doc} has a ts code block`).toBeTruthy();
  const pkg = join(import.meta.dirname, '..');
  const file = join(pkg, `.doc-example-${doc.replace(/\W/g, '-')}-${process.pid}.ts`);
  const tsx = pathToFileURL(createRequire(join(pkg, 'package.json')).resolve('tsx')).href;
  await writeFile(file, code!);
  try {
    const args = ['--conditions=@rbmjs/source', '--import', tsx, file];
    return (await run(process.execPath, args, cwd ? { cwd } : {})).stdout;
  } finally {
    await rm(file, { force: true });
  }
}

// Keeps the README true: its usage example is run as written, and what it prints is checked.
it('the README usage example runs and learns bars and stripes', async () => {
  // A temporary working directory for the files it writes.
  const cwd = await mkdtemp(join(tmpdir(), 'rbmjs-readme-'));
  try {
    const stdout = await runDocExample('README.md', cwd);
    const match = /log Z = (-?[\d.]+), mean log-likelihood = (-?[\d.]+) nats/.exec(stdout);
    expect(match, stdout).toBeTruthy();
    expect(Number(match![2])).toBeGreaterThan(-3.5);
    expect((await readFile(join(cwd, 'bas.safetensors'))).length).toBeGreaterThan(9 * 16 * 4);
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}, 60_000);

// docs/using.md's estimator example: fit, transform, a classifier on the features, scores, completion.
it('the estimator example of docs/using.md runs, and the features beat the pixels', async () => {
  const stdout = await runDocExample('docs/using.md');
  const ll = /exact log-likelihood (-?[\d.]+) nats/.exec(stdout);
  const acc = /accuracy: RBM features ([\d.]+), pixels ([\d.]+)/.exec(stdout);
  expect(ll && acc, stdout).toBeTruthy();
  expect(Number(ll![1])).toBeGreaterThan(-8);
  expect(Number(acc![1])).toBeGreaterThan(Number(acc![2]) + 0.2);
  expect(stdout).toMatch(/row 0: pseudo-likelihood -?[\d.]+, completed [01]{16}/);
}, 60_000);

// docs/deeper.md's example: a classification RBM and a deep belief network on bars and stripes.
it('the classification RBM and DBN example of docs/deeper.md runs and classifies every pattern', async () => {
  const stdout = await runDocExample('docs/deeper.md');
  expect(stdout).toMatch(/classifier: accuracy 1\.000 \(best epoch \d+\), confusion \[\[14,0\],\[0,16\]\]/);
  expect(stdout).toMatch(/row 0: p\(bars\) 0\.\d+, p\(stripes\) 0\.\d+, label 1/);
  expect(stdout).toMatch(/dbn 16-16-8: 8 features per row, 4 samples, \d+ bytes/);
}, 60_000);
