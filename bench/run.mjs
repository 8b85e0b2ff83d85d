// The benchmark: `npm run bench` (builds, then runs this with --expose-gc). Reports numbers, asserts
// nothing. See bench/README.md for what each figure means.
//
// For each dataset and each run, every program compared (ours on Node 24 and on this Node, restic,
// borg) gets a fresh repository and goes through the same steps; each step runs for every program
// in turn (ours, ours, restic, borg, then the next step), each operation in a process of its own,
// measured from outside (wall spawn → exit, rusage through GNU time, repository size before/after).
//
// Env: BENCH_SCALE (dataset size factor, default 1; 0.1 for a quick smoke run), BENCH_RUNS (runs,
// default 3; medians are reported), BENCH_DATASETS (comma list, default memory-50m,mixed-1g,big-2g),
// BENCH_PEERS (restic,borg | none; default restic,borg), BENCH_NODE24 (0 skips ours on Node 24),
// BENCH_SKIP_CHUNKER=1, BENCH_SKIP_MICRO=1, BENCH_DATA_DIR (default bench/.data), BENCH_PASSWORD.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as zlib from 'node:zlib'
import { benchScale, DATA_ROOT, DATASETS, duBytes, editDataset, ensureDataset, revertEdits } from './datasets.mjs'
import { borgVariant, oursVariant, resticVariant } from './peers.mjs'
import { markdown } from './report.mjs'
import { ensureCommands, ensureNode24, firstLine, measured, run } from './tools.mjs'

const BENCH = dirname(fileURLToPath(import.meta.url))
const ROOT = join(BENCH, '..')
const OP = join(BENCH, 'op.mjs')
const FLOOR = join(BENCH, 'floor.mjs')
const RESULTS = join(BENCH, 'results')
const log = (s) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`)
const gc = globalThis.gc ?? (() => {})

// ---- configuration ------------------------------------------------------------------------------

const scale = benchScale()
const runs = Number.parseInt(process.env.BENCH_RUNS ?? '3', 10)
if (!(runs >= 1)) throw new Error(`BENCH_RUNS must be a positive integer, not ${process.env.BENCH_RUNS}`)
const datasetNames = listEnv('BENCH_DATASETS', 'memory-50m,notes-16k,mixed-1g,big-2g')
for (const n of datasetNames) if (!DATASETS[n]) throw new Error(`BENCH_DATASETS: unknown dataset ${n}; known: ${Object.keys(DATASETS).join(', ')}`)
const peerNames = listEnv('BENCH_PEERS', 'restic,borg').filter((p) => p !== 'none')
for (const p of peerNames) if (!['restic', 'borg'].includes(p)) throw new Error(`BENCH_PEERS: unknown peer ${p}; known: restic, borg, none`)
const wantNode24 = process.env.BENCH_NODE24 !== '0'
// Datasets on which ours also runs every step opened with a raw key, as extra programs (`none`: none).
const rawKeyDatasets = listEnv('BENCH_RAWKEY_DATASETS', 'notes-16k').filter((d) => d !== 'none')
/** The notes corpus's history: incremental steps, each backed up (BENCH_NOTES_STEPS, 1–8). */
const notesSteps = Number.parseInt(process.env.BENCH_NOTES_STEPS ?? '8', 10)
if (!(notesSteps >= 1 && notesSteps <= 8)) throw new Error(`BENCH_NOTES_STEPS must be 1–8, not ${process.env.BENCH_NOTES_STEPS}`)

function listEnv(name, fallback) {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run bench` (it builds first) or `npm run build`')

// Measure a private copy of dist/ (under the git-ignored bench/.data, so its imports still resolve
// from this project's node_modules): others may rebuild dist/ while a long run is going on.
const DIST = join(BENCH, '.data', `dist-snapshot-${process.pid}`)
rmSync(DIST, { recursive: true, force: true })
cpSync(join(ROOT, 'dist'), DIST, { recursive: true })
process.on('exit', () => rmSync(DIST, { recursive: true, force: true }))
const distHash = createHash('sha256').update(readFileSync(join(DIST, 'index.js'))).update(readFileSync(join(DIST, 'chunk-worker.js'))).digest('hex').slice(0, 16)

