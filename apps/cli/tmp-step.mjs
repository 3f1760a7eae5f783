import { createOnnxruntimeBackend } from '@rbmjs/backend-onnxruntime';
import { RBM, Trainer } from '@rbmjs/core';

const [nv, nh, B, N, C] = process.argv.slice(2).map(Number);
globalThis.RBMJS_CHUNK = C;
const backend = await createOnnxruntimeBackend({ mode: 'cpu' });
const data = new Float32Array(N * B * nv);
for (let i = 0; i < data.length; i++) data[i] = Math.random() < 0.2 ? 1 : 0;
const model = RBM.create(backend, { numVisible: nv, numHidden: nh, seed: 1 });
const src = { rows: N * B, cols: nv, data };
for (let rep = 0; rep < 3; rep++) {
  const trainer = new Trainer(model, src, { epochs: 1, batchSize: B, method: 'cd', k: 1, learningRate: 0.05, seed: 1 });
  const t0 = performance.now();
  await trainer.run();
  const ms = (performance.now() - t0) / N;
  console.log(`${nv}-${nh} batch ${B}: ${ms.toFixed(3)} ms/step`, JSON.stringify(backend.stats));
  trainer.dispose();
}
backend.destroy();
