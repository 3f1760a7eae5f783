/**
 * Scalar float64 math shared by the reference backend, the exact evaluators and the host-side model code: one
 * definition each, as the conformance suite defines them.
 */

/** log(1 + e^x) without overflow for large x or loss for very negative x. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** 1 / (1 + e^-x), computed on the side where the exponential cannot overflow. */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log sum_i e^(x_i) over x[start..end), shifted by the maximum; -Infinity for no terms or all -Infinity. */
export function logSumExp(x: ArrayLike<number>, start = 0, end = x.length): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = start; i < end; i++) m = Math.max(m, x[i]!);
  if (m === Number.NEGATIVE_INFINITY) return m;
  let s = 0;
  for (let i = start; i < end; i++) s += Math.exp(x[i]! - m);
  return m + Math.log(s);
}

/** log(e^x + e^y), for combining log-sum-exp partial results. */
export function logAddExp(x: number, y: number): number {
  if (x === Number.NEGATIVE_INFINITY) return y;
  if (y === Number.NEGATIVE_INFINITY) return x;
  const m = Math.max(x, y);
  return m + Math.log(Math.exp(x - m) + Math.exp(y - m));
}
