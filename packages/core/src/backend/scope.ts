import type { Backend, HostArray, Tensor } from './types.js';

/**
 * Owns tensors allocated through it and disposes them together: the explicit scope that keeps a
 * training loop from leaking device memory.
 */
export class Scope {
  readonly backend: Backend;
  private readonly owned = new Set<Tensor>();

  constructor(backend: Backend) {
    this.backend = backend;
  }

  tensor(rows: number, cols: number, data?: HostArray): Tensor {
    const t = this.backend.tensor(rows, cols, data);
    this.owned.add(t);
    return t;
  }

  /** Takes ownership of a tensor allocated elsewhere. */
  adopt<T extends Tensor>(t: T): T {
    this.owned.add(t);
    return t;
  }

  /** Gives up ownership: the caller disposes `t`. */
  release<T extends Tensor>(t: T): T {
    this.owned.delete(t);
    return t;
  }

  disposeTensor(t: Tensor): void {
    if (this.owned.delete(t)) this.backend.dispose(t);
  }

  get size(): number {
    return this.owned.size;
  }

  dispose(): void {
    for (const t of this.owned) this.backend.dispose(t);
    this.owned.clear();
  }
}

/** Runs `fn` with a scope and disposes what it allocated, also when `fn` throws. */
export async function withScope<R>(backend: Backend, fn: (scope: Scope) => Promise<R> | R): Promise<R> {
  const scope = new Scope(backend);
  try {
    return await fn(scope);
  } finally {
    scope.dispose();
  }
}

/** The value under `key` in `cache`, made on first use (scratch tensors by shape, workspaces by batch size). */
export function memo<K, V>(cache: Map<K, V>, key: K, make: () => V): V {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    cache.set(key, v);
  }
  return v;
}

/** Declares `t` constant to its backend (see Backend.constant: a hint a backend may ignore) and returns it. */
export function constant(backend: Backend, t: Tensor): Tensor {
  backend.constant?.(t);
  return t;
}
