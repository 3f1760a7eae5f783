import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { loadMnist, parseIdxImages } from '../src/mnist.js';
import { filtersOf, tileImages } from '../src/pictures.js';

describe('MNIST IDX reader', () => {
  it('reads the test split as binary 784-vectors', async () => {
    const ds = await loadMnist('test', 20);
    expect([ds.rows, ds.cols, ds.side]).toEqual([20, 784, 28]);
    expect(ds.data.every((x) => x === 0 || x === 1)).toBe(true);
    const on = ds.data.reduce((s, x) => s + x, 0) / ds.rows;
    expect(on).toBeGreaterThan(50); // a digit lights up ~100-150 of 784 pixels
    expect(on).toBeLessThan(250);
  });

  it('names a wrong magic number and a truncated file', () => {
    const header = (magic: number, count: number) => {
      const b = new Uint8Array(16 + count * 4);
      const v = new DataView(b.buffer);
      v.setUint32(0, magic);
      v.setUint32(4, count);
      v.setUint32(8, 2);
      v.setUint32(12, 2);
      return b;
    };
    expect(() => parseIdxImages(header(0x801, 1), 'x.idx')).toThrow(/x.idx: magic number 0x00000801/);
    expect(() => parseIdxImages(header(0x803, 3).subarray(0, 20), 'x.idx')).toThrow(
      /x.idx: 20 bytes, but 3 images of 2x2 need 28/,
    );
    expect(() => parseIdxImages(new Uint8Array(3), 'x.idx')).toThrow(/truncated/);
  });
});

describe('pictures', () => {
  it('tiles images into a PNG that decodes to the expected pixels', () => {
    // Two 2x2 images; the first scaled by its own range, the second constant (grey 0).
    const png = tileImages(Float32Array.of(0, 1, 2, 3, 5, 5, 5, 5), 2, 2, { columns: 2, gap: 1 });
    const img = decode(png);
    expect([img.width, img.height, img.channels]).toEqual([7, 4, 1]);
    const px = (x: number, y: number) => img.data[y * img.width + x];
    expect([px(1, 1), px(2, 1), px(1, 2), px(2, 2)]).toEqual([0, 85, 170, 255]);
    expect(px(0, 0)).toBe(64); // the gap
    expect(px(4, 1)).toBe(0);
  });

  it('takes column j of W as the filter of hidden unit j', () => {
    // W is 3x2: rows are visible units.
    expect(Array.from(filtersOf(Float32Array.of(1, 2, 3, 4, 5, 6), 3, 2))).toEqual([1, 3, 5, 2, 4, 6]);
  });
});
