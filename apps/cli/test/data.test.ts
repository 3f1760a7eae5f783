import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { loadAll, openData, sliceSource } from '../src/data.js';
import { filtersOf, tileImages } from '../src/pictures.js';

const spec = { split: 'test' as const, threshold: 0.5, seed: 0 };

async function tmp(name: string, bytes: Uint8Array | string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbmjs-data-'));
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

function idx(type: number, dims: number[], body: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(head.buffer);
  v.setUint32(0, (type << 8) | dims.length);
  for (const [i, d] of dims.entries()) v.setUint32(4 + 4 * i, d);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

describe('MNIST and IDX files', () => {
  it('reads MNIST test images as binary 784-vectors, 28x28', async () => {
    const opened = openData({ ...spec, name: 'mnist', limit: 20 });
    const ds = await loadAll(opened.source);
    expect([ds.rows, ds.cols, opened.side]).toEqual([20, 784, 28]);
    expect(ds.data.every((x) => x === 0 || x === 1)).toBe(true);
    const on = ds.data.reduce((s, x) => s + x, 0) / ds.rows;
    expect(on).toBeGreaterThan(50);
    expect(on).toBeLessThan(250);
    expect(opened.description).toBe('mnist:test: 20 x 784 (first 20 of 10000), binarised at 0.5');
  });

  it('reads rows at random, scales bytes by 1/255, binarises by threshold or stochastically', async () => {
    const path = await tmp('x.idx', idx(0x08, [3, 2], Uint8Array.of(0, 255, 51, 204, 128, 127)));
    const raw = openData({ ...spec, name: path, binarize: 'none' });
    const out = new Float32Array(4);
    raw.source.readRows([2, 0], out);
    expect(Array.from(out)).toEqual([128 / 255, 127 / 255, 0, 1].map(Math.fround));
    const thr = openData({ ...spec, name: path });
    thr.source.readRows([1, 2], out);
    expect(Array.from(out)).toEqual([0, 1, 1, 0]);
    // Stochastic binarisation: P(1) = value, and the same row gives the same bits in any order.
    const many = idx(0x08, [1, 4000], new Uint8Array(4000).fill(51));
    const sto = openData({ ...spec, name: await tmp('p.idx', many), binarize: 'stochastic', seed: 3 });
    const bits = new Float32Array(4000);
    sto.source.readRows([0], bits);
    const mean = bits.reduce((s, x) => s + x, 0) / 4000;
    expect(Math.abs(mean - 0.2)).toBeLessThan(4 * Math.sqrt(0.16 / 4000));
    const again = new Float32Array(4000);
    sto.source.readRows([0], again);
    expect(Array.from(again)).toEqual(Array.from(bits));
  });

  it('names a wrong magic number, a truncated file and a file with trailing bytes', async () => {
    const good = idx(0x08, [2, 2], Uint8Array.of(1, 2, 3, 4));
    const extra = new Uint8Array(17);
    extra.set(good);
    const [a, b, c, d] = await Promise.all([
      tmp('a.idx', Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
      tmp('b.idx', good.subarray(0, 14)),
      tmp('c.idx', extra),
      tmp('d.idx', Uint8Array.of(0, 0)),
    ]);
    expect(() => openData({ ...spec, name: a })).toThrow(/a\.idx: magic number 0x01020304 is not that of an IDX file/);
    expect(() => openData({ ...spec, name: b })).toThrow(
      /b\.idx: 14 bytes, but 2 rows of \[2\] unsigned bytes need 16 \(truncated or corrupt\)/,
    );
    expect(() => openData({ ...spec, name: c })).toThrow(/c\.idx: 17 bytes/);
    expect(() => openData({ ...spec, name: d })).toThrow(/d\.idx: truncated IDX file/);
  });
});

describe('CSV files', () => {
  it('reads numbers with or without a header, and slices', async () => {
    const withHeader = await tmp('h.csv', 'a,b,c\n0,1,0.5\n\n1, 0 ,1\r\n0,0,0');
    const src = openData({ ...spec, name: withHeader }).source;
    expect([src.rows, src.cols]).toEqual([3, 3]);
    const ds = await loadAll(src);
    expect(Array.from(ds.data)).toEqual([0, 1, 0.5, 1, 0, 1, 0, 0, 0]);
    const tail = await loadAll(sliceSource(src, 1, 2));
    expect(Array.from(tail.data)).toEqual([1, 0, 1, 0, 0, 0]);
    const plain = openData({ ...spec, name: await tmp('p.csv', '1,0\n0,1\n') }).source;
    expect(plain.rows).toBe(2);
  });

  it('reports a non-numeric cell and a short row by line and column', async () => {
    const path = await tmp('bad.csv', 'x,y\n0,1\n1,oops\n0\n');
    const src = openData({ ...spec, name: path }).source;
    const out = new Float32Array(2);
    expect(() => src.readRows([1], out)).toThrow(/bad\.csv: line 3, column 2: "oops" is not a number/);
    expect(() => src.readRows([2], out)).toThrow(/bad\.csv: line 4 has 1 cells, expected 2/);
  });
});

describe('pictures', () => {
  it('tiles images into a PNG that decodes to the expected pixels, enlarged on request', () => {
    // Two 2x2 images; the first scaled by its own range, the second constant (grey 0).
    const png = tileImages(Float32Array.of(0, 1, 2, 3, 5, 5, 5, 5), 2, 2, { columns: 2, gap: 1 });
    const img = decode(png);
    expect([img.width, img.height, img.channels]).toEqual([7, 4, 1]);
    const px = (x: number, y: number) => img.data[y * img.width + x];
    expect([px(1, 1), px(2, 1), px(1, 2), px(2, 2)]).toEqual([0, 85, 170, 255]);
    expect(px(0, 0)).toBe(64); // the gap
    expect(px(4, 1)).toBe(0);
    const big = decode(tileImages(Float32Array.of(0, 1, 2, 3), 1, 2, { scale: 2, gap: 0 }));
    expect([big.width, big.height]).toEqual([4, 4]);
    expect(Array.from(big.data.subarray(0, 4))).toEqual([0, 0, 85, 85]);
  });

  it('takes column j of W as the filter of hidden unit j', () => {
    expect(Array.from(filtersOf(Float32Array.of(1, 2, 3, 4, 5, 6), 3, 2))).toEqual([1, 3, 5, 2, 4, 6]);
  });
});
