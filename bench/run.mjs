// The benchmark: `npm run bench` (builds, then runs this with --expose-gc). Reports numbers, asserts
// nothing. See bench/README.md for what each figure means.
//
// Env: BENCH_SCALE (dataset size factor, default 1; 0.1 for a quick smoke run), BENCH_RUNS (runs per
// figure, default 3; medians are reported), BENCH_SKIP_CHUNKER=1 (skip the chunker figure),
// BENCH_DATA_DIR (where datasets live, default bench/.data).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, readSync, closeSync, statSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as zlib from 'node:zlib'
import { benchScale, duBytes, editDataset, ensureDataset, revertEdits } from './datasets.mjs'

const BENCH = dirname(fileURLToPath(import.meta.url))
const ROOT = join(BENCH, '..')
const OP = join(BENCH, 'op.mjs')
const RESULTS = join(BENCH, 'results')
const scale = benchScale()
const runs = Number.parseInt(process.env.BENCH_RUNS ?? '3', 10)
if (!(runs >= 1)) throw new Error(`BENCH_RUNS must be a positive integer, not ${process.env.BENCH_RUNS}`)
const log = (s) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`)
const gc = globalThis.gc ?? (() => {})

if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run bench` (it builds first) or `npm run build`')

// ---- helpers ------------------------------------------------------------------------------------

/** Runs a command, returns { stdout, stderr, code, processWallMs }. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    const out = []
    const err = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    child.on('error', reject)
    child.on('close', (code) => {
      const processWallMs = Number(process.hrtime.bigint() - t0) / 1e6
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code, processWallMs })
    })
  })
}

function lastJsonLine(text, what) {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  if (!line) throw new Error(`${what}: no JSON line in its output:\n${text}`)
  return JSON.parse(line)
}

// Measure a private copy of dist/ (under the git-ignored bench/.data, so its imports still resolve
// from this project's node_modules): others may rebuild dist/ while a long run is going on.
const DIST = join(BENCH, '.data', `dist-snapshot-${process.pid}`)
rmSync(DIST, { recursive: true, force: true })
cpSync(join(ROOT, 'dist'), DIST, { recursive: true })
process.on('exit', () => rmSync(DIST, { recursive: true, force: true }))
const distHash = createHash('sha256').update(readFileSync(join(DIST, 'index.js'))).update(readFileSync(join(DIST, 'chunk-worker.js'))).digest('hex').slice(0, 16)

/** One operation in a fresh process (bench/op.mjs); adds the spawn-to-exit wall time. */
async function op(...args) {
  const r = await run(process.execPath, [OP, ...args], { env: { ...process.env, BENCH_DIST: DIST } })
  if (r.code !== 0) throw new Error(`op ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`)
  const res = lastJsonLine(r.stdout, `op ${args[0]}`)
  res.processWallMs = Math.round(r.processWallMs * 10) / 10
  return res
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
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

/** Compares a restored tree with the dataset, file by file (size and SHA-256). */
function verifyRestore(manifest, restoredDir) {
  let bad = 0
  for (const f of manifest.files) {
    const a = join(manifest.dir, f.path)
    const b = join(restoredDir, f.path)
    try {
      if (statSync(b).size !== f.size || sha256File(a) !== sha256File(b)) bad++
    } catch {
      bad++
    }
  }
  return { files: manifest.files.length, mismatched: bad }
}

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
    writerCompression: typeof zlib.zstdCompressSync === 'function' ? 'zstd (node:zlib)' : 'brotli q1 (no zstd in this node:zlib)',
    tmpdir: os.tmpdir(),
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  }
}

const tmpRoot = mkdtempSync(join(os.tmpdir(), 'session-sync-bench-'))
const cleanup = () => rmSync(tmpRoot, { recursive: true, force: true })
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    revertEdits('mixed-1g')
    cleanup()
    process.exit(130)
  })
}
let tmpN = 0
const freshDir = (what) => join(tmpRoot, `${what}-${tmpN++}`)

// ---- the runs -----------------------------------------------------------------------------------

