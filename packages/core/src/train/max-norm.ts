import type { Tensor } from '../backend/types.js';
import { declarePart, option, read, real } from './declare.js';
import type { GradientTerm, PartContext } from './parts.js';

export interface MaxNormOptions {
  /**
   * Max-norm: after each update, every hidden unit's incoming weight vector (a column of W) whose L2 norm
   * exceeds this bound is scaled back onto it (Srivastava et al. 2014, section 5.1; Hinton's guide,
   * section 10). Off by default.
   */
  readonly maxNorm?: number;
}

/**
 * The max-norm constraint ||W_:j||_2 <= c, applied after the parameter update:
 *
 *   W_:j <- W_:j * min(1, c / ||W_:j||).
 *
 * The backend interface has no min or sqrt, so the factor is formed from its elementwise ops:
 * r = c / ||W_:j|| = exp(log c - log(||W_:j||^2 + tiny) / 2), and min(1, r) = 1 - relu(1 - r) with
 * relu(d) = (d + d sign(d)) / 2. A column within the bound gets exactly 1 (d + |d| is exactly 0 for d <= 0),
 * so it is left bit for bit as it was. No state: nothing to checkpoint.
 */
export class MaxNorm implements GradientTerm {
  readonly name = 'max-norm';
  private readonly ctx: PartContext;
  /** Squares of W [nv, nh]; the factor, a sign, ones, log c and the tiny that keeps log finite [1, nh]. */
  private readonly squares: Tensor;
  private readonly row: readonly [Tensor, Tensor, Tensor, Tensor, Tensor];

  constructor(ctx: PartContext, bound: number) {
    this.ctx = ctx;
    const { numVisible: nv, numHidden: nh } = ctx.model;
    this.squares = ctx.scope.tensor(nv, nh);
    const [factor, sign, ones, logBound, tiny] = [1, 0, 1, Math.log(bound), 1e-30].map((x) => {
      const t = ctx.scope.tensor(1, nh);
      ctx.backend.fill(t, x);
      return t;
    });
    this.row = [factor!, sign!, ones!, logBound!, tiny!];
  }

  update(): void {
    const { backend: be, model: m } = this.ctx;
    const [r, sign, ones, logBound, tiny] = this.row;
    be.unary('square', this.squares, m.W);
    be.sum(r, this.squares, 0); // ||W_:j||^2
    be.binary('add', r, r, tiny);
    be.unary('log', r, r);
    be.axpby(r, -0.5, r, 1, logBound);
    be.unary('exp', r, r); // r = c / ||W_:j||
    be.axpby(r, 1, ones, -1, r); // d = 1 - r
    be.unary('sign', sign, r);
    be.binary('mul', sign, sign, r); // |d|
    be.axpby(r, -0.5, r, -0.5, sign); // -relu(d)
    be.binary('add', r, r, ones); // min(1, c / ||W_:j||)
    be.binary('mul', m.W, m.W, r);
  }

  /** Its workspace: nothing in it is read before it is written. */
  scratch(): Tensor[] {
    return [this.squares, this.row[0], this.row[1]];
  }
}

const MAX_NORM = option(
  'maxNorm',
  "bound on the L2 norm of each hidden unit's incoming weights, applied after every update",
  real(0, Number.POSITIVE_INFINITY, '(]'),
);

export const maxNormPart = declarePart<MaxNormOptions>({
  name: 'max-norm',
  options: [MAX_NORM],
  resolve(raw, _done, ctx) {
    const maxNorm = read<number | undefined>(MAX_NORM, raw, ctx);
    return maxNorm === undefined ? {} : { maxNorm };
  },
  build: (ctx, o) => (o.maxNorm === undefined ? undefined : new MaxNorm(ctx, o.maxNorm)),
});
