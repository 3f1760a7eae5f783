import type { Backend, Tensor } from '@rbmjs/core';

export interface Counters {
  /** Tensors allocated and not yet disposed. */
  live: number;
  allocated: number;
  reads: number;
}

/**
 * Wraps a backend in a Proxy that counts allocations, disposals and host readbacks (the trick of
 * tfjs-core's test_async_backends.ts), so the suite can prove that training leaks nothing and reads
 * nothing back inside its loop, without the backend's cooperation.
 */
export function instrument(backend: Backend): { backend: Backend; counters: Counters } {
  const counters: Counters = { live: 0, allocated: 0, reads: 0 };
  const liveSet = new Set<Tensor>();
  const wrapped = new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'tensor') {
        return (rows: number, cols: number, data?: Float32Array | Float64Array) => {
          const t = target.tensor(rows, cols, data);
          liveSet.add(t);
          counters.allocated++;
          counters.live = liveSet.size;
          return t;
        };
      }
      if (prop === 'dispose') {
        return (t: Tensor) => {
          target.dispose(t);
          liveSet.delete(t);
          counters.live = liveSet.size;
        };
      }
      if (prop === 'read') {
        return (t: Tensor) => {
          counters.reads++;
          return target.read(t);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { backend: wrapped, counters };
}
