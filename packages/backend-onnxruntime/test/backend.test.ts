import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createJsBackend } from '@rbmjs/backend-js';
import { BackendUnavailableError, Trace, UnknownBackendError } from '@rbmjs/core/backend';
import { describe, expect, it } from 'vitest';
import { createOnnxruntimeBackend, createOrtBackend, type OrtApi, type OrtBackend, traceToOnnx } from '../src/index.js';

const values = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 13.7) * 2);

/** Which of `universe`'s op types an encoded ONNX model uses (its nodes' op_type strings). */
function opTypes(model: Uint8Array, universe: readonly string[]): Set<string> {
  const text = Buffer.from(model);
  return new Set(universe.filter((op) => text.includes(Buffer.concat([Buffer.of(0x22, op.length), Buffer.from(op)]))));
}

/** One small unit: p = sigmoid(x W + b), s = sum over rows of p^2, y = 0.9 y + lr x^T p. */
function unit(be: OrtBackend | ReturnType<typeof createJsBackend>, t: ReturnType<typeof tensors>, lr: number) {
  be.matMul(t.p, t.x, t.W);
  be.binary('add', t.p, t.p, t.b);
  be.unary('sigmoid', t.p, t.p);
  be.unary('square', t.q, t.p);
  be.sum(t.s, t.q, 1);
  be.matMul(t.g, t.x, t.p, { transposeA: true, alpha: lr });
  be.axpby(t.y, 0.9, t.y, 1, t.g);
}

function tensors(be: OrtBackend | ReturnType<typeof createJsBackend>) {
  return {
    x: be.tensor(5, 4, values(20, 1)),
    W: be.tensor(4, 3, values(12, 2)),
    b: be.tensor(1, 3, values(3, 3)),
    p: be.tensor(5, 3),
    q: be.tensor(5, 3),
    s: be.tensor(5, 1),
    g: be.tensor(4, 3),
    y: be.tensor(4, 3),
  };
}

