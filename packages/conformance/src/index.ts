/**
 * @rbmjs/conformance: the test kit that every rbmjs backend passes. In a backend package's tests:
 *
 *   import { describeBackend } from '@rbmjs/conformance';
 *   describeBackend('my-backend', () => createMyBackend());
 *
 * @packageDocumentation
 * @module @rbmjs/conformance
 */

export { type Counters, instrument } from './instrument.js';
export { type ConformanceOptions, describeBackend, isRequired, randomArray } from './suite.js';
export { describeMismatch, firstMismatch, type Mismatch, tinyNormal, unitRoundoff } from './tolerance.js';
