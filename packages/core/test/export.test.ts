import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  checkOnnxOutputs,
  decodeNpy,
  decodeSklearnRbm,
  type ExportableModel,
  encodeNpy,
  encodeSklearnRbm,
  exportOnnx,
  initialParameters,
  onnxOutputs,
  type RbmParameters,
} from '../src/index.js';

/**
 * The export formats' own logic, with no runtime outside rbmjs: .npy and scikit-learn .npz both ways (exact
 * round trips, refusals naming the array and the shape), and which ONNX outputs each family has. The files
 * themselves are run by onnxruntime-node and checked by python3-onnx in apps/cli/test/export.test.ts.
 */

function params(nv: number, nh: number, extra: Partial<RbmParameters> = {}): RbmParameters {
  const p = initialParameters({ numVisible: nv, numHidden: nh, seed: 3, weightScale: 0.5 });
  return { ...p, visibleBias: p.visibleBias.map((_, i) => 0.1 * i - 0.3), ...extra };
}

/** The bytes with an ASCII substring of the header replaced by another of the same length. */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = String.fromCharCode(...bytes.subarray(0, 128));
  const at = text.indexOf(from);
  expect(at).toBeGreaterThan(0);
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < to.length; i++) out[at + i] = to.charCodeAt(i);
  return out;
}

describe('.npy', () => {
  it('round-trips float32 and float64 arrays exactly, and reads Fortran order as C order', () => {
    const x = Float32Array.from([1.5, -2, 3.25, 1e-30, 7, 8]);
    const a = decodeNpy(encodeNpy(x, [2, 3]), 'x');
    expect(a).toMatchObject({ shape: [2, 3], descr: '<f4' });
    expect(Array.from(a.data)).toEqual(Array.from(x));
    const y = Float64Array.from([Math.PI, -1e300, 0.1]);
    expect(Array.from(decodeNpy(encodeNpy(y, [3]), 'y').data)).toEqual(Array.from(y));
    // Fortran order: the header says so and the bytes are column-major.
    const bytes = encodeNpy(Float64Array.from([1, 4, 2, 5, 3, 6]), [2, 3]);
    const fortran = patch(bytes, "'fortran_order': False", "'fortran_order': True ");
    expect(Array.from(decodeNpy(fortran, 'f').data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses what is not a float array it can read, naming the array and the problem', () => {
    expect(() => decodeNpy(new Uint8Array(20), 'w.npy')).toThrow(/w\.npy: not a NumPy \.npy array/);
    const f4 = encodeNpy(new Float32Array(4), [4]);
    expect(() => decodeNpy(f4.subarray(0, f4.length - 1), 'w')).toThrow(
      /15 bytes of data, the shape \(4\) of <f4 needs 16/,
    );
    expect(() => decodeNpy(patch(f4, "'<f4'", "'<i8'"), 'w')).toThrow(/element type <i8, expected float32/);
  });
});

describe('scikit-learn .npz', () => {
  it("writes a BernoulliRBM's attributes and reads them back to the same parameters", () => {
    const p = params(7, 4);
    const back = decodeSklearnRbm(encodeSklearnRbm(p));
    expect(back.numVisible).toBe(7);
    expect(back.numHidden).toBe(4);
    expect(Array.from(back.weights)).toEqual(Array.from(p.weights));
    expect(Array.from(back.visibleBias)).toEqual(Array.from(p.visibleBias));
    expect(Array.from(back.hiddenBias)).toEqual(Array.from(p.hiddenBias));
    // components_ is W^T: row j holds hidden unit j's weights.
    const npz = encodeSklearnRbm(p);
    expect(encodeSklearnRbm(p)).toEqual(npz);
  });

  it('refuses models that have no BernoulliRBM and archives that are not one', () => {
    expect(() => encodeSklearnRbm(params(3, 2, { hiddenUnits: 'nrelu' }))).toThrow(
      /BernoulliRBM has Bernoulli visible and hidden units; this model has bernoulli visible and nrelu hidden units/,
    );
    expect(() => decodeSklearnRbm(new Uint8Array([1, 2, 3]), 'x.npz')).toThrow(/x\.npz: not a NumPy \.npz archive/);
    const two = zipSync({
      'components_.npy': encodeNpy(new Float64Array(6), [2, 3]),
      'intercept_hidden_.npy': encodeNpy(new Float64Array(2), [2]),
    });
    expect(() => decodeSklearnRbm(two, 'y.npz')).toThrow(/y\.npz: no intercept_visible_ array/);
    const nan = zipSync({
      'components_.npy': encodeNpy(Float64Array.from([0, Number.NaN, 0, 0, 0, 0]), [2, 3]),
      'intercept_hidden_.npy': encodeNpy(new Float64Array(2), [2]),
      'intercept_visible_.npy': encodeNpy(new Float64Array(3), [3]),
      'h_samples_.npy': encodeNpy(new Float64Array(3), [3]),
    });
    expect(() => decodeSklearnRbm(nan, 'z.npz')).toThrow(/z\.npz: weights\[2\] is NaN/);
  });
});

describe('ONNX outputs by family', () => {
  const rbm = (extra: Partial<RbmParameters> = {}): ExportableModel => ({
    kind: 'rbm',
    parameters: params(6, 3, extra),
  });

  it('lists what each model has, and the defaults', () => {
    expect(onnxOutputs(rbm())).toEqual({
      available: ['features', 'free_energy', 'reconstruction'],
      defaults: ['features', 'free_energy', 'reconstruction'],
    });
    expect(onnxOutputs(rbm({ hiddenUnits: 'nrelu' })).available).toEqual(['features', 'reconstruction']);
    const drbm = rbm({ visibleUnits: 'softmax', softmaxGroups: [3] });
    expect(onnxOutputs(drbm).defaults).toEqual(['p_y_given_x', 'predicted_class']);
    expect(onnxOutputs({ kind: 'dbn', layers: [params(6, 3)] }).available).toEqual(['features']);
  });

  it('refuses an output the model lacks and a mix of input sets, by name', () => {
    expect(() => checkOnnxOutputs(rbm({ hiddenUnits: 'nrelu' }), ['free_energy'])).toThrow(
      /free_energy is not an output of an RBM with bernoulli visible and nrelu hidden units \(the free energy of NReLU/,
    );
    expect(() => checkOnnxOutputs(rbm(), ['p_y_given_x'])).toThrow(/p_y_given_x is not an output of an RBM/);
    const drbm = rbm({ visibleUnits: 'softmax', softmaxGroups: [3] });
    expect(() => checkOnnxOutputs(drbm, ['predicted_class', 'reconstruction'])).toThrow(
      /predicted_class take the inputs alone \(x\), reconstruction the whole visible layer/,
    );
    expect(() => checkOnnxOutputs(rbm(), [])).toThrow(/no outputs/);
  });

  it("writes the provenance into metadata_props and leaves a checkpoint's trainer state out", () => {
    const bytes = exportOnnx(
      {
        kind: 'rbm',
        parameters: params(5, 2),
        metadata: { provenance: '{"tool":"test"}', rbmjs_checkpoint: 'SECRET' },
      },
      { metadata: { rbmjs_version: '9.9.9' }, producerVersion: '9.9.9' },
    );
    const text = new TextDecoder('latin1').decode(bytes);
    expect(bytes[0]).toBe(0x08); // field 1 (ir_version), varint
    expect(bytes[1]).toBe(8);
    for (const s of ['provenance', '{"tool":"test"}', 'rbmjs_version', 'rbmjs_outputs', 'features', 'batch'])
      expect(text).toContain(s);
    expect(text).not.toContain('SECRET');
  });
});
