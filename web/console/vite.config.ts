import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build lands in dist/app, which web/console/console.go embeds; dist
// itself holds a committed README so the Go package compiles before the
// first build.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { '/graphql': { target: 'http://127.0.0.1:8080', ws: true } },
  },
});
