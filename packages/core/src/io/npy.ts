import { ModelFormatError } from '../errors.js';

/**
 * NumPy's .npy format, version 1.0 (numpy.lib.format): the magic string \x93NUMPY, the version, a
 * little-endian uint16 header length, then a Python dict literal (descr, fortran_order, shape) padded with
 * spaces and a newline so that the data start at a multiple of 64 bytes, then the array's bytes in C order.
 * Versions 2.0 and 3.0 differ only in a uint32 header length.
 */

export type NpyType = '<f4' | '<f8' | '<i4';

export function npyHeader(descr: NpyType, shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const fixed = 10; // magic (6) + version (2) + header length (2)
  const total = Math.ceil((fixed + dict.length + 1) / 64) * 64;
  dict = `${dict}${' '.repeat(total - fixed - dict.length - 1)}\n`;
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), fixed);
  return out;
}

/** The bytes of a typed array in little-endian order (every platform Node runs on is little-endian). */
export function npyBytes(x: Float32Array | Float64Array | Int32Array): Uint8Array {
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** A whole .npy file of a float32 or float64 array. */
export function encodeNpy(x: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  const header = npyHeader(x instanceof Float64Array ? '<f8' : '<f4', shape);
  const out = new Uint8Array(header.length + x.byteLength);
  out.set(header);
  out.set(npyBytes(x), header.length);
  return out;
}

/** A decoded floating-point array, in C order whatever the file's order. */
export interface NpyArray {
  readonly shape: readonly number[];
  readonly data: Float64Array;
  /** The file's element type (`<f4` or `<f8`). */
  readonly descr: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/**
 * Decodes a .npy file of float32 or float64 values (little-endian, C or Fortran order, at most 2 dimensions).
 * Anything else is refused naming `what` and the problem.
 */
export function decodeNpy(bytes: Uint8Array, what: string): NpyArray {
  const fail = (why: string): never => {
    throw new ModelFormatError(`${what}: ${why}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a NumPy .npy array (no \\x93NUMPY magic)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number;
  let length: number;
  if (major === 1) [start, length] = [10, view.getUint16(8, true)];
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('truncated header');
    [start, length] = [12, view.getUint32(8, true)];
  } else return fail(`.npy version ${major} is not one of 1, 2, 3`);
  if (start + length > bytes.length) fail(`the header says ${length} bytes, the file has ${bytes.length - start}`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + length));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    return fail(`cannot read the header ${JSON.stringify(header.trim())}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : fail(`shape ${shapeText} is not a tuple of sizes`)));
  if (shape.length > 2) fail(`${shape.length} dimensions (${shape.join(' x ')}), expected at most 2`);
  const size =
    descr === '<f4' ? 4 : descr === '<f8' ? 8 : fail(`element type ${descr}, expected float32 (<f4) or float64 (<f8)`);
  const n = shape.reduce((p, d) => p * d, 1);
  const at = start + length;
  if (bytes.length - at !== n * size)
    fail(`${bytes.length - at} bytes of data, the shape (${shape.join(', ')}) of ${descr} needs ${n * size}`);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++)
    data[i] = size === 4 ? view.getFloat32(at + 4 * i, true) : view.getFloat64(at + 8 * i, true);
  if (fortran === 'True' && shape.length === 2) {
    // Column-major [r, c]: element (i, j) is at j r + i.
    const [r, c] = shape as [number, number];
    const t = new Float64Array(n);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[i * c + j] = data[j * r + i]!;
    return { shape, data: t, descr };
  }
  return { shape, data, descr };
}