const tmpRoot = mkdtempSync(join(os.tmpdir(), 'session-sync-bench-'))
const cleanup = () => rmSync(tmpRoot, { recursive: true, force: true })
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const n of datasetNames) revertEdits(n, scale)
    cleanup()
    process.exit(130)
  })
}
let tmpN = 0
const freshDir = (what) => join(tmpRoot, `${what}-${tmpN++}`)

/** Restored trees kept (see the restore step), oldest first, and their bytes. */
const keptRestores = []
const keepRestoresGb = Number(process.env.BENCH_KEEP_RESTORES_GB ?? 8)
if (!Number.isFinite(keepRestoresGb) || keepRestoresGb < 0) throw new Error(`BENCH_KEEP_RESTORES_GB must be a number of GB (0 or more), not ${JSON.stringify(process.env.BENCH_KEEP_RESTORES_GB)}`)
/** Keeps a restored tree; the oldest ones kept before it go while all together pass the limit. */
function keepRestore(dir, bytes) {
  keptRestores.push({ dir, bytes })
  let total = keptRestores.reduce((a, r) => a + r.bytes, 0)
  while (total > keepRestoresGb * 1e9 && keptRestores.length > 1) {
    const old = keptRestores.shift()
    rmSync(old.dir, { recursive: true, force: true })
    total -= old.bytes
  }
}

// ---- helpers ------------------------------------------------------------------------------------

function lastJsonLine(text, what) {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  if (!line) throw new Error(`${what}: no JSON line in its output:\n${text}`)
  return JSON.parse(line)
}

function sha256File(path) {
  const h = createHash('sha256')
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024)
  const fd = openSync(path, 'r')
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      h.update(buf.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  return h.digest('hex')
}

/** SHA-256 of every file of a dataset, computed once (the restores of run 1 are compared with it). */
const datasetHashes = new Map()
function hashesOf(ds) {
  if (!datasetHashes.has(ds.dir)) datasetHashes.set(ds.dir, new Map(ds.files.map((f) => [f.path, sha256File(join(ds.dir, f.path))])))
  return datasetHashes.get(ds.dir)
}

/** Compares a restored tree with the dataset, file by file (size and SHA-256). */
function verifyRestore(ds, restoredDir) {
  const hashes = hashesOf(ds)
  let bad = 0
  for (const f of ds.files) {
    const b = join(restoredDir, f.path)
    try {
      if (statSync(b).size !== f.size || sha256File(b) !== hashes.get(f.path)) bad++
    } catch {
      bad++
    }
  }
  return { files: ds.files.length, mismatched: bad }
}

const sizeOf = (dir) => (existsSync(dir) ? duBytes(dir).apparent : 0)

function gitCommit() {
  // Read-only peek at .git (no git command): the checked-out commit, if easy to find.
  try {
    const head = readFileSync(join(ROOT, '.git', 'HEAD'), 'utf8').trim()
    if (!head.startsWith('ref: ')) return head
    const ref = head.slice(5)
    const loose = join(ROOT, '.git', ref)
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim()
    const packed = readFileSync(join(ROOT, '.git', 'packed-refs'), 'utf8')
    return packed.split('\n').find((l) => l.endsWith(` ${ref}`))?.split(' ')[0] ?? null
  } catch {
    return null
  }
}

function machineInfo() {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism?.() ?? cpus.length,
    totalMemBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    writerCompressionThisNode: typeof zlib.zstdCompressSync === 'function' ? 'zstd (node:zlib)' : 'zstd (WebAssembly: no zstd in this node:zlib)',
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  }
}

// ---- the programs compared ----------------------------------------------------------------------

