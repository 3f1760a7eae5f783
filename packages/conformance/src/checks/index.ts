/**
 * @rbmjs/conformance/checks: the conformance checks without a test framework, for running them anywhere a
 * backend runs (a browser page, a script): `runChecks(backend)` returns one result per check.
 *
 * @packageDocumentation
 * @module @rbmjs/conformance/checks
 */
export {
  CHECKS,
  CheckContext,
  CheckFailure,
  type CheckOptions,
  type CheckResult,
  CheckSkipped,
  type ConformanceCheck,
  randomArray,
  runCheck,
  runChecks,
} from '../checks.js';
export { type Counters, instrument } from '../instrument.js';
export { describeMismatch, firstMismatch, type Mismatch, tinyNormal, unitRoundoff } from '../tolerance.js';
