import { describe, expect, it } from 'vitest';
import { labelledEpochs } from '../src/epoch-labels.js';

describe('epoch labels on the learning curves', () => {
  it('labels every epoch while they stand apart', () => {
    expect(labelledEpochs([10, 100, 200, 300], 60)).toEqual([0, 1, 2, 3]);
  });

  it('thins them as axis ticks are (2, 5, 10, ...) so that no two overlap', () => {
    // 200 epochs over 600 px: 3 px apart, labels 50 px wide.
    const positions = Array.from({ length: 200 }, (_, i) => 3 * (i + 1));
    const chosen = labelledEpochs(positions, 50);
    expect(chosen.length).toBeGreaterThan(5);
    for (let k = 1; k < chosen.length; k++)
      expect(positions[chosen[k]!]! - positions[chosen[k - 1]!]!).toBeGreaterThanOrEqual(50);
    // A regular stride from the 1-2-5 series: epochs 20, 40, ... (indices 19, 39, ...).
    const stride = chosen[1]! - chosen[0]!;
    expect([1, 2, 5, 10, 20, 50, 100]).toContain(stride);
    expect(chosen[0]).toBe(stride - 1);
    expect(stride).toBe(20);
  });

  it('labels nothing when even one label would not fit between marks of the largest stride', () => {
    expect(labelledEpochs([], 50)).toEqual([]);
    expect(labelledEpochs([5], 50)).toEqual([0]);
  });
});
