import { defaultClientConditions, defineConfig } from 'vite';

// A static site that works from any folder: relative asset URLs, data fetched relative to the page.
export default defineConfig({
  base: './',
  // The workspace packages are compiled from their TypeScript sources (the `@rbmjs/source` condition).
  resolve: { conditions: ['@rbmjs/source', ...defaultClientConditions] },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
});
