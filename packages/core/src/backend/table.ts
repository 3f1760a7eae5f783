import {
  type BackendFailure,
  BackendUnavailableError,
  describeFailure,
  firstLine,
  UnknownBackendError,
} from '../errors.js';
import { assertBackend, resolveBackend } from './check.js';
import type { Backend, BackendFactory } from './types.js';

/**
 * The backend table. Each backend package exports one {@link BackendFamily}: its name (`gpujs`), its modes
 * (`webgpu`, `headlessgl`, ...), which of them `auto` tries here, how to start each and how to get one that
 * is missing. Applications list the families they know in a table of {@link BackendEntry}s (optional
 * packages loaded only when used), and name backends as `auto`, `FAMILY` or `FAMILY:MODE`:
 * {@link backendFactories} turns a name into factories, {@link startBackend} starts the first that runs,
 * {@link probeBackends} says which can run here and why the others cannot. Failures are typed
 * ({@link BackendUnavailableError} with reasons, {@link UnknownBackendError} for names), never matched by
 * their text.
 */

/** Options every family understands (others ignore what does not apply to them). */
export interface CommonBackendOptions {
  /** Accept a software WebGPU adapter (slower than the CPU backends; refused unless asked for). */
  readonly allowFallbackAdapter?: boolean;
  /**
   * Settings of particular backends, under their family's name; each family gets its own beside the
   * common options, e.g. `{ tfjs: { wasmPaths: '/tfjs-wasm/' }, onnxruntime: { wasmPaths: '/ort-wasm/' } }`
   * (see each package's options: `TfjsBackendOptions`, `OrtBackendOptions`, ...).
   */
  readonly settings?: Readonly<Record<string, object | undefined>>;
}

/** The options a family's `create` gets: the common ones and the settings under its name. */
export function optionsFor(family: string, options: CommonBackendOptions): CommonBackendOptions {
  const { settings, ...common } = options;
  return { ...common, ...settings?.[family] };
}

export interface BackendFamily<Options extends CommonBackendOptions = CommonBackendOptions> {
  /** The NAME of NAME:MODE. */
  readonly name: string;
  /** The npm package that provides it. */
  readonly package: string;
  /** One line: what it is. */
  readonly summary: string;
  /** Its modes (engines); empty when it has none. */
  readonly modes: readonly string[];
  /** The modes `auto` tries here (browser or Node), in order. */
  autoModes(): readonly string[];
  /**
   * Starts the backend in `mode` (undefined: the auto modes in order). Rejects with a
   * {@link BackendUnavailableError} saying why (and how to get it), or an {@link UnknownBackendError}.
   */
  create(mode: string | undefined, options?: Options): Promise<Backend>;
  /** How to get a mode (or the family) that cannot run here. */
  install(mode?: string): string;
}

/** A family in an application's table: at hand, or loaded from its package when first used. */
export interface BackendEntry {
  readonly name: string;
  readonly package: string;
  /** Whether `auto` tries it (default true); entries are tried in table order. */
  readonly auto?: boolean;
  load(): Promise<BackendFamily>;
}

/** A table entry for a family already imported. */
export function backendEntry(family: BackendFamily, options: { auto?: boolean } = {}): BackendEntry {
  return { name: family.name, package: family.package, ...options, load: async () => family };
}

/**
 * A table entry for a family in an optional package: `load` imports it (pass `() => import('pkg')`, so that
 * bundlers see it, or a computed specifier, so that they do not). A package that is not installed makes a
 * {@link BackendUnavailableError} that says how to install it.
 */
export function lazyBackendEntry(
  name: string,
  pkg: string,
  load: () => Promise<{ readonly family: BackendFamily }>,
  options: { auto?: boolean } = {},
): BackendEntry {
  return {
    name,
    package: pkg,
    ...options,
    async load() {
      let mod: { readonly family: BackendFamily };
      try {
        mod = await load();
      } catch (error) {
        const failure = {
          name,
          reason: `the package ${pkg} is not installed or did not load (${firstLine(error)})`,
          install: `npm i ${pkg}`,
        };
        throw new BackendUnavailableError(`${name}: ${describeFailure(failure)}`, [failure]);
      }
      return mod.family;
    },
  };
}

/** Checks a mode against a family's list; undefined stands for `auto`. */
export function checkMode(family: BackendFamily, mode: string | undefined): void {
  if (mode === undefined || family.modes.includes(mode)) return;
  throw new UnknownBackendError(
    family.modes.length === 0
      ? `backend ${family.name} has no modes, got ${JSON.stringify(mode)}`
      : `unknown ${family.name} mode ${JSON.stringify(mode)} (choose from ${family.modes.join(', ')})`,
    family.modes.map((m) => `${family.name}:${m}`),
  );
}

