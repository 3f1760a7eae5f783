#!/usr/bin/env node
// MovieLens-100k's five standard folds (u1.base/u1.test ... u5.base/u5.test), the figure Surprise publishes
// (the mean test RMSE over the folds): each fold trains with the CLI's defaults (--holdout 0.1 --early-stop
// 10 --epochs 150; `auto` orientation and batch layout) and scores its test file once.
//
//   node apps/cli/bench/ratings-folds.mjs --dir ml-100k                 # the folds, obtained by you
//   node apps/cli/bench/ratings-folds.mjs --dir ml-100k --variants default,conditional --json folds.json
//
// MovieLens may not be redistributed: download ml-100k.zip from grouplens.org yourself. Needs the CLI built.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, benchScript, run } from './script.mjs';

const { o, dir } = benchScript('ratings-folds', {
  dir: null,
  folds: 'u1,u2,u3,u4,u5',
  variants: 'default',
  backend: 'onnxruntime:cpu',
  seed: '1',
  json: null,
});
if (!o.dir) throw new Error('give --dir, the folder that holds u1.base ... u5.test');

const VARIANTS = { default: [], conditional: ['--conditional'], user: ['--orientation', 'user'] };
const results = {};
for (const variant of o.variants.split(',')) {
  const extra = VARIANTS[variant];
  if (!extra) throw new Error(`unknown variant ${variant}: use ${Object.keys(VARIANTS).join(', ')}`);
  results[variant] = [];
  for (const fold of o.folds.split(',')) {
    const model = join(dir, `${variant}-${fold}.safetensors`);
    const t0 = performance.now();
    const t = run(process.execPath, [
      BIN,
      'train',
      '--ratings',
      join(o.dir, `${fold}.base`),
      '--holdout',
      '0.1',
      '--early-stop',
      '10',
      '--epochs',
      '150',
      ...extra,
      '--seed',
      o.seed,
      '--backend',
      o.backend,
      '--out',
      model,
      '--json',
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const summary = JSON.parse(t.trim().split('\n').at(-1)).summary;
    const e = JSON.parse(
      run(process.execPath, [
        BIN,
        'eval',
        model,
        '--ratings',
        join(o.dir, `${fold}.test`),
        '--json',
        '--backend',
        o.backend,
      ]),
    );
    results[variant].push({ fold, rmse: e.rmse, mae: e.mae, count: e.count, bestEpoch: summary.bestEpoch, seconds });
    console.log(
      `${variant} ${fold}: RMSE ${e.rmse.toFixed(4)}, MAE ${e.mae.toFixed(4)} (epoch ${summary.bestEpoch}, ${seconds.toFixed(0)} s)`,
    );
  }
  const r = results[variant].map((x) => x.rmse);
  const mean = r.reduce((s, x) => s + x, 0) / r.length;
  const sd = Math.sqrt(r.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, r.length - 1));
  const m = results[variant].reduce((s, x) => s + x.mae, 0) / r.length;
  console.log(
    `${variant}: mean RMSE ${mean.toFixed(4)} (sd ${sd.toFixed(4)}, ${Math.min(...r).toFixed(4)}-${Math.max(...r).toFixed(4)}), mean MAE ${m.toFixed(4)}`,
  );
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ backend: o.backend, seed: +o.seed, results }, null, 2)}\n`);
