import {
  type Backend,
  type BackendEntry,
  BackendUnavailableError,
  conditionalSample,
  createDataset,
  type Dataset,
  exactLogLikelihood,
  lazyBackendEntry,
  pseudoLogLikelihood,
  RBM,
  startBackend as startBackendFrom,
  Trainer,
  TrainingAbortedError,
} from '@rbmjs/core';
import { firstLine } from '@rbmjs/core/backend';
import type { BackendChoice, CurveName, Settings } from './state.js';

/**
 * A training run in the page: the backend (with a fallback to plain TypeScript when the chosen one cannot
 * start), the model and its Trainer, and the loop that keeps the page responsive. The Trainer's per-batch
 * callback is where the loop yields to the browser (every `sliceMs`), pauses (it awaits until resumed)
 * and stops (an AbortSignal: the trainer stops after the batch in flight).
 */

export interface LoadOptions {
  /**
   * Accept a software WebGPU adapter (SwiftShader): slower than the CPU backends, so refused unless asked
   * for (the page's `?allowFallbackAdapter=1`, which the browser tests use).
   */
  readonly allowFallbackAdapter?: boolean;
  /** Where tfjs's wasm binaries are (absolute URL); default: `tfjs-wasm/` beside the page. */
  readonly wasmPaths?: string;
  /** Where onnxruntime-web's wasm binaries are (absolute URL); default: `ort-wasm/` beside the page. */
  readonly onnxruntimeWasmPaths?: string;
  /** ONNX Runtime's WebAssembly threads (default: its own choice) and whether they spin between ops. */
  readonly onnxruntime?: { readonly threads?: number; readonly spinning?: boolean };
}

export type BackendLoader = (choice: BackendChoice, options?: LoadOptions) => Promise<Backend>;

/**
 * The demo's backend table: each package is loaded only when chosen (a page that runs js never downloads
 * tfjs); the names and modes are the packages' own (core's `startBackend` checks them).
 */
export const DEMO_BACKENDS: readonly BackendEntry[] = [
  lazyBackendEntry('onnxruntime', '@rbmjs/backend-onnxruntime', () => import('@rbmjs/backend-onnxruntime')),
  lazyBackendEntry('gpujs', '@rbmjs/backend-gpujs', () => import('@rbmjs/backend-gpujs')),
  lazyBackendEntry('tfjs', '@rbmjs/backend-tfjs', () => import('@rbmjs/backend-tfjs')),
  lazyBackendEntry('js', '@rbmjs/backend-js', () => import('@rbmjs/backend-js')),
];

/**
 * The menu, from the table: for each family, the modes its `auto` would try in this environment (the
 * packages are small; their engines load only when a backend starts), in table order. A family whose
 * package cannot load is left out.
 */
export async function backendChoices(table: readonly BackendEntry[] = DEMO_BACKENDS): Promise<BackendChoice[]> {
  const lists = await Promise.all(
    table.map(async (entry) => {
      try {
        const family = await entry.load();
        const modes = family.autoModes();
        return modes.length > 0 ? modes.map((m) => `${family.name}:${m}`) : [family.name];
      } catch {
        return [];
      }
    }),
  );
  return lists.flat();
}

export const loadBackend: BackendLoader = async (choice, options = {}) => {
  // A worker has no document: the page passes the URL of tfjs's wasm binaries.
  const wasmPaths =
    options.wasmPaths ?? (typeof document === 'undefined' ? undefined : new URL('./tfjs-wasm/', document.baseURI).href);
  const ortPaths =
    options.onnxruntimeWasmPaths ??
    (typeof document === 'undefined' ? undefined : new URL('./ort-wasm/', document.baseURI).href);
  return startBackendFrom(choice, DEMO_BACKENDS, {
    allowFallbackAdapter: options.allowFallbackAdapter ?? false,
    settings: { tfjs: { wasmPaths }, onnxruntime: { ...options.onnxruntime, wasmPaths: ortPaths } },
  });
};

/** The first reason a backend did not start, in one line. */
function whyNot(error: unknown): string {
  if (error instanceof BackendUnavailableError && error.reasons[0]) return error.reasons[0].reason;
  return firstLine(error);
}

