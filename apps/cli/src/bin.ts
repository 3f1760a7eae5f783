#!/usr/bin/env node
import { main } from './cli.js';

// A closed pipe (`rbm ... | head`) ends the program quietly, as in other command-line tools.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
