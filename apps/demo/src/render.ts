import type { CurvePoint } from './state.js';

/**
 * Drawing helpers. The pixel and path computations are pure (unit-tested); only `paintTiles` touches a
 * canvas.
 */

export interface TileLayout {
  readonly count: number;
  readonly tileHeight: number;
  readonly tileWidth: number;
  readonly columns: number;
  /** Pixels between tiles. */
  readonly gap: number;
}

export function gridSize(layout: TileLayout): { width: number; height: number } {
  const rows = Math.ceil(layout.count / layout.columns);
  const g = layout.gap;
  return {
    width: layout.columns * (layout.tileWidth + g) + g,
    height: rows * (layout.tileHeight + g) + g,
  };
}

/**
 * RGBA pixels of a grid of tiles. `value(tile, pixel)` gives each value; `normalise` maps each tile on its
 * own: `minmax` stretches its range to black..white (filters), `unit` shows values in [0, 1] as they are
 * (probabilities, digits).
 */
export function tilePixels(
  layout: TileLayout,
  value: (tile: number, pixel: number) => number,
  normalise: 'minmax' | 'unit',
): Uint8ClampedArray<ArrayBuffer> {
  const { width, height } = gridSize(layout);
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < out.length; i += 4) {
    out[i] = 40;
    out[i + 1] = 40;
    out[i + 2] = 48;
    out[i + 3] = 255;
  }
  const pixels = layout.tileHeight * layout.tileWidth;
  for (let t = 0; t < layout.count; t++) {
    let lo = 0;
    let hi = 1;
    if (normalise === 'minmax') {
      lo = Infinity;
      hi = -Infinity;
      for (let p = 0; p < pixels; p++) {
        const x = value(t, p);
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    const x0 = layout.gap + (t % layout.columns) * (layout.tileWidth + layout.gap);
    const y0 = layout.gap + Math.floor(t / layout.columns) * (layout.tileHeight + layout.gap);
    for (let p = 0; p < pixels; p++) {
      const c = (value(t, p) - lo) * scale;
      const o = ((y0 + Math.floor(p / layout.tileWidth)) * width + x0 + (p % layout.tileWidth)) * 4;
      out[o] = c;
      out[o + 1] = c;
      out[o + 2] = c;
    }
  }
  return out;
}

/** Paints tiles on a canvas, resizing it to the grid. */
export function paintTiles(
  canvas: HTMLCanvasElement,
  layout: TileLayout,
  value: (tile: number, pixel: number) => number,
  normalise: 'minmax' | 'unit',
): void {
  const { width, height } = gridSize(layout);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.putImageData(new ImageData(tilePixels(layout, value, normalise), width, height), 0, 0);
}

/** A curve's points as the columns a chart takes: steps, then values. */
export function chartData(points: readonly CurvePoint[]): [number[], number[]] {
  return [points.map((p) => p.step), points.map((p) => p.value)];
}

/**
 * A drawing on a square canvas brought down to a side x side image in [0, 1]: the mean of each cell's
 * alpha (ink), as MNIST digits are box-filtered from larger scans.
 */
export function downsample(alpha: ArrayLike<number>, canvasSide: number, side: number): Float32Array {
  const out = new Float32Array(side * side);
  const cell = canvasSide / side;
  for (let y = 0; y < canvasSide; y++) {
    const row = Math.min(side - 1, Math.floor(y / cell));
    for (let x = 0; x < canvasSide; x++) {
      out[row * side + Math.min(side - 1, Math.floor(x / cell))]! += alpha[y * canvasSide + x]! / 255;
    }
  }
  const area = cell * cell;
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, out[i]! / area);
  return out;
}
