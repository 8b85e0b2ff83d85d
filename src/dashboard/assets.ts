/**
 * The page and its assets, as a fixed table built into the package: `npm run build` compiles the
 * front end (src/dashboard/ui, Preact) into dist/dashboard/app.js and app.css; they are read once,
 * by these names only, and served from memory. No part of a request ever names a file. The page
 * names them relative to itself, so the app works mounted below a prefix (the gateway's route).
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Asset {
  body: string
  type: string
}

const BUILT: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' }

export const INDEX_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>session-sync dashboard</title><link rel="stylesheet" href="app.css"></head>
<body><div id="app"><p class="loading">Loading…</p></div><script type="module" src="app.js"></script></body></html>
`

/** The folder holding the built assets: next to the bundle (dist/dashboard) or, from the sources, the package's dist/. */
function builtDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    for (const d of [join(dir, 'dashboard'), join(dir, 'dist', 'dashboard')]) if (existsSync(join(d, 'app.js'))) return d
    dir = dirname(dir)
  }
  return undefined
}

let cached: Map<string, Asset> | undefined

export function dashboardAssets(): Map<string, Asset> {
  if (cached) return cached
  const out = new Map<string, Asset>()
  const dir = builtDir()
  if (dir) {
    out.set('index.html', { body: INDEX_HTML, type: 'text/html; charset=utf-8' })
    for (const [name, type] of Object.entries(BUILT)) out.set(name, { body: readFileSync(join(dir, name), 'utf8'), type })
  }
  cached = out
  return out
}
