import type { onnxProto } from '@rbmjs/core/backend';

type Attribute = onnxProto.Attribute;
type Node = onnxProto.Node;

/**
 * Peephole rewrites of a written graph, each of which saves a pass over memory (a CPU's elementwise ops and
 * accumulations are bandwidth-bound: at 784-500 one pass over [784, 500] costs about a matrix product at
 * batch 10). Every rewrite gives the same value up to float32 rounding (a product's scale applied to an
 * operand instead of the result; two products summed in one):
 *
 * - Gemm(a1, b1) + Gemm(a2, b2) -> Gemm(Concat(a1, a2), Concat(b1, b2)): the weight gradient
 *   v0^T p(h | v0) - vk^T p(h | vk) as one product over the stacked batch and chains;
 * - Gemm(a, b) * s, s a scalar -> Gemm(a, b * s) or Gemm(a * s, b), scaling the smaller operand: the learning
 *   rate;
 * - Gemm(a, b) + c -> Gemm(a, b, c) (c broadcast to the product's shape): a bias, or the parameter that the
 *   step's update accumulates into (W <- W + lr (v0^T h0 - vk^T hk) is one Gemm);
 * - ReduceSum(x * x) -> ReduceSumSquare(x);
 * - Gemm(S, B) with S a constant whose rows each hold one 1 (the rest 0) -> Gather(B, rows), and Gemm(A, S)
 *   with one 1 in each column of S -> Gather(A, columns, axis 1): a softmax group's columns, a classifier's
 *   label rows of W, read instead of multiplied: the same values where the other rows (or
 *   columns) are finite; where one holds an infinity or NaN the product is NaN (0 * infinity) and the
 *   gather is not. A diverged W is caught by the trainer's own check of W, which reads it whole.
 */
export interface RewriteGraph {
  /** Topologically ordered; rewritten in place. */
  readonly nodes: Node[];
  /** Shapes of the values (graph inputs, constants and node outputs); rewrites add their new values. */
  readonly dims: Map<string, readonly number[]>;
  /** Values that are graph outputs: they keep their producer. */
  readonly outputs: ReadonlySet<string>;
  /** The int64 axes a constant holds, for ReduceSum's axes input. */
  readonly axesOf: (name: string) => readonly number[] | undefined;
  /** The values of a constant float input (a tensor declared constant), row-major. */
  readonly valuesOf: (name: string) => Float32Array | undefined;
  /** An int64 constant of these values (shared by name). */
  readonly int64Constant: (xs: number[]) => string;
  readonly fresh: (stem: string) => string;
}

const flag = (n: Node, name: string) => (n.attributes ?? []).some((a) => a.name === name && a.int === 1);
const size = (d: readonly number[] | undefined) => (d ? d.reduce((s, x) => s * x, 1) : Number.POSITIVE_INFINITY);

/** Producers, positions and consumer counts of the current node list. */
function view(g: RewriteGraph) {
  const producer = new Map<string, Node>();
  const consumers = new Map<string, number>();
  g.nodes.forEach((n) => {
    producer.set(n.output[0]!, n);
    for (const x of n.input) consumers.set(x, (consumers.get(x) ?? 0) + 1);
  });
  return {
    producer,
    /** x's producer, when x is used once and is no graph output (so the producer may be merged away). */
    single: (x: string | undefined) =>
      x !== undefined && consumers.get(x) === 1 && !g.outputs.has(x) ? producer.get(x) : undefined,
  };
}

/** A plain product: Gemm without a C input or attributes other than transA and transB. */
const plainGemm = (n: Node | undefined): n is Node =>
  n?.opType === 'Gemm' && n.input.length === 2 && (n.attributes ?? []).every((a) => a.name.startsWith('trans'));

function gemmDims(g: RewriteGraph, n: Node): readonly number[] {
  const [a, b] = [g.dims.get(n.input[0]!)!, g.dims.get(n.input[1]!)!];
  return [flag(n, 'transA') ? a[1]! : a[0]!, flag(n, 'transB') ? b[0]! : b[1]!];
}

