/**
 * @rbmjs/backend-js: the plain TypeScript backend, the reference the others are compared with.
 *
 * @packageDocumentation
 * @module @rbmjs/backend-js
 */
export { createJsBackend, family, type JsBackendOptions, JsTensor, jsBackend } from './backend.js';
export { type GemmArgs, gemm } from './gemm.js';
