// Runs ONE repository operation in this process through the library's public API (dist/index.js,
// so `npm run build` first) and prints one JSON line with its cost and its summary.
//
//   node bench/op.mjs init    <repo> [--add-key-file F]   (password key; with the flag also a raw-key key file)
//   node bench/op.mjs backup  <repo> <path> [--parent-none] [--repeat N]   (N more backups in this process, timed: repeatMs)
//   node bench/op.mjs restore <repo> <target> [--snapshot ID]      (default: latest; BENCH_VERIFY_IDS=0: without the id check)
//   node bench/op.mjs check   <repo> [--read-data]
//   node bench/op.mjs forget  <repo> --keep-last N | --ids ID,ID...
//   node bench/op.mjs prune   <repo>
//   node bench/op.mjs stats   <repo>                                (index size, bytes per blob)
//
// Any operation but init opens the repository with the password (BENCH_PASSWORD, default
// "bench password": Argon2id with the repository's parameters), or with a raw 32-byte key when
// given `--key-file F` or BENCH_KEY_FILE=F (the file holds the 32 bytes, raw or as 64 hex digits);
// a raw key opens its key file without any KDF.
//
// Output fields: op; wallMs (open + operation, in this process); openMs (Repository.open: reading the
// config and key files, and the KDF); opMs (the operation alone); startupMs (process start to the
// start of the operation: Node start-up and loading the library); cpuUserMs / cpuSystemMs
// (process.cpuUsage over open + operation, all threads); peakRssBytes (process.resourceUsage().maxRSS,
// the whole process's peak, worker threads included); secret ('password' | 'key'); summary.
// The orchestrator measures the whole process from outside as well (spawn to exit, rusage).
import { existsSync, readFileSync } from 'node:fs'
import module from 'node:module'
import v8 from 'node:v8'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const [op, repoDir, ...rest] = process.argv.slice(2)
const password = process.env.BENCH_PASSWORD ?? 'bench password'
const usage =
  'usage: node bench/op.mjs init <repo> [--add-key-file F] | backup <repo> <path> [--parent-none] [--repeat N] | restore <repo> <target> [--snapshot ID] | check <repo> [--read-data] | forget <repo> --keep-last N | --ids ID,... | prune <repo> | stats <repo>   (any: --key-file F)'

function fail(message) {
  console.error(message)
  process.exit(2)
}

if (!op || !repoDir) fail(usage)

/** The value after a flag, or undefined. */
function flag(name) {
  const i = rest.indexOf(name)
  if (i < 0) return undefined
  if (i + 1 >= rest.length) fail(`${name} needs a value\n${usage}`)
  return rest[i + 1]
}

/** A 32-byte key from a file holding it raw or as 64 hex digits. */
function readKey(path) {
  const bytes = readFileSync(path)
  if (bytes.length === 32) return new Uint8Array(bytes)
  const hex = bytes.toString('utf8').trim()
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return new Uint8Array(Buffer.from(hex, 'hex'))
  return fail(`${path}: a key file must hold 32 bytes, raw or as 64 hex digits`)
}

const keyFile = flag('--key-file') ?? process.env.BENCH_KEY_FILE
const secret = keyFile ? { key: readKey(keyFile) } : { password }

// BENCH_DIST: a copy of dist/ that bench/run.mjs takes at its start, so a rebuild by someone else
// during a long run cannot change (or delete) the code being measured. Default: ../dist.
const dist = process.env.BENCH_DIST ?? new URL('../dist', import.meta.url).pathname
// As the CLI does (src/cli/bin.ts): with a password, on a Node without node:crypto's Argon2id, the
// key derivation's worker is started before the library loads (a no-op elsewhere). BENCH_WARM_KDF=0:
// without.
// A dist/ built before kdf-warm.js existed (an older build compared beside this one) goes without.
if ('password' in secret && process.env.BENCH_WARM_KDF !== '0' && existsSync(join(dist, 'kdf-warm.js'))) {
  ;(await import(pathToFileURL(join(dist, 'kdf-warm.js')).href)).warmArgon2idWorker()
}
// As the CLI does (src/cli/bin.ts): on Node 22+ the compiled library is kept on disk between
// processes (100-140 ms of compiling at every start without it). Node 20 has no such cache.
module.enableCompileCache?.()
// As the CLI does too: V8's young generation is kept at its first size (see src/cli/bin.ts).
v8.setFlagsFromString('--semi-space-growth-factor=1')
const lib = await import(pathToFileURL(join(dist, 'index.js')).href).catch((e) => fail(`cannot load ${dist}/index.js (run \`npm run build\` first): ${e.message}`))
const { Repository, LocalBackend } = lib

const startupMs = performance.now()
const cpu0 = process.cpuUsage()
const t0 = performance.now()
let openMs = 0
let opMs = 0
let summary
let repo

async function open() {
  const t = performance.now()
  const r = await Repository.open({ backend: new LocalBackend(repoDir), ...secret })
  openMs = performance.now() - t
  return r
}

async function timed(fn) {
  const t = performance.now()
  const out = await fn()
  opMs = performance.now() - t
  return out
}

