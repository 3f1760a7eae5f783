import {
  isStructural,
  onnxProto,
  type Tensor,
  type Trace,
  type TraceInterface,
  type TraceOp,
} from '@rbmjs/core/backend';
import { rewriteGraph } from './rewrite.js';

type Attribute = onnxProto.Attribute;
type Initializer = onnxProto.Initializer;
type Node = onnxProto.Node;
type ValueInfo = onnxProto.ValueInfo;
const { encodeOnnxModel, FLOAT, INT64 } = onnxProto;

/** ONNX opset the graphs use (ONNX Runtime 1.30 implements it on every execution provider used here). */
export const OPSET = 17;

/**
 * A compiled unit's calling convention: what to feed, in which order, and which tensor each output updates.
 * The order is a function of the trace's structure (its key), so every call of one unit lines up.
 */
export interface GraphSignature {
  /**
   * Graph input names for the trace's input tensors (`TraceInterface.inputs`); undefined for a constant,
   * whose values the graph holds.
   */
  readonly inputs: readonly (string | undefined)[];
  /** Graph input names for the numbers that are not 0 or 1 (`Trace.scalars()`), rank-0 float tensors. */
  readonly scalars: readonly string[];
  /** Graph input names for the uploads (`write` ops), in op order. */
  readonly uploads: readonly string[];
  /** Graph input names for the uniforms (`uniform` ops), in op order. */
  readonly uniforms: readonly string[];
  /**
   * Graph output names for `TraceInterface.outputs`; undefined where the tensor's last value is one the
   * unit was fed (an upload or uniforms), which `fedOutputs` names instead.
   */
  readonly outputs: readonly (string | undefined)[];
  /** Outputs whose last value is a fed input: the backend copies that input into the tensor. */
  readonly fedOutputs: readonly { readonly output: number; readonly input: string }[];
}

export interface CompiledGraph {
  readonly model: Uint8Array;
  readonly signature: GraphSignature;
  /** Number of ONNX nodes. */
  readonly nodes: number;
  /** Each node's op type with its output's shape (`Gemm 784x500`), in order: for tests and profiles. */
  readonly ops: readonly string[];
}

/**
 * Writes a trace as one ONNX graph in static single assignment: every op's result is a new value, and a
 * tensor's last value is the output that updates it. The ops map one to a few ONNX nodes each:
 * matMul -> Gemm (+ Mul by alpha, + beta * out); binary -> Add/Sub/Mul with ONNX's broadcasting (the
 * interface's row, column and scalar broadcasts are special cases of it); bernoulli -> Cast(Less(u, p));
 * logSumExp -> max-shifted exp-sum-log, shifting by 0 where the max is infinite so that an all -Infinity
 * row gives -Infinity, as in the reference; gather -> Gather of the index cast to int64 and squeezed; scatterAdd
 * -> ScatterND with reduction add.
 */
export interface GraphOptions {
  /**
   * Pass NaN through the transcendental unary ops explicitly (Where(IsNaN(x), x, f(x))), and make log of
   * a negative number NaN: ONNX Runtime's WebGPU provider gives sigmoid(NaN) = 0 and log(-x) = log(x), where
   * the interface (and every CPU kernel) gives NaN; its ReduceMax skips NaN, so log-sum-exp gets the NaNs added
   * back. The conformance suite's per-op whole-step check found all three.
   */
  readonly nanGuard?: boolean;
  /**
   * Only ops the provider has kernels for. ONNX Runtime Web's WebGPU provider lacks Softplus, Sign, IsNaN, IsInf
   * and Identity (js/web/docs/webgpu-operators.md) and runs them on the CPU, splitting the graph into GPU and
   * CPU parts joined by copies, and such a split graph computed wrong values: in the DBM's AIS step the second
   * of two softplus chains gave the first's result (log Z 13.14 against 12.56, in Chromium on SwiftShader), and
   * the discriminative step went wrong as one graph. Here softplus(x) = relu(x) + log(1 + exp(-|x|)) (as the
   * exported models write it), sign(x) = [x > 0] - [x < 0], IsNaN(x) = not (x == x), IsInf(x) = (|x| == inf),
   * and a copy is x * 1.
   */
  readonly gpuKernelsOnly?: boolean;
  /**
   * Softplus written as relu(x) + log(1 + exp(-|x|)) (as gpuKernelsOnly writes it): ONNX Runtime's CPU
   * Softplus is a scalar loop, 12.6 ns an element (6.3 ms for [1000, 500]; 65 us for a discriminative
   * step's [10, 500]), where its Exp, Log and Relu are vectorised. The absolute error of the composite is
   * below 6e-8 (log(1 + e) rounds to 0 once e < 2^-24).
   */
  readonly compositeSoftplus?: boolean;
}

