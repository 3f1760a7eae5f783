import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeDbn, encodeSafetensors } from '@rbmjs/core';
import { readModelFile } from '@rbmjs/core/node';
import { describe, expect, it } from 'vitest';
import { mnistLabelsPath } from '../src/labels.js';
import { argv, rbm } from './helpers.js';

/**
 * Classification RBMs (`rbm train --labels`, `rbm predict`) and deep belief networks (`rbm train --hidden
 * 500,500`, and `rbm info`, `rbm sample`, `rbm transform` on their files), through the CLI.
 */

async function dir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rbmjs-deeper-'));
}

function mnistTestLabels(n: number): number[] {
  return [...readFileSync(mnistLabelsPath('test')).subarray(8, 8 + n)];
}

describe('rbm train --labels and rbm predict', () => {
  it("the plain command's defaults give a classifier a user would accept (>= 90% on MNIST)", async () => {
    const d = await dir();
    const model = join(d, 'plain.safetensors');
    // Nothing but the data, the size and the length: the classifier defaults (hybrid, batch 10, lr 0.5).
    const flags = ['--data', 'mnist', '--limit', '10000', '--labels', '--hidden', '200', '--epochs', '5'];
    const train = await rbm(argv`train ${flags} --backend onnxruntime:cpu --no-pictures --out ${model}`);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout + train.stderr).toMatch(/objective hybrid \(alpha 0\.01\)/);
    expect(train.stdout + train.stderr).toMatch(/batch 10,/);
    const run = await rbm(argv`predict ${model} --split test --limit 2000 --json`);
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.9);
    // A flag given keeps its own value: --objective discriminative with the general defaults (batch 100).
    const other = await rbm(
      ['train', ...flags, '--epochs', '1', '--objective', 'discriminative'].concat(
        argv`--backend onnxruntime:cpu --no-pictures --out ${join(d, 'other.safetensors')}`,
      ),
    );
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout + other.stderr).toMatch(/batch 100,/);
  }, 300_000);

  it('trains a discriminative RBM on MNIST and predicts: accuracy, confusion matrix, probabilities', async () => {
    const d = await dir();
    const model = join(d, 'c.safetensors');
    const train = await rbm(argv`train --labels --limit 3000 --hidden 100 --objective discriminative --lr 0.1
      --batch 10 --epochs 3 --validation 500 --early-stop 2 --backend js --no-pictures --out ${model}`);
    expect(train.stdout + train.stderr).toMatch(/labels: mnist:train labels, 10 classes; objective discriminative/);
    // The discriminative objective samples nothing: its training figure is the cross-entropy, which falls.
    const ce = [...(train.stdout + train.stderr).matchAll(/epoch \d\/3: cross-entropy (\d+\.\d{4})/g)].map(
      (m) => +m[1]!,
    );
    expect(ce.length).toBeGreaterThanOrEqual(2);
    expect(ce[0]!).toBeLessThan(Math.log(10));
    expect(ce.at(-1)!).toBeLessThan(ce[0]!);
    expect(train.stdout + train.stderr).not.toMatch(/reconstruction error/);
    expect(train.stdout + train.stderr).toMatch(/held out: error \d+\.\d\d%/);
    expect(train.code).toBe(0);
    const info = await rbm(argv`info ${model}`);
    expect(info.stdout + info.stderr).toMatch(/softmax-bernoulli RBM, 794 visible x 100 hidden/);
    expect(info.stdout + info.stderr).toMatch(/a classifier's label layer: 10 classes/);
    const preds = join(d, 'p.csv');
    const run = await rbm([
      'predict',
      `${model.replace('.safetensors', '.best.safetensors')}`,
      '--split',
      'test',
      '--limit',
      '1000',
      '--backend',
      'js',
      '--out',
      preds,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.rows).toBe(1000);
    expect(summary.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(1000);
    // The probabilities file: each row sums to 1; its argmax is the prediction; accuracy recomputed.
    const lines = (await readFile(preds, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('predicted,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9');
    const truth = mnistTestLabels(1000);
    let right = 0;
    lines.slice(1).forEach((line, r) => {
      const [pred, ...p] = line.split(',').map(Number);
      expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      expect(p.indexOf(Math.max(...p))).toBe(pred);
      if (pred === truth[r]) right++;
    });
    expect(summary.accuracy).toBeCloseTo(right / 1000, 12);
    expect(summary.accuracy).toBeGreaterThan(0.75);
    // What the best-model file states (its held-out error, the last 500 of the 3000 rows) is what it holds.
    const best = model.replace('.safetensors', '.best.safetensors');
    const stated = JSON.parse((await readModelFile(best)).metadata.validation!);
    expect(stated.figure).toBe('classification-error');
    const heldPreds = join(d, 'held.csv');
    const held = await rbm(argv`predict ${best} --split train --limit 3000 --backend js --out ${heldPreds}`);
    expect(held.code, held.stderr).toBe(0);
    const trainLabels = [...readFileSync(mnistLabelsPath('train')).subarray(8, 8 + 3000)];
    const predicted = (await readFile(heldPreds, 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(',')[0]));
    let wrong = 0;
    for (let r = 2500; r < 3000; r++) if (predicted[r] !== trainLabels[r]) wrong++;
    expect(wrong / 500).toBeCloseTo(stated.value, 12);
  }, 120_000);

  it('refuses labels out of range, --objective without --labels, and predict on a plain RBM', async () => {
    const d = await dir();
    const x = join(d, 'x.csv');
    const y = join(d, 'y.csv');
    await writeFile(x, '0,1,0\n1,0,1\n1,1,0\n');
    await writeFile(y, '0\n1\n2\n');
    const bad = await rbm(
      argv`train --data ${x} --labels ${y} --classes 2 --hidden 2 --out ${join(d, 'm.safetensors')}`,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/y\.csv: line 3: label 2 is not one of the 2 classes 0\.\.1 \(--classes 2\)/);
    const usage = await rbm(argv`train --data ${x} --objective hybrid --out ${join(d, 'm.safetensors')}`);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--classes, --objective and --alpha need --labels/);
    const plain = join(d, 'plain.safetensors');
    expect((await rbm(argv`train --data ${x} --hidden 2 --epochs 1 --no-pictures --out ${plain}`)).code).toBe(0);
    const p = await rbm(argv`predict ${plain} --data ${x}`);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/not a classification RBM \(it has no softmax label group\)/);
  }, 60_000);

  it('a labelled run resumes from its checkpoint with its labels', async () => {
    const d = await dir();
    const x = join(d, 'x.csv');
    const y = join(d, 'y.csv');
    const rows = Array.from({ length: 40 }, (_, r) => [r % 2, (r >> 1) % 2, (r >> 2) % 2, r % 3 === 0 ? 1 : 0]);
    await writeFile(x, `${rows.map((r) => r.join(',')).join('\n')}\n`);
    await writeFile(y, `${rows.map((r) => r[0]! + r[1]!).join('\n')}\n`);
    const out = join(d, 'm.safetensors');
    const base = [
      'train',
      '--data',
      x,
      '--labels',
      y,
      '--hidden',
      '4',
      '--batch',
      '8',
      '--backend',
      'js',
      '--no-pictures',
    ];
    const first = await rbm(argv`${base} --epochs 2 --checkpoint-every 1 --out ${out}`);
    expect(first.code).toBe(0);
    const resumed = await rbm(argv`${base} --epochs 3 --resume --out ${out} --force`);
    expect(resumed.stdout + resumed.stderr).toMatch(/3 classes; objective hybrid \(alpha 0\.01\)/);
    expect(resumed.stdout + resumed.stderr).toMatch(/resuming after epoch 2/);
    expect(resumed.code).toBe(0);
  }, 60_000);
});

describe('deep belief networks in the CLI', () => {
  it('train --hidden 6,3 writes one file; transform gives the layers composed; info and sample read it', async () => {
    const d = await dir();
    const x = join(d, 'x.csv');
    const rows = Array.from({ length: 32 }, (_, r) => Array.from({ length: 5 }, (_, i) => (r >> i) & 1));
    await writeFile(x, `${rows.map((r) => r.join(',')).join('\n')}\n`);
    const model = join(d, 'dbn.safetensors');
    const flags = '--hidden 6,3 --epochs 3 --batch 4 --backend js'.split(' ');
    const train = await rbm(argv`train --data ${x} ${flags} --out ${model}`);
    expect(train.code).toBe(0);
    expect(train.stdout + train.stderr).toMatch(/deep belief network 5-6-3, greedy/);
    expect(train.stdout + train.stderr).toMatch(/layer 2\/2 \(6-3\) epoch 3\/3/);
    const info = await rbm(argv`info ${model} --json`);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).sizes).toEqual([5, 6, 3]);
    // transform: the top layer's features, p(h2 | p(h1 | v)), against a float64 computation from the file.
    const feats = join(d, 'f.csv');
    expect((await rbm(argv`transform ${model} --data ${x} --out ${feats} --backend js`)).code).toBe(0);
    const { layers } = decodeDbn(new Uint8Array(await readFile(model)));
    const up = (v: number[], l: number) => {
      const p = layers[l]!;
      return Array.from({ length: p.numHidden }, (_, j) => {
        let s = p.hiddenBias[j]!;
        for (let i = 0; i < p.numVisible; i++) s += v[i]! * p.weights[i * p.numHidden + j]!;
        return 1 / (1 + Math.exp(-s));
      });
    };
    const got = (await readFile(feats, 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').map(Number));
    rows.forEach((v, r) => {
      up(up(v, 0), 1).forEach((want, j) => {
        expect(Math.abs(got[r]![j]! - want)).toBeLessThan(1e-5);
      });
    });
    const csv = join(d, 's.csv');
    const s = await rbm(argv`sample ${model} --chains 8 --steps 10 --csv ${csv} --backend js`);
    expect(s.code).toBe(0);
    expect(s.stdout + s.stderr).toMatch(/in the top RBM of the 5-6-3 network and a down pass/);
    const sampled = (await readFile(csv, 'utf8')).trim().split('\n');
    expect(sampled).toHaveLength(8);
    for (const line of sampled) expect(line).toMatch(/^[01](,[01]){4}$/);
    const clamp = await rbm(argv`sample ${model} --tempering 3 --csv ${join(d, 't.csv')}`);
    expect(clamp.code).toBe(2);
    expect(clamp.stderr).toMatch(/is a deep belief network/);
  }, 60_000);

  it('refuses one-RBM flags for a stack, and a DBN file with a missing layer', async () => {
    const d = await dir();
    const r = await rbm(argv`train --hidden 6,3 --early-stop 2 --validation 10 --out ${join(d, 'x.safetensors')}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--early-stop is for one RBM; --hidden 6,3 trains a deep belief network/);
    const w = new Float32Array(6);
    const broken = join(d, 'broken.safetensors');
    await writeFile(
      broken,
      encodeSafetensors(
        {
          'layers.0.weights': { dtype: 'F32', shape: [2, 3], data: w },
          'layers.0.visible_bias': { dtype: 'F32', shape: [2], data: new Float32Array(2) },
          'layers.0.hidden_bias': { dtype: 'F32', shape: [3], data: new Float32Array(3) },
        },
        {
          format: 'rbmjs',
          format_version: '1',
          model: 'dbn',
          layers: JSON.stringify([
            { visible: 2, hidden: 3, model: 'bernoulli-bernoulli' },
            { visible: 3, hidden: 2, model: 'bernoulli-bernoulli' },
          ]),
        },
      ),
    );
    const info = await rbm(argv`info ${broken}`);
    expect(info.code).not.toBe(0);
    expect(info.stderr).toMatch(/broken\.safetensors: layer 1 of 2: missing tensor layers\.1\.weights/);
  }, 60_000);
});
