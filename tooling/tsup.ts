import { defineConfig, type Options } from 'tsup';

/** The build every publishable package shares: ESM with type declarations and source maps. */
export function packageConfig(entry: Options['entry'] = ['src/index.ts'], overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    ...overrides,
  });
}