describe('onnxruntime backend', () => {
  it('refuses modes it cannot run, saying what to install; unknown modes are a usage error', async () => {
    const cuda = await createOnnxruntimeBackend({ mode: 'cuda' }).catch((e: unknown) => e);
    // On a machine with the CUDA provider installed this would start; this one has none.
    if (cuda instanceof Error) {
      expect(cuda).toBeInstanceOf(BackendUnavailableError);
      expect((cuda as BackendUnavailableError).reasons[0]).toMatchObject({
        name: 'onnxruntime:cuda',
        reason: expect.stringMatching(/CUDA execution provider is not installed/),
        install: expect.stringMatching(/CUDA 12/),
      });
    } else (cuda as OrtBackend).destroy();
    const webgpu = await createOnnxruntimeBackend({ mode: 'webgpu' }).catch((e: unknown) => e);
    expect((webgpu as BackendUnavailableError).reasons[0]!.reason).toMatch(/runs in browsers/);
    await expect(createOnnxruntimeBackend({ mode: 'tpu' as 'cpu' })).rejects.toBeInstanceOf(UnknownBackendError);
  });

  it('compiles a unit once, replays it with new numbers, and matches op-by-op execution', async () => {
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    const js = createJsBackend();
    try {
      const a = tensors(be);
      const r = tensors(js);
      const compiledBefore = be.stats.compiled;
      for (const lr of [0.1, 0.05, 0.025]) {
        be.fuse('unit', () => unit(be, a, lr));
        unit(js, r, lr);
      }
      // One structure: the learning rate is an input of the unit, not part of its key.
      expect(be.stats.compiled - compiledBefore).toBe(1);
      for (const k of ['p', 's', 'y'] as const) {
        const [got, want] = [await be.read(a[k]), await js.read(r[k])];
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
      }
      // lr = 1 is structural (the multiply is dropped): a second unit.
      be.fuse('unit', () => unit(be, a, 1));
      expect(be.stats.compiled - compiledBefore).toBe(2);
    } finally {
      be.destroy();
      js.destroy();
    }
  });

  it('leaves scratch tensors unspecified and updates the rest', async () => {
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      const a = tensors(be);
      be.fill(a.q, 7);
      be.fuse('unit', () => unit(be, a, 0.1), { scratch: [a.q, a.g] });
      // q was scratch: not written back (it still holds what it held); y, which depends on g, was.
      expect([...(await be.read(a.q))].every((x) => x === 7)).toBe(true);
      expect([...(await be.read(a.y))].some((x) => x !== 0)).toBe(true);
    } finally {
      be.destroy();
    }
  });

  it('keeps op order across the queue: ops issued while a unit is in flight wait for it', async () => {
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      const x = be.tensor(2, 2, Float32Array.of(1, 2, 3, 4));
      const y = be.tensor(2, 2);
      const host = Float32Array.of(10, 20, 30, 40);
      for (let i = 0; i < 5; i++) {
        be.fuse('step', () => be.axpby(y, 1, y, 1, x)); // y += x, compiled
        be.binary('mul', y, y, x); // y *= x, op by op, behind the unit
        be.write(x, host); // the upload is copied: changing host afterwards changes nothing
        host[0] = -1;
        be.write(x, Float32Array.of(1, 2, 3, 4));
      }
      let want = [0, 0, 0, 0];
      for (let i = 0; i < 5; i++) want = want.map((v, j) => (v + (j + 1)) * (j + 1));
      expect([...(await be.read(y))]).toEqual(want);
      // A shape error is thrown at the call, even inside a unit, and the ops before it have run.
      expect(() =>
        be.fuse('bad', () => {
          be.fill(y, 1);
          be.matMul(y, x, be.tensor(3, 2));
        }),
      ).toThrow(/inner dimensions/);
      expect([...(await be.read(y))]).toEqual([1, 1, 1, 1]);
    } finally {
      be.destroy();
    }
  });

  it('runs a unit too large to compile op by op, and a label whose structure keeps changing, saying so once', async () => {
    const notices: string[] = [];
    const be = await createOnnxruntimeBackend({ mode: 'cpu', maxUnitValues: 10, notice: (m) => notices.push(m) });
    try {
      const a = tensors(be);
      const js = createJsBackend();
      const r = tensors(js);
      for (let i = 0; i < 3; i++) {
        be.fuse('big', () => unit(be, a, 0.1));
        unit(js, r, 0.1);
      }
      expect([...(await be.read(a.y))]).toEqual([...(await js.read(r.y))]);
      expect(be.stats.opByOp).toBe(3);
      // A tensor of a new shape every call: a new structure every call (one of the same shape would not be).
      for (let i = 0; i < 20; i++) {
        const t = be.tensor(1, i + 1, new Float32Array(i + 1).fill(i));
        be.fuse('churn', () => be.unary('neg', t, t));
        expect((await be.read(t))[0]).toBe(-i);
        be.dispose(t);
      }
      expect(notices.filter((m) => m.includes('big runs op by op'))).toHaveLength(1);
      expect(
        notices.filter((m) => m.includes('churn runs op by op: its structure changes on every call')),
      ).toHaveLength(1);
      js.destroy();
    } finally {
      be.destroy();
    }
  });
});

