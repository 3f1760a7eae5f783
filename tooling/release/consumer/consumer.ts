// Type-checks the published declarations the way a TypeScript user (moduleResolution node16) sees them.

import { createJsBackend, jsBackend } from '@rbmjs/backend-js';
import { createOnnxruntimeBackend, type OrtBackend } from '@rbmjs/backend-onnxruntime';
import { type ConformanceOptions, describeBackend } from '@rbmjs/conformance';
import { type CheckResult, runChecks } from '@rbmjs/conformance/checks';
import { type Backend, barsAndStripes, type EpochMetrics, RBM, type TrainOptions, train } from '@rbmjs/core';
import { type BackendFamily, checkBinary, familyFactory, Trace } from '@rbmjs/core/backend';
import { saveModelFile } from '@rbmjs/core/node';

const backend: Backend = createJsBackend();
const options: TrainOptions = { epochs: 1, method: 'pcd', k: 2 };
const history: Promise<EpochMetrics[]> = train(
  RBM.create(backend, { numVisible: 9, numHidden: 2 }),
  barsAndStripes(3),
  options,
);
const conformance: ConformanceOptions = { required: true };

// A backend author's view: a family for the backend table, checked by the conformance checks.
const family: BackendFamily = {
  name: 'mine',
  package: 'my-backend',
  summary: 'an example',
  modes: [],
  autoModes: () => [],
  create: async () => createJsBackend(),
  install: () => 'npm i my-backend',
};
const results: Promise<CheckResult[]> = familyFactory(family)
  .create()
  .then((be) => runChecks(be));

// Whole-step execution, as a backend author records it.
const trace = new Trace('train-step');
const io = trace.interface();
const fast: Promise<OrtBackend> = createOnnxruntimeBackend({ mode: 'cpu', threads: 1 });

export { checkBinary, conformance, describeBackend, fast, history, io, jsBackend, results, saveModelFile };
