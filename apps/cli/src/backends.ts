import { jsBackend } from '@rbmjs/backend-js';
import { type Backend, type BackendFactory, createReferenceBackend, resolveBackend } from '@rbmjs/core';
import { UsageError } from './errors.js';

/**
 * Backend names on the command line: `auto`, `js`, `reference`, `gpujs[:mode]`, `tfjs[:engine]`.
 * Backends other than js live in their own packages, loaded only when asked for; a package that is not
 * installed is reported with the command that installs it.
 */

/** What an optional backend package exports for the CLI: a factory for an optional mode or engine. */
type OptionalBackendModule = { backendFactory(mode?: string): BackendFactory<{ allowFallbackAdapter?: boolean }> };

function optional(pkg: string, family: string, mode: string | undefined): BackendFactory {
  return {
    name: mode ? `${family}:${mode}` : family,
    async create() {
      let mod: OptionalBackendModule;
      try {
        mod = (await import(pkg)) as OptionalBackendModule;
      } catch {
        throw new Error(`the package ${pkg} is not installed (npm i ${pkg})`);
      }
      // A software WebGPU adapter is slower than the CPU engines: used only when asked for.
      return mod.backendFactory(mode).create({
        allowFallbackAdapter: process.env.RBMJS_ALLOW_FALLBACK_ADAPTER === '1',
      });
    },
  };
}

const reference: BackendFactory = { name: 'reference', create: async () => createReferenceBackend() };

export const BACKEND_FAMILIES = ['js', 'reference', 'gpujs', 'tfjs'] as const;

/** The factories a backend name stands for, in the order `resolveBackend` tries them. */
export function factoriesFor(spec: string): BackendFactory[] {
  const [family, mode, ...rest] = spec.split(':');
  if (rest.length > 0) throw new UsageError(`backend ${JSON.stringify(spec)}: use NAME or NAME:MODE`);
  switch (family) {
    case 'auto':
      if (mode) throw new UsageError('backend auto takes no mode');
      // Fastest first; js always starts.
      return [
        optional('@rbmjs/backend-tfjs', 'tfjs', undefined),
        optional('@rbmjs/backend-gpujs', 'gpujs', undefined),
        jsBackend,
      ];
    case 'js':
    case 'reference':
      if (mode) throw new UsageError(`backend ${family} has no modes`);
      return [family === 'js' ? jsBackend : reference];
    case 'gpujs':
      return [optional('@rbmjs/backend-gpujs', 'gpujs', mode)];
    case 'tfjs':
      return [optional('@rbmjs/backend-tfjs', 'tfjs', mode)];
    default:
      throw new UsageError(
        `unknown backend ${JSON.stringify(spec)} (choose from auto, ${BACKEND_FAMILIES.join(', ')}; gpujs and tfjs take :MODE)`,
      );
  }
}

export async function startBackend(spec: string, onFailure?: (name: string, reason: string) => void): Promise<Backend> {
  const { backend } = await resolveBackend(factoriesFor(spec), (f) => onFailure?.(f.name, f.reason));
  return backend;
}

export interface BackendReport {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Tries every backend this CLI knows and says which can run here, and why the others cannot. */
export async function probeBackends(): Promise<BackendReport[]> {
  const out: BackendReport[] = [];
  // Each engine of the optional packages on its own, so that the report says why each one cannot run.
  const names = [
    'js',
    'reference',
    'gpujs:webgpu',
    'gpujs:headlessgl',
    'gpujs:webasm',
    'gpujs:cpu',
    'tfjs:node',
    'tfjs:wasm',
    'tfjs:webgpu',
    'tfjs:webgl',
    'tfjs:cpu',
  ];
  for (const name of names) {
    const [factory] = factoriesFor(name);
    try {
      const be = await factory!.create();
      const details = Object.entries(be.details ?? {})
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      out.push({
        name: be.name,
        ok: true,
        detail: `${be.precision}, randomness ${be.randomness}${details ? `, ${details}` : ''}`,
      });
      be.destroy();
    } catch (error) {
      out.push({ name: factory!.name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  }
  return out;
}
