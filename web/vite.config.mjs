// The dashboard build (`vite build web`): web/ → dist/web, served by the admin listener at / (src/admin/dashboard.ts).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // Every asset is a file: no inline data: URLs, so the page works under a strict CSP, offline.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
});
