import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceBackend, decodeSafetensors, exactLogLikelihood, loadModel, readHead } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { loadAll, mnistPath, openData, sliceSource } from '../src/data.js';
import { mnistLabelsPath } from '../src/labels.js';
import { argv, PYTHON, peerIt, rbm } from './helpers.js';

/**
 * What comes after training, through the CLI: `rbm transform` (features as CSV, .npy, safetensors, labels
 * passed through, a classifier on them), held-out figures and early stopping in `rbm train`, inpainting in
 * `rbm sample`.
 */

const MODEL = join(import.meta.dirname, 'fixtures', 'ais', 'mnist-784-16.safetensors');

async function dir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rbmjs-using-'));
}

/** A .npy file's shape, dtype and values (version 1.0, little-endian, C order). */
function readNpy(path: string): { descr: string; shape: number[]; data: Float32Array | Int32Array } {
  const b = readFileSync(path);
  expect(b.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  expect((10 + len) % 64).toBe(0);
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .filter((x) => x.trim() !== '')
    .map(Number);
  const body = b.subarray(10 + len);
  const copy = new Uint8Array(body).buffer;
  return { descr, shape, data: descr === '<f4' ? new Float32Array(copy) : new Int32Array(copy) };
}

function mnistLabels(split: 'train' | 'test', n: number): number[] {
  return Array.from(readFileSync(mnistLabelsPath(split)).subarray(8, 8 + n));
}

describe('rbm transform', () => {
  it('writes p(h = 1 | v) of every row as .npy, CSV and safetensors, with the labels passed through', async () => {
    const d = await dir();
    const rows = 37;
    const common = ['transform', MODEL, '--data', 'mnist', '--split', 'test', '--limit', String(rows), '--labels'];
    const npy = join(d, 'f.npy');
    const run = await rbm(argv`${common} --out ${npy} --batch 10 --backend js --json`);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rows, features: 16, format: 'npy', labels: true });
    const f = readNpy(npy);
    expect(f.descr).toBe('<f4');
    expect(f.shape).toEqual([rows, 16]);
    // Against the float64 reference backend on the same rows.
    const ref = loadModel(createReferenceBackend(), new Uint8Array(readFileSync(MODEL))).model;
    const data = await loadAll(openData({ name: 'mnist', split: 'test', limit: rows, threshold: 0.5, seed: 0 }).source);
    const want = await ref.hiddenGivenVisible(data);
    for (let i = 0; i < want.length; i++) expect(Math.abs(f.data[i]! - want[i]!)).toBeLessThan(2e-6);
    const labels = readNpy(join(d, 'f.labels.npy'));
    expect(labels.descr).toBe('<i4');
    expect(labels.shape).toEqual([rows]);
    expect(Array.from(labels.data)).toEqual(mnistLabels('test', rows));

    const csv = join(d, 'f.csv');
    expect((await rbm(argv`${common} --out ${csv} --backend js`)).code).toBe(0);
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe([...Array.from({ length: 16 }, (_, j) => `h${j}`), 'label'].join(','));
    expect(lines).toHaveLength(rows + 1);
    for (let r = 0; r < rows; r++) {
      const cells = lines[r + 1]!.split(',').map(Number);
      // 9 significant digits give back the float32 exactly.
      expect(cells.slice(0, 16).map(Math.fround)).toEqual(Array.from(f.data.subarray(r * 16, r * 16 + 16)));
      expect(cells[16]).toBe(labels.data[r]);
    }

    const st = join(d, 'f.safetensors');
    expect((await rbm(argv`${common} --out ${st} --backend js`)).code).toBe(0);
    const t = decodeSafetensors(new Uint8Array(readFileSync(st)));
    expect(t.tensors.get('features')!.shape).toEqual([rows, 16]);
    expect(Array.from(t.tensors.get('features')!.data)).toEqual(Array.from(f.data));
    expect(Array.from(t.tensors.get('labels')!.data)).toEqual(Array.from(labels.data));
  }, 60_000);

  it('refuses bad input with the problem named, and writes nothing', async () => {
    const d = await dir();
    const narrow = join(d, 'narrow.csv');
    await writeFile(narrow, '0,1,0\n1,1,0\n');
    const out = join(d, 'x.npy');
    const cols = await rbm(argv`transform ${MODEL} --data ${narrow} --out ${out}`);
    expect(cols.code).not.toBe(0);
    expect(cols.stderr).toMatch(
      /narrow\.csv: 3 values per row, the model \(.*mnist-784-16\.safetensors\) has 784 visible units/,
    );
    const bare = await rbm(argv`transform ${MODEL} --data ${narrow} --labels --out ${out}`);
    expect(bare.stderr).toMatch(
      /--labels without a file passes MNIST's labels through; for .*narrow\.csv give --labels FILE/,
    );
    const few = join(d, 'few.csv');
    await writeFile(few, '3\n4\n');
    const short = await rbm(argv`transform ${MODEL} --split test --limit 5 --labels ${few} --out ${out}`);
    // One label per row of the data file (10,000 test digits), whatever --limit uses of them.
    expect(short.stderr).toMatch(/few\.csv: 2 labels for 10000 examples/);
    const frac = join(d, 'frac.csv');
    await writeFile(frac, '3\n4.5\n');
    const two = join(d, 'two.csv');
    await writeFile(two, `${Array(784).fill(0).join(',')}\n${Array(784).fill(1).join(',')}\n`);
    const notWhole = await rbm(argv`transform ${MODEL} --data ${two} --labels ${frac} --out ${out}`);
    expect(notWhole.stderr).toMatch(/frac\.csv: line 2: label 4\.5 is not a whole number/);
    const ext = await rbm(argv`transform ${MODEL} --limit 2 --out ${join(d, 'x.bin')}`);
    expect(ext.stderr).toMatch(/cannot tell the format from the extension; give --format csv, npy or safetensors/);
    const wide = join(d, 'wide.csv');
    const row = (k: number) => Array.from({ length: 784 }, (_, i) => (k === 1 && i === 5 ? 3 : 0)).join(',');
    await writeFile(wide, `${row(0)}\n${row(1)}\n`);
    const range = await rbm(argv`transform ${MODEL} --data ${wide} --out ${out}`);
    expect(range.stderr).toMatch(
      /value 3 in .*wide\.csv at line 2, column 6 is outside \[0, 1\], which Bernoulli units require/,
    );
    expect(range.code).not.toBe(0);
    // The stream failed half-way: no features file, no temporary left behind.
    expect(readdirSync(d).filter((f) => f.startsWith('x.') || f.endsWith('.tmp'))).toEqual([]);
    await writeFile(out, 'precious');
    const exists = await rbm(argv`transform ${MODEL} --limit 2 --out ${out}`);
    expect(exists.stderr).toMatch(/exists; use --force to replace it \(the features file\)/);
    expect(await readFile(out, 'utf8')).toBe('precious');
    for (const r of [cols, bare, short, notWhole, ext, exists]) expect(r.code).not.toBe(0);
  }, 60_000);

  // A classifier on the features beats the same classifier on the pixels (scikit-learn's logistic regression,
  // peers/classify.py). Required where CI installs scikit-learn (RBMJS_REQUIRE_PEER=1).
  peerIt(['sklearn', 'numpy'])(
    'logistic regression on 784-100 RBM features beats it on raw pixels (5,000 training digits, 10,000 test)',
    async () => {
      const d = await dir();
      const model = join(d, 'm.safetensors');
      const train = ['train', '--limit', '5000', '--hidden', '100', '--epochs', '5', '--backend', 'onnxruntime:cpu'];
      const t = await rbm(argv`${train} --seed 1 --out ${model} --no-pictures`);
      expect(t.code, t.stderr).toBe(0);
      for (const [split, limit] of [
        ['train', '5000'],
        ['test', '10000'],
      ] as const) {
        const args = [
          'transform',
          model,
          '--split',
          split,
          '--limit',
          limit,
          '--labels',
          '--out',
          join(d, `${split}.npy`),
        ];
        const r = await rbm(argv`${args} --backend onnxruntime:cpu`);
        expect(r.code, r.stderr).toBe(0);
      }
      const peer = join(import.meta.dirname, '..', 'peers', 'classify.py');
      const args = [peer, '--train', join(d, 'train.npy'), '--test', join(d, 'test.npy')];
      const raw = ['--raw-train', mnistPath('train'), '--raw-test', mnistPath('test')];
      const run = spawnSync(PYTHON, [...args, ...raw], { encoding: 'utf8', timeout: 300_000 });
      expect(run.status, run.stderr).toBe(0);
      const r = JSON.parse(run.stdout);
      // Measured: features 0.895, pixels 0.877.
      expect(r.train_rows).toBe(5000);
      expect(r.test_rows).toBe(10000);
      expect(r.features_accuracy).toBeGreaterThan(r.raw_accuracy + 0.005);
      expect(r.raw_accuracy).toBeGreaterThan(0.8);
    },
    400_000,
  );
});

