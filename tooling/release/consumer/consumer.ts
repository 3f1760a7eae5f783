// Type-checks the published declarations the way a TypeScript user (moduleResolution node16) sees them.

import { createJsBackend, jsBackend } from '@rbmjs/backend-js';
import { type ConformanceOptions, describeBackend } from '@rbmjs/conformance';
import { type Backend, barsAndStripes, type EpochMetrics, RBM, type TrainOptions, train } from '@rbmjs/core';
import { saveModelFile } from '@rbmjs/core/node';

const backend: Backend = createJsBackend();
const options: TrainOptions = { epochs: 1, method: 'pcd', k: 2 };
const history: Promise<EpochMetrics[]> = train(
  RBM.create(backend, { numVisible: 9, numHidden: 2 }),
  barsAndStripes(3),
  options,
);
const conformance: ConformanceOptions = { required: true };

export { conformance, describeBackend, history, jsBackend, saveModelFile };
