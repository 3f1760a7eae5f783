import type { Precision } from '@rbmjs/core';

/** Unit roundoff of a precision: 2^-24 for float32, 2^-53 for float64. */
export function unitRoundoff(precision: Precision): number {
  return precision === 'float32' ? 2 ** -24 : 2 ** -53;
}

/** Smallest positive normal number: below it, float32 results may be flushed to zero. */
export function tinyNormal(precision: Precision): number {
  return precision === 'float32' ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
  bound: number;
}

/**
 * First index where |actual - expected| > bound(i) (NaN never matches unless both are NaN; equal
 * infinities match), or undefined.
 */
export function firstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: (i: number) => number,
): Mismatch | undefined {
  if (actual.length !== expected.length) {
    return { index: -1, actual: actual.length, expected: expected.length, bound: 0 };
  }
  for (let i = 0; i < expected.length; i++) {
    const x = actual[i]!;
    const y = expected[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (x === y) continue;
    const b = bound(i);
    if (!(Math.abs(x - y) <= b)) return { index: i, actual: x, expected: y, bound: b };
  }
  return undefined;
}

export function describeMismatch(what: string, m: Mismatch | undefined): string {
  if (!m) return `${what}: ok`;
  if (m.index < 0) return `${what}: length ${m.actual}, expected ${m.expected}`;
  return `${what}: element ${m.index} is ${m.actual}, expected ${m.expected} (tolerance ${m.bound.toExponential(2)})`;
}
