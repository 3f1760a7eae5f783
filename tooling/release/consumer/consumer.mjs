// A user's first script, run against the packed tarballs installed with plain npm: train a tiny RBM
// through the public API, save it, load it back, evaluate it.
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsBackend } from '@rbmjs/backend-js';
import { barsAndStripes, decodeModel, exactLogLikelihood, RBM, RbmError, saveModel, train } from '@rbmjs/core';
import { loadModelFile, saveModelFile } from '@rbmjs/core/node';

const backend = createJsBackend();
const data = barsAndStripes(3);
const model = RBM.create(backend, { numVisible: 9, numHidden: 16, seed: 1, data });
await train(model, data, { epochs: 1500, batchSize: 14, learningRate: 0.1, momentum: 0.5, seed: 2 });
const before = await exactLogLikelihood(model, data);
assert.ok(before.mean > -3.6, `mean log-likelihood ${before.mean} should exceed -3.6`);

const path = join(mkdtempSync(join(tmpdir(), 'rbmjs-consumer-')), 'bas.safetensors');
await saveModelFile(model, path, { metadata: { note: 'consumer test' } });
const { model: loaded, metadata } = await loadModelFile(backend, path);
assert.equal(metadata.note, 'consumer test');
const after = await exactLogLikelihood(loaded, data);
assert.equal(after.mean, before.mean);

// The browser path: bytes in, bytes out.
const bytes = await saveModel(loaded);
assert.equal(decodeModel(bytes).parameters.numHidden, 16);
assert.throws(() => decodeModel(bytes.subarray(0, 20)), RbmError);

console.log(`consumer (ESM): trained, saved, loaded and evaluated; mean log-likelihood ${after.mean.toFixed(4)} nats`);
