import { ModelFormatError } from '../errors.js';

/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, N
 * bytes of JSON header, then the raw little-endian tensor bytes. Loading runs no code; here the header is
 * size-bounded and every field is validated before any tensor is touched, and truncation or trailing bytes
 * are detected because the tensors must tile the byte buffer exactly.
 */

/** The dtypes read and written: floats for parameters, I32 and U8 for indices (a recommender's ratings). */
export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'U8';

export type SafeTensorData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface SafeTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: SafeTensorData;
}

export interface DecodeOptions {
  /** Largest accepted header, in bytes (default 1 MiB). */
  readonly maxHeaderBytes?: number;
  /** Named in error messages (a file path). */
  readonly source?: string;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, U8: 1 };
const ARRAYS = { F32: Float32Array, F64: Float64Array, I32: Int32Array, U8: Uint8Array } as const;

/** n values of a dtype at byte `start` of a buffer, without a copy. */
function typedView(dtype: SafetensorsDtype, buffer: ArrayBufferLike, start: number, n: number): SafeTensorData {
  if (dtype === 'F32') return new Float32Array(buffer, start, n);
  if (dtype === 'F64') return new Float64Array(buffer, start, n);
  if (dtype === 'I32') return new Int32Array(buffer, start, n);
  return new Uint8Array(buffer, start, n);
}

/** Reads one little-endian value of a dtype. */
function getValue(view: DataView, at: number, dtype: SafetensorsDtype): number {
  if (dtype === 'F32') return view.getFloat32(at, true);
  if (dtype === 'F64') return view.getFloat64(at, true);
  if (dtype === 'I32') return view.getInt32(at, true);
  return view.getUint8(at);
}

function setValue(view: DataView, at: number, dtype: SafetensorsDtype, x: number): void {
  if (dtype === 'F32') view.setFloat32(at, x, true);
  else if (dtype === 'F64') view.setFloat64(at, x, true);
  else if (dtype === 'I32') view.setInt32(at, x, true);
  else view.setUint8(at, x);
}
export const DEFAULT_MAX_HEADER_BYTES = 1 << 20;
const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Encodes tensors (in the given order) and string metadata. */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafeTensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new ModelFormatError('a tensor may not be called __metadata__');
    const n = numel(t.shape);
    if (t.data.length !== n) {
      throw new ModelFormatError(`tensor ${name}: ${t.data.length} values do not fill shape [${t.shape.join(', ')}]`);
    }
    const size = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so that the byte buffer starts 8-byte aligned (allowed by the format).
  const jsonBytes0 = new TextEncoder().encode(json);
  json += ' '.repeat((8 - (jsonBytes0.length % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let pos = 8 + jsonBytes.length;
  for (const t of Object.values(tensors)) {
    const size = BYTES[t.dtype];
    if (littleEndian && t.data instanceof ARRAYS[t.dtype]) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
    } else for (let i = 0; i < t.data.length; i++, pos += size) setValue(view, pos, t.dtype, t.data[i]!);
  }
  return out;
}

export interface DecodedSafetensors {
  readonly tensors: Map<string, SafeTensor>;
  readonly metadata: Record<string, string>;
}

/** A tensor's place in the byte buffer, from a validated header. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte offsets in the data section, which starts right after the header. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Header length in bytes (without the 8-byte length prefix): the data start at 8 + headerBytes. */
  readonly headerBytes: number;
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Record<string, string>;
}

/**
 * The length of the JSON header that `prefix` (at least the first 8 bytes of a file) announces, checked
 * against the limit before anything else is read: a reader needs only this many bytes more to validate the
 * whole file.
 */
export function safetensorsHeaderLength(prefix: Uint8Array, options: DecodeOptions = {}): number {
  const where = options.source ? `${options.source}: ` : '';
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (prefix.length < 8)
    throw new ModelFormatError(
      `${where}truncated: ${prefix.length} bytes, a safetensors file starts with an 8-byte header length`,
    );
  const headerLen64 = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(maxHeader)) {
    throw new ModelFormatError(
      `${where}header length ${headerLen64} exceeds the limit of ${maxHeader} bytes (not a model file, or a hostile one)`,
    );
  }
  return Number(headerLen64);
}

