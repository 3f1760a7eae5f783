import { resolve } from 'node:path';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

/**
 * Cross-origin isolation (COOP/COEP): with it, SharedArrayBuffer exists and onnxruntime-web and tfjs-wasm run
 * WebAssembly threads. The dev and preview servers send these headers; a host serving the built site should
 * too (public/_headers says so for hosts that read it).
 */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/** The head every page shares, written once: the pages give their title and stylesheet. */
const sharedHead: Plugin = {
  name: 'rbmjs-shared-head',
  transformIndexHtml: {
    order: 'pre',
    handler: () => [
      { tag: 'meta', attrs: { charset: 'utf-8' }, injectTo: 'head-prepend' },
      { tag: 'meta', attrs: { name: 'viewport', content: 'width=device-width, initial-scale=1' }, injectTo: 'head' },
      { tag: 'link', attrs: { rel: 'icon', href: 'data:,' }, injectTo: 'head' },
    ],
  },
};

// A static site that works from any folder: relative asset URLs, data fetched relative to the page.
export default defineConfig({
  server: { headers: ISOLATION },
  preview: { headers: ISOLATION },
  base: './',
  plugins: [sharedHead],
  // The workspace packages are compiled from their TypeScript sources (the `@rbmjs/source` condition).
  resolve: { conditions: ['@rbmjs/source', ...defaultClientConditions] },
  // The training worker imports backends on demand (code splitting): an ES module worker.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // Four pages: the demo; check.html, which checks a backend in the browser against the reference;
    // bench.html, which times every backend; recommend.html, the collaborative-filtering RBM.
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'index.html'),
        check: resolve(import.meta.dirname, 'check.html'),
        bench: resolve(import.meta.dirname, 'bench.html'),
        recommend: resolve(import.meta.dirname, 'recommend.html'),
      },
    },
    chunkSizeWarningLimit: 4096,
  },
});
