import { BackendUnavailableError, UnknownBackendError } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { createTfjsBackend, family, tfjsBackend } from '../src/index.js';

/** Whether native TensorFlow (tfjs-node) is installed here: users may install it; CI cannot. */
const nodeAvailable = await import('@tensorflow/tfjs-node' as string).then(
  () => true,
  () => false,
);

// The engine in use is the one that was asked for, and failures say why and what to install.
describe('engine selection', () => {
  it('runs on the engine that was asked for, and says so', async () => {
    const backend = await createTfjsBackend({ engine: 'wasm' });
    expect(backend.name).toBe('tfjs:wasm');
    const tf = await import('@tensorflow/tfjs-core');
    expect(tf.getBackend()).toBe('wasm');
    expect(backend.details?.engine).toBe('wasm');
    backend.destroy();
  });

  it('auto prefers native TensorFlow and falls back to wasm when tfjs-node is not installed', async () => {
    const backend = await tfjsBackend.create();
    expect(backend.name).toBe(nodeAvailable ? 'tfjs:node' : 'tfjs:wasm');
    backend.destroy();
  });

  it('an engine that cannot run here is refused with a typed error: the reason and how to get it', async () => {
    // Installed (for the browser demo) but WebGL does not exist in Node.
    const error = await family.create('webgl').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    const [reason] = (error as BackendUnavailableError).reasons;
    expect(reason?.name).toBe('tfjs:webgl');
    expect(reason?.reason).toMatch(/tfjs engine webgl failed to initialise/);
    expect(reason?.install).toMatch(/npm i @tensorflow\/tfjs-backend-webgl \(browsers\)/);
    expect((error as Error).message).toMatch(
      /failed to initialise: .*npm i @tensorflow\/tfjs-backend-webgl \(browsers\)/,
    );
  });

  it('an unknown engine is a usage error, not an unavailable backend', async () => {
    await expect(createTfjsBackend({ engine: 'cuda' as never })).rejects.toThrow(UnknownBackendError);
    await expect(family.create('cuda')).rejects.toThrow(/unknown tfjs engine "cuda" \(choose from node, wasm/);
  });

  // With tfjs-node installed the node engine starts (conformance-node.test.ts then runs the whole suite on it).
  it.skipIf(nodeAvailable)(
    'without tfjs-node the node engine is refused with what to install (skipped where tfjs-node is installed)',
    async () => {
      await expect(createTfjsBackend({ engine: 'node' })).rejects.toThrow(/npm i @tensorflow\/tfjs-node/);
    },
  );

  it('refuses to run when the global tfjs engine was switched under it', async () => {
    const backend = await createTfjsBackend({ engine: 'wasm' });
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    expect(() => backend.tensor(2, 2)).toThrow(/tfjs is now on cpu; use one tfjs engine per process/);
    await tf.setBackend('wasm');
    backend.destroy();
  });
});
