#!/usr/bin/env node
// Is a heavy AIS run the model's or the arithmetic's? Forward AIS with many runs in float32 (as `rbm eval
// --ais` runs it: S&M's 14,500 steps from the test digits' base rates), then the heaviest runs and a few
// typical ones replayed in float64 from their own uniforms (replayForwardRun, core's evaluate/replay.ts).
// A heavy run that float64 reproduces is a real mode the others missed; one it does not is rounding.
//
//   node apps/cli/bench/ais-replay.mjs                        # trains the issue's model first (3 epochs)
//   node apps/cli/bench/ais-replay.mjs --model m.safetensors --runs 1000 --seed 3 --digits 500
//
// Needs the packages built (pnpm build). Prints a table and, with --json FILE, writes the figures.
import { writeFileSync } from 'node:fs';
import {
  aisBetas,
  annealedImportanceSampling,
  annealingBase,
  createDataset,
  logMeanExp,
  replayForwardRun,
} from '@rbmjs/core';
import { issueModel, testDigits } from './issue-model.mjs';
import { benchScript } from './script.mjs';

/** Replayed: the heaviest runs, and runs at the quartiles of the weights. */
const TOP = 5;
const TYPICAL = 3;
const { o, dir } = benchScript('ais-replay', { model: null, runs: '1000', seed: '3', digits: '500', json: null });

const { model, parameters, backend, rbm } = await issueModel(o.model, dir);
const rows = +o.digits;
const data = testDigits(rows);
const runs = +o.runs;
const seed = +o.seed;
const t0 = performance.now();
const est = await annealedImportanceSampling(rbm, { runs, data, seed });
const aisSeconds = (performance.now() - t0) / 1000;
console.log(
  `forward AIS (${backend.name}, float32): ${runs} runs x ${est.steps} steps, seed ${seed}: log Z ${est.logZ.toFixed(3)}, ` +
    `ESS ${est.effectiveSampleSize.toFixed(2)}, ${aisSeconds.toFixed(0)} s`,
);

const base = await annealingBase(rbm, { data });
const betas = aisBetas();
const order = Array.from(est.logWeights.keys()).sort((a, b) => est.logWeights[b] - est.logWeights[a]);
const picked = [
  ...order.slice(0, TOP).map((r, k) => ({ run: r, rank: k + 1 })),
  ...Array.from({ length: TYPICAL }, (_, k) => {
    const rank = Math.floor(((k + 1) * runs) / (TYPICAL + 1));
    return { run: order[rank], rank: rank + 1 };
  }),
];
const replayed = [];
console.log(
  'run   rank  float32 log w   float64 replay   difference   closest draw   seconds   last v: pixels on, -F(v)',
);
for (const { run: r, rank } of picked) {
  const t = performance.now();
  const { logWeight, closestDraw, visible } = replayForwardRun(parameters, { base, betas, rows: runs, run: r, seed });
  const seconds = (performance.now() - t) / 1000;
  const f32 = est.logWeights[r];
  const on = visible.reduce((s, x) => s + x, 0);
  const [freeEnergy] = await rbm.freeEnergy(createDataset(Float32Array.from(visible), 1, 784));
  replayed.push({
    run: r,
    rank,
    float32: f32,
    float64: logWeight,
    closestDraw,
    seconds,
    pixelsOn: on,
    negativeFreeEnergy: -freeEnergy,
  });
  console.log(
    `${String(r).padStart(4)}  ${String(rank).padStart(4)}  ${f32.toFixed(4).padStart(13)}  ${logWeight.toFixed(4).padStart(15)}  ` +
      `${(f32 - logWeight).toExponential(2).padStart(11)}  ${closestDraw.toExponential(2).padStart(13)}  ${seconds.toFixed(1).padStart(7)}` +
      `   ${String(on).padStart(3)}, ${(-freeEnergy).toFixed(2)}`,
  );
}
// What log Z would be with the heaviest run's weight replaced by its float64 replay, and without it.
const top = replayed[0];
const swapped = Float64Array.from(est.logWeights);
swapped[top.run] = top.float64;
const without = est.logWeights.filter((_, r) => r !== top.run);
const logZWith = est.logZBase + logMeanExp(swapped).log;
const logZWithout = est.logZBase + logMeanExp(without).log;
console.log(
  `log Z with the heaviest run's float64 weight ${logZWith.toFixed(3)}; without that run ${logZWithout.toFixed(3)} ` +
    `(ESS ${logMeanExp(without).effectiveSampleSize.toFixed(2)})`,
);
if (o.json)
  writeFileSync(
    o.json,
    `${JSON.stringify({ model, runs, seed, steps: est.steps, logZ: est.logZ, effectiveSampleSize: est.effectiveSampleSize, aisSeconds, logZWith, logZWithout, replayed }, null, 2)}\n`,
  );
backend.destroy();