/** A factory for one family and mode (what `resolveBackend` takes). */
export function familyFactory<Options extends CommonBackendOptions>(
  family: BackendFamily<Options>,
  mode?: string,
): BackendFactory<Options> {
  checkMode(family as unknown as BackendFamily, mode);
  return {
    name: mode ? `${family.name}:${mode}` : family.name,
    create: (options?: Options) => family.create(mode, options),
  };
}

/**
 * Tries `modes` in order with `start` and returns the first backend that starts; otherwise throws one
 * {@link BackendUnavailableError} with every mode's reason and install hint. For families' `create`.
 */
export async function firstMode(
  family: Pick<BackendFamily, 'name' | 'install'>,
  modes: readonly string[],
  start: (mode: string) => Promise<Backend>,
): Promise<Backend> {
  const reasons: BackendFailure[] = [];
  for (const mode of modes) {
    try {
      return await start(mode);
    } catch (error) {
      if (error instanceof UnknownBackendError) throw error;
      reasons.push({ name: `${family.name}:${mode}`, reason: firstLine(error), install: family.install(mode) });
    }
  }
  throw new BackendUnavailableError(reasons.map((r) => `${r.name}: ${describeFailure(r)}`).join('\n'), reasons);
}

/** The factories a backend name stands for, in the order they are tried. */
export function backendFactories(
  spec: string,
  table: readonly BackendEntry[],
  options: CommonBackendOptions = {},
): BackendFactory[] {
  const names = ['auto', ...table.map((e) => e.name)];
  const [name, mode, ...rest] = spec.split(':');
  if (rest.length > 0 || name === '')
    throw new UnknownBackendError(`backend ${JSON.stringify(spec)}: use NAME or NAME:MODE`, names);
  const entries = name === 'auto' ? table.filter((e) => e.auto !== false) : table.filter((e) => e.name === name);
  if (name === 'auto' && mode !== undefined) throw new UnknownBackendError('backend auto takes no mode', names);
  if (entries.length === 0)
    throw new UnknownBackendError(`unknown backend ${JSON.stringify(spec)} (choose from ${names.join(', ')})`, names);
  return entries.map((entry) => ({
    name: mode ? `${entry.name}:${mode}` : entry.name,
    async create() {
      const family = await entry.load();
      checkMode(family, mode);
      return family.create(mode, optionsFor(family.name, options));
    },
  }));
}

/**
 * Starts the backend a name stands for: the first of its factories that starts. Unknown names and modes
 * throw {@link UnknownBackendError} before anything is tried; when nothing starts, a
 * {@link BackendUnavailableError} lists every reason.
 */
export async function startBackend(
  spec: string,
  table: readonly BackendEntry[],
  options: CommonBackendOptions & { onFailure?: (failure: BackendFailure) => void } = {},
): Promise<Backend> {
  const { onFailure, ...common } = options;
  const { backend } = await resolveBackend(backendFactories(spec, table, common), onFailure);
  return backend;
}

export interface BackendReport {
  /** `family` or `family:mode`; the started backend's own name when it ran. */
  readonly name: string;
  readonly ok: boolean;
  /** Precision, randomness and details when it ran; why not otherwise. */
  readonly detail: string;
  readonly install?: string;
}

/** Tries every mode of every family in the table, one at a time, and reports which can run here. */
export async function probeBackends(
  table: readonly BackendEntry[],
  options: CommonBackendOptions = {},
): Promise<BackendReport[]> {
  const out: BackendReport[] = [];
  for (const entry of table) {
    let family: BackendFamily;
    try {
      family = await entry.load();
    } catch (error) {
      const failure = error instanceof BackendUnavailableError ? error.reasons[0] : undefined;
      out.push({
        name: entry.name,
        ok: false,
        detail: failure?.reason ?? firstLine(error),
        install: failure?.install ?? `npm i ${entry.package}`,
      });
      continue;
    }
    const modes = family.modes.length > 0 ? family.modes : [undefined];
    for (const mode of modes) {
      const name = mode ? `${family.name}:${mode}` : family.name;
      try {
        const be = assertBackend(await family.create(mode, optionsFor(family.name, options)));
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
        const failure = error instanceof BackendUnavailableError ? error.reasons[0] : undefined;
        out.push({
          name,
          ok: false,
          detail: failure?.reason ?? firstLine(error),
          install: failure?.install ?? family.install(mode),
        });
      }
    }
  }
  return out;
}
