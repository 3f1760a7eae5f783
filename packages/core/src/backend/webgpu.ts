import { firstLine } from '../errors.js';

/**
 * WebGPU for backends that use it (tfjs's webgpu engine, gpu.js's webgpu mode). Browsers have
 * `navigator.gpu`; in Node it comes from the `webgpu` package (Dawn), which installs `navigator.gpu` and
 * the WebGPU globals. A software fallback adapter (lavapipe, SwiftShader) is slower than the CPU paths, so
 * it is refused unless asked for.
 */

export interface WebGpuOptions {
  /** Accept a software fallback adapter (default false). */
  readonly allowFallbackAdapter?: boolean;
  /**
   * Imports the `webgpu` package in Node. The backend package passes it, so that the package resolves
   * from the backend (which declares it as an optional peer), not from core.
   */
  readonly importWebGpu?: () => Promise<unknown>;
}

/** What the adapter said of itself. */
export interface WebGpuAdapterInfo {
  readonly fallback: boolean;
  readonly description: string;
}

interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean; description?: string; vendor?: string; architecture?: string };
}
interface GpuLike {
  requestAdapter(): Promise<AdapterLike | null>;
}

const isNode = (): boolean =>
  (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== undefined;

/**
 * Makes sure `navigator.gpu` exists and answers with an acceptable adapter, or throws an error that says
 * why not and what to install. In Node this loads the `webgpu` package (an optional peer of the backends).
 */
export async function ensureWebGpu(options: WebGpuOptions = {}): Promise<WebGpuAdapterInfo> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  let gpu = g.navigator?.gpu;
  let globals: Record<string, unknown> | undefined;
  if (!gpu) {
    if (!isNode()) throw new Error('this browser has no WebGPU (navigator.gpu is missing)');
    if (!options.importWebGpu) throw new Error('no importWebGpu given: cannot load the webgpu package');
    let mod: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
    try {
      mod = (await options.importWebGpu()) as typeof mod;
    } catch (error) {
      throw new Error(
        `the webgpu package (WebGPU for Node) is not installed or did not load: ${firstLine(error)}; npm i webgpu@0.6.2`,
      );
    }
    gpu = mod.create([]);
    globals = mod.globals;
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter: no GPU (or Vulkan driver) answered on this machine');
  const fallback = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  const description =
    adapter.info?.description || [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join(' ') || '?';
  if (fallback && !options.allowFallbackAdapter) {
    throw new Error(
      `the only WebGPU adapter is a software fallback (${description}), slower than the CPU paths; pass allowFallbackAdapter to use it anyway`,
    );
  }
  if (globals) {
    Object.assign(globalThis, globals);
    g.navigator ??= {};
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  return { fallback, description };
}
