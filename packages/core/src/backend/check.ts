import {
  type BackendFailure,
  BackendUnavailableError,
  describeFailure,
  formatShape,
  RbmError,
  ShapeError,
  UnknownBackendError,
} from '../errors.js';
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

/**
 * Tries each factory in order and returns the first backend that starts (onnxruntime-js's resolveBackend
 * pattern). A factory's {@link BackendUnavailableError} contributes its reasons (one per mode it tried);
 * an {@link UnknownBackendError} is a mistake in the name and is thrown at once. When nothing starts,
 * throws a {@link BackendUnavailableError} that lists every reason.
 */
export async function resolveBackend(
  factories: ReadonlyArray<BackendFactory>,
  onFailure?: (failure: BackendFailure) => void,
): Promise<{ backend: Backend; failures: BackendFailure[] }> {
  const failures: BackendFailure[] = [];
  for (const factory of factories) {
    try {
      const backend = assertBackend(await factory.create());
      return { backend, failures };
    } catch (error) {
      if (error instanceof UnknownBackendError) throw error;
      const found: BackendFailure[] =
        error instanceof BackendUnavailableError && error.reasons.length > 0
          ? [...error.reasons]
          : [{ name: factory.name, reason: error instanceof Error ? error.message : String(error) }];
      for (const failure of found) {
        failures.push(failure);
        onFailure?.(failure);
      }
    }
  }
  const list = failures.map((f) => `  ${f.name}: ${describeFailure(f)}`).join('\n');
  throw new BackendUnavailableError(
    factories.length === 0 ? 'no backends to try' : `no backend could start:\n${list}`,
    failures,
  );
}
