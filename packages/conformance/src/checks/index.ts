/**
 * @rbmjs/conformance/checks: the conformance checks without a test framework, for running them anywhere a
 * backend runs (a browser page, a script): `runChecks(backend)` returns one result per check.
 *
 * @packageDocumentation
 * @module @rbmjs/conformance/checks
 */

export { type Counters, instrument } from '../instrument.js';
export { describeMismatch, firstMismatch, type Mismatch, tinyNormal, unitRoundoff } from '../tolerance.js';
export {
  CheckContext,
  CheckFailure,
  type CheckOptions,
  CheckSkipped,
  type ConformanceCheck,
  randomArray,
} from './context.js';
export { CHECKS, type CheckResult, createRef, runCheck, runChecks } from './run.js';
export { TRAINING_RUNS } from './training.js';