/** Ops whose result has the broadcast shape of their inputs. */
const ELEMENTWISE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Neg',
  'Sigmoid',
  'Softplus',
  'Exp',
  'Log',
  'Sign',
  'Less',
  'Cast',
  'Identity',
  'Relu',
  'Abs',
  'Greater',
  'Equal',
  'Not',
]);

/** ONNX's multidirectional broadcast of shapes (trailing axes aligned). */
function broadcast(shapes: readonly (readonly number[] | undefined)[]): number[] {
  const rank = Math.max(...shapes.map((d) => d!.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((d) => d![d!.length - rank + i] ?? 1)));
}

/**
 * The ONNX graph of a trace. `constantOf` gives the values of input tensors declared constant
 * (Backend.constant): they become initializers, and products with a constant selection become gathers.
 */
export function traceToOnnx(
  trace: Trace,
  io: TraceInterface,
  options: GraphOptions = {},
  constantOf: (t: Tensor) => Float32Array | undefined = () => undefined,
): CompiledGraph {
  const nodes: Node[] = [];
  const graphInputs: ValueInfo[] = [];
  const initializers: Initializer[] = [];
  const value = new Map<Tensor, string>();
  let counter = 0;
  const fresh = (stem: string) => `${stem}${counter++}`;

  /** Shapes of the values, for the rewrites: inputs and constants, elementwise results and products. */
  const dims = new Map<string, readonly number[]>();
  const declare = (name: string, shape: number[]) => {
    graphInputs.push({ name, elemType: FLOAT, dims: shape });
    dims.set(name, shape);
  };
  const node = (opType: string, inputs: string[], attributes: Attribute[] = []): string => {
    const out = fresh('t');
    nodes.push({ opType, input: inputs, output: [out], attributes });
    const shapes = inputs.map((x) => dims.get(x));
    if (ELEMENTWISE.has(opType) && shapes.every((d) => d !== undefined)) dims.set(out, broadcast(shapes));
    return out;
  };
  const constants = new Map<string, string>();
  const floatConstant = (x: number): string => {
    const key = `f${x}`;
    let name = constants.get(key);
    if (!name) {
      name = fresh('c');
      initializers.push({ name, dataType: FLOAT, dims: [], floats: [x] });
      constants.set(key, name);
    }
    return name;
  };
  const int64Constant = (xs: number[]): string => {
    const key = `i${xs.join(',')}`;
    let name = constants.get(key);
    if (!name) {
      name = fresh('c');
      initializers.push({ name, dataType: INT64, dims: [xs.length], int64s: xs });
      constants.set(key, name);
    }
    return name;
  };

  // The ops that gpuKernelsOnly replaces (see GraphOptions), written with ops every provider has.
  const gpu = options.gpuKernelsOnly === true;
  const isNan = (x: string) => (gpu ? node('Not', [node('Equal', [x, x])]) : node('IsNaN', [x]));
  const isInf = (x: string) =>
    gpu ? node('Equal', [node('Abs', [x]), floatConstant(Number.POSITIVE_INFINITY)]) : node('IsInf', [x]);
  const isTrue = (b: string) => node('Cast', [b], [{ name: 'to', int: FLOAT }]);
  const softplusNode = (x: string) => {
    const tail = node('Log', [node('Add', [floatConstant(1), node('Exp', [node('Neg', [node('Abs', [x])])])])]);
    return node('Add', [node('Relu', [x]), tail]);
  };

  /** Values of the constant inputs, by initializer name, for the rewrites. */
  const constantValues = new Map<string, Float32Array>();
  const inputs = io.inputs.map((t, i) => {
    const name = `x${i}`;
    const data = constantOf(t);
    if (data) {
      initializers.push({ name, dataType: FLOAT, dims: [t.rows, t.cols], floats: data.slice() });
      dims.set(name, [t.rows, t.cols]);
      constantValues.set(name, data);
      value.set(t, name);
      return undefined;
    }
    declare(name, [t.rows, t.cols]);
    value.set(t, name);
    return name;
  });
  const scalars: string[] = [];
  /** A number of the trace: a constant when it is 0 or 1, else the next scalar input. */
  const number = (x: number): string => {
    if (isStructural(x)) return floatConstant(x);
    const name = `s${scalars.length}`;
    declare(name, []);
    scalars.push(name);
    return name;
  };
  const get = (t: Tensor): string => {
    const v = value.get(t);
    if (v === undefined) throw new Error(`trace ${trace.label}: a tensor is read before any value is known`);
    return v;
  };
  const uploads: string[] = [];
  const uniforms: string[] = [];
  /** Values that are fills of 0. */
  const zeros = new Set<string>();
  const bool = (name: string): Attribute => ({ name, int: 1 });

  for (const op of trace.ops) {
    emit(op);
    dims.set(get(op.out), [op.out.rows, op.out.cols]);
  }
  function emit(op: TraceOp): void {
    switch (op.kind) {
      case 'matMul': {
        const attrs: Attribute[] = [];
        if (op.transposeA) attrs.push(bool('transA'));
        if (op.transposeB) attrs.push(bool('transB'));
        let a = get(op.a);
        let b = get(op.b);
        // Numbers in trace order: alpha, then beta (as Trace.scalars lists them). alpha scales the smaller
        // operand rather than the product (for the weight gradient, [100, 500] instead of [784, 500]).
        if (op.alpha !== 1) {
          const alpha = number(op.alpha);
          if (op.a.rows * op.a.cols <= op.b.rows * op.b.cols) a = node('Mul', [a, alpha]);
          else b = node('Mul', [b, alpha]);
        }
        const inputs = [a, b];
        // Accumulating into a fill of zeros (a gradient cleared before its terms add to it) is a plain
        // product: the rewrites can then fold it (see rewrite.ts), and no pass reads the zeros.
        if (op.beta !== 0 && !zeros.has(get(op.out))) {
          inputs.push(op.beta === 1 ? get(op.out) : node('Mul', [get(op.out), number(op.beta)]));
          attrs.push({ name: 'beta', float: 1 });
        }
        value.set(op.out, node('Gemm', inputs, attrs));
        break;
      }
      case 'binary': {
        const type = op.op === 'add' ? 'Add' : op.op === 'sub' ? 'Sub' : 'Mul';
        value.set(op.out, node(type, [get(op.a), get(op.b)]));
        break;
      }
      case 'axpby': {
        // alpha x + beta y, multiplying by 0 too: 0 * NaN and 0 * infinity are NaN op by op, so even with y = x
        // a zero term is kept (alpha x alone gave infinity for an infinite x, op by op NaN).
        const ax = op.alpha === 1 ? get(op.x) : node('Mul', [get(op.x), number(op.alpha)]);
        const by = op.beta === 1 ? get(op.y) : node('Mul', [get(op.y), number(op.beta)]);
        value.set(op.out, node('Add', [ax, by]));
        break;
      }
      case 'unary': {
        const x = get(op.x);
        const types = { sigmoid: 'Sigmoid', softplus: 'Softplus', exp: 'Exp', log: 'Log', sign: 'Sign', neg: 'Neg' };
        let y =
          op.op === 'square'
            ? node('Mul', [x, x])
            : (gpu || options.compositeSoftplus === true) && op.op === 'softplus'
              ? softplusNode(x)
              : gpu && op.op === 'sign'
                ? node('Sub', [
                    isTrue(node('Greater', [x, floatConstant(0)])),
                    isTrue(node('Less', [x, floatConstant(0)])),
                  ])
                : node(types[op.op], [x]);
        if (options.nanGuard && op.op !== 'square' && op.op !== 'neg') {
          y = node('Where', [isNan(x), x, y]);
          // The WebGPU provider's log(x) is log(|x|) for x < 0: NaN there, as log is.
          if (op.op === 'log') y = node('Where', [node('Less', [x, floatConstant(0)]), floatConstant(Number.NaN), y]);
        }
        value.set(op.out, y);
        break;
      }
      case 'bernoulli':
        value.set(op.out, node('Cast', [node('Less', [get(op.u), get(op.p)])], [{ name: 'to', int: FLOAT }]));
        break;
      case 'sum':
        value.set(op.out, node('ReduceSum', [get(op.x), int64Constant([op.axis])], [bool('keepdims')]));
        break;
      case 'logSumExp': {
        const x = get(op.x);
        const axes: Attribute = { name: 'axes', ints: [op.axis] };
        const max = node('ReduceMax', [x], [axes, bool('keepdims')]);
        const shift = node('Where', [isInf(max), floatConstant(0), max]);
        const sum = node(
          'ReduceSum',
          [node('Exp', [node('Sub', [x, shift])]), int64Constant([op.axis])],
          [bool('keepdims')],
        );
        let lse = node('Add', [node('Log', [sum]), shift]);
        if (options.nanGuard) {
          // The WebGPU provider's ReduceMax skips NaN; a sum of the NaNs (0 elsewhere) puts them back.
          const nans = node('Where', [isNan(x), x, floatConstant(0)]);
          lse = node('Add', [lse, node('ReduceSum', [nans, int64Constant([op.axis])], [bool('keepdims')])]);
        }
        value.set(op.out, lse);
        break;
      }
      case 'gather': {
        // Gather of the index column squeezed to [k] (Squeeze: the WebGPU provider has no Reshape kernel). On
        // the CPU provider Gather copies whole rows; GatherND, which would take the [k, 1] column as it is,
        // took 27% of a sparse recommender step's time there.
        const rows = node('Squeeze', [node('Cast', [get(op.index)], [{ name: 'to', int: INT64 }]), int64Constant([1])]);
        value.set(op.out, node('Gather', [get(op.x), rows], [{ name: 'axis', int: 0 }]));
        break;
      }
      case 'scatterAdd': {
        // ScatterND with reduction add (opset 16) adds every update, repeated indices included.
        const rows = node('Cast', [get(op.index)], [{ name: 'to', int: INT64 }]);
        value.set(op.out, node('ScatterND', [get(op.out), rows, get(op.x)], [{ name: 'reduction', string: 'add' }]));
        break;
      }
      case 'fill': {
        const filled = node('Expand', [number(op.value), int64Constant([op.out.rows, op.out.cols])]);
        if (op.value === 0) zeros.add(filled);
        value.set(op.out, filled);
        break;
      }
      case 'copy':
        value.set(op.out, get(op.x));
        break;
      case 'write': {
        const name = `w${uploads.length}`;
        declare(name, [op.out.rows, op.out.cols]);
        uploads.push(name);
        value.set(op.out, name);
        break;
      }
      case 'uniform': {
        const name = `u${uniforms.length}`;
        declare(name, [op.out.rows, op.out.cols]);
        uniforms.push(name);
        value.set(op.out, name);
        break;
      }
    }
  }

  const graphInputNames = new Set(graphInputs.map((g) => g.name));
  rewriteGraph({
    nodes,
    dims,
    outputs: new Set(io.outputs.map((t) => get(t))),
    axesOf: (name) => initializers.find((i) => i.name === name)?.int64s,
    valuesOf: (name) => constantValues.get(name),
    int64Constant,
    fresh,
  });

  // Outputs. A tensor whose last value is an upload or a uniform input needs no graph output: the backend
  // copies what it fed (`fedOutputs`). Otherwise the node that made the value is renamed to the output name;
  // an Identity is added only where the value is a graph input or already another output.
  const fed = new Set([...uploads, ...uniforms]);
  const fedOutputs: Array<{ output: number; input: string }> = [];
  const outputs: Array<string | undefined> = [];
  const rename = new Map<string, string>();
  const claimed = new Set<string>();
  io.outputs.forEach((t, j) => {
    const v = get(t);
    if (fed.has(v)) {
      fedOutputs.push({ output: j, input: v });
      outputs.push(undefined);
      return;
    }
    const name = `y${j}`;
    if (graphInputNames.has(v) || claimed.has(v) || initializers.some((i) => i.name === v)) {
      nodes.push(
        gpu
          ? { opType: 'Mul', input: [v, floatConstant(1)], output: [name] }
          : { opType: 'Identity', input: [v], output: [name] },
      );
    } else {
      rename.set(v, name);
      claimed.add(v);
    }
    outputs.push(name);
  });
  const outputDims = new Map<string, readonly number[]>();
  for (const [v, name] of rename) {
    const d = dims.get(v);
    if (d) outputDims.set(name, d);
  }
  for (const n of nodes) {
    n.input = n.input.map((x) => rename.get(x) ?? x);
    n.output = n.output.map((x) => rename.get(x) ?? x);
  }
  // Nodes whose values nothing reads: a statistic of a step that no part of this objective uses (ONNX Runtime
  // runs every node of a graph, read or not).
  const live = new Set(outputs.filter((o) => o !== undefined));
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (n.output.some((o) => live.has(o))) for (const x of n.input) live.add(x);
    else nodes.splice(i, 1);
  }
  const outputInfo = io.outputs.flatMap((t, j): ValueInfo[] =>
    outputs[j] === undefined ? [] : [{ name: outputs[j], elemType: FLOAT, dims: [t.rows, t.cols] }],
  );
  // Constants a rewrite left unused (ONNX Runtime would warn of each).
  const used = new Set(nodes.flatMap((n) => n.input));
  const liveInitializers = initializers.filter((i) => used.has(i.name));
  const model = encodeOnnxModel({
    irVersion: 8,
    producer: '@rbmjs/backend-onnxruntime',
    opset: OPSET,
    graph: { name: trace.label, nodes, inputs: graphInputs, outputs: outputInfo, initializers: liveInitializers },
  });
  return {
    model,
    signature: { inputs, scalars, uploads, uniforms, outputs, fedOutputs },
    nodes: nodes.length,
    ops: nodes.map((n) => {
      const d = dims.get(n.output[0]!) ?? outputDims.get(n.output[0]!);
      return d ? `${n.opType} ${d.join('x')}` : n.opType;
    }),
  };
}
