/**
 * The command's entry point. It turns on Node's on-disk compile cache (Node >= 22.1; the cache lives
 * in the system's temporary folder, NODE_COMPILE_CACHE moves it and NODE_DISABLE_COMPILE_CACHE turns
 * it off) before the CLI and the library load, so they are compiled once rather than on every run:
 * measured on Node 24, an unchanged backup of the 2,000-file memory folder took 301 ms against 309 ms
 * without it (15 runs each).
 */
import module from 'node:module'

try {
  ;(module as unknown as { enableCompileCache?: () => unknown }).enableCompileCache?.()
} catch {
  // an unwritable cache folder only costs the time it would have saved
}
await import('./main.js')
