// The published TensorFlow.js backend on its WebAssembly engine, through the published conformance kit.
import { createTfjsBackend } from '@rbmjs/backend-tfjs';
import { describeBackend } from '@rbmjs/conformance';

describeBackend('tfjs:wasm', () => createTfjsBackend({ engine: 'wasm' }), { required: true });