async function chunkerFigure() {
  if (process.env.BENCH_SKIP_CHUNKER === '1') return null
  log('chunker: node --import tsx bench/chunker.mjs')
  const r = await run(process.execPath, ['--import', 'tsx', join(BENCH, 'chunker.mjs')])
  if (r.code !== 0) throw new Error(`bench/chunker.mjs failed (exit ${r.code}):\n${r.stderr}`)
  return lastJsonLine(r.stdout, 'chunker')
}

async function mixedRun(ds, i) {
  const repo = freshDir('repo')
  const out = {}
  out.init = await op('init', repo)
  log(`mixed-1g run ${i + 1}/${runs}: first backup`)
  out.first = await op('backup', repo, ds.dir)
  out.repoSize = duBytes(repo)
  out.stats = await op('stats', repo)
  log(`mixed-1g run ${i + 1}/${runs}: unchanged re-backup`)
  out.unchanged = await op('backup', repo, ds.dir)
  log(`mixed-1g run ${i + 1}/${runs}: re-backup without parent (reads everything, all deduplicated)`)
  out.noParent = await op('backup', repo, ds.dir, '--parent-none')
  log(`mixed-1g run ${i + 1}/${runs}: edit ~1% of files, re-backup`)
  let edit
  try {
    edit = editDataset('mixed-1g', ds, 0.01)
    out.edited = await op('backup', repo, ds.dir)
  } finally {
    revertEdits('mixed-1g')
  }
  out.edited.edit = edit
  log(`mixed-1g run ${i + 1}/${runs}: full restore of the first snapshot`)
  const target = freshDir('restore')
  out.restore = await op('restore', repo, target, '--snapshot', out.first.summary.snapshotId)
  if (i === 0) {
    log(`mixed-1g run ${i + 1}/${runs}: verifying the restored files against the dataset`)
    out.verify = verifyRestore(ds, join(target, 'data'))
  }
  rmSync(target, { recursive: true, force: true })
  rmSync(repo, { recursive: true, force: true })
  gc()
  return out
}

async function memoryRun(ds, i) {
  const repo = freshDir('repo')
  const out = {}
  out.init = await op('init', repo)
  log(`memory-50m run ${i + 1}/${runs}: first backup, unchanged re-backup`)
  out.first = await op('backup', repo, ds.dir)
  out.unchanged = await op('backup', repo, ds.dir)
  rmSync(repo, { recursive: true, force: true })
  return out
}

// ---- figures ------------------------------------------------------------------------------------

const MB = 1e6
const MiB = 1024 * 1024
const r1 = (x) => (x === null ? null : Math.round(x * 10) / 10)
const r3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000)

