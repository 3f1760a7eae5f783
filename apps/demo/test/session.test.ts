import { createJsBackend } from '@rbmjs/backend-js';
import { barsAndStripes, type Dataset, UnknownBackendError } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import {
  backendChoices,
  DEMO_BACKENDS,
  loadBackend,
  type SessionHooks,
  startBackend,
  TrainingSession,
  type Visuals,
} from '../src/session.js';
import type { BackendChoice } from '../src/state.js';
import { DEFAULT_SETTINGS, type Settings } from '../src/state.js';

const settings: Settings = { ...DEFAULT_SETTINGS, backend: 'js', hidden: 6, batchSize: 4, learningRate: 0.1 };

function recorder() {
  const log = { steps: [] as number[], metrics: [] as [string, number, number][], visuals: [] as Visuals[] };
  const errors: unknown[] = [];
  const hooks: SessionHooks = {
    onProgress: (step) => log.steps.push(step),
    onMetric: (curve, step, value) => log.metrics.push([curve, step, value]),
    onVisuals: (v) => log.visuals.push(v),
    onError: (e) => errors.push(e),
  };
  return { log, errors, hooks };
}

const until = async (cond: () => boolean, ms = 20_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('the training session', () => {
  const data: Dataset = barsAndStripes(3); // 9 visible units, 14 patterns: small enough for exact likelihoods

  it('trains, reports pictures and curves, pauses, resumes and stops', async () => {
    const { log, errors, hooks } = recorder();
    const s = new TrainingSession(createJsBackend(), settings, data, data, hooks, { refreshMs: 0, metricsMs: 0 });
    s.start();
    // Curves arrive on their own timer: wait for every one (under load 20 steps can pass before the first
    // reconstruction figure does).
    await until(() => log.steps.length >= 20 && new Set(log.metrics.map(([c]) => c)).size >= 4);
    expect(log.steps.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    const v = log.visuals.at(-1)!;
    expect([v.weights.length, v.numHidden, v.fantasyCount, v.reconstructionCount]).toEqual([54, 6, 32, 14]);
    expect(v.reconstructions.every((p) => p >= 0 && p <= 1)).toBe(true);
    const curves = new Set(log.metrics.map(([c]) => c));
    expect(curves).toEqual(new Set(['reconstruction', 'pseudoLikelihood', 'logLikelihood', 'freeEnergyGap']));
    // The exact log-likelihood is a log-probability of binary data: below 0, above log of uniform.
    const ll = log.metrics.filter(([c]) => c === 'logLikelihood').map(([, , x]) => x);
    expect(ll.every((x) => x < 0 && x > 9 * Math.log(0.5) - 5)).toBe(true);

    await s.pause(); // resolves once the loop is parked
    const paused = log.steps.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(log.steps.length).toBe(paused);
    expect(s.isPaused).toBe(true);
    s.unpause();
    await until(() => log.steps.length >= paused + 10);

    const probe = await s.probe(Array.from(data.data.subarray(0, 9), (x) => x * 0.9));
    expect(probe.reconstruction).toHaveLength(9);
    expect(probe.freeEnergy).toBeCloseTo((await s.model.freeEnergy(data.data.subarray(0, 9)))[0]!, 4);
    // Inpainting: the kept pixels stay as drawn (binarised), the others are filled in, in [0, 1].
    const mask = [1, 1, 1, 0, 0, 0, 0, 0, 0];
    const drawn = Array.from(data.data.subarray(0, 9));
    const completed = await s.probe(drawn, mask);
    expect(Array.from(completed.reconstruction.subarray(0, 3))).toEqual(drawn.slice(0, 3));
    expect(completed.reconstruction.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(Number.isFinite(completed.freeEnergy)).toBe(true);
    await expect(s.probe(drawn, [1, 0])).rejects.toThrow(/mask has 2 values; expected 9/);

    await s.stop();
    const stopped = log.steps.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(log.steps.length).toBe(stopped);
    expect(errors).toEqual([]);
  });

  it('falls back to js with a message when the chosen backend cannot start', async () => {
    const loader = async (choice: string) => {
      if (choice !== 'js') throw new Error('no WebGPU adapter\nstack');
      return createJsBackend();
    };
    const { backend, message } = await startBackend('gpujs:webgpu', loader);
    expect(backend.name).toBe('js');
    expect(message).toBe('gpujs:webgpu is not available here (no WebGPU adapter); running on js');
    backend.destroy();
    await expect(startBackend('js', async () => Promise.reject(new Error('broken')))).rejects.toThrow('broken');
  });

  it("builds the menu from the backend table: each family's auto modes here, in table order", async () => {
    const { autoModes: ortModes } = await import('@rbmjs/backend-onnxruntime');
    const { autoModes: gpujsModes } = await import('@rbmjs/backend-gpujs');
    const choices = await backendChoices();
    expect(choices.filter((c) => c.startsWith('onnxruntime:'))).toEqual(ortModes().map((m) => `onnxruntime:${m}`));
    expect(choices.filter((c) => c.startsWith('gpujs:'))).toEqual(gpujsModes().map((m) => `gpujs:${m}`));
    expect(choices.at(-1)).toBe('js');
    const families = DEMO_BACKENDS.map((e) => e.name);
    const order = choices.map((c) => families.indexOf(c.split(':')[0]!));
    expect(order).toEqual([...order].sort((x, y) => x - y));
    // A family whose package cannot load is left out, not fatal.
    const broken = { ...DEMO_BACKENDS[3]!, name: 'broken', load: () => Promise.reject(new Error('no package')) };
    expect(await backendChoices([broken, DEMO_BACKENDS[3]!])).toEqual(['js']);
  });

  it("starts backends from the packages' own table entries; a mode no package has is a typed usage error", async () => {
    const js = await loadBackend('js');
    expect(js.name).toBe('js');
    js.destroy();
    await expect(loadBackend('gpujs:webgl9' as BackendChoice)).rejects.toThrow(UnknownBackendError);
    await expect(loadBackend('gpujs:webgl9' as BackendChoice)).rejects.toThrow(/choose from webgpu, webgl2/);
    // WebGL does not exist in Node: the fallback message carries gpu.js's own reason, in one line.
    const { backend, message } = await startBackend('gpujs:webgl2');
    expect(backend.name).toBe('js');
    expect(message).toMatch(
      /^gpujs:webgl2 is not available here \(webgl2 runs in browsers only; in Node use headlessgl\); running on js$/,
    );
    backend.destroy();
  });

  it("auto times every backend that starts on the demo's job and runs the fastest, saying what it measured", async () => {
    // A backend 3 ms slower per product than js, one that does not start, and js.
    const slow = () => {
      const be = createJsBackend();
      const matMul = be.matMul.bind(be);
      return Object.assign(be, {
        name: 'slow',
        matMul: (...args: Parameters<typeof matMul>) => {
          const t = performance.now();
          while (performance.now() - t < 3);
          matMul(...args);
        },
      });
    };
    const loaded: string[] = [];
    const load = async (choice: BackendChoice) => {
      loaded.push(choice);
      if (choice === 'broken') throw new Error('not here');
      return choice === 'slow' ? slow() : createJsBackend();
    };
    const { backend, message } = await startBackend('auto', load, {}, { hidden: 8, batchSize: 4 }, [
      'slow',
      'broken',
      'js',
    ]);
    expect(backend.name).toBe('js');
    expect(message).toMatch(/^auto picked js, the fastest here \(ms a step: js [\d.]+, slow [\d.]+\)$/);
    // Each candidate started once to be timed, the fastest once more for the run.
    expect(loaded).toEqual(['slow', 'broken', 'js', 'js']);
    backend.destroy();
  });
});
