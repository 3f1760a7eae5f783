import { RbmError } from '../errors.js';
import type { Backend, HostArray, Tensor } from './types.js';
import { check } from './validate.js';

/**
 * The storage of a backend that computes on the host (the float64 reference, the js backend, one on
 * WebAssembly memory): a tensor is one row-major typed array. Written once here, so that such a backend is
 * its kernels alone.
 */

/** Shared by every tensor of one backend instance: destroy() ends them all. */
export interface BackendLife {
  destroyed: boolean;
}

/** A tensor held in one host array, row-major. */
export class HostTensor<A extends Float32Array | Float64Array = Float32Array | Float64Array> implements Tensor {
  disposed = false;
  constructor(
    readonly rows: number,
    readonly cols: number,
    /**
     * The values. A backend built on another may replace the array with one of the same length (the ONNX
     * Runtime backend swaps in the buffer a compiled unit wrote); kernels look it up on each call.
     */
    public data: A,
    readonly life: BackendLife = { destroyed: false },
  ) {}
}

/**
 * `t` as a live tensor of the host backend `name`, whose tensors are `Class`: a tensor of another backend, one
 * disposed, or one of a destroyed backend is refused with an {@link RbmError} naming the backend.
 */
export function ownHostTensor<T extends HostTensor>(
  t: Tensor,
  Class: abstract new (...args: never[]) => T,
  name: string,
): T {
  if (!(t instanceof Class)) throw new RbmError('BACKEND_API', `${name} backend: tensor belongs to another backend`);
  if (t.life.destroyed) throw new RbmError('DISPOSED', `${name} backend used after destroy()`);
  if (t.disposed) throw new RbmError('DISPOSED', `${name} backend: tensor used after dispose`);
  return t;
}

/**
 * The storage methods of one instance of the host backend `name`: its tensors are `Class`, each over a zeroed
 * `ArrayType` (Float32Array, Float64Array), and are checked by {@link ownHostTensor}. Spread them into the
 * backend's object.
 */
export function hostStorage<A extends Float32Array | Float64Array, T extends HostTensor<A>>(
  name: string,
  Class: new (rows: number, cols: number, data: A, life: BackendLife) => T,
  ArrayType: new (length: number) => NoInfer<A>,
): Pick<Backend, 'tensor' | 'write' | 'read' | 'dispose' | 'destroy'> {
  const life: BackendLife = { destroyed: false };
  const own = (t: Tensor): T => ownHostTensor(t, Class, name);
  return {
    tensor(rows: number, cols: number, data?: HostArray): Tensor {
      if (life.destroyed) throw new RbmError('DISPOSED', `${name} backend used after destroy()`);
      check.dimensions(rows, cols);
      const t = new Class(rows, cols, new ArrayType(rows * cols), life);
      if (data) {
        check.data(rows, cols, data.length);
        t.data.set(data);
      }
      return t;
    },
    write(t: Tensor, data: HostArray): void {
      const x = own(t);
      check.data(x.rows, x.cols, data.length);
      x.data.set(data);
    },
    async read(t: Tensor): Promise<HostArray> {
      return own(t).data.slice();
    },
    dispose(t: Tensor): void {
      own(t).disposed = true;
    },
    destroy(): void {
      // Every tensor of this backend is gone with it: later use throws a DISPOSED error.
      life.destroyed = true;
    },
  };
}
