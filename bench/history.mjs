// History at scale: what a fresh process pays to open a repository that holds a month of 15-minute
// syncs (3,000 snapshots), on the S3 test server (s3rver on 127.0.0.1), with a raw key (no KDF), on
// Node 24 (what OpenClaw runs; this file re-runs itself there). Reports numbers, asserts none.
//
// The repository: one real backup of the memory-50m dataset (2,000 files, 50 MB, copied to a
// temporary folder), then BENCH_HISTORY_SNAPSHOTS - 1 more snapshot files written through the
// library's `saveSnapshot` (the same tree, times 15 minutes apart, each naming the one before as
// parent), each with one index file naming no pack, as many index files as the syncs that made
// them would have written (smaller than theirs, so "before" is if anything flattered). Building it
// takes a minute or so, not 3,000 backups.
//
// Each figure is a fresh Node process (`node bench/history.mjs --measure <op>`) that imports
// dist/index.js, opens the repository and runs one operation: an unchanged backup of the copy with
// skipIfUnchanged (the sync's default), `snapshots()`, or `stats()`. Wall time from spawn to exit
// (process start-up and module loading included), the operation's own time, and every request by
// kind and by kind of file. Medians of BENCH_RUNS (3). In this order:
//
//   1. before: no cache, the index files as the syncs left them (what the code did before the cache);
//   2. one changed backup (a note edited): it merges the index files (BackupOptions.consolidateIndexes);
//   3. after, no cache: merged index files only;
//   4. after, cold cache: a fresh cache folder (one run: it fills the cache);
//   5. after, warm cache.
//
//   npm run build && node bench/history.mjs     (npm run bench runs it after the sync figures)
// Env: BENCH_RUNS (3), BENCH_HISTORY_SNAPSHOTS (3000), BENCH_DATA_DIR.
// Results: bench/results/history.json and bench/results/history.md.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { DATA_ROOT, ensureDataset } from './datasets.mjs'
import { ensureNode24 } from './tools.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const SELF = fileURLToPath(import.meta.url)
const log = (s) => console.error(`[history-bench ${new Date().toISOString().slice(11, 19)}] ${s}`)

