import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = decodeURIComponent(new URL('.', import.meta.url).pathname);

// `npm run dev:web` proxies the API to a running `slipway server` (SLIPWAY_URL, default
// the server's default address), so the UI can be worked on with live data.
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: `${here}../../dist/web`,
    emptyOutDir: true,
    // The server serves exactly /assets/*; keep everything there.
    assetsDir: 'assets',
  },
  server: {
    proxy: {
      '/api': { target: process.env.SLIPWAY_URL ?? 'http://127.0.0.1:7070', changeOrigin: true },
    },
  },
});
