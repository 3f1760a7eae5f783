import {
  BACKEND_API_VERSION,
  type Backend,
  type BackendFactory,
  type BackendFamily,
  BackendUnavailableError,
  type BinaryOp,
  type CommonBackendOptions,
  check,
  ensureWebGpu,
  familyFactory,
  firstLine,
  firstMode,
  type HostArray,
  inBrowser,
  type MatMulOptions,
  RbmError,
  type Tensor,
  type UnaryOp,
  UnknownBackendError,
} from '@rbmjs/core/backend';
import type { GPU as GPUClass, IKernelRunShortcut, Kernel } from 'gpu.js';
import {
  axpbySource,
  type Broadcast,
  bernoulliSource,
  binarySource,
  copySource,
  fillSource,
  gatherSource,
  logSumExpSource,
  matMulSource,
  scatterAddSource,
  sumSource,
  unarySource,
} from './kernels.js';
import { SerialQueue } from './queue.js';

/** gpu.js modes. `webgl` and `webgl2` exist in browsers only; `headlessgl` in Node with the `gl` package. */

/**
 * Node's WebGPU (the `webgpu` package, an optional peer), imported from this package so that it resolves
 * here. The specifier is computed so that browser bundlers leave it alone.
 */
function importWebGpu(): Promise<unknown> {
  const specifier = 'webgpu';
  return import(/* @vite-ignore */ specifier);
}

export type Mode = 'webgpu' | 'webgl2' | 'webgl' | 'headlessgl' | 'webasm' | 'cpu';

export const MODES: readonly Mode[] = ['webgpu', 'webgl2', 'webgl', 'headlessgl', 'webasm', 'cpu'];

/** gpu.js's exports, with what its type declarations leave out. */
type GpuJs = typeof import('gpu.js') & {
  input(value: Float32Array, size: number[]): unknown;
  WebGPUKernel: unknown;
};

/** What a kernel returns or takes: a host array (cpu, webasm), a GL texture or a WebGPU buffer handle. */
interface DeviceValue {
  delete(): void;
  toArray(): unknown;
}
type Value = Float32Array | DeviceValue;

/** A tensor of the gpu.js backend: a handle whose value each op replaces (kernel outputs are immutable). */
export class GpujsTensor implements Tensor {
  disposed = false;
  /** Set by the queue when the op that produces it runs. */
  value: Value | null = null;
  constructor(
    readonly rows: number,
    readonly cols: number,
  ) {}
}

export interface GpujsBackendOptions extends CommonBackendOptions {
  /** `auto` (default): webgpu (on a hardware adapter), webgl2, webgl, headlessgl, webasm, cpu. */
  readonly mode?: Mode | 'auto';
  /** Accept a software fallback WebGPU adapter (default false: it is slower than webasm). */
  readonly allowFallbackAdapter?: boolean;
  /**
   * webasm only: split large kernels over a worker pool (gpu.js's asyncMode; default true). In browsers
   * this needs cross-origin isolation for SharedArrayBuffer.
   */
  readonly threads?: boolean;
}

/** The kernel class each mode must run (gpu.js can degrade a kernel to another quietly). */
const KERNEL_CLASS: Record<Mode, keyof GpuJs> = {
  webgpu: 'WebGPUKernel',
  webgl2: 'WebGL2Kernel',
  webgl: 'WebGLKernel',
  headlessgl: 'HeadlessGLKernel',
  webasm: 'WebAssemblyKernel',
  cpu: 'CPUKernel',
};

const HOW_TO: Record<Mode, string> = {
  webgpu:
    'needs a WebGPU adapter: a browser with WebGPU, or Node with the webgpu package (npm i webgpu@0.6.2) on a machine with a GPU',
  webgl2: 'needs a browser with WebGL2',
  webgl: 'needs a browser with WebGL',
  headlessgl:
    'needs the gl package built (it compiles from source: apt-get install libx11-dev libxi-dev libxext-dev pkg-config, then npm rebuild gl) and an X display (xvfb-run)',
  webasm: 'needs WebAssembly with SIMD',
  cpu: 'always available',
};

