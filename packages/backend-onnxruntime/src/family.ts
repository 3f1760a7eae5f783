import {
  type BackendFactory,
  type BackendFamily,
  type CommonBackendOptions,
  ensureWebGpu,
  familyFactory,
  firstLine,
  firstMode,
  inBrowser,
  UnknownBackendError,
} from '@rbmjs/core/backend';
import type { InferenceSession } from 'onnxruntime-common';
import { createOrtBackend, type OrtApi, type OrtBackend } from './backend.js';

/**
 * The modes: `cpu` and `cuda` run onnxruntime-node (Node), `wasm` and `webgpu` run onnxruntime-web
 * (browsers, and `wasm` in Node too).
 */
export type OrtMode = 'cpu' | 'cuda' | 'wasm' | 'webgpu';

export const MODES: readonly OrtMode[] = ['cpu', 'cuda', 'wasm', 'webgpu'];

export interface OrtBackendOptions extends CommonBackendOptions {
  /** Which runtime and execution provider (default: the first of `autoModes()` that starts). */
  readonly mode?: OrtMode | 'auto';
  /**
   * Threads for ONNX Runtime's operators: intra-op threads on `cpu` (default: the cores Node reports),
   * WebAssembly threads on `wasm` (default in browsers: the cores the browser reports, at most 4, where the
   * page is cross-origin isolated, else 1; in Node 1).
   */
  readonly threads?: number;
  /** See {@link OrtBackendSettings.maxUnitValues}. */
  readonly maxUnitValues?: number;
  /** Where the backend says that a unit fell back to op-by-op execution (default: console.warn). */
  readonly notice?: (message: string) => void;
  /**
   * `cpu` and `wasm`: whether ONNX Runtime's intra-op threads spin between ops (default: true in Node, its
   * own default, a little faster for many small ops; false in browsers, where the page needs the cores). Turn
   * it off where other threads of the process need the cores: the CLI's `rbm train` reads its batches on a
   * worker thread, which spinning threads would starve on a 2-core machine.
   */
  readonly spinning?: boolean;
  /** `wasm` and `webgpu`: where onnxruntime-web's wasm binaries and their loaders are (a URL or folder ending in /). */
  readonly wasmPaths?: string;
}

/** `auto` tries CUDA where its provider is installed, then the CPU, in Node; WebGPU then WebAssembly in browsers. */
export function autoModes(): OrtMode[] {
  return inBrowser() ? ['webgpu', 'wasm'] : ['cuda', 'cpu'];
}

export const INSTALL: Readonly<Record<OrtMode, string>> = {
  cpu: 'npm i onnxruntime-node --onnxruntime-node-install=skip (its CPU binaries are in the package for Linux x64/arm64, macOS and Windows)',
  cuda: 'npm i onnxruntime-node with its install script allowed and network access (it fetches the CUDA provider for Linux x64), plus CUDA 12 and cuDNN 9',
  wasm: 'npm i onnxruntime-web',
  webgpu: 'npm i onnxruntime-web, in a browser with WebGPU',
};

type Module = OrtApi & {
  readonly env: { wasm: { numThreads?: number; wasmPaths?: unknown } };
};

/** Imports a runtime package from this package (computed specifiers: browser bundlers leave them alone). */
async function importRuntime(pkg: 'onnxruntime-node' | 'onnxruntime-web' | 'onnxruntime-web/wasm'): Promise<Module> {
  let mod: Module & { default?: Module };
  try {
    mod =
      pkg === 'onnxruntime-web'
        ? await import('onnxruntime-web')
        : pkg === 'onnxruntime-web/wasm'
          ? await import('onnxruntime-web/wasm')
          : await import(/* @vite-ignore */ `${pkg}`);
  } catch (error) {
    throw new Error(`${pkg} is not installed or does not load here: ${firstLine(error)}`);
  }
  return mod.InferenceSession ? mod : (mod.default as Module);
}

/** Node's core count (os.availableParallelism), without importing node:os in browsers. */
async function nodeCores(): Promise<number> {
  const os = await import(/* @vite-ignore */ `${'node:os'}`);
  return os.availableParallelism?.() ?? os.cpus().length;
}

/** Whether onnxruntime-node's CUDA provider library is beside its binding (the install script puts it there). */
async function cudaProviderInstalled(): Promise<string | undefined> {
  const { createRequire } = await import(/* @vite-ignore */ `${'node:module'}`);
  const { dirname, join } = await import(/* @vite-ignore */ `${'node:path'}`);
  const { existsSync } = await import(/* @vite-ignore */ `${'node:fs'}`);
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('onnxruntime-node/package.json'));
  const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
  const lib = join(
    dir,
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so',
  );
  return existsSync(lib) ? lib : undefined;
}

/**
 * Units the WebGPU provider computes wrongly as one graph, with the reason. The sparse recommender step
 * (`cf-sparse-step`) ended three epochs 1.3e-4 off op-by-op execution in Chromium on SwiftShader (a weight of
 * -0.0896), while each of its ops alone, and a gather-scatter chain, agreed (the conformance suite's checks,
 * 8 December 2026); it runs op by op there until the cause is found.
 */
const WEBGPU_OP_BY_OP: Readonly<Record<string, string>> = {
  'cf-sparse-step':
    "the WebGPU provider's graph of the sparse recommender step disagreed with op-by-op execution in the conformance suite",
};

