import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The architecture, checked: core's run-time imports form no circle, `model/` imports nothing from `train/`
 * or `fit/` (what fits models sits above the trainer), and no source file of the repository is over 500
 * lines.
 */

const SRC = resolve(import.meta.dirname, '..', 'src');
const ROOT = resolve(import.meta.dirname, '..', '..', '..');

function files(dir: string, ext = '.ts'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : files(path, ext);
    return e.name.endsWith(ext) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative imports of a file that survive compilation (not `import type`, not all-`type` lists). */
function runtimeImports(path: string): string[] {
  const src = readFileSync(path, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.[^']+)'/gms)) {
    if (m[2]) continue;
    const names = /\{([^}]*)\}/.exec(m[3]!)?.[1];
    if (names?.split(',').every((n) => !n.trim() || n.trim().startsWith('type '))) continue;
    out.push(resolve(dirname(path), m[4]!.replace(/\.js$/, '.ts')));
  }
  return out;
}

describe('the architecture', () => {
  const graph = new Map(files(SRC).map((f) => [f, runtimeImports(f)]));

  it("core's run-time imports have no circle", () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        circles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f, []);
    expect(circles).toEqual([]);
  });

  it('model/ imports nothing from train/ or fit/', () => {
    const wrong = [...graph]
      .filter(([f]) => relative(SRC, f).startsWith('model/'))
      .flatMap(([f, deps]) => deps.map((d) => [relative(SRC, f), relative(SRC, d)]))
      .filter(([, d]) => d!.startsWith('train/') || d!.startsWith('fit/'));
    expect(wrong).toEqual([]);
  });

  it('no source file of the repository is over 500 lines', () => {
    const roots = ['packages', 'apps'].flatMap((r) =>
      readdirSync(join(ROOT, r), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(ROOT, r, e.name, 'src')),
    );
    const long = roots
      .flatMap((r) => {
        try {
          return files(r);
        } catch {
          return [];
        }
      })
      .map((f) => [relative(ROOT, f), readFileSync(f, 'utf8').split('\n').length - 1] as const)
      .filter(([, n]) => n > 500);
    expect(long).toEqual([]);
  });
});
