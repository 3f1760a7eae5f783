import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAnyModel, decodeSafetensors } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { rbm } from './helpers.js';

/**
 * Two runs started together onto one --out, no --force: both pass the check at their start, so the refusal
 * must come at write time, atomically. One run writes the model, the other fails naming the file, and the
 * model on disk is a whole one (never lost, never torn), for every kind of run that writes a model.
 */

const MNIST = ['--data', 'mnist', '--limit', '300', '--no-pictures'];
const RUNS: Array<{ name: string; kind: string; args: (d: string) => string[] }> = [
  { name: 'RBM', kind: 'rbm', args: () => [...MNIST, '--hidden', '8', '--epochs', '2', '--checkpoint-every', '1'] },
  {
    name: 'DBM',
    kind: 'dbm',
    args: () => [...MNIST, '--dbm', '20,10', '--pretrain-epochs', '2', '--epochs', '2', '--checkpoint-every', '1'],
  },
  {
    // Their checkpoints too: the loser must not share the winner's OUT.ckpt.safetensors.
    name: 'collaborative RBM',
    kind: 'collaborative',
    args: (d) => ['--ratings', ratingsFile(d), '--hidden', '5', '--epochs', '3', '--checkpoint-every', '1'],
  },
];

/** 200 users x 30 items, about half rated, as user,item,rating lines. */
function ratingsFile(d: string): string {
  const lines = ['user,item,rating'];
  for (let u = 0; u < 200; u++)
    for (let i = 0; i < 30; i++) if ((u * 7 + i * 13) % 10 < 5) lines.push(`u${u},i${i},${1 + ((u + i) % 5)}`);
  const path = join(d, 'r.csv');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('two runs onto one --out', () => {
  for (const run of RUNS) {
    it(`${run.name}: one model written, the other run refused at write time, exit 1`, async () => {
      const d = await mkdtemp(join(tmpdir(), 'rbmjs-concurrent-'));
      const out = join(d, 'm.safetensors');
      const args = ['train', ...run.args(d), '--backend', 'js', '--out', out];
      const [a, b] = await Promise.all([rbm(args, { timeoutMs: 120_000 }), rbm(args, { timeoutMs: 120_000 })]);
      const codes = [a.code, b.code].sort();
      expect(codes, `${a.stderr}\n${b.stderr}`).toEqual([0, 1]);
      const loser = a.code === 1 ? a : b;
      expect(loser.stderr).toMatch(/m(\.ckpt)?\.safetensors exists/);
      const bytes = new Uint8Array(readFileSync(out));
      const kind =
        decodeSafetensors(bytes).metadata.model === 'collaborative' ? 'collaborative' : decodeAnyModel(bytes).kind;
      expect(kind).toBe(run.kind);
    }, 180_000);
  }
});