function figures(ds, mixed, memory, memDs) {
  const bytes = ds.totalBytes
  const m = (get) => mixed.map(get)
  const k = (get) => memory.map(get)
  const rss = (o) => o.peakRssBytes / MiB
  const cpu = (o) => (o.cpuUserMs + o.cpuSystemMs) / 1000
  // [group, label, unit, values per run]
  return [
    ['mixed-1g', 'first backup: throughput', 'MB/s', m((r) => bytes / MB / (r.first.wallMs / 1000))],
    ['mixed-1g', 'first backup: wall (open + backup)', 's', m((r) => r.first.wallMs / 1000)],
    ['mixed-1g', 'first backup: whole process (spawn → exit)', 's', m((r) => r.first.processWallMs / 1000)],
    ['mixed-1g', 'first backup: CPU user + system', 's', m((r) => cpu(r.first))],
    ['mixed-1g', 'first backup: peak RSS', 'MiB', m((r) => rss(r.first))],
    ['mixed-1g', 'open (Argon2id KDF, library default)', 'ms', m((r) => r.first.openMs)],
    ['mixed-1g', 'init (incl. Argon2id)', 'ms', m((r) => r.init.opMs)],
    ['mixed-1g', 'unchanged re-backup: wall', 's', m((r) => r.unchanged.wallMs / 1000)],
    ['mixed-1g', 'unchanged re-backup: peak RSS', 'MiB', m((r) => rss(r.unchanged))],
    ['mixed-1g', 'no-parent re-backup (all read, all dedup): throughput', 'MB/s', m((r) => bytes / MB / (r.noParent.wallMs / 1000))],
    ['mixed-1g', 'no-parent re-backup: peak RSS', 'MiB', m((r) => rss(r.noParent))],
    ['mixed-1g', `re-backup after editing ~1% of files: wall`, 's', m((r) => r.edited.wallMs / 1000)],
    ['mixed-1g', 're-backup after edits: bytes read', 'MB', m((r) => r.edited.summary.bytesRead / MB)],
    ['mixed-1g', 're-backup after edits: bytes added (plaintext)', 'MB', m((r) => r.edited.summary.bytesAdded / MB)],
    ['mixed-1g', 're-backup after edits: peak RSS', 'MiB', m((r) => rss(r.edited))],
    ['mixed-1g', 'full restore: throughput', 'MB/s', m((r) => r.restore.summary.bytesRestored / MB / (r.restore.wallMs / 1000))],
    ['mixed-1g', 'full restore: wall (open + restore)', 's', m((r) => r.restore.wallMs / 1000)],
    ['mixed-1g', 'full restore: CPU user + system', 's', m((r) => cpu(r.restore))],
    ['mixed-1g', 'full restore: peak RSS', 'MiB', m((r) => rss(r.restore))],
    ['mixed-1g', 'repository size on disk (after first backup)', 'MB', m((r) => r.repoSize.apparent / MB)],
    ['mixed-1g', 'repository size / dataset size', 'ratio', m((r) => r.repoSize.apparent / bytes)],
    ['mixed-1g', 'index: bytes per blob (memoryBytes / size)', 'B', m((r) => r.stats.summary.indexBytesPerBlob)],
    ['mixed-1g', 'index: blobs', 'count', m((r) => r.stats.summary.blobs)],
    ['memory-50m', 'first backup: wall', 's', k((r) => r.first.wallMs / 1000)],
    ['memory-50m', 'first backup: throughput', 'MB/s', k((r) => memDs.totalBytes / MB / (r.first.wallMs / 1000))],
    ['memory-50m', 'unchanged re-backup: whole process (spawn → exit)', 's', k((r) => r.unchanged.processWallMs / 1000)],
    ['memory-50m', 'unchanged re-backup: open (KDF)', 'ms', k((r) => r.unchanged.openMs)],
    ['memory-50m', 'unchanged re-backup: backup alone', 'ms', k((r) => r.unchanged.opMs)],
    ['memory-50m', 'unchanged re-backup: start-up (node + library load)', 'ms', k((r) => r.unchanged.startupMs)],
    ['memory-50m', 'unchanged re-backup: peak RSS', 'MiB', k((r) => rss(r.unchanged))],
  ]
}

function fmt(x) {
  if (x === null || x === undefined) return '–'
  if (Math.abs(x) >= 100) return String(Math.round(x))
  if (Math.abs(x) >= 10) return x.toFixed(1)
  if (Math.abs(x) >= 1) return x.toFixed(2)
  return x.toFixed(3)
}

