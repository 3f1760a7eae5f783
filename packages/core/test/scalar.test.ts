import { describe, expect, it } from 'vitest';
import { logAddExp, logSumExp, sigmoid, softplus } from '../src/backend/scalar.js';

describe('scalar float64 math (one definition each)', () => {
  it('softplus and sigmoid hold where the naive forms overflow or lose every digit', () => {
    expect(softplus(0)).toBe(Math.LN2);
    expect(softplus(1000)).toBe(1000);
    expect(softplus(-800)).toBe(Math.exp(-800)); // log1p(e^-800): the naive log(1 + e^-800) gives 0
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(1000)).toBe(1);
    for (const x of [-30, -2.5, 0, 0.7, 40]) expect(sigmoid(x) + sigmoid(-x)).toBeCloseTo(1, 15);
  });

  it('logSumExp is shifted by the maximum, reads a range, and is -Infinity with no mass', () => {
    expect(logSumExp([0, 0])).toBe(Math.LN2);
    expect(logSumExp([1000, 1000])).toBe(1000 + Math.LN2);
    expect(logSumExp([-1000, -1000])).toBe(-1000 + Math.LN2);
    const x = [5, 1, 2, 3, 9];
    expect(logSumExp(x, 1, 4)).toBeCloseTo(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)), 14);
    expect(logSumExp([])).toBe(Number.NEGATIVE_INFINITY);
    expect(logSumExp([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY])).toBe(Number.NEGATIVE_INFINITY);
  });

  it('logAddExp combines partial sums as logSumExp of their union would', () => {
    const a = [0.5, -2, 3];
    const b = [7, -1];
    expect(logAddExp(logSumExp(a), logSumExp(b))).toBeCloseTo(logSumExp([...a, ...b]), 14);
    expect(logAddExp(Number.NEGATIVE_INFINITY, 4)).toBe(4);
    expect(logAddExp(4, Number.NEGATIVE_INFINITY)).toBe(4);
    expect(logAddExp(2, 3)).toBe(logAddExp(3, 2));
  });
});
