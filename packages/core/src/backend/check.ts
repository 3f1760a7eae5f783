import { BackendUnavailableError, formatShape, RbmError, ShapeError } from '../errors.js';
import { BACKEND_API_VERSION, type Backend, type BackendFactory, type Tensor } from './types.js';

/** Throws unless `backend` speaks this version of the interface. */
export function assertBackend(backend: Backend): Backend {
  if (backend.apiVersion !== BACKEND_API_VERSION) {
    throw new RbmError(
      'BACKEND_API',
      `backend ${backend.name} implements interface version ${String(backend.apiVersion)}, ` +
        `this @rbmjs/core needs version ${BACKEND_API_VERSION}`,
    );
  }
  if (backend.randomness === 'philox' && typeof backend.uniform !== 'function') {
    throw new RbmError('BACKEND_API', `backend ${backend.name} declares philox randomness but has no uniform()`);
  }
  return backend;
}

export function assertShape(what: string, t: Tensor, rows: number, cols: number): void {
  if (t.rows !== rows || t.cols !== cols) {
    throw new ShapeError(`${what}: expected shape ${formatShape([rows, cols])}, got ${formatShape([t.rows, t.cols])}`);
  }
}

export interface ResolveFailure {
  readonly name: string;
  readonly reason: string;
}

/**
 * Tries each factory in order and returns the first backend that starts (onnxruntime-js's resolveBackend
 * pattern). When none does, throws a {@link BackendUnavailableError} that lists why each one failed.
 */
export async function resolveBackend(
  factories: ReadonlyArray<BackendFactory>,
  onFailure?: (failure: ResolveFailure) => void,
): Promise<{ backend: Backend; failures: ResolveFailure[] }> {
  const failures: ResolveFailure[] = [];
  for (const factory of factories) {
    try {
      const backend = assertBackend(await factory.create());
      return { backend, failures };
    } catch (error) {
      const failure = { name: factory.name, reason: error instanceof Error ? error.message : String(error) };
      failures.push(failure);
      onFailure?.(failure);
    }
  }
  const list = failures.map((f) => `  ${f.name}: ${f.reason}`).join('\n');
  throw new BackendUnavailableError(
    factories.length === 0 ? 'no backends to try' : `no backend could start:\n${list}`,
    failures,
  );
}
