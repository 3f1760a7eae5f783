import { DataError } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { decodeSubset, encodeSubset } from '../src/subset.js';

function images(n: number, pixels: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n * pixels }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 31;
  });
}

describe('the bundled digit subset format', () => {
  it('round-trips images and labels exactly, with sizes that are not multiples of 8', () => {
    const train = { images: images(5, 3 * 7, 1), labels: [0, 1, 2, 3, 9] };
    const test = { images: images(2, 3 * 7, 2), labels: [7, 8] };
    const bytes = encodeSubset(3, 7, train, test);
    expect(bytes.length).toBe(24 + 7 + 7 * 3); // header, labels, ceil(21 / 8) = 3 bytes per image
    const s = decodeSubset(bytes.slice().buffer);
    expect([s.height, s.width, s.train.rows, s.train.cols, s.test.rows]).toEqual([3, 7, 5, 21, 2]);
    expect(Array.from(s.train.data)).toEqual(train.images);
    expect(Array.from(s.test.data)).toEqual(test.images);
    expect(Array.from(s.trainLabels)).toEqual(train.labels);
    expect(Array.from(s.testLabels)).toEqual(test.labels);
  });

  it('refuses non-binary pixels, wrong magic, wrong version and wrong lengths with a DataError', () => {
    expect(() => encodeSubset(1, 2, { images: [0, 0.5], labels: [1] }, { images: [], labels: [] })).toThrow(
      /image 0, pixel 1: 0.5 is not 0 or 1/,
    );
    const good = encodeSubset(2, 2, { images: [1, 0, 0, 1], labels: [4] }, { images: [0, 1, 1, 0], labels: [5] });
    const set = (index: number, value: number) => (b: Uint8Array<ArrayBuffer>) => {
      b[index] = value;
      return b;
    };
    const bad = (mutate: (b: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>) => () =>
      decodeSubset(mutate(good.slice()).buffer, 'x.bin');
    expect(bad((b) => b.slice(0, 10))).toThrow(DataError);
    expect(bad(set(0, 0))).toThrow(/x.bin: not an rbmjs digit subset/);
    expect(bad(set(4, 2))).toThrow(/version 2/);
    expect(bad((b) => b.slice(0, b.length - 1))).toThrow(/expected 28 for 1 \+ 1 images/);
  });
});
