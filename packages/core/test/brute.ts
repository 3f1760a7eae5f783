/**
 * Independent float64 brute force for tiny models: sums over every (v, h) with plain loops, sharing no
 * code with the library's device path.
 */
import type { RbmParameters } from '../src/index.js';

export function bits(index: number, n: number): number[] {
  return Array.from({ length: n }, (_, j) => (index >> j) & 1);
}

export function bruteEnergy(p: RbmParameters, v: number[], h: number[]): number {
  let e = 0;
  for (let i = 0; i < p.numVisible; i++) e -= p.visibleBias[i]! * v[i]!;
  for (let j = 0; j < p.numHidden; j++) e -= p.hiddenBias[j]! * h[j]!;
  for (let i = 0; i < p.numVisible; i++)
    for (let j = 0; j < p.numHidden; j++) e -= v[i]! * p.weights[i * p.numHidden + j]! * h[j]!;
  return e;
}

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

/** F(v) = -log sum_h exp(-E(v, h)). */
export function bruteFreeEnergy(p: RbmParameters, v: number[]): number {
  const terms: number[] = [];
  for (let s = 0; s < 2 ** p.numHidden; s++) terms.push(-bruteEnergy(p, v, bits(s, p.numHidden)));
  return -logSumExp(terms);
}

/** log Z = log sum_{v,h} exp(-E(v, h)). */
export function bruteLogZ(p: RbmParameters): number {
  const terms: number[] = [];
  for (let sv = 0; sv < 2 ** p.numVisible; sv++)
    for (let sh = 0; sh < 2 ** p.numHidden; sh++)
      terms.push(-bruteEnergy(p, bits(sv, p.numVisible), bits(sh, p.numHidden)));
  return logSumExp(terms);
}

/** Random parameters with a given scale, from a simple LCG (independent of the library's Philox). */
export function randomParameters(numVisible: number, numHidden: number, scale: number, seed = 1): RbmParameters {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const fill = (n: number) => Float32Array.from({ length: n }, () => 2 * scale * rand());
  return {
    numVisible,
    numHidden,
    weights: fill(numVisible * numHidden),
    visibleBias: fill(numVisible),
    hiddenBias: fill(numHidden),
  };
}