describe('rbm train: held-out figures and early stopping', () => {
  const small = ['train', '--limit', '700', '--validation', '200', '--hidden', '12', '--backend', 'js', '--seed', '2'];

  it('prints the figures each epoch, keeps the best model, and stops when the figure stops improving', async () => {
    const d = await dir();
    const out = join(d, 'm.safetensors');
    // A learning rate high enough that the held-out log-likelihood peaks early.
    const args = [...small, '--epochs', '40', '--lr', '0.5', '--momentum', '0.9', '--batch', '10'];
    const run = await rbm(argv`${args} --monitor ll,pl,recon,gap --early-stop 3 --out ${out} --json`);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const epochs = lines.filter((l) => l.type === 'epoch');
    const summary = lines.at(-1);
    for (const e of epochs)
      for (const f of ['log-likelihood', 'pseudo-likelihood', 'reconstruction', 'free-energy-gap'])
        expect(Number.isFinite(e.validation[f])).toBe(true);
    const ll = epochs.map((e) => e.validation['log-likelihood'] as number);
    const best = Math.max(...ll);
    expect(summary.earlyStopping).toMatchObject({ figure: 'log-likelihood', patience: 3, stopped: true });
    expect(summary.earlyStopping.best).toBe(best);
    expect(summary.earlyStopping.bestEpoch).toBe(ll.indexOf(best) + 1);
    expect(epochs).toHaveLength(ll.indexOf(best) + 1 + 3);
    expect(run.stderr).toMatch(/early stop: log-likelihood has not improved for 3 epochs/);
    // The kept model's exact held-out log-likelihood is the best figure (float32 parameters).
    const kept = loadModel(createReferenceBackend(), new Uint8Array(readFileSync(join(d, 'm.best.safetensors'))));
    expect(JSON.parse(kept.metadata.validation!)).toMatchObject({ figure: 'log-likelihood', value: best });
    const all = openData({ name: 'mnist', split: 'train', limit: 700, threshold: 0.5, seed: 0 }).source;
    const held = await readHead(sliceSource(all, 500, 200), 200);
    expect((await exactLogLikelihood(kept.model, held)).mean).toBeCloseTo(best, 3);
    const svg = await readFile(join(d, 'm.curves.svg'), 'utf8');
    expect(svg).toContain('held-out log-likelihood');
    expect(svg).toContain('held-out pseudo-likelihood');
  }, 120_000);

  it('a run resumed from a checkpoint stops where the uninterrupted run stops, with the same best model', async () => {
    const d = await dir();
    const job = [...small, '--lr', '0.5', '--momentum', '0.9', '--batch', '10', '--monitor', 'll', '--early-stop', '3'];
    const straight = await rbm(argv`${job} --epochs 40 --out ${join(d, 's.safetensors')} --json --no-pictures`);
    expect(straight.code, straight.stderr).toBe(0);
    const half = await rbm(argv`${job} --epochs 3 --checkpoint-every 1 --out ${join(d, 'r.safetensors')}`);
    expect(half.code, half.stderr).toBe(0);
    const resume = ['train', '--resume', join(d, 'r.ckpt.safetensors'), '--epochs', '40', '--force', '--backend', 'js'];
    const rest = [...resume, '--monitor', 'll', '--early-stop', '3', '--out', join(d, 'r.safetensors'), '--json'];
    const resumed = await rbm(argv`${rest} --no-pictures`);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(
      /r\.best\.safetensors holds the best model so far \(log-likelihood -[\d.]+ after epoch [123]\)/,
    );
    const summary = (run: { stdout: string }) => JSON.parse(run.stdout.trim().split('\n').at(-1)!).earlyStopping;
    expect(summary(resumed)).toEqual({ ...summary(straight), bestModel: join(d, 'r.best.safetensors') });
    const weights = (f: string) => loadModel(createReferenceBackend(), new Uint8Array(readFileSync(join(d, f))));
    const [a, b] = [weights('s.best.safetensors'), weights('r.best.safetensors')];
    expect(Array.from((await a.model.parameters()).weights)).toEqual(Array.from((await b.model.parameters()).weights));
  }, 120_000);

  it('refuses a patience of 0, figures without held-out data, unknown or impossible figures', async () => {
    const d = await dir();
    const out = join(d, 'm.safetensors');
    const zero = await rbm(argv`${small} --early-stop 0 --out ${out}`);
    expect(zero.stderr).toMatch(
      /--early-stop <patience>' argument '0' is invalid\. expected a positive integer, got "0"/,
    );
    const noHeld = await rbm(argv`train --limit 300 --monitor pl --out ${out}`);
    expect(noHeld.stderr).toMatch(/--monitor needs --validation N/);
    const unknown = await rbm(argv`${small} --monitor pl,accuracy --out ${out}`);
    expect(unknown.stderr).toMatch(/--monitor: unknown figure "accuracy"/);
    const big = await rbm(argv`${small} --hidden 30 --monitor ll --out ${out}`);
    expect(big.stderr).toMatch(/--monitor log-likelihood needs a layer of at most 20 units .*784-30.*use ais/);
    const stopOn = await rbm(argv`${small} --stop-on pl --out ${out}`);
    expect(stopOn.stderr).toMatch(/--stop-on needs --early-stop PATIENCE/);
    for (const r of [zero, noHeld, unknown, big, stopOn]) expect(r.code).not.toBe(0);
  }, 60_000);
});

