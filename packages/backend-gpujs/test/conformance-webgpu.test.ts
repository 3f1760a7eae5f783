import { describeBackend } from '@rbmjs/conformance';
import { createGpujsBackend } from '../src/index.js';

// WebGPU in Node through the webgpu package: runs where a GPU adapter exists (a software fallback adapter
// only with RBMJS_ALLOW_FALLBACK_ADAPTER=1), and is skipped with the reason elsewhere.
describeBackend('gpujs:webgpu', () =>
  createGpujsBackend({ mode: 'webgpu', allowFallbackAdapter: process.env.RBMJS_ALLOW_FALLBACK_ADAPTER === '1' }),
);
