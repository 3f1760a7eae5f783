import { family as jsFamily } from '@rbmjs/backend-js';
import {
  type Backend,
  type BackendEntry,
  type BackendFamily,
  type BackendReport,
  backendEntry,
  type CommonBackendOptions,
  describeFailure,
  lazyBackendEntry,
  probeBackends as probeTable,
  referenceFamily,
  startBackend as startFromTable,
  UnknownBackendError,
} from '@rbmjs/core';
import { UsageError } from './errors.js';

/**
 * The CLI's backend table: `--backend auto`, `js`, `reference`, `onnxruntime[:MODE]`, `gpujs[:MODE]`,
 * `tfjs[:ENGINE]`. The names, modes and install hints are the backend packages' own (each exports its
 * `family`); onnxruntime, gpujs and tfjs live in optional packages, imported only when asked for. `auto` tries
 * onnxruntime (whole training steps as one ONNX graph: the fastest on a CPU), tfjs, gpujs, then js (always
 * starts).
 */

/** An optional package, imported by a computed specifier so that it loads only when used. */
function optional(name: string, pkg: string): BackendEntry {
  return lazyBackendEntry(name, pkg, () => import(/* @vite-ignore */ pkg) as Promise<{ family: BackendFamily }>);
}

export const CLI_BACKENDS: readonly BackendEntry[] = [
  optional('onnxruntime', '@rbmjs/backend-onnxruntime'),
  optional('tfjs', '@rbmjs/backend-tfjs'),
  optional('gpujs', '@rbmjs/backend-gpujs'),
  backendEntry(jsFamily as BackendFamily),
  backendEntry(referenceFamily, { auto: false }),
];

/** A software WebGPU adapter is slower than the CPU engines: used only when asked for. */
function options(): CommonBackendOptions {
  return { allowFallbackAdapter: process.env.RBMJS_ALLOW_FALLBACK_ADAPTER === '1' };
}

/** Settings of particular backends, by family (see `CommonBackendOptions.settings`). */
export type BackendSettings = NonNullable<CommonBackendOptions['settings']>;

/** Starts the backend a name stands for; a name or mode no package has is a usage error (exit 2). */
export async function startBackend(
  spec: string,
  onFailure?: (name: string, reason: string) => void,
  settings?: BackendSettings,
): Promise<Backend> {
  try {
    return await startFromTable(spec, CLI_BACKENDS, {
      ...options(),
      ...(settings ? { settings } : {}),
      onFailure: (f) => onFailure?.(f.name, describeFailure(f)),
    });
  } catch (error) {
    if (error instanceof UnknownBackendError) throw new UsageError(error.message);
    throw error;
  }
}

/** Tries every mode of every backend this CLI knows and says which can run here, and why the others cannot. */
export function probeBackends(): Promise<BackendReport[]> {
  return probeTable(CLI_BACKENDS, options());
}

export type { BackendReport };