function markdown(res) {
  const mi = res.machine
  const lines = []
  lines.push(`# session-sync-cloud benchmark`)
  lines.push('')
  lines.push(`${res.time} · scale ${res.config.scale} · ${res.config.runs} run(s) per figure (median; min–max) · commit ${res.commit?.slice(0, 12) ?? 'unknown'} (dist ${res.distSha256})`)
  lines.push('')
  lines.push(`Machine: ${mi.cpuModel}, ${mi.cores} cores, ${(mi.totalMemBytes / 2 ** 30).toFixed(0)} GiB RAM, Node ${mi.node}, ${mi.platform}; writer compression: ${mi.writerCompression}. Load average (1/5/15 min) at start ${mi.loadAvgAtStart.join(' ')}, at end ${mi.loadAvgAtEnd.join(' ')} (the benchmark alone keeps about ${mi.cores} busy; more means other processes competed for the cores).`)
  lines.push('')
  for (const [name, d] of Object.entries(res.datasets)) {
    const c = d.composition
    lines.push(
      `Dataset ${name}: ${d.fileCount} files in ${d.dirCount} folders, ${fmt(d.totalBytes / MB)} MB` +
        (c.copyBytes || c.spanSharedBytes
          ? ` (unique binary ${fmt(c.uniqueBinaryBytes / MB)} MB, unique text ${fmt(c.uniqueTextBytes / MB)} MB, exact copies ${fmt(c.copyBytes / MB)} MB, shared spans ${fmt(c.spanSharedBytes / MB)} MB: ${Math.round(c.duplicatedFraction * 100)}% duplicated)`
          : '') +
        (d.reused ? ', reused' : `, generated in ${fmt(d.generatedMs / 1000)} s`) + '.',
    )
  }
  lines.push('')
  lines.push('| dataset | figure | unit | median | min–max |')
  lines.push('|---|---|---|---:|---:|')
  if (res.chunker) lines.push(`| – | chunker (bench/chunker.mjs, 256 MiB random, median of 5) | MB/s | ${fmt(res.chunker.chunker_MBps)} | ${fmt(Math.min(...res.chunker.runs))}–${fmt(Math.max(...res.chunker.runs))} |`)
  for (const f of res.figures) lines.push(`| ${f.dataset} | ${f.figure} | ${f.unit} | ${fmt(f.median)} | ${fmt(f.min)}–${fmt(f.max)} |`)
  lines.push('')
  const e = res.runs.mixed[0]?.edited?.edit
  if (e) lines.push(`Edits: ${e.files} files (${fmt(e.bytes / MB)} MB) changed before the "after editing" re-backup.`)
  const v = res.runs.mixed[0]?.verify
  if (v) lines.push(`Restore check (run 1): ${v.files} files compared by SHA-256, ${v.mismatched} mismatched.`)
  lines.push('MB = 10^6 bytes, MiB = 2^20 bytes. Throughput = dataset bytes / in-process wall time (repository open with its Argon2id KDF + the operation). See bench/README.md.')
  return lines.join('\n') + '\n'
}

// ---- main ---------------------------------------------------------------------------------------

const started = performance.now()
const machine = machineInfo()
log(`scale ${scale}, ${runs} run(s); ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}; temp dir ${tmpRoot}`)
const mixedDs = ensureDataset('mixed-1g', scale, log)
const memDs = ensureDataset('memory-50m', scale, log)
const chunker = await chunkerFigure()
if (chunker) log(`chunker: ${chunker.chunker_MBps} MB/s`)

const mixed = []
for (let i = 0; i < runs; i++) mixed.push(await mixedRun(mixedDs, i))
const memory = []
for (let i = 0; i < runs; i++) memory.push(await memoryRun(memDs, i))

const figs = figures(mixedDs, mixed, memory, memDs).map(([dataset, figure, unit, values]) => ({
  dataset,
  figure,
  unit,
  median: r3(median(values)),
  min: r3(Math.min(...values)),
  max: r3(Math.max(...values)),
  values: values.map(r3),
}))
const strip = ({ files, dir, ...rest }) => ({ ...rest, dir })
const result = {
  time: new Date().toISOString(),
  commit: gitCommit(),
  distSha256: distHash,
  config: { scale, runs },
  machine,
  datasets: { 'mixed-1g': strip(mixedDs), 'memory-50m': strip(memDs) },
  chunker,
  figures: figs,
  runs: { mixed, memory },
  benchWallSeconds: r1((performance.now() - started) / 1000),
}
result.machine.loadAvgAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100)
const md = markdown(result)
mkdirSync(RESULTS, { recursive: true })
// Results name no machine paths: folders become relative to the project, temporary ones are dropped.
const scrub = (k, v) => {
  if (typeof v !== 'string') return v
  if (k === 'target' || k === 'tmpdir' || v.startsWith(os.tmpdir())) return undefined
  return v.startsWith(ROOT) ? v.slice(ROOT.length + 1) : v
}
writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(result, scrub, 2) + '\n')
writeFileSync(join(RESULTS, 'latest.md'), md)
console.log(md)
log(`done in ${result.benchWallSeconds} s; wrote bench/results/latest.json and bench/results/latest.md`)