if (Number(process.versions.node.split('.')[0]) < 24) {
  const node24 = await ensureNode24(DATA_ROOT, (line) => console.error(line))
  if (!node24.bin) {
    console.error(`the history benchmark needs Node 24: ${node24.reason}`)
    process.exit(1)
  }
  const r = spawnSync(node24.bin, [SELF, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const lib = () => import(pathToFileURL(join(HERE, '..', 'dist', 'index.js')).href)

/** The backend with every load and listing counted by kind of file (other calls pass through). */
function tallied(backend, tally) {
  return new Proxy(backend, {
    get(target, prop) {
      if (prop === 'load')
        return (h, range) => {
          tally[`GET ${h.type}`] = (tally[`GET ${h.type}`] ?? 0) + 1
          return target.load(h, range)
        }
      if (prop === 'list')
        return (type) => {
          tally[`LIST ${type}`] = (tally[`LIST ${type}`] ?? 0) + 1
          return target.list(type)
        }
      const v = Reflect.get(target, prop)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

// ---- one measured operation (a fresh process) ----------------------------------------------------

async function measure(op) {
  const { Repository, openBackend, s3Of } = await lib()
  const env = process.env
  const tally = {}
  const backend = tallied(openBackend(env.H_LOCATION, { s3: { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } }), tally)
  const t0 = performance.now()
  const repo = await Repository.open({ backend, key: Buffer.from(env.H_KEY, 'base64'), cacheDir: env.H_CACHE === 'off' ? false : env.H_CACHE })
  const openMs = performance.now() - t0
  const t1 = performance.now()
  let result
  if (op === 'backup' || op === 'backup --parent') {
    // The sync layer names the parent (the snapshot its last sync made): no listing of snapshots.
    const s = await repo.backup([env.H_SRC], { skipIfUnchanged: true, parent: op === 'backup' ? undefined : env.H_PARENT })
    result = { skipped: s.skipped, filesUnmodified: s.filesUnmodified, indexFilesMerged: s.indexFilesMerged }
  } else if (op === 'changed-backup') {
    const s = await repo.backup([env.H_SRC], { skipIfUnchanged: true })
    result = { skipped: s.skipped, filesChanged: s.filesChanged, indexFilesMerged: s.indexFilesMerged, snapshotId: s.snapshotId }
  } else if (op === 'list snapshots') {
    let n = 0
    for await (const _ of repo.backend.list('snapshots')) n++
    result = { listed: n }
  } else if (op === 'snapshots') {
    result = { snapshots: (await repo.snapshots()).length }
  } else if (op === 'stats') {
    const st = await repo.stats()
    result = { snapshots: st.snapshots, totalFiles: st.totalFiles }
  } else throw new Error(`unknown op ${op}`)
  const opMs = performance.now() - t1
  const requests = repo.requests()
  // Whether the AWS SDK was loaded (writes need it; reads go without it where they can).
  const sdkLoaded = s3Of(backend)?.sdkLoaded
  await repo.close()
  // performance.now() counts from the process's start: start-up and imports included.
  process.stdout.write(`${JSON.stringify({ op, openMs, opMs, sinceStartMs: performance.now(), requests, byFile: tally, result, sdkLoaded })}\n`)
}

if (process.argv[2] === '--measure') {
  await measure(process.argv[3])
  process.exit(0)
}

// ---- the orchestrator ---------------------------------------------------------------------------------

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SNAPSHOTS = Number(process.env.BENCH_HISTORY_SNAPSHOTS ?? 3000)
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function startS3(dir) {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(HERE, '..', 'test', 'support', 's3-server.mjs'), dir, 'bench'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`s3 server exited ${code}`)))
  })
  return { endpoint: `http://127.0.0.1:${JSON.parse(line).port}`, stop: () => child.stdin.end() }
}

function runChild(op, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [SELF, '--measure', op], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('exit', (code) => {
      const wallMs = performance.now() - t0
      if (code !== 0) return reject(new Error(`${op} exited ${code}`))
      resolve({ wallMs, ...JSON.parse(out.trim().split('\n').at(-1)) })
    })
  })
}

