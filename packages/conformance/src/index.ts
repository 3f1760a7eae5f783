/**
 * @rbmjs/conformance: the test kit that every rbmjs backend passes. In a backend package's tests:
 *
 *   import { describeBackend } from '@rbmjs/conformance';
 *   describeBackend('my-backend', () => createMyBackend());
 *
 * The checks themselves are plain data (`CHECKS`, `runChecks`) and import no test framework: in a browser,
 * import them from `@rbmjs/conformance/checks` (the demo's check.html does).
 *
 * @packageDocumentation
 * @module @rbmjs/conformance
 */

export * from './checks/index.js';
export { type ConformanceOptions, describeBackend, isRequired } from './suite.js';
