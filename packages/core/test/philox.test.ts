import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  fillUniforms,
  fillUniformsReference,
  philox4x32_10,
  philoxSimd,
  UNIFORM_SCALE,
  uniformityFailures,
} from '../src/backend/index.js';
import { RandomStream } from '../src/index.js';

const hex = (w: Uint32Array) => [...w].map((x) => x.toString(16).padStart(8, '0'));

describe('Philox4x32-10', () => {
  // Known-answer vectors from Random123's kat_vectors (Salmon et al. 2011).
  it.each([
    [
      [0, 0, 0, 0],
      [0, 0],
      ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8'],
    ],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd'],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
    ],
  ] as const)('matches the Random123 known answer for counter %j, key %j', (c, k, expected) => {
    const out = new Uint32Array(4);
    philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1], out);
    expect(hex(out)).toEqual(expected);
  });

  it('gives uniforms in [0, 1) that are multiples of 2^-24', () => {
    const u = new Float32Array(10_001);
    fillUniforms(u, 7, 0, 3, 0);
    for (const x of u) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      expect(Number.isInteger(x / UNIFORM_SCALE)).toBe(true);
    }
  });

  it('has the mean, variance and lag-1 correlation of U[0, 1)', () => {
    const n = 200_000;
    const u = new Float64Array(n);
    new RandomStream(12345, 9).uniform(u);
    // Within 5 standard errors: mean sqrt(1/12/n) = 6.5e-4, variance 1.7e-4, correlation 1/sqrt(n) = 2.2e-3.
    expect(uniformityFailures(u, 5)).toEqual([]);
    // A generator that is off is caught: a shifted mean, a stuck value.
    expect(uniformityFailures(u.map((x) => 0.99 * x))[0]).toMatch(/^mean 0\.49\d+, expected 0\.5/);
    expect(uniformityFailures(Float64Array.of(0.5, 1, 0.25))[0]).toBe('value 1 is 1, outside [0, 1)');
  });

  it('is a pure function of (seed, stream, offset): streams resume exactly', () => {
    const a = new RandomStream(42, 3);
    const first = new Float32Array(10);
    const second = new Float32Array(7);
    a.uniform(first);
    const state = a.state();
    a.uniform(second);
    const b = RandomStream.fromState(state);
    const again = new Float32Array(7);
    b.uniform(again);
    expect([...again]).toEqual([...second]);
    // Each draw consumes whole blocks of four.
    expect(state.offset).toBe(3);
    // Different streams differ.
    const c = new Float32Array(10);
    new RandomStream(42, 4).uniform(c);
    expect([...c]).not.toEqual([...first]);
  });

  it('draws standard normals', () => {
    const n = 100_000;
    const z = new Float64Array(n);
    new RandomStream(1, 1).normal(z);
    let m = 0;
    let s = 0;
    for (const x of z) m += x;
    m /= n;
    for (const x of z) s += (x - m) ** 2;
    s /= n;
    expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s - 1)).toBeLessThan(0.02);
  });

  it('shuffles into a permutation, reproducibly', () => {
    const p = Uint32Array.from({ length: 100 }, (_, i) => i);
    new RandomStream(5, 2).shuffle(p);
    expect([...p].sort((x, y) => x - y)).toEqual([...Array(100).keys()]);
    const q = Uint32Array.from({ length: 100 }, (_, i) => i);
    new RandomStream(5, 2).shuffle(q);
    expect([...q]).toEqual([...p]);
    expect([...p]).not.toEqual([...Array(100).keys()]);
  });

  it('rejects bad seeds', () => {
    expect(() => new RandomStream(-1)).toThrow(/seed/);
    expect(() => new RandomStream(1.5)).toThrow(/seed/);
  });
});

describe('Philox uniforms in WebAssembly SIMD', () => {
  const TWO_POW_32 = 2 ** 32;
  it('loads here (Node has WebAssembly SIMD)', () => {
    expect(philoxSimd()).not.toBeNull();
  });

  // Lengths around the kernel's 32-uniform iterations and 65,536-uniform chunks; offsets where the low
  // counter word wraps inside a chunk, at a chunk edge, and near the 53-bit top; keys with the high bit set.
  it.each([
    [64, 0, [0, 0], 0],
    [65, 7, [1, 0], 3],
    [100, TWO_POW_32 - 3, [0xffffffff, 0xffffffff], 0xffffffff],
    [1000, TWO_POW_32 - 250, [0x80000000, 5], 3],
    [65_536, 2 ** 40 + TWO_POW_32 - 16_384, [12345, 0], 77],
    [200_003, TWO_POW_32 - 16_384 - 1, [42, 9], 6],
    [4099, 2 ** 53 - 2 ** 20, [3, 0x7fffffff], 1],
  ] as const)(
    'gives the reference numbers bit for bit: n %d at block %d, key %j, stream %d',
    (n, offset, key, stream) => {
      const fast = new Float32Array(n);
      const spec = new Float32Array(n);
      expect(fillUniforms(fast, key[0], key[1], stream, offset)).toBe(
        fillUniformsReference(spec, key[0], key[1], stream, offset),
      );
      let mismatches = 0;
      for (let i = 0; i < n; i++) if (fast[i] !== spec[i]) mismatches++;
      expect(mismatches).toBe(0);
      const wide = new Float64Array(n);
      fillUniforms(wide, key[0], key[1], stream, offset);
      expect(Float32Array.from(wide)).toEqual(spec);
    },
  );

  it('is assembled from wasm/philox.wat as committed (scripts/build-wasm.mjs --check)', () => {
    const script = fileURLToPath(new URL('../scripts/build-wasm.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
