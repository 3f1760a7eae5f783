#!/usr/bin/env node
// RAISE's chains against its gap on one model: SMC's log Z once (from the base rates of the model's samples,
// adaptive at --cess), then RAISE on SMC's temperatures for each variant chains:startSweeps:stepSweeps[:stuckChains],
// with the log Z it implies, its gap to SMC's, its +-3 sigma half-width, the examples a pilot found stuck, the
// lowest per-example estimates and wall time. The issue's model by default (784-500 PCD-1, 3 epochs).
//
//   node apps/cli/bench/raise.mjs --model pcd500.safetensors --digits 100 --variants 4:5000:1,4:5000:1:128
//
// --samples FILE also writes the base's model samples as u8 rows, for apps/cli/peers/ais_float64.py --data.
// Needs the packages built (pnpm build).
import { writeFileSync } from 'node:fs';
import { modelSamplesForBase, reverseAnnealedImportanceSampling, sequentialMonteCarlo } from '@rbmjs/core';
import { issueModel, testDigits } from './issue-model.mjs';
import { benchScript } from './script.mjs';

const { o, dir } = benchScript('raise', {
  model: null,
  digits: '100',
  cess: '0.9999',
  variants: '4:5000:1,16:5000:1,4:5000:1:128',
  seed: '3',
  samples: null,
});
const { rbm } = await issueModel(o.model, dir);
const data = testDigits(+o.digits);
const base = await modelSamplesForBase(rbm, { chains: 1000, sweeps: 1000, seed: 9 });
if (o.samples) writeFileSync(o.samples, Uint8Array.from(base.data));
const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(0);
let t0 = performance.now();
const smc = await sequentialMonteCarlo(rbm, { runs: 1000, cess: +o.cess, data: base, seed: 1 });
const F = await rbm.freeEnergy(data);
console.log(
  `SMC: log Z ${smc.logZ.toFixed(3)} [${smc.logZLow.toFixed(3)}, ${smc.logZHigh.toFixed(3)}], ${smc.steps} steps, ${seconds(t0)} s`,
);
for (const variant of o.variants.split(',')) {
  const [chains, sweeps, stepSweeps, stuckChains = chains] = variant.split(':').map(Number);
  t0 = performance.now();
  const r = await reverseAnnealedImportanceSampling(rbm, data, {
    ...{ chains, sweeps, stepSweeps, stuckChains, schedule: smc.betas, baseData: base, seed: +o.seed },
  });
  // log p-hat(v) + F(v): each example's estimate of -log Z (its lowest show the stuck examples).
  const parts = Array.from(r.perExample, (x, i) => [x + F[i], i]).sort((a, b) => a[0] - b[0]);
  console.log(
    `RAISE ${chains} chains, ${sweeps} sweeps at beta = 1, ${stepSweeps} a step, ${stuckChains} for ${r.stuck.length} stuck: ` +
      `log Z ${r.logZ.toFixed(3)}, gap ${(r.logZ - smc.logZ).toFixed(3)}, 3 sigma ${(r.mean - r.low).toFixed(3)}, ` +
      `ESS ${r.effectiveSampleSize.toFixed(1)}, ${seconds(t0)} s`,
  );
  console.log(
    `  lowest: ${parts
      .slice(0, 5)
      .map(([p, i]) => `#${i} ${p.toFixed(1)} (-F ${(-F[i]).toFixed(1)})`)
      .join(', ')}`,
  );
}
