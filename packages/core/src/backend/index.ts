/**
 * @rbmjs/core/backend: what a backend author needs. The interface and its version, the argument checks
 * every backend runs before touching memory (so that all backends fail alike), the reference backend and
 * the scalar math it shares (sigmoid, softplus as the conformance suite defines them), the serial task queue of the
 * asynchronous backends (`SerialQueue`), Philox uniforms for backends
 * that draw on the device, WebGPU setup shared by the GPU backends, and the helpers that describe a
 * backend family for the backend table, and the ONNX protobuf writer (`onnxProto`) for backends that compile
 * graphs. See docs/adding-a-backend.md.
 *
 * @packageDocumentation
 * @module @rbmjs/core/backend
 */

export {
  ArgumentError,
  type BackendFailure,
  BackendUnavailableError,
  describeFailure,
  firstLine,
  RbmError,
  ShapeError,
  UnknownBackendError,
} from '../errors.js';
export * as onnxProto from '../io/onnx-proto.js';
export {
  fillUniforms,
  fillUniformsReference,
  philox4x32_10,
  philoxSimd,
  UNIFORM_SCALE,
  uniformsAt,
} from '../random/philox.js';
export { uniformityFailures } from '../random/uniformity.js';
export { assertBackend, assertShape, resolveBackend } from './check.js';
export { inBrowser } from './environment.js';
export { type BackendLife, HostTensor, hostStorage, ownHostTensor } from './host.js';
export { SerialQueue } from './queue.js';
export { applyUnary, createReferenceBackend, referenceFamily } from './reference.js';
export { sigmoid, softplus } from './scalar.js';
export { Scope, withScope } from './scope.js';
export {
  type BackendEntry,
  type BackendFamily,
  type CommonBackendOptions,
  checkMode,
  familyFactory,
  firstMode,
  optionsFor,
} from './table.js';
export {
  fused,
  isStructural,
  opReads,
  replayTrace,
  Trace,
  type TraceInterface,
  type TraceOp,
} from './trace.js';
export * from './types.js';
export * from './validate.js';
export { ensureWebGpu, type WebGpuAdapterInfo, type WebGpuOptions } from './webgpu.js';