switch (op) {
  case 'init': {
    // Argon2id with the library's default parameters (no `argon2` option), as a user's init would.
    const addKey = flag('--add-key-file')
    repo = await timed(() => Repository.init({ backend: new LocalBackend(repoDir), password }))
    // A second key file for the raw key, so the same repository can be timed with either secret.
    if (addKey) await repo.addKey({ key: readKey(addKey) })
    summary = { id: repo.id, chunker: repo.config.chunker, packSize: repo.config.packSize, compression: repo.config.compression, rawKey: Boolean(addKey) }
    break
  }
  case 'backup': {
    const [source] = rest
    if (!source || source.startsWith('--')) fail(usage)
    // As the CLI does: with a password, the source's folders are listed and lstat-ed while the
    // repository opens (its key derives on another thread); the backup's walk takes what was
    // gathered (see Prewalk). BENCH_PREWALK=0: without.
    const prewalk = lib.Prewalk && 'password' in secret && process.env.BENCH_PREWALK !== '0' ? lib.Prewalk.start([source]) : undefined
    repo = await open()
    const threadsArg = process.env.BENCH_THREADS === undefined ? {} : { threads: Number(process.env.BENCH_THREADS) }
    const s = await timed(() => repo.backup([source], { ...(rest.includes('--parent-none') ? { parent: false } : {}), ...threadsArg, ...(prewalk ? { prewalk } : {}) }))
    summary = { ...s, errorCount: s.errors.length, errors: s.errors.slice(0, 5) }
    // --repeat N: N more backups of the same source in this process, on the repository already open
    // (what a long-running process such as a plugin does on a schedule), each timed; the snapshots
    // they made are forgotten afterwards (not timed), so the repository is as one backup left it.
    const repeat = Number(flag('--repeat') ?? 0)
    if (repeat > 0) {
      const repeatMs = []
      const made = []
      for (let i = 0; i < repeat; i++) {
        const t = performance.now()
        const r = await repo.backup([source], threadsArg)
        repeatMs.push(Math.round((performance.now() - t) * 10) / 10)
        if (r.snapshotId) made.push(r.snapshotId)
      }
      await repo.forgetSnapshots(made)
      summary.repeatMs = repeatMs
    }
    break
  }
  case 'restore': {
    const [target] = rest
    if (!target || target.startsWith('--')) fail(usage)
    const ref = flag('--snapshot') ?? 'latest'
    // As the CLI does: with a password, the restore's workers load while the key derives.
    if (lib.prestartWorkers && 'password' in secret && process.env.BENCH_PRESTART !== '0') lib.prestartWorkers('restore')
    repo = await open()
    // BENCH_VERIFY_IDS=0: restore without recomputing blob ids (the opt-out), to measure their cost.
    const verify = process.env.BENCH_VERIFY_IDS === '0' ? { verifyIds: false } : {}
    summary = await timed(() => repo.restore(ref, target, process.env.BENCH_THREADS === undefined ? verify : { ...verify, threads: Number(process.env.BENCH_THREADS) }))
    break
  }
  case 'check': {
    // As the CLI does: with a password, the workers of a check that reads data load while the key derives.
    if (lib.prestartWorkers && 'password' in secret && rest.includes('--read-data') && process.env.BENCH_PRESTART !== '0') lib.prestartWorkers('check')
    repo = await open()
    const report = await timed(() => repo.check({ readData: rest.includes('--read-data') }))
    summary = { ok: report.ok, problemCount: report.problems.length, problems: report.problems.slice(0, 5), counts: report.counts, requests: report.requests, durationMs: report.durationMs }
    break
  }
  case 'forget': {
    const keepLast = flag('--keep-last')
    const ids = flag('--ids')
    if (!keepLast === !ids) fail(`forget needs --keep-last N or --ids ID,...\n${usage}`)
    repo = await open()
    const s = await timed(() => (keepLast ? repo.forget({ keepLast: Number(keepLast) }) : repo.forgetSnapshots(ids.split(','))))
    summary = { removed: s.removed, removedIds: s.removedIds, kept: s.kept ?? null, durationMs: s.durationMs }
    break
  }
  case 'prune': {
    repo = await open()
    const s = await timed(() => repo.prune())
    const { plan, ...rest } = s
    summary = { ...rest, planStats: plan?.stats }
    break
  }
  case 'stats': {
    repo = await open()
    const idx = await timed(() => repo.index())
    const snapshots = await repo.snapshots()
    summary = {
      blobs: idx.size,
      packs: idx.packCount,
      indexMemoryBytes: idx.memoryBytes,
      indexBytesPerBlob: idx.size > 0 ? idx.memoryBytes / idx.size : null,
      indexLoadMs: Math.round(opMs * 10) / 10,
      snapshots: snapshots.length,
    }
    break
  }
  default:
    fail(`unknown operation ${op}\n${usage}`)
}

const wallMs = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const ru = process.resourceUsage()
await repo?.close()
const r1 = (x) => Math.round(x * 10) / 10
console.log(
  JSON.stringify({
    op,
    wallMs: r1(wallMs),
    openMs: r1(openMs),
    opMs: r1(opMs),
    startupMs: r1(startupMs),
    cpuUserMs: r1(cpu.user / 1000),
    cpuSystemMs: r1(cpu.system / 1000),
    peakRssBytes: ru.maxRSS * 1024,
    secret: keyFile ? 'key' : 'password',
    summary,
  }),
)
// A failed check is a result, not a crash: the JSON line says what was found; the exit code says it too.
if (op === 'check' && !summary.ok) process.exitCode = 3