describe('graph rewrites', () => {
  const [B, nv, nh] = [2, 40, 30];
  /** The weight update of a step: gW = v0^T h0 / B - vk^T hk / B, then SGD (W += lr gW) or momentum. */
  function update(be: OrtBackend | ReturnType<typeof createJsBackend>, t: ReturnType<typeof stepTensors>, m: number) {
    be.matMul(t.gW, t.v0, t.h0, { transposeA: true, alpha: 1 / B });
    be.matMul(t.gW, t.vk, t.hk, { transposeA: true, alpha: -1 / B, beta: 1 });
    if (m === 0) be.axpby(t.W, 1, t.W, 0.05, t.gW);
    else {
      be.axpby(t.vW, m, t.vW, 0.05, t.gW);
      be.axpby(t.W, 1, t.W, 1, t.vW);
    }
    // A product smaller than what it is added to is not folded into it (Gemm's C must broadcast to it).
    be.matMul(t.row, t.one, t.h0);
    be.binary('add', t.wide, t.wide, t.row);
  }
  function stepTensors(be: OrtBackend | ReturnType<typeof createJsBackend>) {
    return {
      v0: be.tensor(B, nv, values(B * nv, 4)),
      vk: be.tensor(B, nv, values(B * nv, 5)),
      h0: be.tensor(B, nh, values(B * nh, 6)),
      hk: be.tensor(B, nh, values(B * nh, 7)),
      gW: be.tensor(nv, nh),
      vW: be.tensor(nv, nh, values(nv * nh, 8)),
      W: be.tensor(nv, nh, values(nv * nh, 9)),
      one: be.tensor(1, B, Float32Array.of(1, 1)),
      row: be.tensor(1, nh),
      wide: be.tensor(3, nh, values(3 * nh, 10)),
    };
  }

  it('drops a fill of zeros that a product accumulates into and what nobody reads; softplus from vectorised ops', async () => {
    // A gradient cleared and then accumulated into (the discriminative step's), a statistic no part reads,
    // and softplus (ONNX Runtime's CPU kernel for it is a scalar loop).
    const body = (be: OrtBackend | ReturnType<typeof createJsBackend>, t: ReturnType<typeof stepTensors>) => {
      be.fill(t.gW, 0);
      be.matMul(t.gW, t.v0, t.h0, { transposeA: true, alpha: 1 / B, beta: 1 });
      be.axpby(t.W, 1, t.W, 0.05, t.gW);
      be.sum(t.row, t.hk, 0);
      be.unary('softplus', t.hk, t.h0);
    };
    const js = createJsBackend();
    const t = stepTensors(js);
    const trace = new Trace('train-step');
    trace.record({ kind: 'fill', out: t.gW, value: 0 });
    trace.record({
      kind: 'matMul',
      out: t.gW,
      a: t.v0,
      b: t.h0,
      transposeA: true,
      transposeB: false,
      alpha: 1 / B,
      beta: 1,
    });
    trace.record({ kind: 'axpby', out: t.W, alpha: 1, x: t.W, beta: 0.05, y: t.gW });
    trace.record({ kind: 'sum', out: t.row, x: t.hk, axis: 0 });
    trace.record({ kind: 'unary', op: 'softplus', out: t.hk, x: t.h0 });
    const io = trace.interface(new Set([t.gW, t.row]));
    const plain = traceToOnnx(trace, io);
    expect(plain.ops.filter((o) => o.endsWith(` ${nv}x${nh}`))).toEqual([`Gemm ${nv}x${nh}`]);
    expect(plain.ops.filter((o) => o.startsWith('ReduceSum') || o.startsWith('Expand'))).toEqual([]);
    expect(plain.ops).toContain(`Softplus ${B}x${nh}`);
    const composite = traceToOnnx(trace, io, { compositeSoftplus: true });
    expect(composite.ops.filter((o) => o.startsWith('Softplus'))).toEqual([]);

    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      const [a, r] = [stepTensors(be), stepTensors(js)];
      // Inputs far into both tails, where softplus is x or exp(x).
      for (const x of [a.h0, r.h0])
        (x === a.h0 ? be : js).write(
          x,
          values(B * nh, 6).map((v) => v * 20),
        );
      be.fuse('train-step', () => body(be, a), { scratch: [a.gW, a.row] });
      body(js, r);
      expect(be.stats.replayed + be.stats.compiled).toBeGreaterThan(0);
      for (const k of ['W', 'hk'] as const) {
        const [x, y] = [await be.read(a[k]), await js.read(r[k])];
        for (let i = 0; i < x.length; i++)
          expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(y[i]!)));
      }
    } finally {
      be.destroy();
    }
  });

  it('reads a constant selection instead of multiplying by it: the same values, a unit shared by equal constants', async () => {
    const ortNode = (await import('onnxruntime-node')) as unknown as OrtApi;
    const models: Uint8Array[] = [];
    const be = createOrtBackend({
      name: 'onnxruntime:cpu',
      ort: {
        Tensor: ortNode.Tensor,
        InferenceSession: {
          create: (model, options) => {
            models.push(model);
            return ortNode.InferenceSession.create(model, options);
          },
        },
      },
      session: { executionProviders: ['cpu'], logSeverityLevel: 3 },
      details: {},
      preallocatedOutputs: true,
    });
    const js = createJsBackend();
    // Rows 3 and 0 of W; columns 1, 1 and 4 of X; and a matrix that is not a selection (a 2 in it).
    const rows = Float32Array.from([0, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    const cols = new Float32Array(5 * 3);
    for (const [j, i] of [1, 1, 4].entries()) cols[i * 3 + j] = 1;
    const not = Float32Array.from(rows, (x, i) => (i === 3 ? 2 : x));
    const make = (b: OrtBackend | ReturnType<typeof createJsBackend>, constant: boolean) => {
      const t = {
        W: b.tensor(5, 4, values(20, 1)),
        X: b.tensor(2, 5, values(10, 2)),
        R: b.tensor(2, 5, rows),
        C: b.tensor(5, 3, cols),
        N: b.tensor(2, 5, not),
        y1: b.tensor(2, 4),
        y2: b.tensor(2, 3),
        y3: b.tensor(2, 4),
      };
      if (constant) for (const k of ['R', 'C', 'N'] as const) b.constant?.(t[k]);
      return t;
    };
    const body = (b: OrtBackend | ReturnType<typeof createJsBackend>, t: ReturnType<typeof make>) => {
      b.matMul(t.y1, t.R, t.W);
      b.matMul(t.y2, t.X, t.C);
      b.matMul(t.y3, t.N, t.W);
    };
    try {
      const [a, r] = [make(be, true), make(js, false)];
      be.fuse('select', () => body(be, a));
      body(js, r);
      for (const k of ['y1', 'y2', 'y3'] as const)
        expect([...(await be.read(a[k]))]).toEqual([...(await js.read(r[k]))]);
      const ops = opTypes(models[0]!, ['Gather', 'Gemm', 'MatMul']);
      expect(ops.has('Gather') && ops.has('Gemm')).toBe(true); // two selections read, the 2 multiplied
      // Other tensors of the same contents (a scorer made anew): the same unit.
      const b2 = make(be, true);
      be.fuse('select', () => body(be, b2));
      expect(be.stats.compiled).toBe(1);
      expect([...(await be.read(b2.y1))]).toEqual([...(await js.read(r.y1))]);
      expect(() => be.write(a.R, rows)).toThrow(/write to a tensor declared constant/);
    } finally {
      be.destroy();
      js.destroy();
    }
  });

  it('makes the SGD weight update one product accumulated into W, and agrees with op-by-op execution', async () => {
    const js = createJsBackend();
    for (const momentum of [0, 0.5]) {
      const t = stepTensors(js);
      const trace = new Trace('train-step');
      const record = new Proxy(js, {
        get: (b, p) =>
          ['matMul', 'axpby', 'binary'].includes(p as string)
            ? (...args: unknown[]) => {
                const [a0, a1, a2, a3, a4] = args as never[];
                if (p === 'matMul') {
                  const o = (a3 ?? {}) as { transposeA?: boolean; alpha?: number; beta?: number };
                  trace.record({
                    kind: 'matMul',
                    out: a0,
                    a: a1,
                    b: a2,
                    transposeA: o.transposeA ?? false,
                    transposeB: false,
                    alpha: o.alpha ?? 1,
                    beta: o.beta ?? 0,
                  });
                } else if (p === 'axpby') trace.record({ kind: 'axpby', out: a0, alpha: a1, x: a2, beta: a3, y: a4 });
                else trace.record({ kind: 'binary', op: a0, out: a1, a: a2, b: a3 });
              }
            : Reflect.get(b, p),
      });
      update(record, t, momentum);
      const graph = traceToOnnx(trace, trace.interface(new Set([t.gW, t.row])));
      const big = graph.ops.filter((o) => o.endsWith(` ${nv}x${nh}`));
      // SGD: one Gemm (stacked operands, the learning rate on the smaller one, C = W). Momentum: v * m, the
      // Gemm with C = that, W + v.
      expect(big).toEqual(
        momentum === 0 ? [`Gemm ${nv}x${nh}`] : [`Mul ${nv}x${nh}`, `Gemm ${nv}x${nh}`, `Add ${nv}x${nh}`],
      );
      expect(graph.ops).toContain(`Add 3x${nh}`);
    }

    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      for (const momentum of [0, 0.5]) {
        const [a, r] = [stepTensors(be), stepTensors(js)];
        be.fuse('train-step', () => update(be, a, momentum), { scratch: [a.gW, a.row] });
        update(js, r, momentum);
        expect(be.stats.replayed).toBeGreaterThan(0);
        for (const k of ['W', 'vW', 'wide'] as const) {
          const [x, y] = [await be.read(a[k]), await js.read(r[k])];
          for (let i = 0; i < x.length; i++) expect(x[i]).toBeCloseTo(y[i]!, 5);
        }
      }
    } finally {
      be.destroy();
    }
  });
});