/** Installs what is missing where it can and returns the variants to run, in the order they run. */
async function prepareVariants() {
  const skipped = []
  const wanted = [{ cmd: 'time', pkg: 'time' }, ...peerNames.map((p) => ({ cmd: p, pkg: p === 'borg' ? 'borgbackup' : 'restic' }))]
  // `time` must be GNU time (a program on PATH), not the shell keyword: ensureCommands looks on PATH.
  const { found, missing } = await ensureCommands(wanted, log)
  const timeBin = found.time
  if (!timeBin) log(`WARNING: ${missing.time}; CPU and peak RSS will be missing from the tables`)

  const ours = []
  if (wantNode24) {
    const n24 = await ensureNode24(DATA_ROOT, log)
    if (n24.bin) ours.push({ bin: n24.bin, version: n24.version })
    else skipped.push({ label: 'ours (node 24)', reason: n24.reason })
  }
  ours.push({ bin: process.execPath, version: process.version })
  const majors = new Set()
  const variants = []
  for (const o of ours) {
    const major = o.version.replace(/^v/, '').split('.')[0]
    if (majors.has(major)) continue // this Node is itself v24: one variant is enough
    majors.add(major)
    variants.push(oursVariant({ nodeBin: o.bin, version: o.version, opScript: OP, dist: DIST }))
  }
  const keyed = rawKeyDatasets.filter((d) => datasetNames.includes(d))
  if (keyed.length) for (const v of [...variants]) variants.push(oursVariant({ nodeBin: v.nodeBin, version: v.version.replace(/^node /, ''), opScript: OP, dist: DIST, rawKey: true, datasets: keyed }))
  for (const p of peerNames) {
    if (!found[p]) {
      skipped.push({ label: p, reason: missing[p] })
      log(`skipping ${p}: ${missing[p]}`)
      continue
    }
    const version = await firstLine(found[p], p === 'borg' ? ['--version'] : ['version'])
    variants.push(p === 'restic' ? resticVariant({ bin: found[p], version }) : borgVariant({ bin: found[p], version }))
  }
  return { variants, skipped, timeBin }
}

// ---- one dataset, one run -----------------------------------------------------------------------

/**
 * Runs one operation of one program and measures it: wall (spawn → exit), CPU and peak RSS (rusage
 * of the child), and how much the repository grew. A failure is recorded, not thrown: one program's
 * error must not lose the other programs' figures.
 */
