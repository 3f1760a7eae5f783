import { ensureWebGpu, firstLine, inBrowser, UnknownBackendError } from '@rbmjs/core/backend';
import type * as tfc from '@tensorflow/tfjs-core';

/**
 * TensorFlow.js engines, loaded only when asked for. tfjs registers an engine when its package is
 * imported, so nothing is imported until `loadEngine` runs; and because `setBackend` can fail quietly and
 * leave tfjs on another engine, the engine in use is checked afterwards.
 */

/**
 * Node's WebGPU (the `webgpu` package, an optional peer), imported from this package so that it resolves
 * here. The specifier is computed so that browser bundlers leave it alone.
 */
function importWebGpu(): Promise<unknown> {
  const specifier = 'webgpu';
  return import(/* @vite-ignore */ specifier);
}

export type Engine = 'node' | 'wasm' | 'webgpu' | 'webgl' | 'cpu';

export const ENGINES: readonly Engine[] = ['node', 'wasm', 'webgpu', 'webgl', 'cpu'];

/** The order `auto` tries: native TensorFlow, then WebAssembly SIMD, then the GPU engines, then plain JS. */
export function autoOrder(): Engine[] {
  return inBrowser() ? ['webgpu', 'webgl', 'wasm', 'cpu'] : ['node', 'wasm', 'cpu'];
}

/** How to get each engine. */
export const INSTALL: Readonly<Record<Engine, string>> = {
  node: 'npm i @tensorflow/tfjs-node (native TensorFlow for Linux x64/arm64, macOS and Windows x64; its install script downloads libtensorflow)',
  wasm: 'npm i @tensorflow/tfjs-backend-wasm',
  webgpu:
    'npm i @tensorflow/tfjs-backend-webgpu (and, in Node, npm i webgpu@0.6.2); needs a WebGPU adapter: a browser, or Node on a machine with a GPU',
  webgl: 'npm i @tensorflow/tfjs-backend-webgl (browsers)',
  cpu: 'npm i @tensorflow/tfjs-backend-cpu',
};

/** Where the wasm binaries of @tensorflow/tfjs-backend-wasm are, in Node (browsers use the bundler's URLs). */
async function wasmPathsForNode(): Promise<string | undefined> {
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  const require = createRequire(import.meta.url);
  return `${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`;
}

/**
 * Imports tfjs-core and the engine's package, selects the engine and returns tfjs, or throws an error that
 * says why the engine cannot run here ({@link INSTALL} says how to get it).
 */
export async function loadEngine(
  engine: Engine,
  options: { wasmPaths?: string; allowFallbackAdapter?: boolean } = {},
): Promise<typeof tfc> {
  if (!ENGINES.includes(engine)) {
    throw new UnknownBackendError(
      `unknown tfjs engine ${JSON.stringify(engine)} (choose from ${ENGINES.join(', ')})`,
      ENGINES.map((e) => `tfjs:${e}`),
    );
  }
  let tf: typeof tfc;
  try {
    tf = await import('@tensorflow/tfjs-core');
  } catch (error) {
    throw new Error(`@tensorflow/tfjs-core is not installed (npm i @tensorflow/tfjs-core): ${firstLine(error)}`);
  }
  try {
    switch (engine) {
      case 'node':
        await import('@tensorflow/tfjs-node' as string);
        break;
      case 'wasm': {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        const paths = options.wasmPaths ?? (await wasmPathsForNode());
        if (paths) wasm.setWasmPaths(paths);
        // On a cross-origin isolated page tfjs-wasm picks its threaded build, whose worker script breaks once
        // bundled ("e is not defined" in Chromium, the page hangs): the SIMD build, single-threaded, instead.
        if (inBrowser()) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
        break;
      }
      case 'webgpu':
        await ensureWebGpu({ allowFallbackAdapter: options.allowFallbackAdapter ?? false, importWebGpu });
        await import('@tensorflow/tfjs-backend-webgpu' as string);
        break;
      case 'webgl':
        await import('@tensorflow/tfjs-backend-webgl' as string);
        break;
      case 'cpu':
        await import('@tensorflow/tfjs-backend-cpu');
        break;
    }
  } catch (error) {
    throw new Error(`tfjs engine ${engine} cannot load: ${firstLine(error)}`);
  }
  const name = engine === 'node' ? 'tensorflow' : engine;
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    throw new Error(`tfjs engine ${engine} failed to initialise: ${firstLine(error)}`);
  }
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`tfjs engine ${engine} did not start (tfjs is on ${String(tf.getBackend())})`);
  }
  return tf;
}
