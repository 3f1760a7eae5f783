/**
 * The main job: train a Bernoulli RBM on MNIST with the plain TypeScript backend, then write the model
 * (safetensors) and pictures of what it learned (filters, Gibbs samples) to ./out.
 *
 *   npx -y pnpm@10.34.8 example -- --hidden 100 --epochs 5
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { jsBackend } from '@rbmjs/backend-js';
import { RBM, resolveBackend, Trainer } from '@rbmjs/core';
import { saveModelFile, writeFileAtomic } from '@rbmjs/core/node';
import { loadMnist } from './mnist.js';
import { filtersOf, tileImages } from './pictures.js';

const { values } = parseArgs({
  options: {
    hidden: { type: 'string', default: '100' },
    epochs: { type: 'string', default: '5' },
    limit: { type: 'string' },
    batch: { type: 'string', default: '100' },
    lr: { type: 'string', default: '0.05' },
    k: { type: 'string', default: '1' },
    method: { type: 'string', default: 'cd' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'out' },
  },
});
const int = (name: keyof typeof values) => {
  const x = Number(values[name]);
  if (!Number.isInteger(x) || x < 1) throw new Error(`--${name} must be a positive integer, got ${values[name]}`);
  return x;
};

const hidden = int('hidden');
const epochs = int('epochs');
// pnpm runs scripts in the package folder; INIT_CWD is where the user ran the command.
const outDir = resolve(process.env.INIT_CWD ?? process.cwd(), values.out!);
const train = await loadMnist('train', values.limit ? int('limit') : undefined);
const test = await loadMnist('test', 1000);
const { backend } = await resolveBackend([jsBackend]);
console.log(`MNIST ${train.rows} x ${train.cols} (binarised at 0.5), ${hidden} hidden units, backend ${backend.name}`);

const model = RBM.create(backend, { numVisible: train.cols, numHidden: hidden, seed: int('seed'), data: train });
const trainer = new Trainer(model, train, {
  epochs,
  batchSize: int('batch'),
  learningRate: Number(values.lr),
  momentum: { kind: 'piecewise', boundaries: [Math.min(5, epochs)], values: [0.5, 0.9] },
  k: int('k'),
  method: values.method === 'pcd' ? 'pcd' : 'cd',
  seed: int('seed'),
  validation: test,
  onEpoch: (m) =>
    console.log(
      `epoch ${m.epoch + 1}/${epochs}: reconstruction error ${m.reconstructionError.toFixed(2)}, ` +
        `free energy train ${m.freeEnergyTrain!.toFixed(2)} / test ${m.freeEnergyValidation!.toFixed(2)} ` +
        `(gap ${m.freeEnergyGap!.toFixed(2)}), ${m.seconds.toFixed(1)} s`,
    ),
});
await trainer.run();
trainer.dispose();

await mkdir(outDir, { recursive: true });
const modelPath = join(outDir, 'model.safetensors');
await saveModelFile(model, modelPath, {
  metadata: {
    hyperparameters: JSON.stringify({
      hidden,
      epochs,
      batch: int('batch'),
      lr: Number(values.lr),
      k: int('k'),
      method: values.method,
    }),
    provenance: JSON.stringify({
      tool: '@rbmjs/examples train-mnist',
      backend: backend.name,
      seed: int('seed'),
      data: 'mnist:train binarised at 0.5',
      date: new Date().toISOString(),
    }),
  },
});
const p = await model.parameters();
const shown = Math.min(hidden, 100);
await writeFileAtomic(
  join(outDir, 'filters.png'),
  tileImages(filtersOf(p.weights, p.numVisible, p.numHidden, shown), shown, train.side),
);
const samples = await model.sample({
  chains: 100,
  steps: 1000,
  seed: 2,
  init: { ...test, rows: 100, data: test.data.subarray(0, 100 * test.cols) },
});
await writeFileAtomic(
  join(outDir, 'samples.png'),
  tileImages(samples.probabilities, 100, train.side, { range: [0, 1] }),
);
await writeFile(
  join(outDir, 'README.txt'),
  'model.safetensors: the trained RBM\nfilters.png: weights of the first hidden units\nsamples.png: 1000 Gibbs steps from 100 test digits\n',
);
console.log(`wrote ${modelPath}, ${join(outDir, 'filters.png')}, ${join(outDir, 'samples.png')}`);
model.dispose();
