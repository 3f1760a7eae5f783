#!/usr/bin/env node
// The RMSE table of docs/recommend.md: the collaborative-filtering RBM (per user, per item, conditional)
// beside the baselines peer (peers/cf_baselines.py: global mean, item mean, biases, tuned matrix
// factorisation) on the same train/test split, in one run.
//
//   node apps/cli/bench/ratings.mjs                                  # generated ratings (3,000 x 300)
//   node apps/cli/bench/ratings.mjs --users 2000 --items 200 --density 0.5
//   node apps/cli/bench/ratings.mjs --train ml-100k/u1.base --test ml-100k/u1.test   # MovieLens, obtained by you
//
// Every RBM trains on the training file with 10% of it held out for early stopping (--holdout 0.1
// --early-stop 10), then `rbm eval --ratings TEST` scores it: the test file is touched once. Needs the
// CLI built (pnpm build) and, for the baselines, Debian's python3 with NumPy.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatRatings, holdoutSplit, syntheticRatings } from '@rbmjs/core';
import { BIN, benchScript, PEERS, run } from './script.mjs';

const PEER = join(PEERS, 'cf_baselines.py');
const { o, dir } = benchScript('ratings', {
  train: null,
  test: null,
  users: '3000',
  items: '300',
  density: '0.5',
  seed: '1',
  backend: 'auto',
  hidden: '100',
  variants: 'user,user-conditional,item,item-conditional',
});
let train = o.train;
let test = o.test;
let floor;
if (!train !== !test) throw new Error('give both --train and --test, or neither (generated ratings)');
if (!train) {
  const syn = syntheticRatings({ users: +o.users, items: +o.items, density: +o.density, seed: +o.seed });
  const split = holdoutSplit(syn.ratings, 0.1, +o.seed);
  train = join(dir, 'train.tsv');
  test = join(dir, 'test.tsv');
  writeFileSync(train, formatRatings(split.train));
  writeFileSync(test, formatRatings(split.test));
  floor = { noiseFloor: syn.noiseFloor(split.test), oracle: syn.oracleRmse(split.test) };
  console.log(
    `generated: ${o.users} users x ${o.items} items, density ${o.density}, seed ${o.seed}: ${split.train.user.length} train, ${split.test.user.length} test ratings`,
  );
  console.log(
    `noise floor (the generator's own E[r | u, i]): expected RMSE ${floor.noiseFloor.toFixed(4)}, on this test set ${floor.oracle.toFixed(4)}`,
  );
}

const rbm = (args) => {
  const t0 = performance.now();
  const stdout = run(process.execPath, [BIN, ...args]);
  return { stdout, seconds: (performance.now() - t0) / 1000 };
};

const rows = [];
for (const variant of o.variants.split(',')) {
  const [side, cond] = variant.split('-');
  const model = join(dir, `${variant}.safetensors`);
  const t = rbm([
    'train',
    '--ratings',
    train,
    '--holdout',
    '0.1',
    '--early-stop',
    '10',
    '--epochs',
    '150',
    '--hidden',
    o.hidden,
    '--orientation',
    side,
    ...(cond ? ['--conditional'] : []),
    '--seed',
    o.seed,
    '--backend',
    o.backend,
    '--out',
    model,
    '--json',
  ]);
  const summary = JSON.parse(t.stdout.trim().split('\n').at(-1)).summary;
  const e = JSON.parse(rbm(['eval', model, '--ratings', test, '--json', '--backend', o.backend]).stdout);
  rows.push({
    name: `RBM per ${side}${cond ? ', conditional' : ''} (${o.hidden} hidden)`,
    rmse: e.rmse,
    mae: e.mae,
    count: e.count,
    note: `epoch ${summary.bestEpoch} of ${summary.epochs}, ${t.seconds.toFixed(0)} s`,
  });
  console.log(`${rows.at(-1).name}: RMSE ${e.rmse.toFixed(4)} (${rows.at(-1).note})`);
}

const peer = spawnSync('/usr/bin/python3', [PEER, train, test, '--seed', o.seed], { encoding: 'utf8' });
if (peer.status === 0) {
  const p = JSON.parse(peer.stdout);
  for (const [name, [rmse, mae]] of Object.entries(p.baselines))
    rows.push({
      name,
      rmse,
      mae,
      count: p.test,
      note: name.startsWith('matrix')
        ? `rank ${p.mf_settings.rank}, lambda ${p.mf_settings.lambda}`
        : name === 'biases'
          ? `lambda ${p.biases_settings.lambda}`
          : '',
    });
} else console.log(`baselines peer unavailable: ${peer.stderr.trim().split('\n').at(-1)}`);

const itemMean = rows.find((r) => r.name === 'item mean')?.rmse;
console.log(
  '\n| model | test RMSE | MAE | ratings scored | vs item mean | settings |\n| --- | --- | --- | --- | --- | --- |',
);
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.rmse.toFixed(4)} | ${r.mae.toFixed(4)} | ${r.count} | ${itemMean ? `${(100 * (r.rmse / itemMean - 1)).toFixed(1)}%` : ''} | ${r.note} |`,
  );
if (floor)
  console.log(
    `| noise floor (generator) | ${floor.oracle.toFixed(4)} | | | | expected ${floor.noiseFloor.toFixed(4)} |`,
  );
