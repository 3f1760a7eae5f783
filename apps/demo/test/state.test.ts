import { describe, expect, it } from 'vitest';
import {
  appendPoint,
  canEditSettings,
  DEFAULT_SETTINGS,
  type DemoState,
  initialState,
  MAX_POINTS,
  PACE_WINDOW_MS,
  reduce,
  settingsErrors,
} from '../src/state.js';

const run = (...actions: Parameters<typeof reduce>[1][]): DemoState => actions.reduce(reduce, initialState());

describe('demo state', () => {
  it('goes idle -> starting -> running -> paused -> running, and reset returns to idle keeping settings', () => {
    let s = run({ type: 'settings', patch: { hidden: 16 } }, { type: 'start' });
    expect(s.status).toBe('starting');
    s = reduce(s, { type: 'started', backendName: 'gpujs:webgl2' });
    expect([s.status, s.backendName, s.message]).toEqual(['running', 'gpujs:webgl2', null]);
    s = reduce(s, { type: 'progress', step: 7, epoch: 0 });
    s = reduce(s, { type: 'pause' });
    expect(s.status).toBe('paused');
    s = reduce(s, { type: 'resume' });
    expect(s.status).toBe('running');
    s = reduce(s, { type: 'reset' });
    expect(s).toEqual(initialState({ ...DEFAULT_SETTINGS, hidden: 16 }));
  });

  it('marks the step that ended each epoch, for the curves', () => {
    let s = run({ type: 'start' }, { type: 'started', backendName: 'js' });
    for (let step = 1; step <= 9; step++) s = reduce(s, { type: 'progress', step, epoch: Math.floor((step - 1) / 4) });
    // Epochs of 4 steps: steps 4 and 8 ended epochs 1 and 2.
    expect(s.epochMarks).toEqual([4, 8]);
    expect(reduce(s, { type: 'reset' }).epochMarks).toEqual([]);
  });

  it('measures the pace of training in ms a step over windows of running time, not counting pauses', () => {
    let s = run({ type: 'start' }, { type: 'started', backendName: 'js' });
    // 20 ms a step: no figure until a whole window has passed.
    for (let step = 1; step <= 50; step++) s = reduce(s, { type: 'progress', step, epoch: 0, at: 1000 + 20 * step });
    expect(s.msPerStep).toBeNull();
    for (let step = 51; step <= 200; step++) s = reduce(s, { type: 'progress', step, epoch: 0, at: 1000 + 20 * step });
    expect(s.msPerStep).toBeCloseTo(20, 10);
    // A pause of a minute, then 5 ms a step: the minute is not counted.
    s = reduce(s, { type: 'pause' });
    s = reduce(s, { type: 'resume' });
    const t0 = 1000 + 20 * 200 + 60_000;
    for (let step = 201; step <= 201 + (2 * PACE_WINDOW_MS) / 5; step++)
      s = reduce(s, { type: 'progress', step, epoch: 1, at: t0 + 5 * (step - 201) });
    expect(s.msPerStep).toBeCloseTo(5, 10);
    expect(reduce(s, { type: 'reset' }).msPerStep).toBeNull();
  });

  it('keeps the fallback message and the backend that actually runs', () => {
    const s = run(
      { type: 'start' },
      { type: 'started', backendName: 'js', details: 'threads: 1', message: 'gpujs:webgpu is not available' },
    );
    expect([s.backendName, s.backendDetails, s.message]).toEqual(['js', 'threads: 1', 'gpujs:webgpu is not available']);
    expect(reduce(s, { type: 'reset' }).backendDetails).toBeNull();
  });

  it('ignores actions that make no sense in the current status', () => {
    const idle = initialState();
    expect(reduce(idle, { type: 'pause' })).toBe(idle);
    expect(reduce(idle, { type: 'resume' })).toBe(idle);
    expect(reduce(idle, { type: 'started', backendName: 'js' })).toBe(idle);
    expect(reduce(idle, { type: 'progress', step: 3, epoch: 0 })).toBe(idle);
    expect(reduce(idle, { type: 'metric', curve: 'reconstruction', step: 1, value: 2 })).toBe(idle);
    const running = run({ type: 'start' }, { type: 'started', backendName: 'js' });
    expect(reduce(running, { type: 'start' })).toBe(running);
    expect(reduce(running, { type: 'resume' })).toBe(running);
  });

  it('locks the settings while a run exists, and refuses invalid ones', () => {
    const running = run({ type: 'start' }, { type: 'started', backendName: 'js' });
    expect(canEditSettings(running)).toBe(false);
    expect(reduce(running, { type: 'settings', patch: { hidden: 3 } }).settings.hidden).toBe(DEFAULT_SETTINGS.hidden);
    const idle = initialState();
    for (const patch of [{ hidden: 0 }, { hidden: 2.5 }, { learningRate: Number.NaN }, { k: 51 }, { batchSize: -1 }]) {
      expect(reduce(idle, { type: 'settings', patch })).toBe(idle);
      expect(settingsErrors(patch)).toHaveLength(1);
    }
    expect(settingsErrors({ hidden: 0, method: 'xx' as 'cd' })).toEqual([
      'hidden must be an integer in [1, 1024], got 0',
      'method must be cd or pcd, got xx',
    ]);
    expect(settingsErrors({ backend: 'gpujs:webgl2' })).toEqual([]);
    expect(settingsErrors({ backend: 'gpu js' })[0]).toMatch(/^backend must be NAME or NAME:MODE of the backend table/);
    expect(reduce(idle, { type: 'settings', patch: { learningRate: 0.1, method: 'cd' } }).settings).toMatchObject({
      learningRate: 0.1,
      method: 'cd',
    });
  });

  it('collects metrics per curve, drops non-finite values, and a failure keeps its message', () => {
    let s = run({ type: 'start' }, { type: 'started', backendName: 'js' });
    s = reduce(s, { type: 'metric', curve: 'reconstruction', step: 1, value: 50 });
    s = reduce(s, { type: 'metric', curve: 'reconstruction', step: 2, value: Number.NaN });
    s = reduce(s, { type: 'metric', curve: 'freeEnergyGap', step: 2, value: -1 });
    expect(s.curves.reconstruction).toEqual([{ step: 1, value: 50 }]);
    expect(s.curves.freeEnergyGap).toEqual([{ step: 2, value: -1 }]);
    s = reduce(s, { type: 'failed', message: 'device lost' });
    expect([s.status, s.message, canEditSettings(s)]).toEqual(['error', 'device lost', true]);
    expect(reduce(s, { type: 'start' }).status).toBe('starting');
  });

  it('thins a full curve to every other point, keeping the newest', () => {
    let curve = Array.from({ length: MAX_POINTS }, (_, i) => ({ step: i, value: i }));
    curve = appendPoint(curve, { step: MAX_POINTS, value: -1 });
    expect(curve).toHaveLength(MAX_POINTS / 2 + 1);
    expect(curve[0]).toEqual({ step: 1, value: 1 });
    expect(curve.at(-1)).toEqual({ step: MAX_POINTS, value: -1 });
    expect(curve.every((p, i) => i === 0 || p.step > curve[i - 1]!.step)).toBe(true);
  });
});
