import type { Backend, Tensor } from '../backend/types.js';
import type { Ratings } from '../data/ratings.js';

/**
 * The device side of a batch of users of the collaborative-filtering RBM (./collaborative.ts): their
 * ratings as K one-hot matrices and a mask, and the scratch tensors of a step or a prediction pass.
 */

/** The items each user is known to have rated (their ratings, and the pairs to predict): the conditional RBM's r. */
export function ratedSets(sets: readonly Ratings[], users: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let u = 0; u < users; u++) {
    const items = new Set<number>();
    for (const r of sets) {
      if (u + 1 >= r.userStart.length) continue;
      for (let k = r.userStart[u]!; k < r.userStart[u + 1]!; k++) items.add(r.item[k]!);
    }
    out.push(Int32Array.from(items));
  }
  return out;
}

/** Host staging and device tensors of a batch of B users: V_k, the mask, and r. */
export class BatchInput {
  readonly V: Tensor[];
  readonly mask: Tensor;
  readonly rated: Tensor;
  private readonly hostV: Float32Array[];
  private readonly hostMask: Float32Array;
  private readonly hostRated: Float32Array;

  constructor(
    private readonly backend: Backend,
    readonly rows: number,
    private readonly items: number,
    levels: number,
  ) {
    this.V = Array.from({ length: levels }, () => backend.tensor(rows, items));
    this.mask = backend.tensor(rows, items);
    this.rated = backend.tensor(rows, items);
    this.hostV = Array.from({ length: levels }, () => new Float32Array(rows * items));
    this.hostMask = new Float32Array(rows * items);
    this.hostRated = new Float32Array(rows * items);
  }

  /** Uploads users' ratings (row n: users[n]); `rated[u]` the conditional RBM's r of user u. */
  load(r: Ratings, users: ArrayLike<number>, rated: readonly Int32Array[] | undefined): void {
    const M = this.items;
    for (const a of this.hostV) a.fill(0);
    this.hostMask.fill(0);
    this.hostRated.fill(0);
    for (let n = 0; n < users.length; n++) {
      const u = users[n]!;
      if (u + 1 < r.userStart.length)
        for (let k = r.userStart[u]!; k < r.userStart[u + 1]!; k++) {
          this.hostV[r.level[k]!]![n * M + r.item[k]!] = 1;
          this.hostMask[n * M + r.item[k]!] = 1;
        }
      if (rated) for (const i of rated[u]!) this.hostRated[n * M + i] = 1;
    }
    this.hostV.forEach((a, k) => {
      this.backend.write(this.V[k]!, a);
    });
    this.backend.write(this.mask, this.hostMask);
    if (rated) this.backend.write(this.rated, this.hostRated);
  }

  /** Bytes one {@link load} uploads (at most): K one-hot matrices, the mask and r, float32. */
  get uploadBytes(): number {
    return 4 * (this.V.length + 2) * this.rows * this.items;
  }

  dispose(): void {
    for (const t of [...this.V, this.mask, this.rated]) this.backend.dispose(t);
  }
}

/** Device scratch of a batch: hidden and visible layers and the sampler's temporaries. */
export class Workspace {
  readonly input: BatchInput;
  readonly ph0: Tensor;
  readonly ph: Tensor;
  readonly h: Tensor;
  readonly uh: Tensor;
  readonly dh: Tensor;
  readonly P: Tensor[];
  readonly Vn: Tensor[];
  readonly lse: Tensor;
  readonly tmp: Tensor;
  readonly u: Tensor;
  readonly c: Tensor;
  readonly s: [Tensor, Tensor];
  readonly gh: Tensor;
  readonly ga: Tensor;

  constructor(
    private readonly backend: Backend,
    rows: number,
    items: number,
    hidden: number,
    levels: number,
  ) {
    const t = (r: number, c: number) => backend.tensor(r, c);
    this.input = new BatchInput(backend, rows, items, levels);
    [this.ph0, this.ph, this.h, this.uh, this.dh] = [0, 1, 2, 3, 4].map(() => t(rows, hidden)) as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    this.P = Array.from({ length: levels }, () => t(rows, items));
    this.Vn = Array.from({ length: levels }, () => t(rows, items));
    [this.lse, this.tmp, this.u, this.c] = [0, 1, 2, 3].map(() => t(rows, items)) as [Tensor, Tensor, Tensor, Tensor];
    this.s = [t(rows, items), t(rows, items)];
    this.gh = t(1, hidden);
    this.ga = t(1, items);
  }

  /** Tensors whose contents nobody reads after a step (a compiling backend need not give them back). */
  get scratch(): Tensor[] {
    return [
      this.ph0,
      this.ph,
      this.h,
      this.uh,
      this.dh,
      ...this.P,
      ...this.Vn,
      this.lse,
      this.tmp,
      this.u,
      this.c,
      ...this.s,
      this.gh,
      this.ga,
    ];
  }

  dispose(): void {
    this.input.dispose();
    for (const t of this.scratch) this.backend.dispose(t);
  }
}
