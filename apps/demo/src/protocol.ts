import type { LoadOptions, Visuals } from './session.js';
import type { BackendChoice, CurveName, Settings } from './state.js';

/**
 * The messages between the page and the training worker. The page sends commands; the worker answers with
 * what the in-page session's hooks would have said, plus acknowledgements that carry the command's `id`.
 */

export type ToWorker =
  | {
      readonly type: 'start';
      readonly settings: Settings;
      /** The subset file (src/subset.ts), bit-packed: a small copy to send; the worker decodes it. */
      readonly subset: ArrayBuffer;
      readonly load: LoadOptions;
    }
  | { readonly type: 'pause'; readonly id: number }
  | { readonly type: 'unpause' }
  | { readonly type: 'stop'; readonly id: number }
  | {
      readonly type: 'probe';
      readonly id: number;
      readonly pixels: Float32Array;
      /** Inpainting: 1 where a pixel is kept as drawn, 0 where the model fills it in. */
      readonly mask?: Float32Array;
    };

export type FromWorker =
  | { readonly type: 'started'; readonly backendName: string; readonly details: string; readonly message?: string }
  | { readonly type: 'progress'; readonly step: number; readonly epoch: number }
  | { readonly type: 'metric'; readonly curve: CurveName; readonly step: number; readonly value: number }
  | { readonly type: 'visuals'; readonly visuals: Visuals }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'paused'; readonly id: number }
  | { readonly type: 'stopped'; readonly id: number }
  | {
      readonly type: 'probed';
      readonly id: number;
      readonly reconstruction?: Float32Array;
      readonly freeEnergy?: number;
      readonly error?: string;
    };

/** The backends that train in a worker: all of them where the browser has OffscreenCanvas (WebGL) and WebGPU in workers. */
export function runsInWorker(choice: BackendChoice, scope: { OffscreenCanvas?: unknown } = globalThis): boolean {
  if (choice.endsWith(':webgl') || choice.endsWith(':webgl2')) return scope.OffscreenCanvas !== undefined;
  return true;
}
