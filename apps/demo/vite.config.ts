import { resolve } from 'node:path';
import { defaultClientConditions, defineConfig } from 'vite';

// A static site that works from any folder: relative asset URLs, data fetched relative to the page.
export default defineConfig({
  base: './',
  // The workspace packages are compiled from their TypeScript sources (the `@rbmjs/source` condition).
  resolve: { conditions: ['@rbmjs/source', ...defaultClientConditions] },
  // The training worker imports backends on demand (code splitting): an ES module worker.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // Two pages: the demo, and check.html, which checks a backend in the browser against the reference.
    rollupOptions: {
      input: { main: resolve(import.meta.dirname, 'index.html'), check: resolve(import.meta.dirname, 'check.html') },
    },
    chunkSizeWarningLimit: 4096,
  },
});
