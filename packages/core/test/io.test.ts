import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createReferenceBackend,
  decodeModel,
  decodeSafetensors,
  encodeModel,
  encodeSafetensors,
  loadModel,
  ModelFormatError,
  RBM,
  saveModel,
} from '../src/index.js';
import { loadModelFile, saveModelFile, writeFileAtomic } from '../src/node/index.js';
import { randomParameters } from './brute.js';

const backend = createReferenceBackend();
const params = randomParameters(7, 3, 1, 4);

/** Builds a safetensors file by hand, with any header. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, with the layout of the format', () => {
    const bytes = encodeSafetensors(
      {
        x: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) },
        y: { dtype: 'F64', shape: [1], data: Float64Array.of(Math.PI) },
      },
      { note: 'hello' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.x).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect(header.y).toEqual({ dtype: 'F64', shape: [1], data_offsets: [16, 24] });
    expect(new DataView(bytes.buffer).getFloat32(8 + n + 4, true)).toBe(2);
    const back = decodeSafetensors(bytes);
    expect(Array.from(back.tensors.get('x')!.data)).toEqual([1, 2, 3, 4]);
    expect(back.tensors.get('y')!.data[0]).toBe(Math.PI);
    expect(back.metadata).toEqual({ note: 'hello' });
  });

  it('detects truncation at every length', () => {
    const bytes = encodeModel(params);
    for (let len = 0; len < bytes.length; len += len < 64 ? 1 : 37) {
      expect(() => decodeModel(bytes.subarray(0, len)), `length ${len}`).toThrow(ModelFormatError);
    }
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
  });

  it('rejects hostile and corrupt headers with a message that names the problem', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [rawFile({}, new Uint8Array(0), 2n ** 62n), /header length 4611686018427387904 exceeds the limit/],
      [rawFile('{"a": ', new Uint8Array(0)), /not valid UTF-8 JSON/],
      [rawFile('[1, 2]'), /not a JSON object/],
      [
        rawFile({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
        /dtype "I64" is not supported/,
      ],
      [rawFile({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /shape \[-1\]/],
      [rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), /hold 4 bytes.*needs 8/],
      [
        rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
        /starts at byte 4, expected 0/,
      ],
      [rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(12)), /8 unexpected bytes/],
      [rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(2)), /truncated/],
      [rawFile({ __metadata__: { a: 1 } }), /metadata "a" is not a string/],
      [rawFile({ __metadata__: { format: 'other' } }), /not an rbmjs model/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => decodeModel(bytes, { source: 'evil.safetensors' })).toThrow(ModelFormatError);
      expect(() => decodeModel(bytes, { source: 'evil.safetensors' })).toThrow(message);
      expect(() => decodeModel(bytes, { source: 'evil.safetensors' })).toThrow(/^evil\.safetensors: /);
    }
  });

  it('rejects a model whose tensors disagree or hold NaN', () => {
    const meta = { format: 'rbmjs', format_version: '1', model: 'bernoulli-bernoulli' };
    const W = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };
    const a = { dtype: 'F32', shape: [3], data_offsets: [24, 36] };
    const b = { dtype: 'F32', shape: [3], data_offsets: [36, 48] };
    expect(() =>
      decodeModel(rawFile({ __metadata__: meta, weights: W, visible_bias: a, hidden_bias: b }, new Uint8Array(48))),
    ).toThrow(/shapes disagree: weights \[2, 3\], visible_bias \[3\], hidden_bias \[3\]/);
    expect(() => decodeModel(rawFile({ __metadata__: meta, weights: W }, new Uint8Array(24)))).toThrow(
      /missing tensor visible_bias/,
    );
    const nan = encodeModel(params);
    const n = Number(new DataView(nan.buffer).getBigUint64(0, true));
    new DataView(nan.buffer).setFloat32(8 + n + 8, Number.NaN, true);
    expect(() => decodeModel(nan)).toThrow(/weights\[2\] is NaN/);
  });
});

describe('model files', () => {
  it('round-trips parameters and metadata through bytes', async () => {
    const model = RBM.fromParameters(backend, params);
    const bytes = await saveModel(model, { hyperparameters: JSON.stringify({ lr: 0.1 }) });
    const { model: loaded, metadata } = loadModel(backend, bytes);
    const p = await loaded.parameters();
    expect(Array.from(p.weights)).toEqual(Array.from(params.weights));
    expect(Array.from(p.visibleBias)).toEqual(Array.from(params.visibleBias));
    expect(Array.from(p.hiddenBias)).toEqual(Array.from(params.hiddenBias));
    expect(metadata.format).toBe('rbmjs');
    expect(JSON.parse(metadata.hyperparameters!)).toEqual({ lr: 0.1 });
  });

  it('saves atomically on disk, refuses to overwrite when asked, and names the file on errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbmjs-io-'));
    const path = join(dir, 'model.safetensors');
    const model = RBM.fromParameters(backend, params);
    await saveModelFile(model, path);
    expect(await readdir(dir)).toEqual(['model.safetensors']); // no temporary files left behind
    const { model: loaded } = await loadModelFile(backend, path);
    expect(Array.from((await loaded.parameters()).weights)).toEqual(Array.from(params.weights));
    await expect(saveModelFile(model, path, { overwrite: false })).rejects.toThrow(/exists; refusing to overwrite/);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, 100));
    await expect(loadModelFile(backend, path)).rejects.toThrow(new RegExp(`^${path}: truncated`));
    await writeFileAtomic(path, bytes);
    expect((await readFile(path)).equals(bytes)).toBe(true);
  });

  it('overwrite: false refuses at write time too: of two writers that both found no file, one wins, whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbmjs-io-'));
    const path = join(dir, 'race.bin');
    const [a, b] = [new Uint8Array(4096).fill(1), new Uint8Array(8192).fill(2)];
    // Both calls check for the file before either writes (each awaits its lstat first), as two runs do.
    const results = await Promise.allSettled([
      writeFileAtomic(path, a, { overwrite: false }),
      writeFileAtomic(path, b, { overwrite: false }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(String(lost.reason)).toMatch(/race\.bin exists; refusing to overwrite it/);
    const kept = await readFile(path);
    expect(kept.equals(Buffer.from(results[0]!.status === 'fulfilled' ? a : b))).toBe(true);
    expect(await readdir(dir)).toEqual(['race.bin']); // the loser's temporary file is gone
  });
});