async function step(ctx, v, state, name, spec) {
  const before = sizeOf(state.repo)
  // Dirty pages of the previous step (a restore writes 1–2 GB) are written back by the kernel in
  // the background, taking CPU and disk from whatever runs next. Flushing them first, outside the
  // measured time, keeps one program's writes from slowing the next program down.
  spawnSync('sync', { stdio: 'ignore' })
  const r = await measured(ctx.timeBin, spec.cmd, spec.args, { cwd: spec.cwd ?? ROOT, env: spec.env }, tmpRoot)
  const after = sizeOf(state.repo)
  const rec = {
    wallMs: Math.round(r.wallMs * 10) / 10,
    cpuUserMs: r.cpuUserMs,
    cpuSystemMs: r.cpuSystemMs,
    peakRssBytes: r.peakRssBytes,
    exitCode: r.code,
    repoBytesBefore: before,
    repoBytesAfter: after,
    repoGrowthBytes: after - before,
    command: [basename(spec.cmd), ...spec.args].join(' '),
    parsed: v.parse(r.stdout) ?? null,
  }
  if (r.code !== 0) {
    rec.error = (r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n')
    log(`  ${v.label} ${name} FAILED (exit ${r.code}): ${rec.error}`)
  } else {
    log(`  ${v.label.padEnd(15)} ${name.padEnd(14)} ${(r.wallMs / 1000).toFixed(2).padStart(7)} s` + (r.peakRssBytes ? `  ${(r.peakRssBytes / 2 ** 20).toFixed(0).padStart(5)} MiB` : ''))
  }
  return rec
}

/** Unchanged backups timed in one process after its first (the kept-open sync figure). */
const KEPT_OPEN_SYNCS = 5

/** Runs `fn` for every program in turn (the round-robin), skipping programs whose repository broke. */
async function eachVariant(ctx, fn) {
  for (const v of ctx.variants) {
    const st = ctx.states[v.id]
    if (st.broken) continue
    await fn(v, st, ctx.out[v.id])
  }
}

async function datasetRun(name, ds, allVariants, timeBin, i) {
  const variants = allVariants.filter((v) => !v.datasets || v.datasets.includes(name))
  // The order rotates by one program each run, so that none always runs first (or always after the
  // same one) in a step: on a virtual machine the cost of the memory a step writes into depends on
  // what ran just before (a restore right after another program's restore was deleted found freed
  // memory; the first restore of a step did not, and took up to a second longer for 1 GB).
  const order = variants.map((_, k) => variants[(k + i) % variants.length])
  const ctx = { variants: order, timeBin, states: {}, out: {} }
  for (const v of variants) {
    ctx.states[v.id] = v.setup(freshDir(`${name}-${v.id}`))
    ctx.out[v.id] = {}
  }
  const tag = `${name} run ${i + 1}/${runs}`
  if (variants.length > 1) log(`${tag}: order ${order.map((v) => v.label).join(', ')}`)
  const backup = async (label, opts = {}) =>
    eachVariant(ctx, async (v, st, out) => {
      const rec = await step(ctx, v, st, label, v.backup(st, ds, opts))
      out[label] = rec
      if (rec.error) st.broken = true
      else st.snapshots.push(v.snapshotRef(st, rec.parsed))
    })

  log(`${tag}: init`)
  await eachVariant(ctx, async (v, st, out) => {
    out.init = await step(ctx, v, st, 'init', v.init(st))
    if (out.init.error) st.broken = true
  })
  log(`${tag}: first backup`)
  await backup('first')
  log(`${tag}: unchanged re-backup`)
  await backup('unchanged')
  if (name === 'notes-16k') {
    log(`${tag}: the floor: Node start-up and an lstat of every entry (each Node of ours)`)
    await eachVariant(ctx, async (v, st, out) => {
      if (v.kind !== 'ours') return
      out.floor = await step(ctx, v, st, 'floor', { cmd: v.nodeBin, args: [FLOOR, ds.dir], env: process.env })
    })
  }
  if (name === 'memory-50m') {
    // The sync figure: the same unchanged backup, opened with the raw key (no KDF). Ours only.
    log(`${tag}: unchanged re-backup with the raw key (ours)`)
    await eachVariant(ctx, async (v, st, out) => {
      if (v.kind !== 'ours') return
      out.unchangedKey = await step(ctx, v, st, 'unchanged/key', v.backup(st, ds, { key: true }))
    })
    // And in a process that keeps the repository open (a plugin's scheduled sync): one backup as
    // above, then KEPT_OPEN_SYNCS more in the same process, each timed (their snapshots are
    // forgotten afterwards, so later steps find the same repository).
    log(`${tag}: unchanged re-backups in one process, the repository kept open (ours)`)
    await eachVariant(ctx, async (v, st, out) => {
      if (v.kind !== 'ours') return
      out.unchangedOpen = await step(ctx, v, st, 'unchanged/open', v.backup(st, ds, { key: true, repeat: KEPT_OPEN_SYNCS }))
    })
    // The floor under any such sync in Node: start-up, node:crypto and an lstat of every entry.
    log(`${tag}: the floor: Node start-up and an lstat of every entry (each Node of ours)`)
    await eachVariant(ctx, async (v, st, out) => {
      if (v.kind !== 'ours') return
      out.floor = await step(ctx, v, st, 'floor', { cmd: v.nodeBin, args: [FLOOR, ds.dir], env: process.env })
    })
  }
  const edits = []
  if (name === 'notes-16k') {
    // A repository's history: each step's changes, then a backup by every program.
    try {
      for (let k = 0; k < notesSteps; k++) {
        log(`${tag}: history step ${k + 1}/${notesSteps}, re-backup`)
        edits.push(editDataset(name, ds, { set: k }))
        await backup(`step${k + 1}`)
      }
    } finally {
      revertEdits(name, scale)
    }
  } else {
    try {
      log(`${tag}: edits (set 1), re-backup`)
      edits.push(editDataset(name, ds, { set: 0 }))
      await backup('edited')
      // A second set on top: the two newest snapshots then hold data the two oldest do not, so
      // forgetting the oldest half leaves prune something to free.
      log(`${tag}: more edits (set 2), re-backup`)
      edits.push(editDataset(name, ds, { set: 1 }))
      await backup('edited2')
    } finally {
      revertEdits(name, scale)
    }
  }

  log(`${tag}: full restore of the first snapshot`)
  // Every restored tree stays until the benchmark ends (the temporary folder goes at exit), or until
  // the restores kept pass BENCH_KEEP_RESTORES_GB (default 8; the oldest go first): on an
  // ext4 without a journal, a file created soon after many were deleted costs a scan past the
  // recently deleted inodes (the allocator skips them for one to six minutes), for every program
  // alike. Measured here, the memory folder's restore (2,000 files, ours, raw key) took 0.78–1.08 s
  // right after another such restore was deleted, 0.65–0.74 s with no deletion in the minute
  // before; the notes corpus's restores were bimodal (restic 2.99–6.12 s, ours 1.99–6.04 s in one
  // run) while each run deleted its restores before the next run's restore, and steady once none
  // was deleted before the end (restic 2.66–2.76 s, ours 1.87–2.13 s with the raw key).
  await eachVariant(ctx, async (v, st, out) => {
    const target = freshDir('restore')
    mkdirSync(target, { recursive: true })
    const rec = await step(ctx, v, st, 'restore', v.restore(st, target, st.snapshots[0]))
    rec.bytesRestored = sizeOf(target)
    if (i === 0 && !rec.error) rec.verify = verifyRestore(ds, v.restoredRoot(target, ds))
    keepRestore(target, rec.bytesRestored)
    if (rec.verify?.mismatched) log(`  WARNING: ${v.label} restore: ${rec.verify.mismatched} of ${rec.verify.files} files differ from the dataset`)
    out.restore = rec
  })
  log(`${tag}: check --read-data`)
  await eachVariant(ctx, async (v, st, out) => {
    out.check = await step(ctx, v, st, 'check', v.check(st))
  })
  log(`${tag}: forget all but the 2 newest snapshots, prune`)
  await eachVariant(ctx, async (v, st, out) => {
    out.forget = await step(ctx, v, st, 'forget', v.forget(st, 2))
    if (out.forget.error) return
    out.prune = await step(ctx, v, st, 'prune', v.prune(st))
  })
  for (const v of variants) {
    const st = ctx.states[v.id]
    // Every program keeps a local cache next to the repository (restic's cache, borg's files and
    // chunks caches, ours: tree packs, index files and the tree and index memos). Its size is part
    // of what a backup writes.
    ctx.out[v.id].cacheBytes = (v.cacheDirs?.(st) ?? []).reduce((a, d) => a + sizeOf(d), 0)
    ctx.out[v.id].snapshots = st.snapshots.length
    rmSync(st.dir, { recursive: true, force: true })
  }
  gc()
  return { edits, variants: ctx.out }
}

// ---- micro figures ------------------------------------------------------------------------------

/** The chunker and the micro benchmarks, from the sources (tsx), on every Node binary we measure. */
async function microFigures(variants) {
  const out = {}
  for (const v of variants.filter((x) => x.kind === 'ours')) {
    const node = v.nodeBin
    out[v.id] = {}
    if (process.env.BENCH_SKIP_CHUNKER !== '1') {
      log(`micro (${v.label}): node --import tsx bench/chunker.mjs`)
      const r = await run(node, ['--import', 'tsx', join(BENCH, 'chunker.mjs')], { cwd: ROOT })
      if (r.code === 0) out[v.id].chunker = lastJsonLine(r.stdout, 'chunker')
      else log(`WARNING: bench/chunker.mjs failed on ${v.label}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`)
    }
    if (process.env.BENCH_SKIP_MICRO !== '1') {
      log(`micro (${v.label}): node --import tsx bench/micro.mjs`)
      // A smoke run (scale < 1) hashes less; the index is always 1M blobs unless BENCH_MICRO_BLOBS says otherwise.
      const env = { ...process.env, BENCH_MICRO_MB: process.env.BENCH_MICRO_MB ?? (scale < 1 ? '64' : '256') }
      const r = await run(node, ['--import', 'tsx', join(BENCH, 'micro.mjs')], { cwd: ROOT, env })
      if (r.code === 0) out[v.id].micro = lastJsonLine(r.stdout, 'micro')
      else log(`WARNING: bench/micro.mjs failed on ${v.label}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`)
    }
  }
  return out
}

// ---- main ---------------------------------------------------------------------------------------

const started = performance.now()
const machine = machineInfo()
log(`scale ${scale}, ${runs} run(s), datasets ${datasetNames.join(', ')}; ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}`)
const { variants, skipped, timeBin } = await prepareVariants()
log(`programs, in the order of the first run (rotated by one each further run): ${variants.map((v) => `${v.label} (${v.version})`).join(', ')}`)

const datasets = {}
for (const n of datasetNames) datasets[n] = ensureDataset(n, scale, log)
const micro = await microFigures(variants)

const results = {}
const strip = ({ files, ...rest }) => rest
// Results name no machine paths: the temporary folder, the data folder, the project and the home
// folder are replaced inside every string.
const home = os.homedir()
const scrubString = (v) => {
  let s = v.split(tmpRoot).join('<tmp>')
  if (!DATA_ROOT.startsWith(ROOT)) s = s.split(DATA_ROOT).join('<data>')
  s = s.split(`${ROOT}/`).join('').split(ROOT).join('.')
  return home && home !== '/' ? s.split(home).join('~') : s
}
const scrub = (k, v) => (k === 'nodeBin' ? undefined : typeof v === 'string' ? scrubString(v) : v)

/** Writes the results so far (after every run, so a long benchmark cut short still leaves its finished runs). */
function writeResults(final) {
  const done = Object.fromEntries(Object.entries(results).filter(([, r]) => r.length > 0))
  const result = {
    time: new Date().toISOString(),
    commit: gitCommit(),
    distSha256: distHash,
    config: { scale, runs: Math.max(...Object.values(done).map((r) => r.length)), runsAsked: runs, datasets: Object.keys(done), peers: peerNames, node24: wantNode24, rusage: timeBin ? 'GNU time' : 'unavailable', ...(final ? {} : { partial: true }) },
    machine: { ...machine },
    programs: variants.map((v) => ({ id: v.id, label: v.label, kind: v.kind, version: v.version, settings: v.settings })),
    skipped,
    datasets: Object.fromEntries(Object.entries(datasets).filter(([k]) => done[k]).map(([k, d]) => [k, strip(d)])),
    micro,
    runs: done,
    benchWallSeconds: Math.round((performance.now() - started) / 100) / 10,
  }
  result.machine.loadAvgAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100)
  const md = markdown(result)
  result.figures = md.figures
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(result, scrub, 2) + '\n')
  writeFileSync(join(RESULTS, 'latest.md'), scrubString(md.text))
  return { result, md }
}

for (const n of datasetNames) {
  // Reading the dataset once (SHA-256 of every file, for the restore check of run 1) also puts it in
  // the page cache, so the first program measured does not pay for a cold read that the others skip.
  log(`${n}: hashing the dataset (restore check; warms the page cache)`)
  hashesOf(datasets[n])
  results[n] = []
  for (let i = 0; i < runs; i++) {
    results[n].push(await datasetRun(n, datasets[n], variants, timeBin, i))
    writeResults(false)
  }
}

const { result, md } = writeResults(true)
console.log(scrubString(md.text))
log(`done in ${result.benchWallSeconds} s; wrote bench/results/latest.json and bench/results/latest.md`)
