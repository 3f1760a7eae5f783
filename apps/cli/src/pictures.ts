import { encode } from 'fast-png';

/**
 * Tiles square grey images into one PNG: `images` holds `count` images of side x side values, each scaled
 * to [0, 255] by its own minimum and maximum (as filters are usually shown) unless `range` is given, and
 * enlarged `scale` times (nearest neighbour).
 */
export function tileImages(
  images: ArrayLike<number>,
  count: number,
  side: number,
  options: { columns?: number; range?: [number, number]; gap?: number; scale?: number } = {},
): Uint8Array {
  const columns = options.columns ?? Math.ceil(Math.sqrt(count));
  const gridRows = Math.ceil(count / columns);
  const gap = options.gap ?? 1;
  const scale = options.scale ?? 1;
  const cell = side * scale;
  const width = columns * (cell + gap) + gap;
  const height = gridRows * (cell + gap) + gap;
  const pixels = new Uint8Array(width * height).fill(64);
  const d = side * side;
  for (let k = 0; k < count; k++) {
    let lo = options.range?.[0] ?? Number.POSITIVE_INFINITY;
    let hi = options.range?.[1] ?? Number.NEGATIVE_INFINITY;
    if (!options.range) {
      for (let i = 0; i < d; i++) {
        lo = Math.min(lo, images[k * d + i]!);
        hi = Math.max(hi, images[k * d + i]!);
      }
    }
    const gain = hi > lo ? 255 / (hi - lo) : 0;
    const x0 = gap + (k % columns) * (cell + gap);
    const y0 = gap + Math.floor(k / columns) * (cell + gap);
    for (let y = 0; y < cell; y++) {
      for (let x = 0; x < cell; x++) {
        const v = (images[k * d + Math.floor(y / scale) * side + Math.floor(x / scale)]! - lo) * gain;
        pixels[(y0 + y) * width + x0 + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return encode({ width, height, data: pixels, channels: 1, depth: 8 });
}

/** The weights of each hidden unit (column j of W, [numVisible, numHidden] row-major) as image rows. */
export function filtersOf(
  weights: Float32Array,
  numVisible: number,
  numHidden: number,
  count = numHidden,
): Float32Array {
  const out = new Float32Array(count * numVisible);
  for (let j = 0; j < count; j++)
    for (let i = 0; i < numVisible; i++) out[j * numVisible + i] = weights[i * numHidden + j]!;
  return out;
}
