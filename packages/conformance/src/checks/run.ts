import { assertBackend, type Backend, createReferenceBackend } from '@rbmjs/core/backend';
import { collaborativeChecks } from './collaborative.js';
import { CheckContext, type CheckOptions, CheckSkipped, type ConformanceCheck } from './context.js';
import { dbmChecks } from './dbm.js';
import { interfaceChecks, opChecks, randomnessChecks } from './ops.js';
import { sparseChecks } from './sparse.js';
import { stateChecks, trainingChecks } from './training.js';
import { wholeStepChecks } from './whole-step.js';

/** Every check, in the order they run. */
export const CHECKS: readonly ConformanceCheck[] = [
  ...interfaceChecks,
  ...opChecks,
  ...sparseChecks,
  ...randomnessChecks,
  ...trainingChecks,
  ...wholeStepChecks,
  ...stateChecks,
  ...collaborativeChecks,
  ...dbmChecks,
];

export interface CheckResult {
  readonly group: string;
  readonly name: string;
  readonly status: 'pass' | 'fail' | 'skip';
  /** The worst |actual - expected| / bound of the check's comparisons (at most 1 when it passes). */
  readonly worst: number;
  /** Where the worst was, why it failed, or why it was skipped; parts skipped are listed too. */
  readonly detail: string;
  readonly seconds: number;
}

/** A float64 reference backend for {@link runCheck}. */
export function createRef(): Backend {
  return createReferenceBackend();
}

/** Runs one check and reports its outcome (never throws). */
export async function runCheck(
  check: ConformanceCheck,
  backend: Backend,
  ref: Backend,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const c = new CheckContext(backend, ref, options);
  const t0 = typeof performance === 'undefined' ? Date.now() : performance.now();
  const done = (status: CheckResult['status'], detail: string): CheckResult => {
    const t1 = typeof performance === 'undefined' ? Date.now() : performance.now();
    const parts = c.skipped.length > 0 ? `; skipped: ${c.skipped.join('; ')}` : '';
    return {
      group: check.group,
      name: check.name,
      status,
      worst: c.worst,
      detail: detail + parts,
      seconds: (t1 - t0) / 1000,
    };
  };
  try {
    await check.run(c);
    return done('pass', c.where ? `worst at ${c.where}` : 'exact');
  } catch (error) {
    if (error instanceof CheckSkipped) return done('skip', error.message);
    return done('fail', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Runs the checks (default: all) on `backend` against a fresh float64 reference, one after another, and
 * reports each. `onResult` sees each result as it comes (for a page that shows progress).
 */
export async function runChecks(
  backend: Backend,
  options: CheckOptions & {
    readonly checks?: readonly ConformanceCheck[];
    readonly onResult?: (result: CheckResult) => void;
  } = {},
): Promise<CheckResult[]> {
  assertBackend(backend);
  const ref = createRef();
  const results: CheckResult[] = [];
  try {
    for (const check of options.checks ?? CHECKS) {
      const result = await runCheck(check, backend, ref, options);
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    ref.destroy();
  }
  return results;
}
