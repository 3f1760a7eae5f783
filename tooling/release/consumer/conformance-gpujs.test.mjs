// The published gpu.js backend in its WebAssembly mode, through the published conformance kit.
import { createGpujsBackend } from '@rbmjs/backend-gpujs';
import { describeBackend } from '@rbmjs/conformance';

describeBackend('gpujs:webasm', () => createGpujsBackend({ mode: 'webasm' }), { required: true });
