#!/usr/bin/env node
// `pnpm rbm ...` from a checkout: builds the CLI (turbo; cached, so quick when nothing changed), then runs
// the built binary with the given arguments, from the folder pnpm was invoked in.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = spawnSync(
  join(root, 'node_modules', '.bin', 'turbo'),
  ['run', 'build', '--filter=@rbmjs/cli', '--output-logs=errors-only'],
  {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  },
);
if (build.status !== 0) {
  process.stderr.write(`${build.stdout}${build.stderr}rbm: building the CLI failed (above)\n`);
  process.exit(1);
}
const run = spawnSync(process.execPath, [join(root, 'apps', 'cli', 'dist', 'bin.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: process.env.INIT_CWD ?? process.cwd(),
});
process.exit(run.status ?? 1);
