/**
 * @rbmjs/backend-gpujs: the gpu.js backend. One set of kernels runs in every gpu.js mode: WebGPU compute
 * shaders, WebGL2/WebGL fragment shaders (headless GL in Node), threaded WebAssembly SIMD, or plain
 * JavaScript. The mode is chosen deliberately, checked after its first kernel runs, and reported in the
 * backend's name (`gpujs:webgpu`, ...).
 *
 * @packageDocumentation
 * @module @rbmjs/backend-gpujs
 */
export {
  autoModes,
  createGpujsBackend,
  family,
  type GpujsBackendOptions,
  GpujsTensor,
  gpujsBackend,
  MAX_KERNELS,
  MODES,
  type Mode,
} from './backend.js';
export { SerialQueue } from './queue.js';
