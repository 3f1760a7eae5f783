/**
 * Published result 2 (issue: likelihoods you can trust): a 784-500 RBM on MNIST binarised at 0.5, centred
 * PCD-1 (PyDeep's setting: batch 100, learning rate 0.01), trained for as many epochs as the machine allows,
 * then the AIS test log-likelihood (Salakhutdinov & Murray's schedule, base rate from the training data) with
 * its +-3 sigma interval, and a reverse AIS run from Gibbs samples as a check from the other side.
 * PyDeep reports -84.86 after 200 epochs; Salakhutdinov & Murray -86.34 for CD-25 (stochastically binarised).
 *
 *   pnpm --filter @rbmjs/cli reproduce:500 [--epochs 10] [--backend tfjs:wasm] [--runs 100]
 */
import { parseArgs } from 'node:util';
import { annealedImportanceSampling, RBM, sourceColumnMeans, Trainer } from '@rbmjs/core';
import { startBackend } from '../src/backends.js';
import { loadAll, openData } from '../src/data.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '10' },
    backend: { type: 'string', default: 'tfjs:wasm' },
    runs: { type: 'string', default: '100' },
    centering: { type: 'string', default: 'yes' },
  },
});
const epochs = Number(values.epochs);
const runs = Number(values.runs);
const spec = { name: 'mnist', threshold: 0.5, seed: 0 } as const;
const train = openData({ ...spec, split: 'train' }).source;
const trainAll = await loadAll(train);
const test = await loadAll(openData({ ...spec, split: 'test' }).source);
const backend = await startBackend(values.backend!);
const centred = values.centering === 'yes';
console.log(
  `MNIST binarised at 0.5; 784-500, ${centred ? 'centred ' : ''}PCD-1, batch 100, lr 0.01, ${epochs} epochs; backend ${backend.name}`,
);
const model = RBM.create(backend, { numVisible: 784, numHidden: 500, seed: 1, means: await sourceColumnMeans(train) });
const trainer = new Trainer(model, trainAll, {
  epochs,
  batchSize: 100,
  learningRate: 0.01,
  method: 'pcd',
  seed: 1,
  ...(centred ? { centering: { rate: 0.01 } } : {}),
  onEpoch: (m) =>
    console.log(
      `epoch ${m.epoch + 1}: reconstruction error ${m.reconstructionError.toFixed(3)}, ${m.seconds.toFixed(1)} s`,
    ),
});
const t0 = performance.now();
await trainer.run();
const trainSeconds = (performance.now() - t0) / 1000;
trainer.dispose();

const t1 = performance.now();
const est = await annealedImportanceSampling(model, { runs, data: trainAll, seed: 2 });
const aisSeconds = (performance.now() - t1) / 1000;
const F = await model.freeEnergy(test);
const meanNegF = -F.reduce((s, x) => s + x, 0) / F.length;
const Ftrain = await model.freeEnergy({ ...trainAll, rows: 10000, data: trainAll.data.subarray(0, 10000 * 784) });
const meanNegFtrain = -Ftrain.reduce((s, x) => s + x, 0) / Ftrain.length;
const start = await model.sample({
  steps: 1000,
  seed: 3,
  init: { data: test.data.subarray(0, runs * 784), rows: runs, cols: 784 },
});
const rev = await annealedImportanceSampling(model, {
  runs,
  data: trainAll,
  seed: 4,
  direction: 'reverse',
  start: { data: Float32Array.from(start.states), rows: runs, cols: 784 },
});
console.log(
  `\ntraining: ${trainSeconds.toFixed(0)} s; AIS (${est.runs} runs x ${est.steps} steps): ${aisSeconds.toFixed(0)} s`,
);
console.log(
  `log Z (AIS) = ${est.logZ.toFixed(3)}, +-3 sigma [${est.logZLow.toFixed(3)}, ${est.logZHigh.toFixed(3)}]; reverse AIS from 1000-step Gibbs samples: ${rev.logZ.toFixed(3)}`,
);
console.log(
  `test log-likelihood = ${(meanNegF - est.logZ).toFixed(2)} nats [${(meanNegF - est.logZHigh).toFixed(2)}, ${(meanNegF - est.logZLow).toFixed(2)}]; train (first 10,000) ${(meanNegFtrain - est.logZ).toFixed(2)}`,
);
console.log(`PyDeep (centred PCD-1, 200 epochs): -84.86; difference ${(meanNegF - est.logZ + 84.86).toFixed(2)} nats`);