/**
 * The product `gemm` takes over node `n`, its value's only reader: it gives n's output and moves to n's place
 * in `out` (after whatever n's other inputs need).
 */
function takeOver(out: Node[], gemm: Node, n: Node, moved: Set<Node>): void {
  gemm.output = n.output;
  moved.add(gemm);
  out.splice(out.indexOf(gemm), 1);
  out.push(gemm);
}

/** Gemm(a2, b2, C = Gemm(a1, b1)) -> Gemm(Concat(a1, a2), Concat(b1, b2)). */
function stackProducts(g: RewriteGraph): void {
  const v = view(g);
  const out: Node[] = [];
  for (const n of g.nodes) {
    const p = n.opType === 'Gemm' && n.input.length === 3 ? v.single(n.input[2]) : undefined;
    const plainC = (n.attributes ?? []).every(
      (a) => a.name.startsWith('trans') || (a.name === 'beta' && a.float === 1),
    );
    const same = plainGemm(p) && flag(p, 'transA') === flag(n, 'transA') && flag(p, 'transB') === flag(n, 'transB');
    // Worth it where the product is larger than what the concatenations copy (a [784, 500] gradient from
    // batches of 10, not a [784, 16] one from batches of 100).
    const copied = same ? n.input.slice(0, 2).reduce((s, x) => s + size(g.dims.get(x)) * 2, 0) : 0;
    if (same && plainC && size(gemmDims(g, n)) > copied) {
      // The contracted axis of each operand: a's rows when transposed (a^T b), else its columns.
      const axisA = flag(n, 'transA') ? 0 : 1;
      const axisB = flag(n, 'transB') ? 1 : 0;
      const concat = (x: string, y: string, axis: number) => {
        const name = g.fresh('t');
        const [dx, dy] = [g.dims.get(x)!, g.dims.get(y)!];
        g.dims.set(
          name,
          dx.map((d, i) => (i === axis ? d + dy[i]! : d)),
        );
        out.push({ opType: 'Concat', input: [x, y], output: [name], attributes: [{ name: 'axis', int: axis }] });
        return name;
      };
      const a = concat(p.input[0]!, n.input[0]!, axisA);
      const b = concat(p.input[1]!, n.input[1]!, axisB);
      out.splice(out.indexOf(p), 1);
      out.push({ ...n, input: [a, b], attributes: (n.attributes ?? []).filter((x) => x.name !== 'beta') });
      continue;
    }
    out.push(n);
  }
  g.nodes.splice(0, g.nodes.length, ...out);
}

/**
 * Mul(Gemm(a, b), s) with s a scalar -> Gemm with s on its smaller operand. The product moves to where the
 * Mul was (its value had no other reader), after s is known.
 */
function scaleOperand(g: RewriteGraph): void {
  const v = view(g);
  const moved = new Set<Node>();
  const out: Node[] = [];
  for (const n of g.nodes) {
    if (n.opType === 'Mul') {
      const i = [0, 1].find((j) => plainGemm(v.single(n.input[j])) && size(g.dims.get(n.input[1 - j]!)) === 1);
      const gemm = i === undefined ? undefined : v.producer.get(n.input[i]!)!;
      if (gemm && !moved.has(gemm)) {
        const s = n.input[1 - i!]!;
        const [a, b] = [gemm.input[0]!, gemm.input[1]!];
        const which = size(g.dims.get(a)) <= size(g.dims.get(b)) ? 0 : 1;
        const scaled = g.fresh('t');
        g.dims.set(scaled, g.dims.get(gemm.input[which]!)!);
        out.push({ opType: 'Mul', input: [gemm.input[which]!, s], output: [scaled] });
        gemm.input[which] = scaled;
        takeOver(out, gemm, n, moved);
        continue;
      }
    }
    out.push(n);
  }
  g.nodes.splice(0, g.nodes.length, ...out);
}

/**
 * Add(Gemm(a, b), c) or Add(c, Gemm(a, b)) -> Gemm(a, b, c), c broadcastable to the product. The product
 * moves to where the Add was, after c is known.
 */
