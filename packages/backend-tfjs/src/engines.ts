import type * as tfc from '@tensorflow/tfjs-core';

/**
 * TensorFlow.js engines, loaded only when asked for. tfjs registers an engine when its package is
 * imported, so nothing is imported until `loadEngine` runs; and because `setBackend` can fail quietly and
 * leave tfjs on another engine, the engine in use is checked afterwards.
 */

export type Engine = 'node' | 'wasm' | 'webgpu' | 'webgl' | 'cpu';

export const ENGINES: readonly Engine[] = ['node', 'wasm', 'webgpu', 'webgl', 'cpu'];

/** The order `auto` tries: native TensorFlow, then WebAssembly SIMD, then the GPU engines, then plain JS. */
export function autoOrder(): Engine[] {
  const g = globalThis as { window?: unknown; document?: unknown };
  const browser = g.window !== undefined && g.document !== undefined;
  return browser ? ['webgpu', 'webgl', 'wasm', 'cpu'] : ['node', 'wasm', 'cpu'];
}

const INSTALL: Record<Engine, string> = {
  node: 'npm i @tensorflow/tfjs-node (native TensorFlow for Linux x64/arm64, macOS and Windows x64; its install script downloads libtensorflow)',
  wasm: 'npm i @tensorflow/tfjs-backend-wasm',
  webgpu:
    'npm i @tensorflow/tfjs-backend-webgpu (and, in Node, npm i webgpu@0.6.2); needs a WebGPU adapter: a browser, or Node on a machine with a GPU',
  webgl: 'npm i @tensorflow/tfjs-backend-webgl (browsers)',
  cpu: 'npm i @tensorflow/tfjs-backend-cpu',
};

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

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
 * says why the engine cannot run here and how to get it.
 */
/**
 * In Node, WebGPU comes from the `webgpu` package (Dawn): it installs `navigator.gpu` and the WebGPU globals
 * that tfjs-backend-webgpu expects. A software fallback adapter (lavapipe, SwiftShader) is slower than the
 * wasm engine, so it is refused unless asked for.
 */
async function ensureNodeWebGpu(allowFallbackAdapter: boolean): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  let mod: { create(flags: string[]): { requestAdapter(): Promise<unknown> }; globals: Record<string, unknown> };
  try {
    mod = await import('webgpu' as string);
  } catch (error) {
    throw new Error(
      `the webgpu package (WebGPU for Node) is not installed or did not load: ${message(error)}; npm i webgpu@0.6.2`,
    );
  }
  const gpu = mod.create([]);
  const adapter = (await gpu.requestAdapter()) as {
    isFallbackAdapter?: boolean;
    info?: { isFallbackAdapter?: boolean; description?: string };
  } | null;
  if (!adapter)
    throw new Error('no WebGPU adapter: the webgpu package found no GPU (or Vulkan driver) on this machine');
  const fallback = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  if (fallback && !allowFallbackAdapter) {
    throw new Error(
      `the only WebGPU adapter is a software fallback (${adapter.info?.description ?? 'no description'}), slower than the wasm engine; pass allowFallbackAdapter to use it anyway`,
    );
  }
  Object.assign(globalThis, mod.globals);
  g.navigator ??= {};
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
}

export async function loadEngine(
  engine: Engine,
  options: { wasmPaths?: string; allowFallbackAdapter?: boolean } = {},
): Promise<typeof tfc> {
  let tf: typeof tfc;
  try {
    tf = await import('@tensorflow/tfjs-core');
  } catch (error) {
    throw new Error(`@tensorflow/tfjs-core is not installed (npm i @tensorflow/tfjs-core): ${message(error)}`);
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
        break;
      }
      case 'webgpu':
        if (typeof process !== 'undefined' && process.versions?.node)
          await ensureNodeWebGpu(options.allowFallbackAdapter ?? false);
        await import('@tensorflow/tfjs-backend-webgpu' as string);
        break;
      case 'webgl':
        await import('@tensorflow/tfjs-backend-webgl' as string);
        break;
      case 'cpu':
        await import('@tensorflow/tfjs-backend-cpu');
        break;
      default:
        throw new Error(`unknown tfjs engine ${JSON.stringify(engine)} (choose from ${ENGINES.join(', ')})`);
    }
  } catch (error) {
    if (String(error).includes('unknown tfjs engine')) throw error;
    throw new Error(`tfjs engine ${engine} cannot load: ${message(error)}; to get it: ${INSTALL[engine]}`);
  }
  const name = engine === 'node' ? 'tensorflow' : engine;
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    throw new Error(`tfjs engine ${engine} failed to initialise: ${message(error)}`);
  }
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`tfjs engine ${engine} did not start (tfjs is on ${String(tf.getBackend())}); ${INSTALL[engine]}`);
  }
  return tf;
}
