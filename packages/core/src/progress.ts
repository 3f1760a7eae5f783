import { AbortedError } from './errors.js';

/**
 * Long loops that a caller can watch and stop: an `AbortSignal` checked between steps, a progress callback,
 * and a turn of the event loop now and then so that an abort can arrive even while a synchronous backend
 * computes.
 */

/** What a caller gives a long loop to watch it. */
export interface Watch {
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((done: number, total: number) => void) | undefined;
}

/** Sweeps between two checks of a signal (or progress reports) in a long sampling loop. */
export const SWEEPS_PER_CHECK = 100;

/**
 * Waits one macrotask, so that a signal's event or a timer can run between steps of a long loop: setImmediate
 * where there is one (Node: microseconds), else a zero timeout.
 */
export function yieldToEvents(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}

/**
 * Between two chunks of a loop, after `done` of `total` steps: reports progress and, before the end, takes a
 * turn of the event loop and throws an {@link AbortedError} if the signal was aborted.
 */
export async function afterChunk(what: string, done: number, total: number, watch: Watch): Promise<void> {
  watch.onProgress?.(done, total);
  if (done >= total) return;
  await yieldToEvents();
  if (watch.signal?.aborted) throw new AbortedError(what, done, total);
}

/**
 * Runs `step(t)` for t = 0..steps-1 in chunks of {@link SWEEPS_PER_CHECK}, watched between chunks
 * ({@link afterChunk}); an aborted signal stops it before the first step. Unwatched, it runs straight through.
 */
export async function steppedLoop(what: string, steps: number, step: (t: number) => void, watch: Watch): Promise<void> {
  const watched = watch.signal !== undefined || watch.onProgress !== undefined;
  if (watch.signal?.aborted) throw new AbortedError(what, 0, steps);
  for (let t = 0; t < steps; t++) {
    if (watched && t > 0 && t % SWEEPS_PER_CHECK === 0) await afterChunk(what, t, steps, watch);
    step(t);
  }
  watch.onProgress?.(steps, steps);
}

/**
 * A turn of the event loop at most every `everyMs` of a loop over epochs, when a signal is watched: the
 * returned function is awaited at the top of each epoch.
 */
export function eventTurns(signal: AbortSignal | undefined, everyMs = 20): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (!signal || performance.now() - last <= everyMs) return;
    await yieldToEvents();
    last = performance.now();
  };
}
