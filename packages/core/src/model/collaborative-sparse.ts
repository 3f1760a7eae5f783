import { constant } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { Ratings } from '../data/ratings.js';
import type { DeviceRandom } from '../random/device.js';
import { uniformsAt } from '../random/philox.js';
import { type CollaborativeModel, sampleLevels, softmaxLevels } from './collaborative.js';

/**
 * A batch of users of the collaborative-filtering RBM (./collaborative.ts) as its ratings, not as matrices
 * over every item: N (user, item, level) triples, so a user with 3 ratings costs 3 rows and one with 1,700
 * costs 1,700 (S, M & H 2007 train on Netflix this way: "each user's RBM has only the softmax units of the
 * movies that user rated"). With G_k = W_k gathered at the triples' items ([N, H], one per level):
 *
 *   p(h | V)       = sigmoid(b + scatter_users(sum_k [l = k] G_k) + scatter_users(D gathered at r))
 *   logit_k(t)     = a_k[i_t] + G_k[t] . h[u_t]           (only rated items are reconstructed)
 *   dW_k           = scatter_items(e ([l = k] p(h | V)[u_t] - v~_k(t) p(h | V~)[u_t]))
 *
 * where scatter adds rows by index (`Backend.scatterAdd`) and gather picks them (`Backend.gather`). Every
 * number is the dense batch's (./collaborative-batch.ts), summed in another order; the visible draws use the
 * dense batch's uniforms at the rated cells ({@link uniformsAt}), so both batches make the same samples.
 *
 * Shapes are padded to a few sizes ({@link paddedRows}) so that a compiling backend sees few structures:
 * padded triples have no level (all [l = k] are 0) and mask 0, so they add nothing anywhere.
 */

/**
 * N rounded up to 4 sizes an octave (at most 25% padding, 12% on average), at least 16: the sizes a compiled
 * step sees (a backend that compiles each structure once should see few).
 */
export function paddedRows(n: number): number {
  if (n <= 16) return 16;
  const step = 2 ** (Math.floor(Math.log2(n)) - 2);
  return Math.ceil(n / step) * step;
}

/** The triples of a batch on the device, their host staging, and the step's scratch. */
export class SparseBatch {
  /** Triples, padded ([N, 1] each): the user's row in the batch, the item, level one-hots, 1 where real. */
  readonly user: Tensor;
  readonly item: Tensor;
  readonly level: Tensor[];
  readonly mask: Tensor;
  /** The conditional RBM's r as pairs (R padded): user row, item, 1 where real. */
  readonly ratedUser: Tensor | undefined;
  readonly ratedItem: Tensor | undefined;
  readonly ratedMask: Tensor | undefined;
  /** Scratch: G_k [N, H], two [N, H], the [N, 1] sampler's, [B, H] layers, [items, 1] bias columns. */
  readonly G: Tensor[];
  readonly x: Tensor;
  readonly y: Tensor;
  readonly P: Tensor[];
  readonly Vn: Tensor[];
  readonly lse: Tensor;
  readonly tmp: Tensor;
  readonly u: Tensor;
  readonly c: Tensor;
  readonly s: [Tensor, Tensor];
  readonly ph0: Tensor;
  readonly ph: Tensor;
  readonly h: Tensor;
  readonly uh: Tensor;
  readonly dh: Tensor;
  readonly gh: Tensor;
  readonly aColumn: Tensor[];
  readonly gaColumn: Tensor;
  readonly ga: Tensor;
  readonly dg: Tensor | undefined;
  /** The number of real triples of the last load, and each one's cell n * items + i in the dense batch. */
  count = 0;
  private readonly cells: Float64Array;
  private readonly uniforms: Float32Array;
  private readonly host: { user: Float32Array; item: Float32Array; level: Float32Array[]; mask: Float32Array };
  private readonly hostRated: { user: Float32Array; item: Float32Array; mask: Float32Array } | undefined;

