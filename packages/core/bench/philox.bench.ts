/**
 * Uniforms per second: core's Philox4x32-10 in plain JavaScript (the specification, and the fallback) and
 * in WebAssembly SIMD (what fillUniforms runs), for the ~180,000 uniforms of one 784-500 CD-1 step at batch
 * 100. Median of 51 draws after 20 of warm-up, alternating.
 *
 *   pnpm --filter @rbmjs/core bench
 */
import { fillUniforms, fillUniformsReference, philoxSimd } from '../src/backend/index.js';

const n = 180_000;
const out = new Float32Array(n);
const kinds = { javascript: fillUniformsReference, 'webassembly simd': fillUniforms } as const;
if (!philoxSimd()) console.log('no WebAssembly SIMD here: fillUniforms runs the JavaScript version');
const times: Record<string, number[]> = { javascript: [], 'webassembly simd': [] };
for (let r = 0; r < 71; r++) {
  for (const [name, fill] of Object.entries(kinds)) {
    const t0 = performance.now();
    fill(out, 12345, 0, 3, r * 50_000);
    if (r >= 20) times[name]!.push(performance.now() - t0);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const js = median(times.javascript!);
const simd = median(times['webassembly simd']!);
console.log(`| Philox4x32-10, ${n} uniforms | ms | uniforms/s |`);
console.log('| --- | --- | --- |');
console.log(`| JavaScript | ${js.toFixed(3)} | ${(((n / js) * 1e3) / 1e6).toFixed(1)} M |`);
console.log(`| WebAssembly SIMD | ${simd.toFixed(3)} | ${(((n / simd) * 1e3) / 1e6).toFixed(1)} M |`);
console.log(`speed-up: ${(js / simd).toFixed(1)}x`);
