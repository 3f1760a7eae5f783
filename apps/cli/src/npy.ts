/**
 * NumPy's .npy format, version 1.0 (numpy.lib.format): the magic string \x93NUMPY, the version, a little-endian
 * uint16 header length, then a Python dict literal (descr, fortran_order, shape) padded with spaces and a
 * newline so that the data start at a multiple of 64 bytes, then the array's bytes in C order.
 */

export type NpyType = '<f4' | '<i4';

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
export function npyBytes(x: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}
