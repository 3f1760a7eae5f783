import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argv, rbm } from './helpers.js';

/**
 * --resume checks every flag given against the checkpoint's job, and the data against its fingerprint, for
 * every kind of run (one RBM did; a DBM and a ratings run continued with their checkpoint's values silently).
 */

function barsCsv(path: string, flip = false): string {
  const rows: string[] = [];
  for (let r = 0; r < 60; r++)
    rows.push(Array.from({ length: 9 }, (_, j) => (((r + j) % 3 === 0) !== flip ? 1 : 0)).join(','));
  writeFileSync(path, `${rows.join('\n')}\n`);
  return path;
}

describe('--resume of a DBM and of a ratings run', () => {
  it('DBM: a changed flag and changed data are refused by name', async () => {
    const d = await mkdtemp(join(tmpdir(), 'rbmjs-resume-'));
    const data = barsCsv(join(d, 'd.csv'));
    const out = join(d, 'm.safetensors');
    const common = ['--data', data, '--dbm', '6,4', '--pretrain-epochs', '1', '--batch', '10', '--backend', 'js'];
    const first = await rbm(argv`train ${common} --epochs 2 --checkpoint-every 1 --l2 0.001 --out ${out}`);
    expect(first.code, first.stderr).toBe(0);
    const ckpt = join(d, 'm.ckpt.safetensors');
    const changed = await rbm(
      argv`train ${common} --epochs 3 --l2 0.01 --resume ${ckpt} --out ${join(d, 'n.safetensors')}`,
    );
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/--l2 0\.01 differs from the checkpoint's 0\.001/);
    barsCsv(data, true);
    const other = await rbm(argv`train ${common} --epochs 3 --resume ${ckpt} --out ${join(d, 'o.safetensors')}`);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/not the data .*m\.ckpt\.safetensors was trained on/);
  }, 120_000);

  it('ratings: --hidden 7 on a 5-hidden checkpoint is refused, naming both', async () => {
    const d = await mkdtemp(join(tmpdir(), 'rbmjs-resume-'));
    const lines = ['user,item,rating'];
    for (let u = 0; u < 40; u++)
      for (let i = 0; i < 8; i++) if ((u + i) % 3 !== 0) lines.push(`u${u},i${i},${1 + ((u * i) % 5)}`);
    const ratings = join(d, 'r.csv');
    writeFileSync(ratings, `${lines.join('\n')}\n`);
    const out = join(d, 'cf.safetensors');
    const common = ['--ratings', ratings, '--backend', 'js'];
    const first = await rbm(argv`train ${common} --hidden 5 --epochs 2 --checkpoint-every 1 --out ${out}`);
    expect(first.code, first.stderr).toBe(0);
    const resumed = await rbm(
      argv`train ${common} --hidden 7 --epochs 3 --resume ${join(d, 'cf.ckpt.safetensors')} --out ${join(d, 'cf2.safetensors')}`,
    );
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toMatch(/--hidden 7 differs from the checkpoint's 5/);
  }, 120_000);
});
