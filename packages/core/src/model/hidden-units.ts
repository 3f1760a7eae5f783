import type { Backend, Tensor } from '../backend/types.js';
import { ArgumentError } from '../errors.js';
import type { DeviceRandom } from '../random/device.js';

/**
 * Hidden-unit types. Each owns what differs between them, given the input x = v W + b (Gaussian visible
 * units: v / sigma^2 in place of v): the statistic the gradient uses, how h is sampled, and the hidden
 * layer summed (integrated) out, where that has a closed form:
 *
 *   bernoulli: h in {0, 1},  E[h | v] = sigmoid(x),  log sum_h exp(h x) = softplus(x)
 *   gaussian:  h in R with the energy term h^2 / 2 (unit variance: "linear units" with Gaussian noise),
 *              p(h | v) = N(x, 1),  log int exp(-h^2 / 2 + h x) dh = x^2 / 2 + log(2 pi) / 2
 *   nrelu:     noisy rectified linear units (Nair & Hinton 2010): h = max(0, x + N(0, sigmoid(x))), an
 *              approximation to infinitely many tied binary units with offset biases; the gradient uses
 *              max(0, x) as Nair & Hinton do. Their free energy has no closed form, so what needs it
 *              (exact values, AIS, the free-energy gap, pseudo-likelihood) is refused for them.
 */
export type HiddenUnits = 'bernoulli' | 'gaussian' | 'nrelu';

export const HIDDEN_UNITS: readonly HiddenUnits[] = ['bernoulli', 'gaussian', 'nrelu'];

export interface HiddenUnitType {
  readonly name: HiddenUnits;
  /** Whether h is 0/1 (what tempering, AIS, exact evaluation and stacking assume). */
  readonly binary: boolean;
  /** Whether {@link sample} reads the input x besides the mean (then `mean` keeps a copy in `input`). */
  readonly needsInput: boolean;
  /**
   * In place: `x` holds the input; leaves the statistic E[h | v] (nrelu: max(0, x)). Types that need the input
   * get `input` (a copy is kept there) and `scratch`, both of x's shape.
   */
  mean(be: Backend, x: Tensor, input: Tensor | undefined, scratch: Tensor | undefined): void;
  /** h ~ p(h | v) from the mean (and the input kept by {@link HiddenUnitType.mean}); `noise` is scratch of h's shape. */
  sample(be: Backend, h: Tensor, mean: Tensor, input: Tensor | undefined, random: DeviceRandom, noise: Tensor): void;
  /**
   * In place on x [B, nh] (overwritten), out[B, 1] = sum_j log int exp(-e(h_j) + h_j x_j) dh_j, without the
   * constant {@link HiddenUnitType.constantPerUnit} per unit; undefined where there is no closed form.
   */
  logSumOverHidden?(be: Backend, out: Tensor, x: Tensor): void;
  /** The constant per unit that {@link logSumOverHidden} leaves out (gaussian: log(2 pi) / 2). */
  readonly constantPerUnit: number;
  /** out[B, 1] += -e(h) summed over units (-h^2 / 2 for Gaussian ones; none for binary); scratch [B, nh], column [B, 1]. */
  addHiddenTerm?(be: Backend, out: Tensor, h: Tensor, scratch: Tensor, column: Tensor): void;
}

/** relu(x) = (x + |x|) / 2 with the interface's ops (|x| = sign(x) x), in place on x. */
function relu(be: Backend, x: Tensor, scratch: Tensor): void {
  be.unary('sign', scratch, x);
  be.binary('mul', scratch, scratch, x);
  be.axpby(x, 0.5, x, 0.5, scratch);
}

export const bernoulliHidden: HiddenUnitType = {
  name: 'bernoulli',
  binary: true,
  needsInput: false,
  constantPerUnit: 0,
  mean(be, x) {
    be.unary('sigmoid', x, x);
  },
  sample(be, h, mean, _input, random, noise) {
    random.uniform(noise);
    be.bernoulli(h, mean, noise);
  },
  logSumOverHidden(be, out, x) {
    be.unary('softplus', x, x);
    be.sum(out, x, 1);
  },
};

export const gaussianHidden: HiddenUnitType = {
  name: 'gaussian',
  binary: false,
  needsInput: false,
  constantPerUnit: 0.5 * Math.log(2 * Math.PI),
  mean() {
    // E[h | v] = x.
  },
  sample(be, h, mean, _input, random, noise) {
    random.normal(noise);
    be.binary('add', h, mean, noise);
  },
  logSumOverHidden(be, out, x) {
    be.unary('square', x, x);
    be.sum(out, x, 1);
    be.axpby(out, 0.5, out, 0, out);
  },
  addHiddenTerm(be, out, h, scratch, column) {
    be.unary('square', scratch, h);
    be.sum(column, scratch, 1);
    be.axpby(out, 1, out, -0.5, column);
  },
};

export const nreluHidden: HiddenUnitType = {
  name: 'nrelu',
  binary: false,
  needsInput: true,
  constantPerUnit: 0,
  mean(be, x, input, scratch) {
    be.copy(input!, x);
    relu(be, x, scratch!);
  },
  sample(be, h, _mean, input, random, noise) {
    // h = max(0, x + sqrt(sigmoid(x)) n), sqrt(sigmoid(x)) = exp(-softplus(-x) / 2), n ~ N(0, 1).
    be.unary('neg', h, input!);
    be.unary('softplus', h, h);
    be.axpby(h, -0.5, h, 0, h);
    be.unary('exp', h, h);
    random.normal(noise);
    be.binary('mul', h, h, noise);
    be.binary('add', h, h, input!);
    relu(be, h, noise);
  },
};

export function hiddenUnitType(name: HiddenUnits | undefined): HiddenUnitType {
  if (name === undefined || name === 'bernoulli') return bernoulliHidden;
  if (name === 'gaussian') return gaussianHidden;
  if (name === 'nrelu') return nreluHidden;
  throw new ArgumentError(`hiddenUnits must be one of ${HIDDEN_UNITS.join(', ')}, got ${JSON.stringify(name)}`);
}