/** The order `auto` tries. */
export function autoModes(): Mode[] {
  return inBrowser() ? ['webgpu', 'webgl2', 'webgl', 'webasm', 'cpu'] : ['webgpu', 'headlessgl', 'webasm', 'cpu'];
}

function flatten(rows: number, cols: number, result: unknown): Float32Array {
  if (result instanceof Float32Array) return result;
  const out = new Float32Array(rows * cols);
  const list = result as ArrayLike<ArrayLike<number>>;
  if (list.length !== rows) throw new RbmError('BACKEND_API', `gpu.js returned ${list.length} rows, expected ${rows}`);
  for (let i = 0; i < rows; i++) out.set(list[i]!, i * cols);
  return out;
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** Starts gpu.js in `mode` and checks that the mode runs and computes: a 1500-term sum must be 1500. */
async function start(lib: GpuJs, mode: Mode, options: GpujsBackendOptions): Promise<GpujsBackend> {
  const details: Record<string, string | number | boolean> = { mode };
  if (mode === 'webgpu') {
    const adapter = await ensureWebGpu({ allowFallbackAdapter: options.allowFallbackAdapter ?? false, importWebGpu });
    details.adapter = adapter.description;
    details.fallbackAdapter = adapter.fallback;
  } else if ((mode === 'webgl' || mode === 'webgl2') && !inBrowser()) {
    throw new Error(`${mode} runs in browsers only; in Node use headlessgl`);
  }
  const threads = mode === 'webasm' && (options.threads ?? true);
  if (mode === 'webasm') details.threads = threads;
  const gpu = new lib.GPU({ mode });
  const backend = new GpujsBackend(lib, gpu, mode, threads, details);
  try {
    const t = backend.tensor(1, 1500, new Float32Array(1500).fill(1));
    const s = backend.tensor(1, 1);
    backend.sum(s, t, 1);
    const [value] = await backend.read(s);
    const expected = lib[KERNEL_CLASS[mode]] as unknown as abstract new (...args: never[]) => unknown;
    const kernel = backend.lastKernel();
    if (!(kernel instanceof expected)) {
      const why = (kernel as { fallbackReason?: string } | undefined)?.fallbackReason;
      throw new Error(
        `gpu.js ran ${(kernel as object | undefined)?.constructor?.name ?? 'another kernel type'} instead${why ? ` (${why})` : ''}`,
      );
    }
    if (value !== 1500) throw new Error(`a 1500-term sum of ones gave ${value}`);
    backend.dispose(t);
    backend.dispose(s);
  } catch (error) {
    backend.destroy();
    throw error;
  }
  return backend;
}

export async function createGpujsBackend(options: GpujsBackendOptions = {}): Promise<Backend> {
  const requested = options.mode ?? 'auto';
  if (requested !== 'auto' && !MODES.includes(requested)) {
    throw new UnknownBackendError(
      `unknown gpu.js mode ${JSON.stringify(requested)} (choose from ${MODES.join(', ')})`,
      MODES.map((m) => `gpujs:${m}`),
    );
  }
  let lib: GpuJs;
  try {
    const mod = (await import('gpu.js')) as unknown as GpuJs & { default?: GpuJs };
    // CommonJS in Node: the named exports are on the default export.
    lib = mod.default ?? mod;
  } catch (error) {
    const reason = `gpu.js did not load: ${firstLine(error)}`;
    throw new BackendUnavailableError(reason, [{ name: 'gpujs', reason, install: 'npm i gpu.js' }]);
  }
  const order = requested === 'auto' ? autoModes() : [requested];
  return firstMode(family, order, (mode) => start(lib, mode as Mode, options));
}

/** gpu.js in the backend table: `gpujs` (auto) or `gpujs:MODE`. */
export const family: BackendFamily<GpujsBackendOptions> = {
  name: 'gpujs',
  package: '@rbmjs/backend-gpujs',
  summary: 'gpu.js kernels: WebGPU, WebGL2/WebGL (headless GL in Node), WebAssembly SIMD or JavaScript',
  modes: MODES,
  autoModes,
  create: (mode, options) => createGpujsBackend({ ...options, mode: (mode ?? 'auto') as Mode | 'auto' }),
  install: (mode) => (mode && mode in HOW_TO ? HOW_TO[mode as Mode] : 'npm i @rbmjs/backend-gpujs gpu.js'),
};

type KernelFn = IKernelRunShortcut;

/** Compiled kernels kept, least recently used evicted first: one per op and shape in use. */
export const MAX_KERNELS = 256;

/**
 * The backend. Every op is validated at once and then run in order by a serial queue: synchronously on
 * the modes whose kernels are synchronous (cpu, GL, single-threaded webasm), chained on promises where
 * gpu.js kernels are asynchronous (webgpu, threaded webasm). Kernels are compiled once per op and shape
 * (`pipeline` + `immutable`: each call returns a new device value, so an op may read its destination)
 * and values stay on the device until `read`.
 */
class GpujsBackend implements Backend {
  readonly apiVersion = BACKEND_API_VERSION;
  readonly precision = 'float32' as const;
  readonly randomness = 'host' as const;
  readonly name: string;
  private readonly kernels = new Map<string, KernelFn>();
  private readonly live = new Set<GpujsTensor>();
  private readonly queue = new SerialQueue();
  private readonly host: boolean;
  private last: KernelFn | undefined;

  constructor(
    private readonly lib: GpuJs,
    private readonly gpu: GPUClass,
    readonly mode: Mode,
    private readonly threads: boolean,
    readonly details: Readonly<Record<string, string | number | boolean>>,
  ) {
    this.name = `gpujs:${mode}`;
    this.host = mode === 'cpu' || mode === 'webasm';
  }

  /** The gpu.js kernel object behind the last kernel run (for checking the mode). */
  lastKernel(): Kernel | undefined {
    return this.last?.kernel as Kernel | undefined;
  }

  private kernel(key: string, rows: number, cols: number, source: () => string, readback = false): KernelFn {
    const id = `${key}|${rows}x${cols}`;
    let k = this.kernels.get(id);
    if (k) {
      // Most recently used last: the cache evicts from the front.
      this.kernels.delete(id);
      this.kernels.set(id, k);
    } else {
      k = this.gpu.createKernel(source(), {
        output: [cols, rows],
        // Results stay on the device; a readback kernel returns host arrays instead.
        pipeline: !readback,
        immutable: !readback,
        precision: 'single',
        tactic: 'precision',
        ...(this.threads || readback ? { asyncMode: true } : {}),
      }) as KernelFn;
      this.kernels.set(id, k);
      if (this.kernels.size > MAX_KERNELS) {
        // Evaluations over many shapes (chunked enumeration, AIS) must not grow the cache without bound.
        // Destroyed through the queue, after the steps already enqueued that use it; the values it produced
        // hold their own references.
        const [oldId, old] = this.kernels.entries().next().value as [string, KernelFn];
        this.kernels.delete(oldId);
        this.queue.push(() => old.destroy());
      }
    }
    return k;
  }

  /** How many compiled kernels the backend holds (at most MAX_KERNELS). */
  get compiledKernels(): number {
    return this.kernels.size;
  }

  private own(t: Tensor): GpujsTensor {
    if (!(t instanceof GpujsTensor)) {
      throw new RbmError('BACKEND_API', 'gpu.js backend: tensor belongs to another backend');
    }
    if (t.disposed) throw new RbmError('DISPOSED', 'gpu.js backend: tensor used after dispose');
    return t;
  }

  /** A tensor's value as a kernel argument (read when the op runs, not when it is enqueued). */
  private arg(t: GpujsTensor): unknown {
    const v = t.value;
    if (v === null) throw new RbmError('BACKEND_API', 'gpu.js backend: tensor has no value');
    return v instanceof Float32Array ? this.lib.input(v, [t.cols, t.rows]) : v;
  }

  private assign(out: GpujsTensor, result: unknown): void {
    const next: Value = this.host ? flatten(out.rows, out.cols, result) : (result as DeviceValue);
    const previous = out.value;
    out.value = next;
    if (previous && !(previous instanceof Float32Array) && previous !== next) previous.delete();
  }

  /** Enqueues `out = kernel(...inputs, ...scalars)`. */
  private run(
    key: string,
    source: () => string,
    out: GpujsTensor,
    inputs: readonly GpujsTensor[],
    scalars: readonly number[] = [],
  ): void {
    const k = this.kernel(key, out.rows, out.cols, source);
    // Arguments are read when the step runs, not when it is enqueued.
    this.call(k, out, () => [...inputs.map((t) => this.arg(t)), ...scalars]);
  }

  /** Enqueues `out = k(...args())`, waiting for the result where the kernel is asynchronous. */
  private call(k: KernelFn, out: GpujsTensor, args: () => unknown[]): void {
    this.queue.push(() => {
      this.last = k;
      const result = k(...(args() as never[]));
      if (isThenable(result)) return Promise.resolve(result).then((r) => this.assign(out, r));
      this.assign(out, result);
      return undefined;
    });
  }

  /** Uploads host data into `t` (a device value in the GPU modes). */
  private upload(t: GpujsTensor, data: HostArray): void {
    const copy = new Float32Array(data);
    if (this.host) {
      this.queue.push(() => {
        t.value = copy;
      });
      return;
    }
    const k = this.kernel('upload', t.rows, t.cols, () => copySource);
    this.call(k, t, () => [this.lib.input(copy, [t.cols, t.rows])]);
  }

  tensor(rows: number, cols: number, data?: HostArray): Tensor {
    check.dimensions(rows, cols);
    if (data) check.data(rows, cols, data.length);
    const t = new GpujsTensor(rows, cols);
    this.live.add(t);
    if (data) this.upload(t, data);
    else this.fill(t, 0);
    return t;
  }

  write(t: Tensor, data: HostArray): void {
    const h = this.own(t);
    check.data(h.rows, h.cols, data.length);
    this.upload(h, data);
  }

  async read(t: Tensor): Promise<HostArray> {
    const h = this.own(t);
    await this.queue.settled();
    const v = h.value!;
    if (v instanceof Float32Array) return v.slice();
    if (this.mode === 'webgl2') {
      // WebGL2 reads through a pixel-pack buffer behind a fence (gpu.js's asyncMode): the page's main
      // thread keeps running while the GPU catches up, where texture.toArray() would block it.
      const k = this.kernel('readback', h.rows, h.cols, () => copySource, true);
      return flatten(h.rows, h.cols, await k(v as never));
    }
    return flatten(h.rows, h.cols, await v.toArray());
  }

  dispose(t: Tensor): void {
    const h = this.own(t);
    h.disposed = true;
    this.live.delete(h);
    this.queue.push(() => {
      const v = h.value;
      h.value = null;
      if (v && !(v instanceof Float32Array)) v.delete();
    });
  }

  destroy(): void {
    for (const t of this.live) {
      t.disposed = true;
      const v = t.value;
      t.value = null;
      if (v && !(v instanceof Float32Array)) v.delete();
    }
    this.live.clear();
    this.kernels.clear();
    this.gpu.destroy();
  }

  matMul(out: Tensor, a: Tensor, b: Tensor, options: MatMulOptions = {}): void {
    check.matMul(out, a, b, options);
    const o = this.own(out);
    const A = this.own(a);
    const B = this.own(b);
    const ta = options.transposeA ?? false;
    const tb = options.transposeB ?? false;
    const inner = ta ? A.rows : A.cols;
    const alpha = options.alpha ?? 1;
    const beta = options.beta ?? 0;
    // beta = 0 overwrites (out may hold NaN), so it is a kernel that does not read out.
    const acc = beta !== 0;
    const key = `matMul:${inner}:${ta}:${tb}:${acc}:${A.rows}x${A.cols}:${B.rows}x${B.cols}`;
    const source = () => matMulSource(inner, ta, tb, acc);
    if (acc) this.run(key, source, o, [A, B, o], [alpha, beta]);
    else this.run(key, source, o, [A, B], [alpha]);
  }

  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void {
    check.binary(out, a, b);
    const A = this.own(a);
    const B = this.own(b);
    const broadcast: Broadcast =
      B.rows === A.rows && B.cols === A.cols
        ? 'full'
        : B.rows === 1 && B.cols === 1
          ? 'scalar'
          : B.rows === 1
            ? 'row'
            : 'col';
    const key = `binary:${op}:${broadcast}:${B.rows}x${B.cols}`;
    this.run(key, () => binarySource(op, broadcast), this.own(out), [A, B]);
  }

  axpby(out: Tensor, alpha: number, x: Tensor, beta: number, y: Tensor): void {
    check.same('axpby', out, x, y);
    this.run('axpby', () => axpbySource, this.own(out), [this.own(x), this.own(y)], [alpha, beta]);
  }

  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    check.same(`unary ${op}`, out, x);
    this.run(`unary:${op}`, () => unarySource(op), this.own(out), [this.own(x)]);
  }

  bernoulli(out: Tensor, p: Tensor, u: Tensor): void {
    check.same('bernoulli', out, p, u);
    this.run('bernoulli', () => bernoulliSource, this.own(out), [this.own(p), this.own(u)]);
  }

  sum(out: Tensor, x: Tensor, axis: 0 | 1): void {
    check.reduce('sum', out, x, axis);
    const X = this.own(x);
    const length = axis === 0 ? X.rows : X.cols;
    this.run(`sum:${axis}:${X.rows}x${X.cols}`, () => sumSource(axis, length), this.own(out), [X]);
  }

  logSumExp(out: Tensor, x: Tensor, axis: 0 | 1): void {
    check.reduce('logSumExp', out, x, axis);
    const X = this.own(x);
    const length = axis === 0 ? X.rows : X.cols;
    this.run(`logSumExp:${axis}:${X.rows}x${X.cols}`, () => logSumExpSource(axis, length), this.own(out), [X]);
  }

  gather(out: Tensor, x: Tensor, index: Tensor): void {
    check.indexed('gather', x, out, index);
    const X = this.own(x);
    const I = this.own(index);
    this.run(`gather:${X.rows}x${X.cols}:${I.rows}`, () => gatherSource, this.own(out), [X, I]);
  }

  scatterAdd(out: Tensor, index: Tensor, x: Tensor): void {
    check.indexed('scatterAdd', out, x, index);
    const o = this.own(out);
    const I = this.own(index);
    const X = this.own(x);
    this.run(`scatterAdd:${I.rows}:${X.cols}`, () => scatterAddSource(I.rows), o, [o, I, X]);
  }

  fill(out: Tensor, value: number): void {
    const o = this.own(out);
    if (this.host) {
      this.queue.push(() => {
        o.value = new Float32Array(o.rows * o.cols).fill(value);
      });
      return;
    }
    this.run('fill', () => fillSource, o, [], [value]);
  }

  copy(out: Tensor, x: Tensor): void {
    check.same('copy', out, x);
    const o = this.own(out);
    const X = this.own(x);
    if (this.host) {
      this.queue.push(() => {
        o.value = (X.value as Float32Array).slice();
      });
      return;
    }
    this.run('copy', () => copySource, o, [X]);
  }
}

/** The factory for `resolveBackend` (auto mode; `familyFactory(family, mode)` for one mode). */
export const gpujsBackend: BackendFactory<GpujsBackendOptions> = familyFactory(family);
