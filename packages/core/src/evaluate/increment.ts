import type { Backend, Tensor } from '../backend/types.js';

/** The tensors {@link addSoftplusIncrement} reads and writes. */
export interface SoftplusIncrement {
  /** The units' inputs x, [rows, n]. */
  readonly x: Tensor;
  /** Left holding sigmoid(to x), [rows, n]: the transition at `to` draws from it. */
  readonly p: Tensor;
  /** Workspace, [rows, n] each. */
  readonly work: readonly [Tensor, Tensor];
  /** Workspace, [rows, 1]. */
  readonly col: Tensor;
  /** The constant 1, [1, 1]. */
  readonly one: Tensor;
  /** The log-weights, [rows, 1]: the increment is added. */
  readonly logw: Tensor;
}

/**
 * logw += sum_j softplus(to x_j) - softplus(from x_j) per row (ops only), the summed-out units' share of an
 * annealing step's weight on every path (an RBM's hidden layer, a DBM's odd layers). With d = to - from the
 * identity (exact; Burda et al.'s reverse weights use it too)
 *
 *   softplus(to x) - softplus(from x) = -log(1 - sigmoid(to x) (1 - exp(-d x)))
 *
 * reuses the transition's sigmoid and costs an exp and a log, where two softplus cost four (ONNX Runtime's
 * Softplus is a scalar loop: 6 ms of a 20 ms 784-500 step at 1,000 runs). The terms are formed per unit
 * before the sum, never as a difference of two sums of n softplus values (hundreds of nats, of which float32
 * keeps only the absolute error). exp(-d x) must not overflow or underflow: where |d| max|x| may exceed 60 (a
 * coarse schedule; |d| because a reverse step has d < 0), the two softplus, still differenced per unit.
 */
export function addSoftplusIncrement(
  be: Backend,
  t: SoftplusIncrement,
  from: number,
  to: number,
  maxAbsInput: number,
): void {
  const { x, p, col, one, logw } = t;
  const [a, b] = t.work;
  be.axpby(p, to, x, 0, x);
  be.unary('sigmoid', p, p);
  if (Math.abs(to - from) * maxAbsInput <= 60) {
    be.axpby(a, from - to, x, 0, x);
    be.unary('exp', a, a);
    be.binary('sub', a, a, one);
    be.binary('mul', a, a, p);
    be.binary('add', a, a, one);
    be.unary('log', a, a);
    be.sum(col, a, 1);
    be.binary('sub', logw, logw, col);
  } else {
    be.axpby(a, to, x, 0, x);
    be.unary('softplus', a, a);
    be.axpby(b, from, x, 0, x);
    be.unary('softplus', b, b);
    be.binary('sub', a, a, b);
    be.sum(col, a, 1);
    be.binary('add', logw, logw, col);
  }
}

/**
 * out = sum_j x_j sigmoid(beta x_j) per row, [rows, 1] (ops only): d/dbeta of the summed-out units' share of
 * log p*_beta, the slope an adaptive schedule steps by. `work` is [rows, n].
 */
export function softplusSlope(be: Backend, out: Tensor, x: Tensor, work: Tensor, beta: number): void {
  be.axpby(work, beta, x, 0, x);
  be.unary('sigmoid', work, work);
  be.binary('mul', work, work, x);
  be.sum(out, work, 1);
}
