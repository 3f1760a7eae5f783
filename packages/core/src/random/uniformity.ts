/**
 * Whether a sample looks like independent draws of U[0, 1): every value in [0, 1), and the mean, the variance
 * and the lag-1 autocorrelation each within `sigmas` standard errors of 1/2, 1/12 and 0 (standard errors
 * sqrt(1/(12n)), sqrt(1/(180n)) and 1/sqrt(n)). For checking a generator, on the host or on a device; the
 * failures say which figure is off and by how much (none: it passes).
 */
export function uniformityFailures(x: ArrayLike<number>, sigmas = 6): string[] {
  const n = x.length;
  const failures: string[] = [];
  let mean = 0;
  for (let i = 0; i < n; i++) {
    if (!(x[i]! >= 0 && x[i]! < 1) && failures.length === 0) failures.push(`value ${i} is ${x[i]}, outside [0, 1)`);
    mean += x[i]!;
  }
  mean /= n;
  let variance = 0;
  let lag = 0;
  for (let i = 0; i < n; i++) {
    variance += (x[i]! - mean) ** 2;
    if (i > 0) lag += (x[i]! - mean) * (x[i - 1]! - mean);
  }
  variance /= n;
  lag /= (n - 1) * variance;
  const figures: Array<[string, number, number, number]> = [
    ['mean', mean, 0.5, Math.sqrt(1 / 12 / n)],
    ['variance', variance, 1 / 12, Math.sqrt(1 / 180 / n)],
    ['lag-1 correlation', lag, 0, 1 / Math.sqrt(n)],
  ];
  for (const [name, value, expected, se] of figures)
    if (!(Math.abs(value - expected) < sigmas * se))
      failures.push(`${name} ${value}, expected ${expected} within ${sigmas} standard errors (${se.toExponential(2)})`);
  return failures;
}
