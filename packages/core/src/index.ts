/**
 * @rbmjs/core: Restricted Boltzmann Machines defined against a small backend interface.
 * Isomorphic (no Node-only imports); file helpers for Node live in `@rbmjs/core/node`.
 *
 * @packageDocumentation
 * @module @rbmjs/core
 */

export { assertBackend, assertShape, type ResolveFailure, resolveBackend } from './backend/check.js';
export { inBrowser } from './backend/environment.js';
export { applyUnary, createReferenceBackend, sigmoid, softplus } from './backend/reference.js';
export { Scope, withScope } from './backend/scope.js';
export * from './backend/types.js';
export * from './backend/validate.js';
export { ensureWebGpu, type WebGpuAdapterInfo, type WebGpuOptions } from './backend/webgpu.js';
export * from './data/dataset.js';
export * from './data/source.js';
export * from './errors.js';
export * from './evaluate/ais.js';
export * from './evaluate/exact.js';
export * from './evaluate/pseudo-likelihood.js';
export * from './io/checkpoint.js';
export * from './io/model-file.js';
export * from './io/safetensors.js';
export {
  assertBinaryUnits,
  assertVisibleData,
  checkParameters,
  energy,
  type InitOptions,
  initialParameters,
  RBM,
  type RbmParameters,
  type VisibleUnits,
} from './model/rbm.js';
export { DeviceRandom } from './random/device.js';
export { fillUniforms, philox4x32_10, UNIFORM_SCALE } from './random/philox.js';
export { type RandomState, RandomStream, Streams } from './random/stream.js';
export * from './sample/tempering.js';
export * from './train/gradient.js';
export * from './train/negative-phase.js';
export * from './train/parts.js';
export * from './train/schedule.js';
export * from './train/state.js';
export * from './train/terms.js';
export * from './train/trainer.js';
