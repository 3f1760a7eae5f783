/**
 * Independent float64 brute force for tiny models: sums over every (v, h) with plain loops, sharing no
 * code with the library's device path.
 */
import { createDataset, type DbmParameters, RandomStream, type RbmParameters } from '../src/index.js';

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

/** A DBM with N(0, scale^2) weights and biases: far from trivial at scale 1. */
export function randomDbm(sizes: number[], seed: number, scale = 1): DbmParameters {
  const rng = new RandomStream(seed, 0);
  const draw = (n: number) => {
    const x = new Float32Array(n);
    rng.normal(x);
    for (let i = 0; i < n; i++) x[i]! *= scale;
    return x;
  };
  return {
    sizes,
    weights: sizes.slice(0, -1).map((n, l) => draw(n * sizes[l + 1]!)),
    biases: sizes.map((n) => draw(n)),
  };
}

/** Every binary vector of length n, as a dataset of 2^n rows. */
export function allStates(n: number) {
  const data = new Float32Array(2 ** n * n);
  for (let c = 0; c < 2 ** n; c++)
    bits(c, n).forEach((b, i) => {
      data[c * n + i] = b;
    });
  return createDataset(data, 2 ** n, n);
}
