import fs from 'node:fs';
import { createOrtBackend } from '@rbmjs/backend-onnxruntime';
import { RBM, Trainer } from '@rbmjs/core';
import * as ort from 'onnxruntime-node';

const [nv, nh, B, N, threads, C] = process.argv.slice(2).map(Number);
globalThis.RBMJS_CHUNK = C;
const backend = createOrtBackend({
  name: 'x',
  ort,
  preallocatedOutputs: true,
  details: {},
  session: {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    executionProviders: ['cpu'],
    intraOpNumThreads: threads ?? 2,
    enableProfiling: true,
    profileFilePrefix: '/tmp/ortprof/p',
  },
});
fs.rmSync('/tmp/ortprof', { recursive: true, force: true });
fs.mkdirSync('/tmp/ortprof');
const data = new Float32Array(N * B * nv);
for (let i = 0; i < data.length; i++) data[i] = Math.random() < 0.2 ? 1 : 0;
const model = RBM.create(backend, { numVisible: nv, numHidden: nh, seed: 1 });
const trainer = new Trainer(
  model,
  { rows: N * B, cols: nv, data },
  { epochs: 1, batchSize: B, method: 'cd', k: 1, learningRate: 0.05, seed: 1 },
);
const t0 = performance.now();
await trainer.run();
console.log(((performance.now() - t0) / N).toFixed(3), 'ms/step');
backend.destroy();
await new Promise((r) => setTimeout(r, 500));