/** The job `auto` times each backend on: the demo's model and batch, a few CD-1 steps on random digits. */
export interface TimedJob {
  readonly hidden: number;
  readonly batchSize: number;
}

/** Milliseconds per CD-1 step of `job` on `backend`: the median of 3 runs of 3 steps after a warm-up step. */
export async function msPerStep(backend: Backend, job: TimedJob): Promise<number> {
  const rows = 3 * job.batchSize;
  const x = new Float32Array(rows * 784);
  for (let i = 0; i < x.length; i++) x[i] = (i * 2654435761) % 7 === 0 ? 1 : 0;
  const data = createDataset(x, rows, 784);
  const model = RBM.create(backend, { numVisible: 784, numHidden: job.hidden, seed: 1 });
  try {
    const times: number[] = [];
    for (let r = 0; r < 4; r++) {
      const trainer = new Trainer(
        model,
        r === 0 ? createDataset(x.subarray(0, job.batchSize * 784), job.batchSize, 784) : data,
        {
          epochs: 1,
          batchSize: job.batchSize,
        },
      );
      const t0 = performance.now();
      await trainer.run();
      await backend.read(model.b);
      if (r > 0) times.push((performance.now() - t0) / 3);
      trainer.dispose();
    }
    return times.sort((a, b) => a - b)[1]!;
  } finally {
    model.dispose();
  }
}

/**
 * `auto`: every backend of the menu that starts here is timed on the demo's own job (measured on this
 * machine, not assumed from the APIs present), and the fastest is started again for the run. The message
 * says what was measured.
 */
export async function fastestBackend(
  load: BackendLoader,
  options: LoadOptions,
  job: TimedJob,
  choices?: readonly BackendChoice[],
): Promise<{ backend: Backend; message: string }> {
  const measured: Array<{ choice: BackendChoice; name: string; ms: number }> = [];
  for (const choice of choices ?? (await backendChoices())) {
    let backend: Backend;
    try {
      backend = await load(choice, options);
    } catch {
      continue;
    }
    try {
      measured.push({ choice, name: backend.name, ms: await msPerStep(backend, job) });
    } catch {
      // A backend that starts but cannot train is not a candidate.
    } finally {
      // One at a time: tfjs has one engine per page.
      backend.destroy();
    }
  }
  measured.sort((a, b) => a.ms - b.ms);
  const best = measured[0];
  const times = measured.map((m) => `${m.name} ${m.ms.toFixed(1)}`).join(', ');
  if (!best) return { backend: await load('js', options), message: 'auto: no backend could be timed; running on js' };
  return {
    backend: await load(best.choice, options),
    message: `auto picked ${best.name}, the fastest here (ms a step: ${times})`,
  };
}

/**
 * Starts the chosen backend (`auto`: the fastest measured here, see {@link fastestBackend}), or js with a
 * message that says why the chosen one did not start.
 */
export async function startBackend(
  choice: BackendChoice,
  load: BackendLoader = loadBackend,
  options: LoadOptions = {},
  job: TimedJob = { hidden: 64, batchSize: 50 },
  choices?: readonly BackendChoice[],
): Promise<{ backend: Backend; message?: string }> {
  if (choice === 'auto') return fastestBackend(load, options, job, choices);
  try {
    return { backend: await load(choice, options) };
  } catch (error) {
    if (choice === 'js') throw error;
    const reason = whyNot(error);
    return {
      backend: await load('js', options),
      message: `${choice} is not available here (${reason}); running on js`,
    };
  }
}

export interface Visuals {
  /** W as [visible, hidden], row-major: filter j is column j. */
  readonly weights: Float32Array;
  readonly numHidden: number;
  /** Persistent fantasy particles, p(v = 1 | h) of each chain, [chains, visible]. */
  readonly fantasy: Float32Array;
  readonly fantasyCount: number;
  /** Test digits and their mean-field reconstructions, [count, visible] each. */
  readonly originals: Float32Array;
  readonly reconstructions: Float32Array;
  readonly reconstructionCount: number;
}

export interface SessionHooks {
  onProgress(step: number, epoch: number): void;
  onMetric(curve: CurveName, step: number, value: number): void;
  onVisuals(visuals: Visuals): void;
  onError(error: unknown): void;
}

