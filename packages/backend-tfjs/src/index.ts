/**
 * @rbmjs/backend-tfjs: the TensorFlow.js backend. It uses whichever tfjs engine the environment has:
 * native TensorFlow (tfjs-node) when installed, WebAssembly SIMD, WebGPU or WebGL in browsers, or the plain
 * CPU engine; the engine is chosen deliberately, checked after initialisation, and reported.
 *
 * @packageDocumentation
 * @module @rbmjs/backend-tfjs
 */
export { createTfjsBackend, family, type TfjsBackendOptions, TfjsTensor, tfjsBackend } from './backend.js';
export { autoOrder, ENGINES, type Engine, INSTALL, loadEngine } from './engines.js';
