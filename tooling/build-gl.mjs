#!/usr/bin/env node
// Builds the `gl` package (headless WebGL, for gpu.js's headlessgl mode), which pnpm installs unbuilt
// (pnpm-workspace.yaml: ignoredBuiltDependencies). It compiles ANGLE from source: a few minutes, and it needs
// python3, make, g++ and apt-get install libx11-dev libxi-dev libxext-dev pkg-config. At run time it needs
// an X display (Xvfb). Usage: pnpm build:gl
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

const fromGpujs = createRequire(
  createRequire(join(import.meta.dirname, '..', 'packages', 'backend-gpujs', 'package.json')).resolve('gpu.js'),
);
const glDir = dirname(fromGpujs.resolve('gl/package.json'));
if (existsSync(join(glDir, 'build', 'Release', 'webgl.node'))) {
  console.log(`gl is built: ${glDir}`);
  process.exit(0);
}
// node-gyp ships with npm; npm's own configuration says where Node's headers are (nodedir), if anywhere.
const npm = (...args) => execFileSync('npm', args, { encoding: 'utf8' }).trim();
const nodeGyp = join(npm('root', '-g'), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
if (!existsSync(nodeGyp)) throw new Error(`node-gyp not found at ${nodeGyp}`);
const nodedir = npm('config', 'get', 'nodedir');
const args = [nodeGyp, 'rebuild', `-j${cpus().length}`];
if (nodedir && nodedir !== 'undefined' && nodedir !== 'null') args.push(`--nodedir=${nodedir}`);
console.log(`building gl in ${glDir} (a few minutes)`);
const t0 = Date.now();
execFileSync(process.execPath, args, { cwd: glDir, stdio: ['ignore', 'ignore', 'inherit'] });
console.log(`gl built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
