import { describeBackend } from '@rbmjs/conformance';
import { createOnnxruntimeBackend } from '../src/index.js';

// onnxruntime-web's WebAssembly build, in Node: the code path browsers run.
describeBackend('onnxruntime:wasm', () => createOnnxruntimeBackend({ mode: 'wasm' }));
