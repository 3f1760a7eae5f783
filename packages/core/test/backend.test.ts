import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assertBackend,
  type Backend,
  BackendUnavailableError,
  createReferenceBackend,
  RbmError,
  resolveBackend,
  Scope,
  withScope,
} from '../src/backend/index.js';

describe('resolveBackend', () => {
  const failing = (name: string, reason: string) => ({
    name,
    create: async (): Promise<Backend> => {
      throw new Error(reason);
    },
  });
  const reference = { name: 'reference', create: async () => createReferenceBackend() };

  it('returns the first backend that starts, with the reasons of those before it', async () => {
    const seen: string[] = [];
    const { backend, failures } = await resolveBackend(
      [failing('gpu', 'no adapter'), failing('wasm', 'no SIMD'), reference],
      (f) => seen.push(f.name),
    );
    expect(backend.name).toBe('reference');
    expect(failures).toEqual([
      { name: 'gpu', reason: 'no adapter' },
      { name: 'wasm', reason: 'no SIMD' },
    ]);
    expect(seen).toEqual(['gpu', 'wasm']);
  });

  it('throws one error listing every reason when nothing starts', async () => {
    const error = await resolveBackend([failing('gpu', 'no adapter'), failing('wasm', 'no SIMD')]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toBe('no backend could start:\n  gpu: no adapter\n  wasm: no SIMD');
    expect((error as BackendUnavailableError).reasons).toHaveLength(2);
  });

  it('rejects a backend that speaks another interface version', async () => {
    const future = { ...createReferenceBackend(), apiVersion: 2 } as unknown as Backend;
    expect(() => assertBackend(future)).toThrow(/interface version 2, this @rbmjs\/core needs version 1/);
    const { failures } = await resolveBackend([{ name: 'future', create: async () => future }, reference]);
    expect(failures[0]!.reason).toMatch(/interface version 2/);
  });
});

describe('scopes', () => {
  it('dispose what they allocated, also when the body throws', async () => {
    const be = createReferenceBackend();
    let kept: ReturnType<Scope['tensor']> | undefined;
    await expect(
      withScope(be, async (scope) => {
        kept = scope.tensor(2, 2);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(() => be.fill(kept!, 1)).toThrow(RbmError);
    const scope = new Scope(be);
    const t = scope.release(scope.tensor(1, 1));
    scope.dispose();
    be.fill(t, 2); // released tensors survive the scope
    expect(Array.from(await be.read(t))).toEqual([2]);
  });
});

describe('@rbmjs/core is isomorphic', () => {
  it('imports no Node built-in outside src/node', async () => {
    const root = join(import.meta.dirname, '..', 'src');
    const builtins = new Set(builtinModules);
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'node') await walk(path);
        } else if (entry.name.endsWith('.ts')) {
          const text = await readFile(path, 'utf8');
          for (const [, spec] of text.matchAll(/from '([^']+)'/g)) {
            if (spec!.startsWith('node:') || builtins.has(spec!)) offenders.push(`${path}: ${spec}`);
          }
          if (/\bprocess\.|\bBuffer\b|\brequire\(/.test(text)) offenders.push(`${path}: uses a Node global`);
        }
      }
    };
    await walk(root);
    expect(offenders).toEqual([]);
  });
});

describe('host randomness', () => {
  it('a backend that consumes uploaded uniforms trains exactly like one that generates them', async () => {
    const { RBM, barsAndStripes, train } = await import('../src/index.js');
    const philox = createReferenceBackend();
    const { uniform: _unused, ...rest } = createReferenceBackend();
    const host: Backend = { ...rest, randomness: 'host' };
    const data = barsAndStripes(3);
    const run = async (be: Backend) => {
      const model = RBM.create(be, { numVisible: 9, numHidden: 5, seed: 4, data });
      await train(model, data, { epochs: 3, batchSize: 4, method: 'pcd', k: 2, seed: 8 });
      return Array.from(await be.read(model.W));
    };
    expect(await run(host)).toEqual(await run(philox));
  });
});
