import { assertBackend, type Backend } from '@rbmjs/core/backend';
import { afterAll, beforeAll, describe, it, type TestContext } from 'vitest';
import { CHECKS, type CheckOptions, createRef, runCheck } from './checks/index.js';

export interface ConformanceOptions extends CheckOptions {
  /**
   * Fail instead of skipping when the backend cannot start. Defaults to whether `name` (or `all`) is
   * listed in the comma-separated environment variable RBMJS_REQUIRE_BACKENDS, which CI sets.
   */
  readonly required?: boolean;
}

/** Whether the environment requires this backend to run (CI lanes). */
export function isRequired(name: string): boolean {
  const list = (globalThis.process?.env?.RBMJS_REQUIRE_BACKENDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.includes('all') || list.includes(name);
}

/**
 * The conformance suite under vitest: run it once per backend package, e.g.
 *
 *   describeBackend('js', () => createJsBackend());
 *
 * One test per check of {@link CHECKS} (checks/: every op against core's float64 reference over many
 * shapes, with a tolerance derived from the backend's precision; its random numbers; CD-k, PCD and PT side
 * by side with the reference on the same randomness; resumed runs; leaked tensors and host readbacks). A
 * check the backend cannot run is reported as skipped with its reason; so is a backend that cannot start,
 * unless it is required.
 */
export function describeBackend(
  name: string,
  create: () => Promise<Backend> | Backend,
  options: ConformanceOptions = {},
): void {
  const required = options.required ?? isRequired(name);

  describe(`conformance: ${name}`, () => {
    let backend: Backend | undefined;
    let unavailable: string | undefined;
    const ref = createRef();

    beforeAll(async () => {
      try {
        backend = assertBackend(await create());
      } catch (error) {
        unavailable = error instanceof Error ? error.message : String(error);
        if (required) {
          throw new Error(`backend ${name} is required (RBMJS_REQUIRE_BACKENDS) but cannot start: ${unavailable}`);
        }
        console.warn(`[conformance] skipping backend ${name}: ${unavailable}`);
      }
    });
    afterAll(() => {
      backend?.destroy();
      ref.destroy();
    });

    const groups = [...new Set(CHECKS.map((c) => c.group))];
    for (const group of groups) {
      describe(group, () => {
        for (const check of CHECKS.filter((c) => c.group === group)) {
          it(
            check.name,
            async (ctx: TestContext) => {
              if (!backend) {
                ctx.skip(`backend ${name} unavailable: ${unavailable}`);
                return;
              }
              const result = await runCheck(check, backend, ref, options);
              if (result.status === 'skip') {
                ctx.skip(result.detail);
                return;
              }
              if (result.status === 'fail') throw new Error(`${check.name}: ${result.detail}`);
              if (result.detail.includes('; skipped: '))
                console.warn(`[conformance] ${name}: ${check.name}: ${result.detail}`);
            },
            check.timeoutMs,
          );
        }
      });
    }
  });
}
