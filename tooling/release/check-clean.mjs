#!/usr/bin/env node
// Fails when generated files under the given paths differ from what is committed (changed, new or deleted):
// `node tooling/release/check-clean.mjs docs/api` after regenerating the API reference.
import { execFileSync } from 'node:child_process';

const paths = process.argv.slice(2);
const status = execFileSync('git', ['status', '--porcelain', '--', ...paths], { encoding: 'utf8' }).trim();
if (status) {
  console.error(`${paths.join(', ')} out of date (run pnpm docs:api and commit the result):\n${status}`);
  process.exit(1);
}
console.log(`${paths.join(', ')}: up to date`);
