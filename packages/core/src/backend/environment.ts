/**
 * Whether this code runs in a browser: a page, or a Web Worker (which has no window or document, but WebGL
 * through OffscreenCanvas and WebGPU). Backends use it to choose the engines `auto` tries.
 */
export function inBrowser(): boolean {
  const g = globalThis as { window?: unknown; document?: unknown; WorkerGlobalScope?: unknown };
  return (g.window !== undefined && g.document !== undefined) || g.WorkerGlobalScope !== undefined;
}
