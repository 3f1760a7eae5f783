import { describe, expect, it } from 'vitest';
import { chartData, downsample, gridSize, tilePixels } from '../src/render.js';

describe('tiles', () => {
  const layout = { count: 3, tileHeight: 2, tileWidth: 2, columns: 2, gap: 1 };

  it('lays tiles out in rows with gaps', () => {
    expect(gridSize(layout)).toEqual({ width: 7, height: 7 });
  });

  it('stretches each tile to black..white (minmax) or shows [0, 1] as is (unit)', () => {
    const values = [
      [-2, 0, 2, 0],
      [0.5, 0.5, 0.5, 0.5],
      [0, 1, 0.25, 0.75],
    ];
    const px = (data: Uint8ClampedArray, x: number, y: number) => data[(y * 7 + x) * 4]!;
    const mm = tilePixels(layout, (t, p) => values[t]![p]!, 'minmax');
    expect([px(mm, 1, 1), px(mm, 2, 1), px(mm, 1, 2), px(mm, 2, 2)]).toEqual([0, 128, 255, 128]);
    expect(px(mm, 4, 1)).toBe(0); // a constant tile is black, not NaN
    const unit = tilePixels(layout, (t, p) => values[t]![p]!, 'unit');
    expect([px(unit, 1, 4), px(unit, 2, 4), px(unit, 1, 5), px(unit, 2, 5)]).toEqual([0, 255, 64, 191]);
    expect(px(unit, 0, 0)).toBe(40); // background
    expect(unit[3]).toBe(255);
  });
});

describe('curves and the drawing pad', () => {
  it('gives a chart the steps and the values of a curve, as columns', () => {
    const points = [
      { step: 10, value: 1 },
      { step: 20, value: 3 },
    ];
    expect(chartData(points)).toEqual([
      [10, 20],
      [1, 3],
    ]);
    expect(chartData([])).toEqual([[], []]);
  });

  it('box-filters a drawing down to the digit size', () => {
    const side = 4;
    const alpha = new Uint8ClampedArray(side * side);
    alpha[0] = 255; // top-left cell: one of four pixels inked
    for (const i of [10, 11, 14, 15]) alpha[i] = 255; // bottom-right cell fully inked
    expect(Array.from(downsample(alpha, side, 2))).toEqual([0.25, 0, 0, 1]);
  });
});