/**
 * Validates a safetensors header given only the file's first bytes (`prefix`: the length and the JSON
 * header) and its total size: whether the tensors tile the rest of the file exactly is decided here,
 * before a single tensor byte is read. Throws a {@link ModelFormatError} naming the problem.
 */
export function decodeSafetensorsHeader(
  prefix: Uint8Array,
  fileBytes: number,
  options: DecodeOptions = {},
): SafetensorsHeader {
  const where = options.source ? `${options.source}: ` : '';
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${where}${msg}`);
  };
  if (fileBytes < 8) fail(`truncated: ${fileBytes} bytes, a safetensors file starts with an 8-byte header length`);
  const headerLen = safetensorsHeaderLength(prefix, options);
  if (8 + headerLen > fileBytes) fail(`truncated: header of ${headerLen} bytes but only ${fileBytes - 8} follow`);
  if (8 + headerLen > prefix.length) fail(`the first ${8 + headerLen} bytes are needed to read the header`);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, 8 + headerLen));
    if (!text.startsWith('{')) fail('header is not a JSON object');
    header = JSON.parse(text);
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    fail(`header is not valid UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const bufferLen = fileBytes - 8 - headerLen;
  const metadata: Record<string, string> = Object.create(null);
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata ${JSON.stringify(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) fail(`tensor ${JSON.stringify(name)}: entry is not an object`);
    const { dtype, shape, data_offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype))
      fail(`tensor ${JSON.stringify(name)}: dtype ${JSON.stringify(dtype)} is not supported (F32, F64, I32, U8)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shape.length > 8) {
      fail(`tensor ${JSON.stringify(name)}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(data_offsets) ||
      data_offsets.length !== 2 ||
      !data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      fail(`tensor ${JSON.stringify(name)}: data_offsets ${JSON.stringify(data_offsets)} is not [begin, end]`);
    }
    const [begin, end] = data_offsets as [number, number];
    const n = numel(shape as number[]);
    const expected = n * BYTES[dtype as SafetensorsDtype];
    if (end < begin || end - begin !== expected) {
      fail(
        `tensor ${JSON.stringify(name)}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected}`,
      );
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // The tensors must tile [0, bufferLen) exactly: no holes, no overlaps, nothing missing or extra.
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let pos = 0;
  for (const e of entries) {
    if (e.begin !== pos)
      fail(`tensor ${JSON.stringify(e.name)} starts at byte ${e.begin}, expected ${pos} (holes or overlaps)`);
    pos = e.end;
  }
  if (pos > bufferLen) fail(`truncated: tensors need ${pos} bytes of data, the file has ${bufferLen}`);
  if (pos < bufferLen) fail(`${bufferLen - pos} unexpected bytes after the last tensor`);
  return { headerBytes: headerLen, entries, metadata: { ...metadata } };
}

/** Decodes and validates a safetensors buffer. Throws a {@link ModelFormatError} naming the problem. */
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions = {}): DecodedSafetensors {
  const { headerBytes: headerLen, entries, metadata } = decodeSafetensorsHeader(bytes, bytes.length, options);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors = new Map<string, SafeTensor>();
  const base = 8 + headerLen;
  for (const e of entries) {
    const size = BYTES[e.dtype];
    const n = (e.end - e.begin) / size;
    const start = bytes.byteOffset + base + e.begin;
    let data: SafeTensorData;
    if (littleEndian && start % size === 0) data = typedView(e.dtype, bytes.buffer, start, n).slice();
    else {
      data = new ARRAYS[e.dtype](n);
      for (let i = 0; i < n; i++) data[i] = getValue(view, base + e.begin + i * size, e.dtype);
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata: { ...metadata } };
}
