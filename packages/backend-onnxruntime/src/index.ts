/**
 * @rbmjs/backend-onnxruntime: the ONNX Runtime backend. Each training step, Gibbs sweep and AIS transition
 * is recorded once, compiled into one ONNX graph and replayed per call (whole-step execution); ops outside
 * them run on the host in float32. onnxruntime-node (CPU; CUDA where its provider is installed) in Node,
 * onnxruntime-web (WebAssembly, WebGPU) in browsers. Uniforms come from core's Philox (its WebAssembly SIMD
 * kernel), so a seed trains the same model as on every other backend.
 *
 * @packageDocumentation
 * @module @rbmjs/backend-onnxruntime
 */
export { createOrtBackend, type FuseStats, type OrtApi, type OrtBackend, type OrtBackendSettings } from './backend.js';
export {
  autoModes,
  createOnnxruntimeBackend,
  family,
  INSTALL,
  MODES,
  type OrtBackendOptions,
  type OrtMode,
  onnxruntimeBackend,
} from './family.js';
export { type CompiledGraph, type GraphOptions, type GraphSignature, OPSET, traceToOnnx } from './graph.js';
