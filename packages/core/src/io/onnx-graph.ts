import {
  type Attribute,
  encodeOnnxModel,
  FLOAT,
  INT64,
  type Initializer,
  type Node,
  type ValueInfo,
} from './onnx-proto.js';

/**
 * A small builder of inference graphs in the standard ONNX domain: named inputs with a dynamic batch
 * dimension, weights as initializers, one node per call. The exporters in ./onnx-export.ts describe each
 * model family with it; ./onnx-proto.ts writes the bytes.
 */

/** The opset exported models use: 17, the newest that onnx 1.12 (Debian 12's python3-onnx) checks. */
export const EXPORT_OPSET = 17;
/** IR version 8 goes with opset 17. */
export const EXPORT_IR_VERSION = 8;
/** The name of the dynamic first dimension of every input and output. */
export const BATCH = 'batch';

export class OnnxGraph {
  private readonly nodes: Node[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly int64s = new Map<string, string>();
  private readonly scalars = new Map<number, string>();
  private count = 0;

  /** A graph input of float32 [batch, ...dims]. */
  input(name: string, dims: readonly number[], doc: string): string {
    this.inputs.push({ name, elemType: FLOAT, dims: [BATCH, ...dims], doc });
    return name;
  }

  /** A float32 weight of shape `dims` (raw little-endian bytes in the file). */
  weight(name: string, dims: readonly number[], data: ArrayLike<number>): string {
    const floats = data instanceof Float32Array ? data : Float32Array.from(data);
    this.initializers.push({ name, dataType: FLOAT, dims, floats });
    return name;
  }

  /** A float32 scalar constant (shared between uses). */
  scalar(x: number): string {
    let name = this.scalars.get(x);
    if (!name) {
      name = `const_${this.scalars.size}`;
      this.initializers.push({ name, dataType: FLOAT, dims: [], floats: [x] });
      this.scalars.set(x, name);
    }
    return name;
  }

  /** An int64 vector constant (axes, shapes, slice bounds), shared between uses. */
  ints(xs: readonly number[]): string {
    const key = xs.join(',');
    let name = this.int64s.get(key);
    if (!name) {
      name = `ints_${this.int64s.size}`;
      this.initializers.push({ name, dataType: INT64, dims: [xs.length], int64s: xs });
      this.int64s.set(key, name);
    }
    return name;
  }

  /** One node; returns the name of its (first) output. */
  op(opType: string, input: readonly string[], attributes?: readonly Attribute[]): string {
    const out = `t${this.count++}_${opType.toLowerCase()}`;
    this.nodes.push({ input: [...input], output: [out], opType, ...(attributes ? { attributes } : {}) });
    return out;
  }

  // Shorthands for the ops the exporters use.
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  sigmoid(x: string): string {
    return this.op('Sigmoid', [x]);
  }
  /** alpha x W + c (Gemm; transB: alpha x W^T + c), x [batch, n], c a bias row or a [batch, m] value. */
  affine(x: string, w: string, c: string, o: { readonly transB?: boolean; readonly alpha?: number } = {}): string {
    const attributes: Attribute[] = [];
    if (o.transB) attributes.push({ name: 'transB', int: 1 });
    if (o.alpha !== undefined && o.alpha !== 1) attributes.push({ name: 'alpha', float: o.alpha });
    return this.op('Gemm', [x, w, c], attributes.length > 0 ? attributes : undefined);
  }
  /** softplus(x) = max(x, 0) + log(1 + exp(-|x|)): stable for any x in float32, on any runtime. */
  softplus(x: string): string {
    const tail = this.op('Log', [this.add(this.scalar(1), this.op('Exp', [this.op('Neg', [this.op('Abs', [x])])]))]);
    return this.add(this.op('Relu', [x]), tail);
  }
  /** Sum over `axis`, the axis dropped. */
  sum(x: string, axis: number): string {
    return this.op('ReduceSum', [x, this.ints([axis])], [{ name: 'keepdims', int: 0 }]);
  }
  /** Columns [start, end) of a [batch, n] value. */
  columns(x: string, start: number, end: number): string {
    return this.op('Slice', [x, this.ints([start]), this.ints([end]), this.ints([1])]);
  }

  /** Names `value` as the graph output `name`, of element type `elemType` and shape [batch, ...dims]. */
  output(name: string, value: string, dims: readonly number[], doc: string, elemType = FLOAT): void {
    this.nodes.push({ input: [value], output: [name], opType: 'Identity' });
    this.outputs.push({ name, elemType, dims: [BATCH, ...dims], doc });
  }

  encode(name: string, doc: string, producerVersion: string, metadata: Readonly<Record<string, string>>): Uint8Array {
    return encodeOnnxModel({
      irVersion: EXPORT_IR_VERSION,
      opset: EXPORT_OPSET,
      producer: 'rbmjs',
      producerVersion,
      doc,
      metadata,
      graph: {
        name,
        nodes: this.nodes,
        inputs: this.inputs,
        outputs: this.outputs,
        initializers: this.initializers,
      },
    });
  }
}

export { INT64 };
