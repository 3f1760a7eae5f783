import type { FromWorker, ToWorker } from './protocol.js';
import type { LoadOptions, SessionHooks } from './session.js';
import type { Settings } from './state.js';

/**
 * The page's side of a training run in a Web Worker: the same controls as the in-page TrainingSession
 * (pause, unpause, stop, probe), answered by messages. The worker is created per run and ended by `stop`.
 */
export class RemoteSession {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: FromWorker) => void>();
  private paused = false;
  /** Until the worker says it has started, a failure rejects `start` instead of going to the hooks. */
  private started = false;

  private constructor(worker: Worker, hooks: SessionHooks) {
    this.worker = worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      switch (m.type) {
        case 'started':
          this.started = true;
          break;
        case 'progress':
          hooks.onProgress(m.step, m.epoch);
          break;
        case 'metric':
          hooks.onMetric(m.curve, m.step, m.value);
          break;
        case 'visuals':
          hooks.onVisuals(m.visuals);
          break;
        case 'failed':
          if (this.started) hooks.onError(new Error(m.message));
          break;
        case 'paused':
        case 'stopped':
        case 'probed':
          this.waiting.get(m.id)?.(m);
          this.waiting.delete(m.id);
          break;
      }
    };
    worker.onerror = (event) => hooks.onError(new Error(`training worker: ${event.message}`));
  }

  /** Starts the worker and the run; resolves with the backend that runs once it has started. */
  static start(
    settings: Settings,
    subsetFile: ArrayBuffer,
    hooks: SessionHooks,
    load: LoadOptions,
  ): Promise<{ session: RemoteSession; backendName: string; details: string; message?: string }> {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'rbm-training' });
    return new Promise((resolve, reject) => {
      let session: RemoteSession | undefined;
      const started = (event: MessageEvent<FromWorker>) => {
        const m = event.data;
        if (m.type === 'started') {
          worker.removeEventListener('message', started);
          resolve({
            session: session!,
            backendName: m.backendName,
            details: m.details,
            ...(m.message ? { message: m.message } : {}),
          });
        } else if (m.type === 'failed') {
          worker.removeEventListener('message', started);
          worker.terminate();
          reject(new Error(m.message));
        }
      };
      session = new RemoteSession(worker, hooks);
      worker.addEventListener('message', started);
      const message: ToWorker = { type: 'start', settings, subset: subsetFile.slice(0), load };
      worker.postMessage(message, [message.subset]);
    });
  }

  private request<T extends FromWorker>(command: ToWorker & { id: number }): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.set(command.id, resolve as (m: FromWorker) => void);
      this.worker.postMessage(command);
    });
  }

  /** Resolves once the worker's loop has parked (no progress is reported after that until unpause). */
  async pause(): Promise<void> {
    this.paused = true;
    await this.request({ type: 'pause', id: this.nextId++ });
  }

  unpause(): void {
    this.paused = false;
    this.worker.postMessage({ type: 'unpause' } satisfies ToWorker);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops the run, frees the backend in the worker, and ends the worker. */
  async stop(): Promise<void> {
    await this.request({ type: 'stop', id: this.nextId++ });
    this.worker.terminate();
  }

  async probe(
    pixels: ArrayLike<number>,
    mask?: ArrayLike<number>,
  ): Promise<{ reconstruction: Float32Array; freeEnergy: number }> {
    const m = await this.request<Extract<FromWorker, { type: 'probed' }>>({
      type: 'probe',
      id: this.nextId++,
      pixels: Float32Array.from(pixels),
      ...(mask ? { mask: Float32Array.from(mask) } : {}),
    });
    if (m.error || !m.reconstruction || m.freeEnergy === undefined) throw new Error(m.error ?? 'probe failed');
    return { reconstruction: m.reconstruction, freeEnergy: m.freeEnergy };
  }
}
