import { describeBackend } from '@rbmjs/conformance';
import { createOnnxruntimeBackend } from '../src/index.js';

describeBackend('onnxruntime:cpu', () => createOnnxruntimeBackend({ mode: 'cpu' }));
