import { describe, expect, it } from 'vitest';
import { CLI_BACKENDS } from '../src/backends.js';
import { argv, rbm } from './helpers.js';

describe('--backend help comes from the backend table', () => {
  it.each(['train', 'eval', 'sample', 'predict', 'transform'])('rbm %s --help lists every backend', async (cmd) => {
    const r = await rbm(argv`${cmd} --help`, { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    // The option's help, wrapped by Commander: everything from --backend to the next option.
    const help = /--backend <name>([\s\S]*?)\n\s+--/.exec(r.stdout)?.[1]?.replace(/\s+/g, ' ');
    expect(help).toBeDefined();
    for (const entry of CLI_BACKENDS) expect(help).toContain(entry.name);
    expect(help).toContain('onnxruntime');
  });
});
