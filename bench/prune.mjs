// Prune benchmark (not a test: it reports numbers and asserts none of them). See bench/README.md.
//
//   node bench/prune.mjs                    build (or reuse) the repository, then BENCH_RUNS measured runs
//   node bench/prune.mjs --measure <repo>   one run in this process: forget + prune, one JSON line out
//
// The repository: 10,000 small files (text and random bytes, 300 B – 32 KB) in 200 folders, backed up
// 200 times with a small chunker (min 512 B, avg 1 KiB, max 4 KiB) so it holds ~100k blobs; between
// two backups 0.5% of the files change (two thirds edited in place, one third rewritten). Snapshot
// times are 22 hours apart, so the 200 snapshots span six months. It is built once through the
// library's public API (dist/index.js) under bench/.data/ and reused while its manifest matches.
//
// A run copies the repository to a fresh folder under os.tmpdir(), then a fresh Node process opens it
// and times `forget({ keepDaily: 7, keepWeekly: 4, keepMonthly: 3 })` followed by `prune()` (library
// defaults: 5% max unused, small packs combined, 24 h grace for unindexed packs).
//
// Env: BENCH_RUNS (default 3; medians are reported), BENCH_PRUNE_FILES (default 10000),
// BENCH_PRUNE_SNAPSHOTS (default 200), BENCH_DATA_DIR (default bench/.data), BENCH_PASSWORD.
import { spawn } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { DATA_ROOT, duBytes, makeText, rng } from './datasets.mjs'

const BENCH = dirname(fileURLToPath(import.meta.url))
const ROOT = join(BENCH, '..')
const RESULTS = join(BENCH, 'results')
const SELF = fileURLToPath(import.meta.url)
const password = process.env.BENCH_PASSWORD ?? 'bench password'
const GENERATOR = 1
const POLICY = { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 }
const CHUNKER = { min: 512, avg: 1024, max: 4096 }
const FIRST_SNAPSHOT = Date.UTC(2025, 0, 6, 9, 0, 0)
const STEP_MS = 22 * 3600_000
const log = (s) => console.error(`[prune-bench ${new Date().toISOString().slice(11, 19)}] ${s}`)

function positiveInt(name, fallback) {
  const v = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`)
  return v
}

async function loadLibrary() {
  // BENCH_DIST: a private copy of dist/ taken by the orchestrator (someone may rebuild dist/ meanwhile).
  const dist = process.env.BENCH_DIST ?? join(ROOT, 'dist')
  if (!existsSync(join(dist, 'index.js'))) throw new Error(`${dist}/index.js is missing: run \`npx tsup\` (or \`npm run build\`) first`)
  return import(pathToFileURL(join(dist, 'index.js')).href)
}

// ---- one measured run (a fresh process) ------------------------------------------------------------

async function measure(repoDir) {
  const { Repository, LocalBackend } = await loadLibrary()
  const startupMs = performance.now()
  const t0 = performance.now()
  const repo = await Repository.open({ backend: new LocalBackend(repoDir), password })
  const openMs = performance.now() - t0

  const cpu0 = process.cpuUsage()
  const w0 = performance.now()
  const forgot = await repo.forget(POLICY, { timeZone: 'UTC' })
  const forgetMs = performance.now() - w0
  const pruned = await repo.prune()
  const wallMs = performance.now() - w0
  const cpu = process.cpuUsage(cpu0)
  const peakRssBytes = process.resourceUsage().maxRSS * 1024

  // Not timed: the index as prune left it.
  repo.invalidateIndex()
  const blobsAfter = (await repo.index()).size
  const st = pruned.plan.stats
  const out = {
    startupMs,
    openMs,
    forgetMs,
    pruneMs: wallMs - forgetMs,
    wallMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssBytes,
    snapshotsBefore: forgot.kept + forgot.removed,
    snapshotsAfter: forgot.kept,
    blobsBefore: st.usedBlobs + st.unusedBlobs + st.duplicateBlobs,
    blobsUsed: st.usedBlobs,
    blobsAfter,
    bytesFreed: pruned.bytesFreed,
    packsBefore: pruned.plan.packs.length,
    packsDeleted: pruned.packsDeleted,
    packsRepacked: pruned.packsRepacked,
    packsWritten: pruned.packsWritten,
    blobsRepacked: pruned.blobsRepacked,
    indexFilesDeleted: pruned.indexFilesDeleted,
    indexFilesWritten: pruned.indexFilesWritten,
    requests: pruned.requests,
  }
  await repo.close()
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

// ---- building the repository -----------------------------------------------------------------------

/** Deterministic incompressible bytes: AES-256-CTR under a fixed key, one IV per (seed). */
function randomBytesFor(seed, size) {
  const key = createHash('sha256').update('prune-bench key').digest()
  const iv = createHash('sha256').update(`iv ${seed}`).digest().subarray(0, 16)
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size))
}

