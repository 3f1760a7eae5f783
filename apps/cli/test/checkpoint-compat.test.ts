import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelFile } from '@rbmjs/core/node';
import { describe, expect, it } from 'vitest';
import { rbm } from './helpers.js';

/**
 * Checkpoints written by rbmjs 0.x before the trainer was split into parts (fixtures/checkpoints-0.x, made
 * by that version's `rbm train ... --epochs 2 --checkpoint-every 1`, see its README) still resume: resumed to
 * epoch 4 on the js backend, the model is bit-identical to the one that version wrote when it trained all 4
 * epochs in one run. This holds only if the parts do exactly what the old trainer did, in the same order.
 */

const FIXTURES = join(import.meta.dirname, 'fixtures', 'checkpoints-0.x');

const cases = [
  { name: 'pcd', what: 'PCD with L1, L2, sparsity and centring', data: ['--data', 'bars.csv'] },
  { name: 'pt', what: 'parallel tempering, 3 replicas, k = 2', data: ['--data', 'bars.csv'] },
  {
    name: 'gauss',
    what: 'Gaussian visible units with learned variances',
    data: ['--data', 'gauss.csv', '--binarize', 'none'],
  },
];

describe('checkpoints of rbmjs 0.x', () => {
  for (const c of cases) {
    it(`resume ${c.what} to the same model as an uninterrupted run of that version`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rbmjs-compat-'));
      const ckpt = join(dir, `${c.name}.ckpt.safetensors`);
      await copyFile(join(FIXTURES, `${c.name}.ckpt.safetensors`), ckpt);
      const out = join(dir, `${c.name}.safetensors`);
      const run = await rbm(
        ['train', ...c.data, '--resume', ckpt, '--epochs', '4', '--backend', 'js', '--no-pictures', '--out', out],
        { cwd: FIXTURES },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/resum/i);
      const resumed = await readModelFile(out);
      const reference = await readModelFile(join(FIXTURES, `${c.name}.final.safetensors`));
      expect([...resumed.tensors.keys()].sort()).toEqual([...reference.tensors.keys()].sort());
      for (const [name, t] of reference.tensors) {
        expect(Array.from(resumed.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
      }
    }, 60_000);
  }
});