export interface SessionOptions {
  /** Time the loop runs before yielding to the page (default 30 ms). */
  readonly sliceMs?: number;
  /**
   * Interval of the picture updates (default 300 ms) and of the slower metrics (default 1000 ms). Each is
   * stretched to at least 3 times what the update took, so that training keeps most of the time on slow
   * backends.
   */
  readonly refreshMs?: number;
  readonly metricsMs?: number;
  readonly fantasyChains?: number;
  readonly reconstructions?: number;
  /** Exact log-likelihood of the test digits when there are at most this many hidden units (default 12). */
  readonly exactHiddenLimit?: number;
  readonly seed?: number;
}

const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());
const yieldToPage = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Gibbs sweeps of an inpainting probe. */
const INPAINT_SWEEPS = 100;

export class TrainingSession {
  readonly model: RBM;
  private readonly trainer: Trainer;
  private stopped = false;
  private readonly abort = new AbortController();
  private resume: (() => void) | null = null;
  private paused: Promise<void> | null = null;
  /** Callers of `pause` waiting for the loop to park (the step in flight finishes first). */
  private parkedWaiters: Array<() => void> = [];
  private looping = false;
  private fantasy: Dataset;
  private sampleSeed = 1;
  /** Inpainting probes so far: each draws with its own seed. */
  private probes = 0;
  private nextRefresh = 0;
  private nextMetrics = 0;
  private sliceStart = 0;
  private readonly options: Required<SessionOptions>;
  /** Resolves when the loop has ended (stopped or failed). */
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly backend: Backend,
    readonly settings: Settings,
    train: Dataset,
    private readonly test: Dataset,
    private readonly hooks: SessionHooks,
    options: SessionOptions = {},
  ) {
    this.options = {
      sliceMs: 30,
      refreshMs: 300,
      metricsMs: 1000,
      fantasyChains: 32,
      reconstructions: 16,
      exactHiddenLimit: 12,
      seed: 1,
      ...options,
    };
    this.model = RBM.create(backend, {
      numVisible: train.cols,
      numHidden: settings.hidden,
      seed: this.options.seed,
      data: train,
    });
    this.trainer = new Trainer(this.model, train, {
      // Until stopped: constant schedules, and the signal ends the run.
      epochs: Number.POSITIVE_INFINITY,
      signal: this.abort.signal,
      batchSize: settings.batchSize,
      learningRate: settings.learningRate,
      k: settings.k,
      method: settings.method,
      seed: this.options.seed,
      validation: test,
      freeEnergySamples: Math.min(200, test.rows),
      onBatch: (event) => this.afterBatch(event.step, event.epoch, event.readReconstructionError),
      onEpoch: (m) => {
        if (m.freeEnergyGap !== undefined) this.hooks.onMetric('freeEnergyGap', m.step, m.freeEnergyGap);
      },
    });
    // Fantasy particles start blank; persistent chains forget where they started.
    const chains = this.options.fantasyChains;
    this.fantasy = createDataset(new Float32Array(chains * train.cols), chains, train.cols);
  }

  /** Runs until stopped; errors go to `onError`. */
  start(): void {
    this.sliceStart = now();
    this.looping = true;
    this.done = (async () => {
      try {
        await this.refresh();
        await this.trainer.run();
      } catch (error) {
        if (!(error instanceof TrainingAbortedError)) this.hooks.onError(error);
      } finally {
        this.looping = false;
        this.parked();
      }
    })();
  }

  /**
   * Pauses after the step in flight; resolves once the loop is parked, so that no progress is reported
   * after it resolves until `unpause`.
   */
  pause(): Promise<void> {
    this.paused ??= new Promise((resolve) => {
      this.resume = resolve;
    });
    if (!this.looping) return Promise.resolve();
    return new Promise((resolve) => this.parkedWaiters.push(resolve));
  }

  private parked(): void {
    const waiters = this.parkedWaiters;
    this.parkedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  unpause(): void {
    const resume = this.resume;
    this.paused = null;
    this.resume = null;
    resume?.();
  }

  get isPaused(): boolean {
    return this.paused !== null;
  }

  /** Stops the loop and frees the model, the trainer and the backend. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.unpause();
    await this.done;
    this.trainer.dispose();
    this.model.dispose();
    this.backend.destroy();
  }

  private async afterBatch(step: number, epoch: number, readError: () => Promise<number>): Promise<void> {
    if (this.stopped) return;
    this.hooks.onProgress(step, epoch);
    if (now() >= this.nextRefresh) {
      this.hooks.onMetric('reconstruction', step, await readError());
      await this.refresh();
    }
    if (now() >= this.nextMetrics) await this.metrics(step);
    if (now() - this.sliceStart >= this.options.sliceMs) {
      await yieldToPage();
      this.sliceStart = now();
    }
    while (this.paused && !this.stopped) {
      this.parked();
      await this.paused;
      this.sliceStart = now();
    }
  }

  /** Reads the filters, advances the fantasy particles and reconstructs test digits. */
  private async refresh(): Promise<void> {
    const t0 = now();
    const m = this.model;
    const params = await m.parameters();
    const sampled = await m.sample({ init: this.fantasy, steps: 1, seed: this.sampleSeed++ });
    this.fantasy = createDataset(sampled.states, sampled.rows, m.numVisible);
    const n = Math.min(this.options.reconstructions, this.test.rows);
    const originals = this.test.data.subarray(0, n * m.numVisible) as Float32Array;
    const head = createDataset(originals, n, m.numVisible);
    const reconstructions = (await m.reconstruct(head, { meanField: true })) as Float32Array;
    this.hooks.onVisuals({
      weights: params.weights as Float32Array,
      numHidden: m.numHidden,
      fantasy: Float32Array.from(sampled.probabilities),
      fantasyCount: sampled.rows,
      originals: Float32Array.from(originals),
      reconstructions: Float32Array.from(reconstructions),
      reconstructionCount: n,
    });
    const t1 = now();
    this.nextRefresh = t1 + Math.max(this.options.refreshMs, 3 * (t1 - t0));
  }

  /** Pseudo-likelihood (one random bit per digit) and, for small models, the exact log-likelihood. */
  private async metrics(step: number): Promise<void> {
    const t0 = now();
    const m = this.model;
    const pl = await pseudoLogLikelihood(m, this.test, { method: 'random-bit', seed: step });
    this.hooks.onMetric('pseudoLikelihood', step, pl.mean);
    if (m.numHidden <= this.options.exactHiddenLimit) {
      const ll = await exactLogLikelihood(m, this.test);
      this.hooks.onMetric('logLikelihood', step, ll.mean);
    }
    const t1 = now();
    this.nextMetrics = t1 + Math.max(this.options.metricsMs, 3 * (t1 - t0));
  }

  /**
   * A drawn digit's mean-field reconstruction and free energy (binarised at 0.5 first). With a mask
   * (inpainting): the pixels where it is 1 are kept as drawn, the rest sampled from p(v_free | v_kept) by
   * Gibbs sampling (`INPAINT_SWEEPS` sweeps); the picture is the last p(v | h), the free energy that of the
   * completed digit.
   */
  async probe(
    pixels: ArrayLike<number>,
    mask?: ArrayLike<number>,
  ): Promise<{ reconstruction: Float32Array; freeEnergy: number }> {
    const v = Float32Array.from(pixels, (x) => (x >= 0.5 ? 1 : 0));
    const ds = createDataset(v, 1, v.length);
    if (mask) {
      this.probes++;
      const s = await conditionalSample(this.model, { data: ds, mask, steps: INPAINT_SWEEPS, seed: this.probes });
      const [freeEnergy] = await this.model.freeEnergy(createDataset(Float32Array.from(s.states), 1, v.length));
      return { reconstruction: Float32Array.from(s.probabilities), freeEnergy: freeEnergy! };
    }
    const [reconstruction, freeEnergy] = await Promise.all([
      this.model.reconstruct(ds, { meanField: true }),
      this.model.freeEnergy(ds),
    ]);
    return { reconstruction: Float32Array.from(reconstruction), freeEnergy: freeEnergy[0]! };
  }
}
