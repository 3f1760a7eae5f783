import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Packages resolve each other's `src` through the `@rbmjs/source` export condition, so tests run from
// source without a build (the pattern of vitest's own repository).
const conditions = ['@rbmjs/source', 'node', 'import', 'module', 'default'];

// One vitest project per workspace package that has tests: `vitest --project @rbmjs/core` selects one.
const projects = ['packages', 'apps']
  .flatMap((dir) => readdirSync(dir).map((name) => join(dir, name)))
  .filter((dir) => existsSync(join(dir, 'test')))
  .map((dir) => ({
    extends: true as const,
    test: {
      name: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string,
      root: dir,
      include: ['test/**/*.test.ts'],
    },
  }));

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects,
    reporters: ['default', './tooling/vitest/summary-reporter.ts'],
    // One temporary directory per run, removed at its end (tests and the processes they spawn write there).
    globalSetup: [join(import.meta.dirname, 'tooling/vitest/temp-dir.ts')],
    testTimeout: 60_000,
  },
});