describe('structure keys', () => {
  it('compiles a sampler that allocates its chains per call once (tensors named by first appearance)', async () => {
    const { RBM } = await import('@rbmjs/core');
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      const model = RBM.create(be, { numVisible: 12, numHidden: 5, seed: 1 });
      const init = { data: new Float32Array(4 * 12), rows: 4, cols: 12 };
      for (let i = 0; i < 20; i++) await model.sample({ init, steps: 1, seed: i + 1 });
      expect(be.stats.opByOp).toBe(0);
      expect(be.stats.replayed).toBeGreaterThanOrEqual(20);
      expect(be.stats.compiled).toBeLessThanOrEqual(3);
    } finally {
      be.destroy();
    }
  });
});

/**
 * ONNX Runtime Web's WebGPU provider runs the ops it lacks on the CPU, splitting a graph, and split graphs
 * computed wrong values in Chromium (the DBM's AIS step: log Z 13.14 against 12.56). Its graphs are written
 * with the ops it has kernels for (GraphOptions.gpuKernelsOnly); here, in Node, every op the WebGPU graphs of a
 * unit use is checked against onnxruntime-web's own list, and the rewritten formulas are run on the CPU
 * provider against the js backend, NaN and infinities included.
 */
describe('graphs for the WebGPU provider', () => {
  /** Op types listed in onnxruntime-web's docs/webgpu-operators.md (the package this backend loads there). */
  function webgpuKernels(): Set<string> {
    const require = createRequire(import.meta.url);
    let dir = dirname(require.resolve('onnxruntime-web'));
    while (!existsSync(join(dir, 'docs', 'webgpu-operators.md'))) dir = dirname(dir);
    const table = readFileSync(join(dir, 'docs', 'webgpu-operators.md'), 'utf8');
    return new Set([...table.matchAll(/^\| (\w+) \| ai\.onnx/gm)].map((m) => m[1]!));
  }

  /** Each ONNX node's op type in a model's bytes (NodeProto field 4, op_type, tag 0x22). */
  const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 40, -40, 1e-30];
  const input = (n: number) =>
    Float32Array.from({ length: n }, (_, i) => (i < special.length ? special[i]! : values(n, 11)[i]!));

  /**
   * Every unary op, log-sum-exp over both axes, a copy (axpby with y = x, beta 0), an output that is an input,
   * and a gather and scatterAdd.
   */
  function body(be: OrtBackend | ReturnType<typeof createJsBackend>, t: Record<string, ReturnType<typeof be.tensor>>) {
    for (const [k, op] of (['sigmoid', 'softplus', 'exp', 'log', 'sign', 'neg', 'square'] as const).entries())
      be.unary(op, t[`u${k}`]!, t.x!);
    be.logSumExp(t.l0!, t.x!, 0);
    be.logSumExp(t.l1!, t.x!, 1);
    be.axpby(t.c!, 1, t.x!, 0, t.x!);
    be.axpby(t.d!, 0.5, t.x!, 0, t.x!);
    be.unary('softplus', t.e!, t.d!);
    be.copy(t.f!, t.x!);
    // Rows by index (row 3 twice), and rows added back by index.
    be.gather(t.g!, t.x!, t.i!);
    be.scatterAdd(t.f!, t.i!, t.h!);
  }
  function make(be: OrtBackend | ReturnType<typeof createJsBackend>) {
    const t: Record<string, ReturnType<typeof be.tensor>> = { x: be.tensor(4, 5, input(20)) };
    for (let k = 0; k < 7; k++) t[`u${k}`] = be.tensor(4, 5);
    Object.assign(t, { l0: be.tensor(1, 5), l1: be.tensor(4, 1) });
    for (const k of ['c', 'd', 'e', 'f']) t[k] = be.tensor(4, 5);
    Object.assign(t, {
      i: be.tensor(3, 1, Float32Array.of(3, 0, 3)),
      g: be.tensor(3, 5),
      h: be.tensor(3, 5, values(15, 12)),
    });
    return t;
  }

  it('use only ops the provider has kernels for, and compute what op by op computes', async () => {
    const kernels = webgpuKernels();
    expect(kernels.has('Gemm') && kernels.has('Where')).toBe(true);
    expect(kernels.has('Softplus') || kernels.has('IsNaN')).toBe(false); // the reason for the rewrite
    const ortNode = (await import('onnxruntime-node')) as unknown as OrtApi;
    const models: Uint8Array[] = [];
    const capture: OrtApi = {
      Tensor: ortNode.Tensor,
      InferenceSession: {
        create: (model, options) => {
          models.push(model);
          return ortNode.InferenceSession.create(model, options);
        },
      },
    };
    const be = createOrtBackend({
      name: 'onnxruntime:cpu-as-webgpu',
      ort: capture,
      session: { executionProviders: ['cpu'], logSeverityLevel: 3 },
      details: {},
      preallocatedOutputs: true,
      graph: { nanGuard: true, gpuKernelsOnly: true },
    });
    const js = createJsBackend();
    try {
      const [a, r] = [make(be), make(js)];
      be.fuse('every-op', () => body(be, a));
      body(js, r);
      expect(be.stats.compiled).toBe(1);
      const universe = [...new Set([...kernels, 'Softplus', 'Sign', 'IsNaN', 'IsInf', 'Identity', 'Max', 'Min'])];
      const used = opTypes(models[0]!, universe);
      expect(used.has('Where') && used.has('Gather') && used.has('ScatterND')).toBe(true);
      expect([...used].filter((op) => !kernels.has(op))).toEqual([]);
      for (const k of Object.keys(a)) {
        const [got, want] = [await be.read(a[k]!), await js.read(r[k]!)];
        for (let i = 0; i < want.length; i++) {
          if (Number.isNaN(want[i]!)) expect(got[i], `${k}[${i}]`).toBeNaN();
          else if (!Number.isFinite(want[i]!)) expect(got[i], `${k}[${i}]`).toBe(want[i]);
          else expect(got[i], `${k}[${i}]`).toBeCloseTo(want[i]!, 5);
        }
      }
      // The graph ran as one session (a graph ONNX Runtime refused would have run op by op and agreed too).
      expect(be.stats.opByOp).toBe(0);
    } finally {
      be.destroy();
      js.destroy();
    }
  });
});