  constructor(
    private readonly backend: Backend,
    readonly users: number,
    readonly rows: number,
    readonly ratedRows: number | undefined,
    private readonly items: number,
    hidden: number,
    levels: number,
  ) {
    const t = (r: number, c: number) => backend.tensor(r, c);
    const N = rows;
    this.user = t(N, 1);
    this.item = t(N, 1);
    this.level = Array.from({ length: levels }, () => t(N, 1));
    this.mask = t(N, 1);
    this.host = {
      user: new Float32Array(N),
      item: new Float32Array(N),
      level: Array.from({ length: levels }, () => new Float32Array(N)),
      mask: new Float32Array(N),
    };
    if (ratedRows !== undefined) {
      [this.ratedUser, this.ratedItem, this.ratedMask] = [t(ratedRows, 1), t(ratedRows, 1), t(ratedRows, 1)];
      this.hostRated = {
        user: new Float32Array(ratedRows),
        item: new Float32Array(ratedRows),
        mask: new Float32Array(ratedRows),
      };
      this.dg = t(ratedRows, hidden);
    }
    this.G = Array.from({ length: levels }, () => t(N, hidden));
    [this.x, this.y] = [t(N, hidden), t(N, hidden)];
    this.P = Array.from({ length: levels }, () => t(N, 1));
    this.Vn = Array.from({ length: levels }, () => t(N, 1));
    [this.lse, this.tmp, this.u, this.c] = [t(N, 1), t(N, 1), t(N, 1), t(N, 1)];
    this.s = [t(N, 1), t(N, 1)];
    [this.ph0, this.ph, this.h, this.uh, this.dh] = [0, 1, 2, 3, 4].map(() => t(users, hidden)) as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    this.gh = t(1, hidden);
    this.aColumn = Array.from({ length: levels }, () => t(items, 1));
    this.gaColumn = t(items, 1);
    this.ga = t(1, items);
    this.cells = new Float64Array(N);
    this.uniforms = new Float32Array(N);
  }

  /** Triples and r-pairs a batch of `users` needs (before padding). */
  static sizes(r: Ratings, users: ArrayLike<number>, rated: readonly Int32Array[] | undefined): [number, number] {
    let n = 0;
    let nr = 0;
    for (let k = 0; k < users.length; k++) {
      const u = users[k]!;
      if (u + 1 < r.userStart.length) n += r.userStart[u + 1]! - r.userStart[u]!;
      if (rated) nr += rated[u]!.length;
    }
    return [n, nr];
  }

  /** Uploads the users' ratings (row n: users[n]) as triples, and r as pairs. */
  load(r: Ratings, users: ArrayLike<number>, rated: readonly Int32Array[] | undefined): void {
    const { user, item, level, mask } = this.host;
    const M = this.items;
    for (const a of [user, item, mask, ...level]) a.fill(0);
    let t = 0;
    for (let n = 0; n < users.length; n++) {
      const u = users[n]!;
      if (u + 1 >= r.userStart.length) continue;
      for (let k = r.userStart[u]!; k < r.userStart[u + 1]!; k++, t++) {
        const i = r.item[k]!;
        [user[t], item[t], mask[t]] = [n, i, 1];
        level[r.level[k]!]![t] = 1;
        this.cells[t] = n * M + i;
      }
    }
    this.count = t;
    const be = this.backend;
    be.write(this.user, user);
    be.write(this.item, item);
    be.write(this.mask, mask);
    level.forEach((a, k) => {
      be.write(this.level[k]!, a);
    });
    if (rated && this.hostRated) {
      const h = this.hostRated;
      for (const a of [h.user, h.item, h.mask]) a.fill(0);
      let q = 0;
      for (let n = 0; n < users.length; n++)
        for (const i of rated[users[n]!]!) [h.user[q], h.item[q], h.mask[q++]] = [n, i, 1];
      be.write(this.ratedUser!, h.user);
      be.write(this.ratedItem!, h.item);
      be.write(this.ratedMask!, h.mask);
    }
  }

