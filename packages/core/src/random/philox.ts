/**
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror & Shaw, "Parallel random numbers:
 * as easy as 1, 2, 3" (SC 2011). A block of four 32-bit words is a pure function of a 64-bit key and a
 * 128-bit counter, so any backend can reproduce any part of a stream without replaying the rest.
 *
 * rbmjs lays out the counter as (c0, c1) = the block offset (a 53-bit integer), c2 = 0, c3 = the stream id,
 * and turns a word x into the float32 uniform (x >>> 8) * 2^-24 in [0, 1).
 */

import { PHILOX_WASM_BASE64 } from './philox-wasm.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32, from 16-bit halves (all partial sums stay exact). */
function mulhi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const albl = al * bl;
  const ahbl = ah * bl;
  const albh = al * bh;
  const mid = (albl >>> 16) + (ahbl & 0xffff) + (albh & 0xffff);
  return (ah * bh + (ahbl >>> 16) + (albh >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * One Philox4x32-10 block. Writes the four output words to `out[outOffset..outOffset+3]`.
 */
export function philox4x32_10(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  outOffset = 0,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + W0) >>> 0;
    key1 = (key1 + W1) >>> 0;
  }
  out[outOffset] = x0;
  out[outOffset + 1] = x1;
  out[outOffset + 2] = x2;
  out[outOffset + 3] = x3;
}

const TWO_POW_32 = 4294967296;
/** 2^-24: uniforms are multiples of it, so they are exact in float32. */
export const UNIFORM_SCALE = 1 / 16777216;

/** What uniforms are written to. */
export type UniformArray = Float32Array | Float64Array;

/**
 * The specification of {@link fillUniforms} in plain JavaScript, one block at a time: the fallback where
 * WebAssembly SIMD is missing, and what the tests hold the SIMD kernel to.
 */
export function fillUniformsReference(
  out: UniformArray,
  k0: number,
  k1: number,
  stream: number,
  blockOffset: number,
): number {
  const words = BLOCK;
  const n = out.length;
  const blocks = Math.ceil(n / 4);
  for (let blk = 0; blk < blocks; blk++) {
    const counter = blockOffset + blk;
    philox4x32_10(counter % TWO_POW_32, Math.floor(counter / TWO_POW_32), 0, stream, k0, k1, words);
    const base = blk * 4;
    const m = Math.min(4, n - base);
    for (let w = 0; w < m; w++) out[base + w] = (words[w]! >>> 8) * UNIFORM_SCALE;
  }
  return blocks;
}

/**
 * The uniforms that {@link fillUniforms} would put at `positions` (ascending or not) of an array drawn from
 * `blockOffset`, without drawing the rest: element p is word p % 4 of block blockOffset + floor(p / 4). A
 * sparse batch draws the dense batch's uniforms at its rated cells only, so both make the same samples.
 */
export function uniformsAt(
  out: UniformArray,
  positions: ArrayLike<number>,
  k0: number,
  k1: number,
  stream: number,
  blockOffset: number,
): void {
  let held = -1;
  for (let i = 0; i < out.length; i++) {
    const p = positions[i]!;
    const block = Math.floor(p / 4);
    if (block !== held) {
      const counter = blockOffset + block;
      philox4x32_10(counter % TWO_POW_32, Math.floor(counter / TWO_POW_32), 0, stream, k0, k1, BLOCK);
      held = block;
    }
    out[i] = (BLOCK[p % 4]! >>> 8) * UNIFORM_SCALE;
  }
}

/** Scratch block for fillUniformsReference (JavaScript is single-threaded per realm). */
const BLOCK = new Uint32Array(4);

/** Uniforms per call of the SIMD kernel: 256 KiB of its memory (a multiple of its 32 per iteration). */
const CHUNK = 65_536;

interface SimdKernel {
  readonly fill: (pairs: number, k0: number, k1: number, stream: number, c0: number, c1: number) => void;
  readonly view: Float32Array;
}

let kernel: SimdKernel | null | undefined;

/** The parts of the WebAssembly JS API used here (core compiles without DOM or Node types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

/**
 * The WebAssembly SIMD kernel (wasm/philox.wat), instantiated on first use; null where WebAssembly or its
 * SIMD extension is missing (or a content security policy forbids compiling it). The module is under 1 KB,
 * so compiling it synchronously is allowed on a browser's main thread too.
 */
export function philoxSimd(): SimdKernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  const g = globalThis as { WebAssembly?: WasmApi; atob?: (s: string) => string };
  try {
    if (g.WebAssembly && g.atob) {
      const bytes = Uint8Array.from(g.atob(PHILOX_WASM_BASE64), (c) => c.charCodeAt(0));
      if (g.WebAssembly.validate(bytes)) {
        const { exports } = new g.WebAssembly.Instance(new g.WebAssembly.Module(bytes), {});
        const memory = exports.memory as { readonly buffer: ArrayBuffer };
        kernel = { fill: exports.fill as SimdKernel['fill'], view: new Float32Array(memory.buffer, 0, CHUNK) };
      }
    }
  } catch {
    kernel = null;
  }
  return kernel;
}

/**
 * Fills `out` with uniforms in [0, 1) from blocks `blockOffset, blockOffset + 1, ...` of stream
 * `stream` under key (k0, k1). Element i comes from word i % 4 of block blockOffset + floor(i / 4).
 * Returns the number of blocks consumed, ceil(out.length / 4). Runs the WebAssembly SIMD kernel where
 * there is one (7 to 10 times faster, docs/benchmarks.md), else {@link fillUniformsReference}; the numbers
 * are the same bit for bit.
 */
export function fillUniforms(out: UniformArray, k0: number, k1: number, stream: number, blockOffset: number): number {
  const n = out.length;
  const simd = n >= 64 ? philoxSimd() : null;
  if (!simd) return fillUniformsReference(out, k0, k1, stream, blockOffset);
  for (let done = 0; done < n; done += CHUNK) {
    const m = Math.min(CHUNK, n - done);
    const counter = blockOffset + done / 4;
    // Key and counter words as int32 bit patterns; a chunk's 2^14 blocks wrap the low word at most once.
    simd.fill(
      Math.ceil(m / 32),
      k0 | 0,
      k1 | 0,
      stream | 0,
      (counter % TWO_POW_32) | 0,
      Math.floor(counter / TWO_POW_32) | 0,
    );
    out.set(m === CHUNK ? simd.view : simd.view.subarray(0, m), done);
  }
  return Math.ceil(n / 4);
}
