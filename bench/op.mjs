// Runs ONE repository operation in this process through the library's public API (dist/index.js,
// so `npm run build` first) and prints one JSON line with its cost and its summary.
//
//   node bench/op.mjs init    <repo>
//   node bench/op.mjs backup  <repo> <path> [--parent-none]
//   node bench/op.mjs restore <repo> <target> [--snapshot ID]      (default: latest)
//   node bench/op.mjs stats   <repo>                                (index size, bytes per blob)
//
// Output fields: op; wallMs (open + operation, in this process); openMs (Repository.open: reading the
// config and key files and the Argon2id KDF with the repository's own parameters — the library
// default for repositories made by `init` here); opMs (the operation alone); startupMs (process
// start to the start of the operation: Node start-up and loading the library); cpuUserMs /
// cpuSystemMs (process.cpuUsage over open + operation, all threads); peakRssBytes
// (process.resourceUsage().maxRSS, the whole process's peak, worker threads included); summary.
// The password comes from BENCH_PASSWORD (default "bench password").
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const [op, repoDir, ...rest] = process.argv.slice(2)
const password = process.env.BENCH_PASSWORD ?? 'bench password'
const usage = 'usage: node bench/op.mjs init <repo> | backup <repo> <path> [--parent-none] | restore <repo> <target> [--snapshot ID] | stats <repo>'

function fail(message) {
  console.error(message)
  process.exit(2)
}

if (!op || !repoDir) fail(usage)

// BENCH_DIST: a copy of dist/ that bench/run.mjs takes at its start, so a rebuild by someone else
// during a long run cannot change (or delete) the code being measured. Default: ../dist.
const dist = process.env.BENCH_DIST ?? new URL('../dist', import.meta.url).pathname
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
  const r = await Repository.open({ backend: new LocalBackend(repoDir), password })
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
    // Argon2id with the library's default parameters (no `argon2` option).
    repo = await timed(() => Repository.init({ backend: new LocalBackend(repoDir), password }))
    summary = { id: repo.id, chunker: repo.config.chunker, packSize: repo.config.packSize, compression: repo.config.compression }
    break
  }
  case 'backup': {
    const [source, ...flags] = rest
    if (!source) fail(usage)
    repo = await open()
    const s = await timed(() => repo.backup([source], flags.includes('--parent-none') ? { parent: false } : {}))
    summary = { ...s, errorCount: s.errors.length, errors: s.errors.slice(0, 5) }
    break
  }
  case 'restore': {
    const [target, ...flags] = rest
    if (!target) fail(usage)
    const i = flags.indexOf('--snapshot')
    const ref = i >= 0 ? flags[i + 1] : 'latest'
    repo = await open()
    summary = await timed(() => repo.restore(ref, target))
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
    summary,
  }),
)