  /**
   * u = the uniforms the dense batch's [users, items] draw would put at the rated cells (advancing `random`
   * by that whole draw), so that the sparse and the dense step sample alike.
   */
  drawUniforms(random: DeviceRandom): void {
    const rng = random.rng;
    const offset = rng.reserve(this.users * this.items);
    this.uniforms.fill(0);
    uniformsAt(this.uniforms.subarray(0, this.count), this.cells, rng.k0, rng.k1, rng.stream, offset);
    this.backend.write(this.u, this.uniforms);
  }

  /** Bytes one {@link load} and its draws upload (at most). */
  get uploadBytes(): number {
    return 4 * ((this.level.length + 4) * this.rows + 3 * (this.ratedRows ?? 0));
  }

  /** Tensors whose contents nobody reads after a step. */
  get scratch(): Tensor[] {
    return [
      ...this.G,
      this.x,
      this.y,
      ...this.P,
      ...this.Vn,
      this.lse,
      this.tmp,
      this.u,
      this.c,
      ...this.s,
      this.ph0,
      this.ph,
      this.h,
      this.uh,
      this.dh,
      this.gh,
      ...this.aColumn,
      this.gaColumn,
      this.ga,
      ...(this.dg ? [this.dg] : []),
    ];
  }

  dispose(): void {
    const inputs = [this.user, this.item, ...this.level, this.mask, this.ratedUser, this.ratedItem, this.ratedMask];
    for (const t of [...inputs, ...this.scratch]) if (t) this.backend.dispose(t);
  }
}

/**
 * The K weight rows of every triple's item, G_k = W_k[i_t] ([N, H]), and the visible biases as columns
 * a_k^T ([items, 1], for gathering): once per step, since W and a change only between steps.
 */
export function gatherItemRows(model: CollaborativeModel, batch: SparseBatch, one: Tensor): void {
  const be = model.backend;
  model.W.forEach((w, k) => {
    be.gather(batch.G[k]!, w, batch.item);
  });
  model.a.forEach((a, k) => {
    be.matMul(batch.aColumn[k]!, a, one, { transposeA: true });
  });
}

/** out [B, H] = p(h = 1 | V, r) from level one-hots V_k ([N, 1]: the data's or a sampled reconstruction). */
export function sparseHiddenProbabilities(
  model: CollaborativeModel,
  batch: SparseBatch,
  out: Tensor,
  V: readonly Tensor[],
): void {
  const be = model.backend;
  const { x, y } = batch;
  V.forEach((v, k) => {
    be.binary('mul', k === 0 ? x : y, batch.G[k]!, v);
    if (k > 0) be.binary('add', x, x, y);
  });
  be.fill(out, 0);
  be.scatterAdd(out, batch.user, x);
  if (model.D && batch.dg) {
    be.gather(batch.dg, model.D, batch.ratedItem!);
    be.binary('mul', batch.dg, batch.dg, batch.ratedMask!);
    be.scatterAdd(out, batch.ratedUser!, batch.dg);
  }
  be.binary('add', out, out, model.b);
  be.unary('sigmoid', out, out);
}

/**
 * P_k [N, 1] = p(v^k = 1 | h) at the rated items only: softmax over levels of a_k[i_t] + G_k[t] . h[u_t]. Then
 * Vn_k, one draw per triple with the dense batch's uniforms.
 */
export function sparseReconstruction(model: CollaborativeModel, batch: SparseBatch, random: DeviceRandom): void {
  const be = model.backend;
  const { x, y, P } = batch;
  be.gather(y, batch.h, batch.user);
  P.forEach((p, k) => {
    be.binary('mul', x, batch.G[k]!, y);
    be.sum(p, x, 1);
    be.gather(batch.tmp, batch.aColumn[k]!, batch.item);
    be.binary('add', p, p, batch.tmp);
  });
  softmaxLevels(be, P, batch.lse, batch.tmp);
  batch.drawUniforms(random);
  sampleLevels(be, batch.Vn, P, batch.mask, batch);
}

/** A [1, 1] tensor holding 1, for products that transpose a row or a column. */
export function oneOn(be: Backend): Tensor {
  return constant(be, be.tensor(1, 1, Float32Array.of(1)));
}