/** Log-uniform integer in [lo, hi]. */
const logUniform = (r, lo, hi) => Math.round(Math.exp(Math.log(lo) + r.next() * (Math.log(hi) - Math.log(lo))))

function fileContent(r, kind, size, seed) {
  return kind === 'bin' ? randomBytesFor(seed, size) : makeText(r, 'md', size)
}

async function build(dir, src, files, snapshots) {
  const { Repository, LocalBackend } = await loadLibrary()
  rmSync(dir, { recursive: true, force: true })
  rmSync(src, { recursive: true, force: true })
  const r = rng(`prune-bench ${GENERATOR} ${files}`)
  const list = []
  for (let i = 0; i < files; i++) {
    const kind = r.next() < 0.6 ? 'md' : 'bin'
    const path = join(src, `d${i % 20}`, `s${Math.floor(i / 20) % 10}`, `f${i}.${kind === 'md' ? 'md' : 'bin'}`)
    list.push({ path, kind })
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, fileContent(r, kind, logUniform(r, 300, 32_000), `f${i} v0`))
  }
  const started = performance.now()
  const repo = await Repository.init({ backend: new LocalBackend(dir), password, chunker: CHUNKER })
  const perBackup = Math.max(1, Math.round(files * 0.005))
  let version = 0
  for (let s = 0; s < snapshots; s++) {
    if (s > 0) {
      for (let k = 0; k < perBackup; k++) {
        const f = r.pick(list)
        const old = readFileSync(f.path)
        version++
        if (r.next() < 1 / 3) {
          writeFileSync(f.path, fileContent(r, f.kind, logUniform(r, 300, 32_000), `${f.path} v${version}`))
        } else if (f.kind === 'md') {
          const at = r.int(0, old.length)
          writeFileSync(f.path, Buffer.concat([old.subarray(0, at), makeText(r, 'md', r.int(40, 400)), old.subarray(at)]))
        } else {
          const patch = randomBytesFor(`patch ${version}`, Math.min(64, old.length))
          patch.copy(old, r.int(0, old.length - patch.length))
          writeFileSync(f.path, old)
        }
      }
    }
    await repo.backup([src], { time: new Date(FIRST_SNAPSHOT + s * STEP_MS), tags: ['bench'] })
    if ((s + 1) % 20 === 0) log(`built ${s + 1}/${snapshots} snapshots (${((performance.now() - started) / 1000).toFixed(0)} s)`)
  }
  repo.invalidateIndex() // read the index files as they are now
  const index = await repo.index()
  const du = duBytes(dir)
  const info = {
    generator: GENERATOR,
    files,
    snapshots,
    chunker: CHUNKER,
    packSize: repo.config.packSize,
    blobs: index.size,
    indexFiles: repo.loadedIndexFiles().length,
    repoBytes: du.apparent,
    repoFiles: du.files,
    buildSeconds: Math.round((performance.now() - started) / 100) / 10,
    firstSnapshot: new Date(FIRST_SNAPSHOT).toISOString(),
    lastSnapshot: new Date(FIRST_SNAPSHOT + (snapshots - 1) * STEP_MS).toISOString(),
  }
  await repo.close()
  rmSync(src, { recursive: true, force: true }) // only the repository is reused
  return info
}