describe('rbm sample: inpainting', () => {
  it('--clamp-top keeps the top rows of each digit and completes the rest; --mask from a file', async () => {
    const d = await dir();
    const csv = join(d, 's.csv');
    const png = join(d, 's.png');
    const args = ['sample', MODEL, '--init', 'mnist', '--chains', '6', '--steps', '50', '--backend', 'js'];
    const run = await rbm(argv`${args} --clamp-top 14 --csv ${csv} --png ${png} --json`);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ samples: 6, clamped: 14 * 28, method: 'gibbs' });
    const init = await loadAll(openData({ name: 'mnist', split: 'test', limit: 6, threshold: 0.5, seed: 0 }).source);
    const rows = (await readFile(csv, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(',').map(Number));
    let differs = 0;
    for (let r = 0; r < 6; r++) {
      expect(rows[r]!.slice(0, 14 * 28)).toEqual(Array.from(init.data.subarray(r * 784, r * 784 + 14 * 28)));
      for (let i = 14 * 28; i < 784; i++) differs += rows[r]![i] !== init.data[r * 784 + i] ? 1 : 0;
    }
    expect(differs).toBeGreaterThan(0);
    // The same clamp as a mask file, and the mean-field completion.
    const mask = join(d, 'mask.csv');
    await writeFile(mask, `${Array.from({ length: 784 }, (_, i) => (i < 14 * 28 ? 1 : 0)).join(',')}\n`);
    const mf = await rbm(argv`${args} --mask ${mask} --mean-field --csv ${join(d, 'mf.csv')} --json`);
    expect(mf.code, mf.stderr).toBe(0);
    expect(JSON.parse(mf.stdout)).toMatchObject({ method: 'mean-field' });
    const mfRows = (await readFile(join(d, 'mf.csv'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(',').map(Number));
    expect(mfRows[0]!.slice(0, 14 * 28)).toEqual(Array.from(init.data.subarray(0, 14 * 28)));
    expect(mfRows[0]!.slice(14 * 28).every((x) => x >= 0 && x <= 1)).toBe(true);
  }, 60_000);

  it('names a bad mask and flags that need others', async () => {
    const d = await dir();
    const mask = join(d, 'mask.csv');
    await writeFile(mask, '1,0,1\n');
    const base = ['sample', MODEL, '--init', 'mnist', '--chains', '2', '--steps', '2', '--csv', join(d, 'x.csv')];
    const short = await rbm(argv`${base} --mask ${mask}`);
    expect(short.stderr).toMatch(/mask\.csv: mask has 3 values; expected 784 \(one per visible unit\) or 1568/);
    await writeFile(mask, `${Array.from({ length: 784 }, (_, i) => (i === 5 ? 2 : 0)).join(',')}\n`);
    const two = await rbm(argv`${base} --mask ${mask}`);
    expect(two.stderr).toMatch(/mask\.csv: mask value at unit 5 is 2; a mask holds 1 \(clamped\) or 0 \(free\)/);
    const noInit = await rbm(argv`sample ${MODEL} --clamp-top 14 --csv ${join(d, 'y.csv')}`);
    expect(noInit.stderr).toMatch(/--clamp-top and --mask need --init/);
    const all = await rbm(argv`${base} --clamp-top 28`);
    expect(all.stderr).toMatch(/--clamp-top 28 leaves nothing to sample in images of 28 rows/);
    const mf = await rbm(argv`${base} --mean-field`);
    expect(mf.stderr).toMatch(/--mean-field needs --clamp-top or --mask/);
    for (const r of [short, two, noInit, all, mf]) expect(r.code).not.toBe(0);
  }, 60_000);
});
