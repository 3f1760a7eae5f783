#!/usr/bin/env node
// Sequential Monte Carlo against forward AIS on one model: log Z by SMC (adaptive schedule at a conditional
// ESS, resampling at ESS < half the runs; core's evaluate/smc.ts), repeated over seeds, with the steps it
// chose, its resamplings and surviving ancestors, and wall time. The issue's model by default (a 784-500
// PCD-1 model, 3 epochs with the CLI's defaults), whose forward AIS log Z swings by tens of nats.
//
//   node apps/cli/bench/smc.mjs                                 # trains the issue's model first (3 epochs)
//   node apps/cli/bench/smc.mjs --model m.safetensors --runs 1000 --cess 0.99 --sweeps 1 --seeds 1,2,3
//   node apps/cli/bench/smc.mjs --pilot 1                       # each run again on its own betas (no bias)
//   node apps/cli/bench/smc.mjs --base model                    # base rates of the model's samples (--ais-base)
//
// Needs the packages built (pnpm build). Prints a line a run and, with --json FILE, writes the figures.
import { writeFileSync } from 'node:fs';
import { modelSamplesForBase, sequentialMonteCarlo } from '@rbmjs/core';
import { issueModel, testDigits } from './issue-model.mjs';
import { benchScript } from './script.mjs';

const { o, dir } = benchScript('smc', {
  model: null,
  runs: '1000',
  cess: '0.99',
  sweeps: '1',
  resample: '0.5',
  seeds: '1,2,3',
  digits: '500',
  pilot: null,
  base: 'data',
  json: null,
});

const { model, rbm } = await issueModel(o.model, dir);
const rows = +o.digits;
const data = testDigits(rows);
// The base model, as `rbm eval --ais-base` chooses it: the digits' base rates, the model's samples' (1,000 Gibbs
// chains of 1,000 sweeps from p(v) = 1/2), or uniform.
const bases = {
  data: () => ({ data }),
  model: async () => ({ data: await modelSamplesForBase(rbm, { chains: 1000, sweeps: 1000, seed: 9 }) }),
  uniform: () => ({ baseVisibleBias: new Float32Array(784) }),
};
if (!bases[o.base]) throw new Error(`--base: data, model or uniform, got ${o.base}`);
const settings = { runs: +o.runs, cess: +o.cess, sweeps: +o.sweeps, resample: +o.resample, ...(await bases[o.base]()) };
const results = [];
const line = (what, e, seconds) =>
  console.log(
    `${what}: log Z ${e.logZ.toFixed(3)} [${e.logZLow.toFixed(3)}, ${e.logZHigh.toFixed(3)}]  steps ${e.steps}  ` +
      `resamplings ${e.resamplings}  ancestors ${e.ancestors}  ESS ${e.effectiveSampleSize.toFixed(1)}  ${seconds.toFixed(0)} s`,
  );
for (const seed of o.seeds.split(',').map(Number)) {
  const t0 = performance.now();
  const e = await sequentialMonteCarlo(rbm, { ...settings, seed });
  const seconds = (performance.now() - t0) / 1000;
  line(`seed ${seed}`, e, seconds);
  const row = {
    seed,
    logZ: e.logZ,
    logZLow: e.logZLow,
    logZHigh: e.logZHigh,
    steps: e.steps,
    resamplings: e.resamplings,
    ancestors: e.ancestors,
    seconds,
  };
  if (o.pilot) {
    const t1 = performance.now();
    const again = await sequentialMonteCarlo(rbm, { ...settings, seed: seed + 1000, schedule: e.betas });
    const s1 = (performance.now() - t1) / 1000;
    line(`  on its betas, seed ${seed + 1000}`, again, s1);
    row.pilotRerun = { logZ: again.logZ, logZLow: again.logZLow, logZHigh: again.logZHigh, seconds: s1 };
  }
  results.push(row);
}
if (o.json)
  writeFileSync(
    o.json,
    `${JSON.stringify({ model, settings: { ...settings, data: undefined, baseVisibleBias: undefined, base: o.base, digits: rows }, results }, null, 1)}\n`,
  );
