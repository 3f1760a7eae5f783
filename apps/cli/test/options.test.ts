import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainOptionDeclarations } from '@rbmjs/core';
import { readModelFile } from '@rbmjs/core/node';
import { describe, expect, it } from 'vitest';
import { argv, rbm } from './helpers.js';

/**
 * The training options' flags are generated from core's table of parts: every declared option with a flag
 * is in `rbm train --help` with its help and default, and what the flags give is core's config, stored in
 * the model and checked again on --resume.
 */

describe("rbm train's flags come from core's table of parts", () => {
  it('lists every declared option with a flag, its help and its default', async () => {
    const r = await rbm(argv`train --help`, { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    const declared = trainOptionDeclarations().filter((d) => d.flag !== false);
    expect(declared.map((d) => d.path)).toContain('maxNorm');
    for (const d of declared) {
      const flag =
        typeof d.flag === 'string'
          ? d.flag
          : `--${d.path.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/\./g, '-')}`;
      const name = flag.split(' ')[0]!;
      expect(help, name).toContain(`${name} `);
      expect(help, name).toContain(d.help);
    }
    expect(help).toMatch(/--max-norm <x> bound on the L2 norm of each hidden unit's incoming weights/);
    expect(help).toMatch(/--method <m> cd: contrastive divergence.*\(default: cd\)/);
  });

  it("--max-norm bounds every hidden unit's weights, is stored in the config and checked on --resume", async () => {
    const d = await mkdtemp(join(tmpdir(), 'rbmjs-options-'));
    const x = join(d, 'x.csv');
    const rows = Array.from({ length: 64 }, (_, r) => Array.from({ length: 6 }, (_, i) => (r >> i) & 1));
    await writeFile(x, `${rows.map((r) => r.join(',')).join('\n')}\n`);
    const out = join(d, 'm.safetensors');
    const flags = '--hidden 5 --epochs 4 --batch 8 --lr 0.5 --backend js --no-pictures --checkpoint-every 2'.split(' ');
    const r = await rbm(argv`train --data ${x} ${flags} --max-norm 0.3 --out ${out}`);
    expect(r.code, r.stderr).toBe(0);
    const file = await readModelFile(out);
    const W = file.tensors.get('weights')!.data;
    for (let j = 0; j < 5; j++) {
      let s = 0;
      for (let i = 0; i < 6; i++) s += W[i * 5 + j]! ** 2;
      expect(Math.sqrt(s)).toBeLessThanOrEqual(0.3 * (1 + 1e-6));
    }
    const job = JSON.parse(file.metadata.hyperparameters!);
    expect(job.config).toMatchObject({ maxNorm: 0.3, learningRate: 0.5, epochs: 4, batchSize: 8, seed: 1 });
    const ckpt = join(d, 'm.ckpt.safetensors');
    const other = await rbm(argv`train --resume ${ckpt} --max-norm 0.2 --epochs 6 --out ${out} --force`);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--max-norm 0\.2 differs from the checkpoint's 0\.3/);
    const same = await rbm(argv`train --resume ${ckpt} --max-norm 0.3 --epochs 6 --out ${out} --force`);
    expect(same.code, same.stderr).toBe(0);
  }, 60_000);
});
