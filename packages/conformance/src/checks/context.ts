import { RandomStream, Streams } from '@rbmjs/core';
import type { Backend, HostArray, Tensor } from '@rbmjs/core/backend';
import { describeMismatch, firstMismatch, tinyNormal, unitRoundoff } from '../tolerance.js';

/**
 * The conformance checks, as plain data: each is a name, a group and an async function of a
 * {@link CheckContext}. Nothing here imports a test framework, so the same checks run under vitest in Node
 * (`describeBackend`, suite.ts) and in a browser (`runChecks`, the demo's check.html). A check that cannot
 * run on a backend says so with {@link CheckContext.skip} and a reason; it is reported as skipped, never
 * dropped.
 *
 * Every numeric comparison is against core's float64 reference backend, with a bound derived from the
 * backend's precision (u = 2^-24 for float32): matrix products within (2k + 4) u sum|a||b|, elementwise
 * functions within (8 + 2|x|) u relative (log: plus 2^-21 absolute, the WGSL/GLSL accuracy of log),
 * reductions within (n + 2) u scale n, trained parameters within 1e3 u + 1e-6.
 */

export interface ConformanceCheck {
  readonly group: string;
  readonly name: string;
  /** Time limit under vitest, in ms (default: the runner's). */
  readonly timeoutMs?: number;
  run(ctx: CheckContext): Promise<void> | void;
}

export interface CheckOptions {
  /** Extra slack on every tolerance (default 1). */
  readonly toleranceScale?: number;
  /**
   * Largest inner dimension the matMul sweep uses (default 1500: above gpu.js's 1000-iteration loop cap).
   * Shapes beyond it are reported as skipped.
   */
  readonly maxInner?: number;
}

/** A check failed: the message says what, where and by how much. */
export class CheckFailure extends Error {}

/** A check cannot run on this backend; the reason is reported. */
export class CheckSkipped extends Error {}

export class CheckContext {
  readonly backend: Backend;
  /** The float64 reference backend. */
  readonly ref: Backend;
  readonly options: Required<CheckOptions>;
  /** The worst |actual - expected| / bound seen (at most 1 when the check passes), and where. */
  worst = 0;
  where = '';
  /** Parts of the check skipped, with their reasons (the check still passes on the rest). */
  readonly skipped: string[] = [];

  constructor(backend: Backend, ref: Backend, options: CheckOptions = {}) {
    this.backend = backend;
    this.ref = ref;
    this.options = { toleranceScale: options.toleranceScale ?? 1, maxInner: options.maxInner ?? 1500 };
  }

  /** The unit roundoff of the backend's precision, times the tolerance scale. */
  get eps(): number {
    return unitRoundoff(this.backend.precision) * this.options.toleranceScale;
  }

  get tiny(): number {
    return tinyNormal(this.backend.precision);
  }

  /** Uploads the same data to the backend and the reference. */
  pair(rows: number, cols: number, data?: HostArray): [Tensor, Tensor] {
    return [this.backend.tensor(rows, cols, data), this.ref.tensor(rows, cols, data)];
  }

  /** Fails unless every element is within its bound; records the worst ratio. */
  close(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, bound: (i: number) => number): void {
    // firstMismatch asks for the bound only where the values differ: the ratio is taken there, in one pass.
    const mismatch = firstMismatch(actual, expected, (i) => {
      const b = bound(i);
      const r = Math.abs(actual[i]! - expected[i]!) / b;
      if (r > this.worst) [this.worst, this.where] = [r, what];
      return b;
    });
    if (mismatch) {
      this.worst = Number.POSITIVE_INFINITY;
      this.where = what;
      throw new CheckFailure(describeMismatch(what, mismatch));
    }
  }

  /** Fails with `message` unless `condition`. */
  that(condition: boolean, message: string): void {
    if (!condition) throw new CheckFailure(message);
  }

  equal<T>(actual: T, expected: T, what: string): void {
    // Non-finite numbers as themselves (JSON would print -Infinity as null).
    const show = (x: unknown) =>
      JSON.stringify(x, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
    const a = show(actual);
    const e = show(expected);
    if (a !== e) throw new CheckFailure(`${what}: got ${a}, expected ${e}`);
  }

  /** Fails unless `fn` throws an error of class `type` whose message matches `pattern` (when given). */
  throws(fn: () => unknown, type: abstract new (...args: never[]) => Error, what: string, pattern?: RegExp): void {
    try {
      fn();
    } catch (error) {
      this.that(error instanceof type, `${what}: threw ${String(error)}, expected a ${type.name}`);
      if (pattern) this.that(pattern.test((error as Error).message), `${what}: message ${String(error)}`);
      return;
    }
    throw new CheckFailure(`${what}: did not throw`);
  }

  /** Skips the whole check with a reason. */
  skip(reason: string): never {
    throw new CheckSkipped(reason);
  }
}

/** Deterministic test inputs: uniform in [lo, hi), rounded to float32. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const u = new Float32Array(n);
  new RandomStream(seed, Streams.conformance).uniform(u);
  for (let i = 0; i < n; i++) u[i] = lo + (hi - lo) * u[i]!;
  return u;
}
