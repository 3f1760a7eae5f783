import type { Tensor, Trace, TraceInterface, TraceOp } from '@rbmjs/core/backend';
import type * as tfc from '@tensorflow/tfjs-core';

type TF = typeof tfc;

/** What the replay needs of a handle: its current tf.Tensor. */
export interface Held extends Tensor {
  t: tfc.Tensor2D;
}

/**
 * Whole-step execution on TensorFlow.js: a unit's recorded ops (a core `Trace`) replayed in one `tf.tidy`
 * over values rather than handles, so that no intermediate is assigned, disposed or kept, with two
 * rewrites that save passes over memory:
 *
 * - a product's scale on its smaller operand (the weight gradient's 1 / B on the batch, not on [784, 500]);
 * - two products summed into one (v0^T h0 - vk^T hk) -> one product of the stacked operands.
 *
 * The ops' semantics are those of the backend's op-by-op path (the `Elementwise` functions are the backend's own), so a unit gives
 * what its ops give one by one, up to float32 rounding. (`tf.fused.matMul` with a bias and a sigmoid would
 * save two more passes; tfjs-backend-wasm 4.22 refuses its bias, rank 1 or not, so it is not used.)
 */
export interface Elementwise {
  unary(op: Extract<TraceOp, { kind: 'unary' }>['op'], x: tfc.Tensor): tfc.Tensor;
  logSumExp(x: tfc.Tensor, axis: 0 | 1): tfc.Tensor;
  gather(x: tfc.Tensor, index: tfc.Tensor): tfc.Tensor;
  scatterAdd(out: tfc.Tensor, index: tfc.Tensor, x: tfc.Tensor): tfc.Tensor;
}

/** Runs `trace` and returns the last value of each of `io.outputs`, in order (kept: the caller owns them). */
export function replayOnTf(tf: TF, trace: Trace, io: TraceInterface, ew: Elementwise): tfc.Tensor2D[] {
  const ops = trace.ops;
  return tf.tidy(() => {
    const values = new Map<Tensor, tfc.Tensor>();
    const get = (t: Tensor) => values.get(t) ?? (t as Held).t;
    const set = (t: Tensor, v: tfc.Tensor) => values.set(t, v);
    const transposed = (x: tfc.Tensor, yes: boolean) => (yes ? tf.transpose(x) : x);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      switch (op.kind) {
        case 'matMul': {
          let a = get(op.a);
          let b = get(op.b);
          const next = ops[i + 1];
          // The second half of a gradient: out = alpha2 a2^T b2 + out, out = alpha a^T b just before.
          if (
            op.beta === 0 &&
            next?.kind === 'matMul' &&
            next.out === op.out &&
            next.beta === 1 &&
            next.a !== op.out &&
            next.b !== op.out &&
            next.transposeA === op.transposeA &&
            next.transposeB === op.transposeB &&
            op.transposeA &&
            !op.transposeB
          ) {
            const b1 = op.alpha === 1 ? b : tf.mul(b, op.alpha);
            const b2 = next.alpha === 1 ? get(next.b) : tf.mul(get(next.b), next.alpha);
            set(op.out, tf.matMul(tf.transpose(tf.concat([a, get(next.a)], 0)), tf.concat([b1, b2], 0)));
            i++;
            break;
          }
          // Explicit transposes: tfjs-wasm's matMul with transpose flags is about 10x slower.
          a = transposed(a, op.transposeA);
          b = transposed(b, op.transposeB);
          if (op.alpha !== 1) {
            if (a.size <= b.size) a = tf.mul(a, op.alpha);
            else b = tf.mul(b, op.alpha);
          }
          let p = tf.matMul(a, b);
          if (op.beta !== 0) p = tf.add(p, op.beta === 1 ? get(op.out) : tf.mul(get(op.out), op.beta));
          set(op.out, p);
          break;
        }
        case 'binary': {
          const [a, b] = [get(op.a), get(op.b)];
          set(op.out, op.op === 'add' ? tf.add(a, b) : op.op === 'sub' ? tf.sub(a, b) : tf.mul(a, b));
          break;
        }
        case 'axpby': {
          // Multiplying by 0 too (0 * NaN is NaN op by op).
          const ax = op.alpha === 1 ? get(op.x) : tf.mul(get(op.x), op.alpha);
          const by = op.beta === 1 ? get(op.y) : tf.mul(get(op.y), op.beta);
          set(op.out, tf.add(ax, by));
          break;
        }
        case 'unary':
          set(op.out, ew.unary(op.op, get(op.x)));
          break;
        case 'bernoulli':
          set(op.out, tf.cast(tf.less(get(op.u), get(op.p)), 'float32'));
          break;
        case 'sum':
          set(op.out, tf.sum(get(op.x), op.axis, true));
          break;
        case 'logSumExp':
          set(op.out, ew.logSumExp(get(op.x), op.axis));
          break;
        case 'gather':
          set(op.out, ew.gather(get(op.x), get(op.index)));
          break;
        case 'scatterAdd':
          set(op.out, ew.scatterAdd(get(op.out), get(op.index), get(op.x)));
          break;
        case 'fill':
          set(op.out, tf.fill([op.out.rows, op.out.cols], op.value));
          break;
        case 'copy':
          set(op.out, get(op.x));
          break;
        case 'write':
          set(op.out, tf.tensor2d(op.data, [op.out.rows, op.out.cols]));
          break;
        case 'uniform':
          throw new Error('tfjs backend: uniform ops are not recorded (its randomness is the host)');
      }
    }
    return io.outputs.map((t) => get(t) as tfc.Tensor2D);
  });
}
