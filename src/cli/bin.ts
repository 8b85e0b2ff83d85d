/**
 * The command's entry point. It turns on Node's on-disk compile cache (Node >= 22.1; the cache lives
 * in the system's temporary folder, NODE_COMPILE_CACHE moves it and NODE_DISABLE_COMPILE_CACHE turns
 * it off) before the CLI and the library load, so they are compiled once rather than on every run:
 * measured on Node 24, an unchanged backup of the 2,000-file memory folder took 301 ms against 309 ms
 * without it (15 runs each). On a Node without node:crypto's Argon2id it also starts the key
 * derivation's worker when the arguments say a password will be used (see below): for that it
 * imports the worker's module directly, not through the library's index, which is what takes the
 * time to load.
 */
import module from 'node:module'
import v8 from 'node:v8'
import { warmArgon2idWorker } from '../crypto/argon2-worker.js'
import { willDerivePasswordKey } from './kdf-guess.js'

// V8's young generation starts at 1 MiB a half and doubles, up to 16 MiB, whenever enough objects
// have survived since it last grew: a backup or restore, whose trees and index entries all survive,
// grows it to the top. Every page it grows into is memory the process touches for the first time,
// and first touches are page faults, which cost about 4 ms a MiB on the machines measured (most of
// the system time of a small backup). Kept at its first size here (the CLI's own process; the library
// never sets flags in its host), measured on the 16,000-file notes corpus with a raw key: an
// unchanged backup 19,600 → 12,200 faults and 121 → 95 MiB peak RSS, 0.74 → 0.67 s on Node 24 and
// 1.41 → 1.11 s on Node 20; a full restore 200 → 153 MiB, 2.18 → 1.99 s; a first backup 152 → 129 MiB
// in the same time; check --read-data 178 → 159 MiB in the same time (medians of 3).
try {
  v8.setFlagsFromString('--semi-space-growth-factor=1')
} catch {
  // a V8 without the flag grows it as before
}
try {
  ;(module as unknown as { enableCompileCache?: () => unknown }).enableCompileCache?.()
} catch {
  // an unwritable cache folder only costs the time it would have saved
}
// On a Node without node:crypto's Argon2id (before 24.7), a command that will open a repository with
// a password starts libsodium's worker now: it loads and touches its memory while the CLI and the
// library load (see warmArgon2idWorker).
if (willDerivePasswordKey(process.argv.slice(2), process.env)) warmArgon2idWorker()
await import('./main.js')