async function startMode(mode: OrtMode, options: OrtBackendOptions): Promise<OrtBackend> {
  if (!MODES.includes(mode)) {
    throw new UnknownBackendError(
      `unknown onnxruntime mode ${JSON.stringify(mode)} (choose from ${MODES.join(', ')})`,
      MODES.map((m) => `onnxruntime:${m}`),
    );
  }
  const common: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    // Errors only: the graphs are machine-written, and ONNX Runtime's warnings about them are not the user's.
    logSeverityLevel: 3,
  };
  // Session options whose intra-op threads do not spin between ops.
  const noSpinning = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
  let ort: Module;
  let session: InferenceSession.SessionOptions;
  let details: Record<string, string | number | boolean>;
  let preallocatedOutputs = false;
  if (mode === 'cpu' || mode === 'cuda') {
    if (inBrowser())
      throw new Error(`onnxruntime:${mode} runs in Node (use onnxruntime:wasm or onnxruntime:webgpu in browsers)`);
    if (mode === 'cuda' && !(await cudaProviderInstalled())) {
      throw new Error("onnxruntime-node's CUDA execution provider is not installed");
    }
    ort = await importRuntime('onnxruntime-node');
    const threads = options.threads ?? (await nodeCores());
    session = {
      ...common,
      executionProviders: [mode],
      intraOpNumThreads: threads,
      ...(options.spinning === false ? noSpinning : {}),
    };
    details = { runtime: 'onnxruntime-node', provider: mode, threads };
    preallocatedOutputs = mode === 'cpu';
  } else {
    if (mode === 'webgpu') {
      if (!inBrowser()) throw new Error("onnxruntime:webgpu runs in browsers (onnxruntime-web's WebGPU provider)");
      await ensureWebGpu({ allowFallbackAdapter: options.allowFallbackAdapter ?? false });
    }
    // In browsers, `wasm` loads onnxruntime-web's plain WebAssembly build: the default one carries the WebGPU
    // provider (JSEP), whose build runs CPU kernels about 4x slower (a 784-500 step 89 ms against 22 ms in
    // Chromium, bench.html).
    ort = await importRuntime(mode === 'wasm' && inBrowser() ? 'onnxruntime-web/wasm' : 'onnxruntime-web');
    // In browsers every core, up to 4, where threads exist (a cross-origin isolated page; ONNX Runtime itself
    // takes half the cores): on the 2-core machine a 784-500 step took 14.2-15.2 ms on two threads against
    // 19.5-20.0 on one (Chromium, bench.html). Their threads do not spin there unless asked to.
    if (options.threads !== undefined) ort.env.wasm.numThreads = options.threads;
    else if (!inBrowser()) ort.env.wasm.numThreads = 1;
    else {
      const page = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
      if (page.crossOriginIsolated) ort.env.wasm.numThreads = Math.min(4, page.navigator?.hardwareConcurrency || 1);
    }
    if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
    const spinning = options.spinning ?? !inBrowser();
    session = { ...common, executionProviders: [mode], ...(spinning ? {} : noSpinning) };
    details = { runtime: 'onnxruntime-web', provider: mode, threads: ort.env.wasm.numThreads ?? 'auto' };
  }
  const backend = createOrtBackend({
    name: `onnxruntime:${mode}`,
    ort,
    session,
    details,
    preallocatedOutputs,
    graph: { nanGuard: mode === 'webgpu', gpuKernelsOnly: mode === 'webgpu', compositeSoftplus: mode !== 'cuda' },
    ...(mode === 'webgpu' ? { opByOpLabels: WEBGPU_OP_BY_OP } : {}),
    ...(options.maxUnitValues !== undefined ? { maxUnitValues: options.maxUnitValues } : {}),
    ...(options.notice ? { notice: options.notice } : {}),
  });
  // Start the runtime now (its binaries, the provider) so that a mode that cannot run fails here, not at
  // the first training step.
  try {
    await backend.probe();
  } catch (error) {
    backend.destroy();
    throw new Error(`onnxruntime:${mode} did not start: ${firstLine(error)}`);
  }
  return backend;
}

export async function createOnnxruntimeBackend(options: OrtBackendOptions = {}): Promise<OrtBackend> {
  const requested = options.mode ?? 'auto';
  const order = requested === 'auto' ? autoModes() : [requested];
  return (await firstMode(family, order, (m) => startMode(m as OrtMode, options))) as OrtBackend;
}

/** ONNX Runtime in the backend table: `onnxruntime` (auto) or `onnxruntime:MODE`. */
export const family: BackendFamily<OrtBackendOptions> = {
  name: 'onnxruntime',
  package: '@rbmjs/backend-onnxruntime',
  summary:
    'ONNX Runtime: each training step compiled into one graph (CPU or CUDA in Node, WebAssembly or WebGPU in browsers)',
  modes: MODES,
  autoModes,
  create: (mode, options) => createOnnxruntimeBackend({ ...options, mode: (mode ?? 'auto') as OrtMode | 'auto' }),
  install: (mode) =>
    mode && mode in INSTALL ? INSTALL[mode as OrtMode] : 'npm i @rbmjs/backend-onnxruntime onnxruntime-node',
};

/** The factory for `resolveBackend` (auto mode; `familyFactory(family, mode)` for one mode). */
export const onnxruntimeBackend: BackendFactory<OrtBackendOptions> = familyFactory(family);
