import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The server serves ui/dist on HTTP_PORT; `vite ui` proxies the API to a local server for UI work.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 600 },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
