import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAnyModel } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { rbm } from './helpers.js';

/**
 * Two runs started together onto one --out, no --force: both pass the check at their start, so the refusal
 * must come at write time, atomically. One run writes the model, the other fails naming the file, and the
 * model on disk is a whole one (never lost, never torn), for every kind of run that writes a model.
 */

const RUNS: Array<{ name: string; args: string[] }> = [
  { name: 'RBM', args: ['--hidden', '8', '--epochs', '2'] },
  { name: 'DBM', args: ['--dbm', '20,10', '--pretrain-epochs', '2', '--epochs', '2'] },
];

describe('two runs onto one --out', () => {
  for (const run of RUNS) {
    it(`${run.name}: one model written, the other run refused at write time, exit 1`, async () => {
      const d = await mkdtemp(join(tmpdir(), 'rbmjs-concurrent-'));
      const out = join(d, 'm.safetensors');
      const args = [
        'train',
        '--data',
        'mnist',
        '--limit',
        '300',
        ...run.args,
        '--backend',
        'js',
        '--no-pictures',
        '--out',
        out,
      ];
      const [a, b] = await Promise.all([rbm(args, { timeoutMs: 120_000 }), rbm(args, { timeoutMs: 120_000 })]);
      const codes = [a.code, b.code].sort();
      expect(codes, `${a.stderr}\n${b.stderr}`).toEqual([0, 1]);
      const loser = a.code === 1 ? a : b;
      expect(loser.stderr).toMatch(/m\.safetensors exists/);
      const file = decodeAnyModel(new Uint8Array(readFileSync(out)));
      expect(file.kind).toBe(run.name === 'DBM' ? 'dbm' : 'rbm');
    }, 180_000);
  }
});