function accumulate(g: RewriteGraph): void {
  const v = view(g);
  const moved = new Set<Node>();
  const out: Node[] = [];
  for (const n of g.nodes) {
    const i =
      n.opType === 'Add'
        ? [0, 1].find((j) => {
            const p = v.single(n.input[j]);
            return plainGemm(p) && !moved.has(p);
          })
        : undefined;
    const gemm = i === undefined ? undefined : v.producer.get(n.input[i]!)!;
    const c = n.input[1 - (i ?? 0)]!;
    const dc = g.dims.get(c);
    const dp = gemm ? gemmDims(g, gemm) : [];
    const fits =
      dc !== undefined && dc.length <= 2 && dc.every((d, k) => d === 1 || d === dp[dp.length - dc.length + k]);
    if (!gemm || !fits) {
      out.push(n);
      continue;
    }
    gemm.input.push(c);
    gemm.attributes = [...(gemm.attributes ?? []), { name: 'beta', float: 1 }];
    takeOver(out, gemm, n, moved);
  }
  g.nodes.splice(0, g.nodes.length, ...out);
}

/** ReduceSum(x * x) -> ReduceSumSquare(x). */
function sumOfSquares(g: RewriteGraph): void {
  const v = view(g);
  const removed = new Set<Node>();
  for (const n of g.nodes) {
    const first = v.single(n.input[0]);
    if (n.opType !== 'ReduceSum' || first?.opType !== 'Mul' || first.input[0] !== first.input[1]) continue;
    const axes = g.axesOf(n.input[1]!);
    if (!axes) continue;
    const keep: Attribute[] = (n.attributes ?? []).filter((a) => a.name === 'keepdims');
    n.opType = 'ReduceSumSquare';
    n.input = [first.input[0]!];
    n.attributes = [{ name: 'axes', ints: axes }, ...keep];
    removed.add(first);
  }
  g.nodes.splice(0, g.nodes.length, ...g.nodes.filter((n) => !removed.has(n)));
}

/**
 * Where each row (`byRows`) or each column of the [rows, cols] matrix `x` holds exactly one 1 and the rest
 * 0: that 1's column (or row) index, per row (or column); else undefined.
 */
function selection(x: Float32Array, rows: number, cols: number, byRows: boolean): number[] | undefined {
  const [outer, inner] = byRows ? [rows, cols] : [cols, rows];
  const at = (o: number, i: number) => (byRows ? x[o * cols + i]! : x[i * cols + o]!);
  const picks: number[] = [];
  for (let o = 0; o < outer; o++) {
    let pick = -1;
    for (let i = 0; i < inner; i++) {
      const v = at(o, i);
      if (v === 1 && pick < 0) pick = i;
      else if (v !== 0) return undefined;
    }
    if (pick < 0) return undefined;
    picks.push(pick);
  }
  return picks;
}

/** Gemm(S, B) -> Gather(B, rows of S's ones); Gemm(A, S) -> Gather(A, columns, axis 1), S a constant selection. */
function gathers(g: RewriteGraph): void {
  for (const n of g.nodes) {
    if (!plainGemm(n) || flag(n, 'transA') || flag(n, 'transB')) continue;
    const [a, b] = [n.input[0]!, n.input[1]!];
    const [da, db] = [g.dims.get(a), g.dims.get(b)];
    const va = g.valuesOf(a);
    const vb = g.valuesOf(b);
    const rows = va && da ? selection(va, da[0]!, da[1]!, true) : undefined;
    const cols = !rows && vb && db ? selection(vb, db[0]!, db[1]!, false) : undefined;
    if (!rows && !cols) continue;
    n.opType = 'Gather';
    n.input = rows ? [b, g.int64Constant(rows)] : [a, g.int64Constant(cols!)];
    n.attributes = [{ name: 'axis', int: rows ? 0 : 1 }];
  }
}

/**
 * Runs the rewrites in order: constant selections read, products stacked, then scales moved onto operands,
 * then accumulations folded.
 */
export function rewriteGraph(g: RewriteGraph): void {
  gathers(g);
  stackProducts(g);
  scaleOperand(g);
  accumulate(g);
  sumOfSquares(g);
}