const work = mkdtempSync(join(tmpdir(), 'bench-history-'))
const s3 = await startS3(join(work, 's3'))
try {
  const { Repository, openBackend } = await lib()
  const dataset = ensureDataset('memory-50m', 1)
  const src = join(work, 'memory')
  cpSync(dataset.dir, src, { recursive: true })
  const location = `s3:${s3.endpoint}/bench/history`
  const key = randomBytes(32)
  const s3opts = { s3: { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } }

  log(`building: one backup of memory-50m, then ${SNAPSHOTS - 1} snapshot and index files`)
  const tb = performance.now()
  const repo = await Repository.init({ backend: openBackend(location, s3opts), key, cacheDir: false })
  const first = await repo.backup([src])
  const base = await repo.findSnapshot(first.snapshotId)
  const start = Date.now() - SNAPSHOTS * 900_000
  let parent = base.id
  // Parents chain the snapshots, so they are written one after another; their index files in parallel.
  const pending = []
  for (let i = 1; i < SNAPSHOTS; i++) {
    parent = await repo.saveSnapshot({ time: new Date(start + i * 900_000).toISOString(), host: base.host, user: base.user, paths: base.paths, tags: [], tree: Buffer.from(base.tree, 'hex'), parents: [Buffer.from(parent, 'hex')], excludes: [] })
    pending.push(repo.saveIndexFile([]))
    if (pending.length >= 16) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  await repo.close()
  const buildMs = performance.now() - tb
  log(`built in ${(buildMs / 1000).toFixed(1)} s`)

  let parentId = parent
  const env = (cache) => ({ H_LOCATION: location, H_KEY: key.toString('base64'), H_SRC: src, H_CACHE: cache, H_PARENT: parentId })
  const results = { node: process.version, machine: `${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}`, runs: RUNS, snapshots: SNAPSHOTS, buildMs, steps: [] }
  const step = async (label, op, cache, runs = RUNS) => {
    const all = []
    for (let i = 0; i < runs; i++) all.push(await runChild(op, env(cache)))
    const row = {
      label,
      op,
      runs: all,
      wallMs: median(all.map((r) => r.wallMs)),
      opMs: median(all.map((r) => r.openMs + r.opMs)),
      requests: all.at(-1).requests,
      byFile: all.at(-1).byFile,
      result: all.at(-1).result,
    }
    results.steps.push(row)
    if (row.result.snapshotId) parentId = row.result.snapshotId
    const q = row.requests
    log(`${label}: ${row.wallMs.toFixed(0)} ms wall, ${row.opMs.toFixed(0)} ms open + operation; GET ${q.GET} LIST ${q.LIST} PUT ${q.PUT} DELETE ${q.DELETE} HEAD ${q.HEAD}`)
  }

  for (const op of ['backup', 'backup --parent', 'snapshots', 'stats']) await step(`before (no cache, ${SNAPSHOTS} index files)`, op, 'off')
  appendFileSync(join(src, 'MEMORY.md'), '\n- one more line, so the next backup stores something\n')
  await step('a changed backup (merges the index files)', 'changed-backup', 'off', 1)
  for (const op of ['backup', 'backup --parent', 'snapshots', 'stats']) await step('after, no cache (index merged)', op, 'off')
  const cacheDir = join(work, 'cache')
  await step('after, cold cache', 'backup', cacheDir, 1)
  for (const op of ['backup', 'backup --parent', 'snapshots', 'stats']) await step('after, warm cache', op, cacheDir)
  // The floor under anything that lists the snapshots: open, then only the listing (the test server
  // reads every object's metadata to list it; real S3 answers 1,000 names per request).
  await step('floor: open + listing the snapshots', 'list snapshots', 'off')

  const f = (n) => n.toFixed(0)
  const files = (b) =>
    Object.entries(b)
      .sort()
      .map(([k, v]) => `${k.replace(/^(GET|LIST) /, '$1 ')}: ${v}`)
      .join(', ')
  const rows = [
    `# History at scale (${results.node}, ${results.machine}; ${SNAPSHOTS} snapshots on the S3 test server; medians of ${RUNS} fresh processes)`,
    '',
    '| state | operation | wall (process) | open + operation | GET | LIST | PUT | DELETE | HEAD | by file |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...results.steps.map((s) => `| ${s.label} | ${s.op} | ${f(s.wallMs)} ms | ${f(s.opMs)} ms | ${s.requests.GET} | ${s.requests.LIST} | ${s.requests.PUT} | ${s.requests.DELETE} | ${s.requests.HEAD} | ${files(s.byFile)} |`),
    '',
    `LIST counts listings; on S3 each is one request per 1,000 names. "backup --parent" is an unchanged backup told its parent snapshot, as the sync layer does (it keeps the id of the snapshot its last sync made); "backup" finds it among all snapshots. Building the repository took ${(buildMs / 1000).toFixed(1)} s.`,
    '',
  ]
  mkdirSync(join(HERE, 'results'), { recursive: true })
  const clean = JSON.stringify(results, null, 1).replaceAll(work, '<tmp>')
  writeFileSync(join(HERE, 'results', 'history.json'), `${clean}\n`)
  writeFileSync(join(HERE, 'results', 'history.md'), rows.join('\n'))
  console.log(rows.join('\n'))
} finally {
  s3.stop()
  rmSync(work, { recursive: true, force: true })
}
