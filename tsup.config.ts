import { defineConfig } from 'tsup'

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    shims: true,
    // startWorker's import.meta.resolve runs only from the TypeScript sources (tests), never from a
    // built bundle, so its being empty in the CommonJS build is harmless: the build stays quiet.
    esbuildOptions(options) {
      options.logOverride = { ...options.logOverride, 'empty-import-meta': 'silent' }
    },
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
  },
  {
    // The worker threads run as their own modules next to index.js and cli.js. kdf-warm: the Argon2id
    // worker started ahead (src/crypto/argon2-worker.ts) on its own, for a process that starts it
    // before it loads the library, as the CLI does (the benchmark's bench/op.mjs).
    entry: {
      'chunk-worker': 'src/archiver/chunk-worker.ts',
      'blob-open-worker': 'src/repository/blob-open-worker.ts',
      'seal-worker': 'src/archiver/seal-worker.ts',
      'kdf-warm': 'src/crypto/argon2-worker.ts',
    },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
  {
    entry: { cli: 'src/cli/bin.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    // The OpenClaw plugin entry: its own bundle (no chunks shared with the CLI, so nothing of the CLI
    // is in its import graph). `openclaw/plugin-sdk/*` is the host's, resolved by its plugin loader.
    entry: { openclaw: 'src/openclaw/index.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    external: [/^openclaw\//],
  },
  {
    // The dashboard's front end (Preact): built for the browser into dist/dashboard/app.js and
    // app.css, which the dashboard serves from a fixed table (src/dashboard/assets.ts).
    entry: { 'dashboard/app': 'src/dashboard/ui/app.tsx' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    minify: true,
    tsconfig: 'src/dashboard/ui/tsconfig.json',
    esbuildOptions(o) {
      o.jsx = 'automatic'
      o.jsxImportSource = 'preact'
    },
  },
])
