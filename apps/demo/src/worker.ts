/// <reference lib="webworker" />
import type { FromWorker, ToWorker } from './protocol.js';
import { startBackend, TrainingSession } from './session.js';
import { decodeSubset } from './subset.js';

/**
 * The training worker: the whole TrainingSession runs here, off the page's main thread, so that the page
 * only paints what it is sent. Its loop still yields every 30 ms, which is when pause, stop and probe
 * messages are handled.
 */

declare const self: DedicatedWorkerGlobalScope;
let session: TrainingSession | null = null;

const post = (message: FromWorker, transfer: Transferable[] = []) => self.postMessage(message, transfer);
const text = (error: unknown) => (error instanceof Error ? error.message : String(error));

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  try {
    switch (m.type) {
      case 'start': {
        const { backend, message } = await startBackend(m.settings.backend, undefined, m.load, m.settings);
        const { train, test } = decodeSubset(m.subset);
        session = new TrainingSession(backend, m.settings, train, test, {
          onProgress: (step, epoch) => post({ type: 'progress', step, epoch }),
          onMetric: (curve, step, value) => post({ type: 'metric', curve, step, value }),
          onVisuals: (visuals) =>
            post({ type: 'visuals', visuals }, [
              visuals.weights.buffer,
              visuals.fantasy.buffer,
              visuals.originals.buffer,
              visuals.reconstructions.buffer,
            ]),
          onError: (error) => post({ type: 'failed', message: text(error) }),
        });
        const details = Object.entries(backend.details ?? {})
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ');
        post({ type: 'started', backendName: backend.name, details, ...(message ? { message } : {}) });
        session.start();
        break;
      }
      case 'pause':
        await session?.pause();
        post({ type: 'paused', id: m.id });
        break;
      case 'unpause':
        session?.unpause();
        break;
      case 'stop': {
        const s = session;
        session = null;
        await s?.stop();
        post({ type: 'stopped', id: m.id });
        break;
      }
      case 'probe': {
        if (!session) {
          post({ type: 'probed', id: m.id, error: 'no model' });
          break;
        }
        const { reconstruction, freeEnergy } = await session.probe(m.pixels, m.mask);
        post({ type: 'probed', id: m.id, reconstruction, freeEnergy }, [reconstruction.buffer]);
        break;
      }
    }
  } catch (error) {
    post({ type: 'failed', message: text(error) });
  }
};
