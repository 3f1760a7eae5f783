import { createDataset, DataError, type Dataset } from '@rbmjs/core';

/**
 * The demo's bundled MNIST subset: a few thousand digits, binarised at 0.5 and bit-packed, in one small
 * file that the page fetches from its own folder (no network beyond it).
 *
 * Layout, little-endian: u32 magic 'RBMD', u32 version 1, u32 train count, u32 test count, u32 height,
 * u32 width; then one label byte per image (train, then test); then each image's pixels as bits, row-major,
 * most significant bit first, ceil(height * width / 8) bytes per image.
 */

export const SUBSET_MAGIC = 0x444d4252; // 'RBMD'
const HEADER_BYTES = 24;

export interface Subset {
  readonly height: number;
  readonly width: number;
  readonly train: Dataset;
  readonly test: Dataset;
  readonly trainLabels: Uint8Array;
  readonly testLabels: Uint8Array;
}

/** Packs binary images (rows of 0/1 values) with their labels. */
export function encodeSubset(
  height: number,
  width: number,
  train: { images: ArrayLike<number>; labels: ArrayLike<number> },
  test: { images: ArrayLike<number>; labels: ArrayLike<number> },
): Uint8Array<ArrayBuffer> {
  const pixels = height * width;
  const stride = Math.ceil(pixels / 8);
  const nTrain = train.labels.length;
  const nTest = test.labels.length;
  const out = new Uint8Array(HEADER_BYTES + nTrain + nTest + (nTrain + nTest) * stride);
  const view = new DataView(out.buffer);
  const header = [SUBSET_MAGIC, 1, nTrain, nTest, height, width];
  for (let i = 0; i < header.length; i++) view.setUint32(4 * i, header[i]!, true);
  out.set(Array.from(train.labels), HEADER_BYTES);
  out.set(Array.from(test.labels), HEADER_BYTES + nTrain);
  let offset = HEADER_BYTES + nTrain + nTest;
  for (const { images, labels } of [train, test]) {
    for (let n = 0; n < labels.length; n++, offset += stride) {
      for (let p = 0; p < pixels; p++) {
        const x = images[n * pixels + p]!;
        if (x !== 0 && x !== 1) throw new DataError(`subset image ${n}, pixel ${p}: ${x} is not 0 or 1`);
        if (x === 1) out[offset + (p >> 3)]! |= 0x80 >> (p & 7);
      }
    }
  }
  return out;
}

function unpack(bytes: Uint8Array, offset: number, count: number, pixels: number, source: string): Dataset {
  const stride = Math.ceil(pixels / 8);
  const data = new Float32Array(count * pixels);
  for (let n = 0; n < count; n++) {
    const base = offset + n * stride;
    for (let p = 0; p < pixels; p++) data[n * pixels + p] = (bytes[base + (p >> 3)]! >> (7 - (p & 7))) & 1;
  }
  return createDataset(data, count, pixels, source);
}

/** Reads a subset file; a wrong magic number, version or length is a DataError that says which. */
export function decodeSubset(buffer: ArrayBuffer, source = 'mnist-subset.bin'): Subset {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < HEADER_BYTES) throw new DataError(`${source}: ${bytes.length} bytes, shorter than the header`);
  const view = new DataView(buffer);
  const [magic, version, nTrain, nTest, height, width] = [0, 1, 2, 3, 4, 5].map((i) => view.getUint32(4 * i, true));
  if (magic !== SUBSET_MAGIC)
    throw new DataError(`${source}: not an rbmjs digit subset (magic 0x${magic!.toString(16)})`);
  if (version !== 1) throw new DataError(`${source}: version ${version} (this demo reads version 1)`);
  const pixels = height! * width!;
  const expected = HEADER_BYTES + nTrain! + nTest! + (nTrain! + nTest!) * Math.ceil(pixels / 8);
  if (bytes.length !== expected) {
    throw new DataError(`${source}: ${bytes.length} bytes, expected ${expected} for ${nTrain} + ${nTest} images`);
  }
  const images = HEADER_BYTES + nTrain! + nTest!;
  return {
    height: height!,
    width: width!,
    trainLabels: bytes.slice(HEADER_BYTES, HEADER_BYTES + nTrain!),
    testLabels: bytes.slice(HEADER_BYTES + nTrain!, images),
    train: unpack(bytes, images, nTrain!, pixels, `${source} (train)`),
    test: unpack(bytes, images + nTrain! * Math.ceil(pixels / 8), nTest!, pixels, `${source} (test)`),
  };
}
