// Vite builds the UI into dist/, which the Rust crate embeds (docs/ui.md). Relative asset
// paths and no module-preload polyfill keep the output self-contained and free of inline
// scripts (the page's CSP forbids them).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 200,
  },
  // The dev server's dependency scan does not read `oxc`, so it is told the JSX runtime too.
  optimizeDeps: {
    rolldownOptions: { transform: { jsx: { runtime: 'automatic', importSource: 'preact' } } },
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:15672' },
  },
});
