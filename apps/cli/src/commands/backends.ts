import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { type BackendReport, probeBackends } from '../backends.js';
import { Output } from '../output.js';

/** Hidden flag: the child process that does the probing (see below). */
const CHILD_FLAG = '--probe-child';

export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list the backends this command knows, which can run here, and why the others cannot')
    .option('--json', 'print one JSON object')
    .option('--verbose', "also show what the engines' native libraries print while they start (Dawn, Vulkan)")
    .option(CHILD_FLAG, '(internal) probe and print the reports as JSON')
    .action(async (flags: { json?: boolean; verbose?: boolean; probeChild?: boolean }) => {
      if (flags.probeChild) {
        process.stdout.write(`${JSON.stringify(await probeBackends())}\n`);
        return;
      }
      const out = new Output(Boolean(flags.json));
      const { reports, noise } = await probeIsolated();
      const width = Math.max(...reports.map((r) => r.name.length));
      for (const r of reports) {
        const how = r.install ? `; to get it: ${r.install}` : '';
        out.info(`${r.ok ? 'ok  ' : 'no  '} ${r.name.padEnd(width)} ${r.detail}${how}`);
      }
      const lines = noise.split('\n').filter((l) => l.trim() !== '');
      if (lines.length > 0) {
        if (flags.verbose) for (const line of lines) out.info(`  native: ${line}`);
        else out.info(`(${lines.length} lines of diagnostics from native libraries hidden; --verbose shows them)`);
      }
      out.emit({ backends: reports, ...(flags.verbose && lines.length > 0 ? { native: lines } : {}) });
    });
}

/**
 * Native libraries (Dawn, the WebGPU engine; the Vulkan loader) write warnings with C++ source paths
 * straight to file descriptor 2, which no JavaScript code can catch. So the probing runs in a child
 * process of this same command whose stderr is captured: its reports come back as JSON, its noise as text.
 */
async function probeIsolated(): Promise<{ reports: BackendReport[]; noise: string }> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'backends', CHILD_FLAG], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return { reports: JSON.parse(line) as BackendReport[], noise: stderr };
  } catch {
    throw new Error(`probing the backends failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`);
  }
}