// ---- orchestration -----------------------------------------------------------------------------------

function run(args, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const out = []
    const err = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), processWallMs: performance.now() - t0 }))
  })
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

function fmt(x, int = false) {
  if (x === null || x === undefined) return '–'
  if (int) return String(Math.round(x))
  const a = Math.abs(x)
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toFixed(3)
}

async function main() {
  const runs = positiveInt('BENCH_RUNS', 3)
  const files = positiveInt('BENCH_PRUNE_FILES', 10_000)
  const snapshots = positiveInt('BENCH_PRUNE_SNAPSHOTS', 200)
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npx tsup` (or `npm run build`) first')
  mkdirSync(DATA_ROOT, { recursive: true })
  // Under the project (bench/.data is git-ignored) so the copy's imports resolve from node_modules.
  const DIST = join(BENCH, '.data', `dist-snapshot-prune-${process.pid}`)
  rmSync(DIST, { recursive: true, force: true })
  cpSync(join(ROOT, 'dist'), DIST, { recursive: true })
  process.on('exit', () => rmSync(DIST, { recursive: true, force: true }))
  process.env.BENCH_DIST = DIST
  const distHash = createHash('sha256').update(readFileSync(join(DIST, 'index.js'))).digest('hex').slice(0, 16)
  const loadStart = os.loadavg()

  // The repository, built once and reused while its manifest matches.
  const name = `prune-repo-g${GENERATOR}-${files}f-${snapshots}s`
  const repoDir = join(DATA_ROOT, name)
  const manifestPath = join(DATA_ROOT, `${name}.json`)
  let built
  try {
    built = JSON.parse(readFileSync(manifestPath, 'utf8'))
    if (built.generator !== GENERATOR || built.files !== files || built.snapshots !== snapshots || !existsSync(join(repoDir, 'config'))) built = undefined
  } catch {
    built = undefined
  }
  let reused = true
  if (!built) {
    reused = false
    rmSync(manifestPath, { force: true })
    log(`building ${name} (${files} files, ${snapshots} backups; a few minutes, once)`)
    built = await build(repoDir, join(DATA_ROOT, `${name}-src`), files, snapshots)
    writeFileSync(manifestPath, `${JSON.stringify(built, null, 2)}\n`) // last: an interrupted build starts over
    log(`built: ${built.blobs} blobs, ${built.snapshots} snapshots, ${(built.repoBytes / 1e6).toFixed(1)} MB in ${built.buildSeconds} s`)
  } else {
    log(`reusing ${repoDir} (${built.blobs} blobs, ${built.snapshots} snapshots)`)
  }

  const results = []
  for (let i = 0; i < runs; i++) {
    const copy = join(os.tmpdir(), `prune-bench-${process.pid}-${i}`)
    rmSync(copy, { recursive: true, force: true })
    cpSync(repoDir, copy, { recursive: true })
    const before = duBytes(copy)
    const r = await run([SELF, '--measure', copy], process.env)
    if (r.code !== 0) {
      rmSync(copy, { recursive: true, force: true })
      throw new Error(`measured run ${i + 1} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`)
    }
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1))
    const after = duBytes(copy)
    Object.assign(res, { processWallMs: r.processWallMs, repoBytesBefore: before.apparent, repoBytesAfter: after.apparent, repoFilesBefore: before.files, repoFilesAfter: after.files })
    rmSync(copy, { recursive: true, force: true })
    results.push(res)
    log(`run ${i + 1}/${runs}: forget + prune ${(res.wallMs / 1000).toFixed(2)} s wall, ${((res.cpuUserMs + res.cpuSystemMs) / 1000).toFixed(2)} s CPU, ${(res.peakRssBytes / 2 ** 20).toFixed(0)} MiB peak RSS`)
  }

  const pick = (f) => results.map(f)
  const row = (figure, unit, f) => {
    const xs = pick(f)
    return { figure, unit, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), int: unit === '' }
  }
  const rows = [
    row('forget + prune: wall', 's', (r) => r.wallMs / 1000),
    row('  forget', 'ms', (r) => r.forgetMs),
    row('  prune', 's', (r) => r.pruneMs / 1000),
    row('forget + prune: CPU user + system', 's', (r) => (r.cpuUserMs + r.cpuSystemMs) / 1000),
    row('peak RSS (whole process)', 'MiB', (r) => r.peakRssBytes / 2 ** 20),
    row('open (Argon2id KDF, library default), not included above', 'ms', (r) => r.openMs),
    row('whole process (spawn → exit)', 's', (r) => r.processWallMs / 1000),
    row('snapshots before', '', (r) => r.snapshotsBefore),
    row('snapshots after', '', (r) => r.snapshotsAfter),
    row('blobs before (index entries)', '', (r) => r.blobsBefore),
    row('blobs after', '', (r) => r.blobsAfter),
    row('packs before', '', (r) => r.packsBefore),
    row('packs deleted / repacked / written', '', (r) => r.packsDeleted),
    row('bytes freed (deleted pack files)', 'MB', (r) => r.bytesFreed / 1e6),
    row('repository on disk before', 'MB', (r) => r.repoBytesBefore / 1e6),
    row('repository on disk after', 'MB', (r) => r.repoBytesAfter / 1e6),
  ]
  const packsRow = rows.find((x) => x.figure.startsWith('packs deleted'))
  const m = (f) => median(pick(f))
  packsRow.text = `${fmt(m((r) => r.packsDeleted), true)} / ${fmt(m((r) => r.packsRepacked), true)} / ${fmt(m((r) => r.packsWritten), true)}`

  const loadEnd = os.loadavg()
  const cpus = os.cpus()
  const machine = { cpu: cpus[0]?.model ?? '?', cores: cpus.length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}` }
  const report = { date: new Date().toISOString(), distHash, machine, load: { start: loadStart, end: loadEnd }, policy: POLICY, pruneOptions: 'library defaults', repository: { ...built, reused }, runs: results, table: rows }
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(join(RESULTS, 'prune.json'), `${JSON.stringify(report, null, 2)}\n`)

  const la = (l) => l.map((x) => x.toFixed(2)).join(' ')
  const md = [
    '# session-sync-cloud prune benchmark',
    '',
    `${report.date} · ${runs} run(s) (median; min–max) · dist ${distHash}`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB RAM, Node ${machine.node}, ${machine.platform}. Load average (1/5/15 min) at start ${la(loadStart)}, at end ${la(loadEnd)}.`,
    '',
    `Repository: ${built.files} files, ${built.snapshots} snapshots (${built.firstSnapshot.slice(0, 10)} … ${built.lastSnapshot.slice(0, 10)}, 22 h apart), 0.5% of files changed per backup; chunker ${CHUNKER.min}/${CHUNKER.avg}/${CHUNKER.max} B, pack size ${built.packSize / 2 ** 20} MiB; ${built.blobs} blobs, ${built.indexFiles} index files, ${(built.repoBytes / 1e6).toFixed(1)} MB (${reused ? 'reused' : `built in ${built.buildSeconds} s`}).`,
    `Operation, in a fresh process on a fresh copy each run: \`forget(${JSON.stringify(POLICY).replace(/"/g, '')}, { timeZone: 'UTC' })\` then \`prune()\` with library defaults.`,
    '',
    '| figure | unit | median | min–max |',
    '|---|---|---:|---:|',
    ...rows.map((x) => `| ${x.figure} | ${x.unit} | ${x.text ?? fmt(x.median, x.int)} | ${x.text ? '' : x.min === x.max ? fmt(x.min, x.int) : `${fmt(x.min, x.int)}–${fmt(x.max, x.int)}`} |`),
    '',
  ].join('\n')
  writeFileSync(join(RESULTS, 'prune.md'), md)
  process.stdout.write(md)
}

if (process.argv[2] === '--measure') {
  if (!process.argv[3]) throw new Error('usage: node bench/prune.mjs --measure <repo>')
  await measure(process.argv[3])
} else {
  await main()
}
