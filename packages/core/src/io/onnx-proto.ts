/**
 * The ONNX protobuf messages rbmjs writes (onnx/onnx.proto3, IR version 8), encoded by hand: the fields of
 * 11 messages that ONNX Runtime's compiled training steps (backend-onnxruntime) and exported models
 * (io/onnx-export.ts) use, in protobuf's wire format (varints, length-delimited fields, packed repeats).
 * The npm package onnx-proto would do it with protobufjs 6, whose optional `long` lookup breaks under
 * vitest and in some bundlers; this file has no dependencies and runs wherever core does.
 */

/** TensorProto.DataType values. */
export const FLOAT = 1;
export const INT64 = 7;

export interface Dim {
  readonly value: number;
}
export interface ValueInfo {
  readonly name: string;
  /** Element type (FLOAT, INT64) and dimensions: a number is fixed, a string a named dynamic one (`batch`). */
  readonly elemType: number;
  readonly dims: readonly (number | string)[];
  readonly doc?: string;
}
export interface Attribute {
  readonly name: string;
  readonly float?: number;
  readonly int?: number;
  readonly ints?: readonly number[];
  /** A string attribute (ScatterND's `reduction`). */
  readonly string?: string;
}
export interface Node {
  input: string[];
  output: string[];
  opType: string;
  attributes?: readonly Attribute[];
}
export interface Initializer {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Few values: packed float_data. A Float32Array is written as raw_data (little-endian), for weights. */
  readonly floats?: readonly number[] | Float32Array;
  readonly int64s?: readonly number[];
}
export interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers: readonly Initializer[];
}
export interface Model {
  readonly irVersion: number;
  readonly opset: number;
  readonly producer: string;
  readonly producerVersion?: string;
  readonly doc?: string;
  readonly graph: Graph;
  /** ModelProto.metadata_props: free-form key/value pairs (provenance). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A growing byte buffer with protobuf's primitive encodings. */
class Writer {
  private bytes = new Uint8Array(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
  /** An unsigned varint; negative int64 values take ten bytes of two's complement. */
  varint(x: number): void {
    this.reserve(10);
    if (x < 0) {
      let v = BigInt.asUintN(64, BigInt(x));
      while (v >= 0x80n) {
        this.bytes[this.length++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.bytes[this.length++] = Number(v);
      return;
    }
    while (x >= 0x80) {
      this.bytes[this.length++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.bytes[this.length++] = x;
  }
  tag(field: number, wire: 0 | 2 | 5): void {
    this.varint(field * 8 + wire);
  }
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
  float32(x: number): void {
    this.reserve(4);
    new DataView(this.bytes.buffer).setFloat32(this.length, x, true);
    this.length += 4;
  }
  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

type Fields = (w: Writer) => void;

const int = (w: Writer, field: number, x: number) => {
  w.tag(field, 0);
  w.varint(x);
};
const bytes = (w: Writer, field: number, b: Uint8Array) => {
  w.tag(field, 2);
  w.varint(b.length);
  w.raw(b);
};
const str = (w: Writer, field: number, s: string) => bytes(w, field, utf8.encode(s));
const message = (w: Writer, field: number, fields: Fields) => {
  const inner = new Writer();
  fields(inner);
  bytes(w, field, inner.finish());
};

// Field numbers from onnx.proto3.
const valueInfo =
  (v: ValueInfo): Fields =>
  (w) => {
    str(w, 1, v.name); // ValueInfoProto.name
    message(w, 2, (t) =>
      // TypeProto.tensor_type
      message(t, 1, (tt) => {
        int(tt, 1, v.elemType); // TypeProto.Tensor.elem_type
        message(tt, 2, (shape) => {
          // TensorShapeProto.dim; Dimension.dim_value (1) or dim_param (2)
          for (const d of v.dims) message(shape, 1, (dim) => (typeof d === 'number' ? int(dim, 1, d) : str(dim, 2, d)));
        });
      }),
    );
    if (v.doc) str(w, 3, v.doc); // doc_string
  };

const attribute =
  (a: Attribute): Fields =>
  (w) => {
    str(w, 1, a.name);
    if (a.float !== undefined) {
      w.tag(2, 5); // f
      w.float32(a.float);
      int(w, 20, 1); // type = FLOAT
    } else if (a.int !== undefined) {
      int(w, 3, a.int); // i
      int(w, 20, 2); // type = INT
    } else if (a.ints) {
      for (const x of a.ints) int(w, 8, x); // ints
      int(w, 20, 7); // type = INTS
    } else if (a.string !== undefined) {
      str(w, 4, a.string); // s
      int(w, 20, 3); // type = STRING
    }
  };

const node =
  (n: Node): Fields =>
  (w) => {
    for (const s of n.input) str(w, 1, s);
    for (const s of n.output) str(w, 2, s);
    str(w, 4, n.opType);
    for (const a of n.attributes ?? []) message(w, 5, attribute(a));
  };

const initializer =
  (t: Initializer): Fields =>
  (w) => {
    for (const d of t.dims) int(w, 1, d); // dims
    int(w, 2, t.dataType); // data_type
    if (t.floats instanceof Float32Array) {
      // raw_data: little-endian float32 (every platform JavaScript runs on here is little-endian)
      const f = t.floats;
      const b = new Uint8Array(f.length * 4);
      const view = new DataView(b.buffer);
      for (let i = 0; i < f.length; i++) view.setFloat32(4 * i, f[i]!, true);
      bytes(w, 9, b);
    } else if (t.floats) {
      // float_data, packed
      const inner = new Writer();
      for (const x of t.floats) inner.float32(x);
      bytes(w, 4, inner.finish());
    }
    if (t.int64s) {
      // int64_data, packed
      const inner = new Writer();
      for (const x of t.int64s) inner.varint(x);
      bytes(w, 7, inner.finish());
    }
    str(w, 8, t.name);
  };

/** Encodes a ModelProto. */
export function encodeOnnxModel(m: Model): Uint8Array {
  const w = new Writer();
  int(w, 1, m.irVersion); // ir_version
  str(w, 2, m.producer); // producer_name
  if (m.producerVersion) str(w, 3, m.producerVersion); // producer_version
  if (m.doc) str(w, 6, m.doc); // doc_string
  message(w, 7, (g) => {
    // graph
    for (const n of m.graph.nodes) message(g, 1, node(n));
    str(g, 2, m.graph.name);
    for (const t of m.graph.initializers) message(g, 5, initializer(t));
    for (const v of m.graph.inputs) message(g, 11, valueInfo(v));
    for (const v of m.graph.outputs) message(g, 12, valueInfo(v));
  });
  message(w, 8, (o) => int(o, 2, m.opset)); // opset_import { domain: '', version }
  for (const [key, value] of Object.entries(m.metadata ?? {}))
    message(w, 14, (e) => {
      // metadata_props: StringStringEntryProto { key, value }
      str(e, 1, key);
      str(e, 2, value);
    });
  return w.finish();
}
