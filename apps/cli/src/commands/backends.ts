import type { Command } from 'commander';
import { probeBackends } from '../backends.js';
import { Output } from '../output.js';

export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list the backends this command knows, which can run here, and why the others cannot')
    .option('--json', 'print one JSON object')
    .action(async (flags: { json?: boolean }) => {
      const out = new Output(Boolean(flags.json));
      const reports = await probeBackends();
      const width = Math.max(...reports.map((r) => r.name.length));
      for (const r of reports) out.info(`${r.ok ? 'ok  ' : 'no  '} ${r.name.padEnd(width)} ${r.detail}`);
      out.emit({ backends: reports });
    });
}
