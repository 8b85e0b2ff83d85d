// The agent-memory sync's own figures, through the package's public API (dist/index.js: build
// first). The memory-50m dataset (2,000 files) is copied into a workspace as memory/ beside a
// MEMORY.md, then, on a local repository and on the S3 test server (s3rver on 127.0.0.1):
//
//   - unchanged sync with the repository open and the schedule running: median of BENCH_SYNC_RUNS
//     (5) timer syncs (the watcher lets them skip the walk) and as many manual ones (which walk),
//     from the call to its result, no debounce, with their requests;
//   - one edited note: time and requests (the median of as many edits);
//   - the event loop's largest delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution) during a
//     first sync, staged restores of the whole workspace on the syncing device (the median of
//     BENCH_SYNC_RUNS and the worst), a new device's first staged restore (a
//     fresh workspace and state folder each time: the median of BENCH_SYNC_RUNS and the worst), and
//     opening a repository that holds 1,000 snapshots (a fresh WorkspaceSync's status()).
//
//   node bench/sync.mjs            (npm run bench runs it after the comparison with restic and borg)
//   BENCH_SYNC_S3=0                 local repository only
// Results: bench/results/sync.json and bench/results/sync.md.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { DATA_ROOT, ensureDataset } from './datasets.mjs'
import { ensureNode24 } from './tools.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))

// The figures are for Node 24, what OpenClaw runs: on an older Node, run this file again on the
// Node 24 that the test suite and the main benchmark use (installed when missing).
if (Number(process.versions.node.split('.')[0]) < 24) {
  const node24 = await ensureNode24(DATA_ROOT, (line) => console.error(line))
  if (!node24.bin) {
    console.error(`the sync benchmark needs Node 24: ${node24.reason}`)
    process.exit(1)
  }
  const r = spawnSync(node24.bin, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const RUNS = Number(process.env.BENCH_SYNC_RUNS ?? 5)
const lib = await import(pathToFileURL(join(HERE, '..', 'dist', 'index.js')).href)
const { WorkspaceSync, Repository, LocalBackend } = lib

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Runs fn while measuring the event loop's delay; returns fn's result and the largest delay in ms. */
async function withLoopDelay(fn) {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  const t0 = performance.now()
  const result = await fn()
  const ms = performance.now() - t0
  h.disable()
  return { result, ms, maxDelayMs: h.max / 1e6, p99DelayMs: h.percentile(99) / 1e6 }
}

async function startS3() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-s3-'))
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(HERE, '..', 'test', 'support', 's3-server.mjs'), dir, 'bench'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`s3 server exited ${code}`)))
  })
  return {
    endpoint: `http://127.0.0.1:${JSON.parse(line).port}`,
    stop: () => {
      child.stdin.end()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function makeWorkspace(root, dataset) {
  const ws = join(root, 'workspace')
  mkdirSync(ws, { recursive: true })
  cpSync(dataset, join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- benchmark workspace\n')
  return ws
}

async function measureTarget(name, config, dataset, env) {
  const root = mkdtempSync(join(tmpdir(), `bench-sync-${name}-`))
  try {
    const ws = makeWorkspace(root, dataset)
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ ...config, debounce_seconds: 0 }))
    const runEnv = { ...env, SESSION_SYNC_STATE_DIR: join(root, 'state') }
    const sync = WorkspaceSync.create({ workspace: ws, env: runEnv })
    await sync.init()
    const first = await withLoopDelay(() => sync.syncNow({ trigger: 'manual' }))
    // The schedule runs (as in the plugin and the daemon): its watcher lets an unchanged timer sync
    // skip the walk. A manual sync always walks: both are measured.
    sync.start()
    await sync.syncNow({ trigger: 'manual' })
    await new Promise((r) => setTimeout(r, 100))
    const unchanged = []
    const walked = []
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now()
      let s = await sync.syncNow({ trigger: 'timer' })
      unchanged.push({ ms: performance.now() - t0, result: s.result, watched: !!s.watched, requests: s.requests })
      t0 = performance.now()
      s = await sync.syncNow({ trigger: 'manual' })
      walked.push({ ms: performance.now() - t0, result: s.result, requests: s.requests })
      await new Promise((r) => setTimeout(r, 20))
    }
    const edits = []
    for (let i = 0; i < RUNS; i++) {
      writeFileSync(join(ws, 'memory', `bench-edit-${i % 2}.md`), `an edited note, round ${i}\n`)
      const t0 = performance.now()
      const s = await sync.syncNow({ trigger: 'wrap-up' })
      edits.push({ ms: performance.now() - t0, result: s.result, requests: s.requests })
    }
    // The syncing device's staged restore, as many times (a median and the worst, as for a new device).
    const restores = []
    for (let i = 0; i < RUNS; i++) restores.push(await withLoopDelay(() => sync.restore({ timestamp: 'latest' })))
    const restore = restores[0]
    // A new device's first restore, as many times (each a fresh workspace and state folder: no
    // cache, nothing staged before), for a median of the loop's largest delay rather than one sample.
    const key = sync.showKey()
    const devices = []
    for (let i = 0; i < RUNS; i++) {
      const other = join(root, `device-${i}`)
      mkdirSync(join(other, 'workspace'), { recursive: true })
      // A local repository's path is relative to the workspace: the same folder from the new one.
      const same = config.provider === 'local' ? { ...config, path: join(ws, config.path) } : config
      writeFileSync(join(other, 'workspace', 'session-sync-config.json'), JSON.stringify({ ...same, debounce_seconds: 0 }))
      const fresh = WorkspaceSync.create({ workspace: join(other, 'workspace'), env: { ...env, SESSION_SYNC_STATE_DIR: join(other, 'state'), SESSION_SYNC_KEY: key } })
      const r = await withLoopDelay(() => fresh.restore({ timestamp: 'latest' }))
      await fresh.close()
      devices.push({ ms: r.ms, maxLoopDelayMs: r.maxDelayMs, p99LoopDelayMs: r.p99DelayMs })
    }
    await sync.stop()
    return {
      target: name,
      firstSync: { ms: first.ms, maxLoopDelayMs: first.maxDelayMs, p99LoopDelayMs: first.p99DelayMs, files: first.result.filesNew },
      unchanged: { medianMs: median(unchanged.map((u) => u.ms)), runs: unchanged },
      unchangedWalked: { medianMs: median(walked.map((u) => u.ms)), runs: walked },
      edit: { medianMs: median(edits.map((u) => u.ms)), maxPut: Math.max(...edits.map((e) => e.requests.PUT)), runs: edits },
      stagedRestore: {
        medianMs: median(restores.map((r) => r.ms)),
        medianMaxLoopDelayMs: median(restores.map((r) => r.maxDelayMs)),
        worstMaxLoopDelayMs: Math.max(...restores.map((r) => r.maxDelayMs)),
        files: restore.result.diff.unchanged.length + restore.result.diff.changed.length + restore.result.diff.added.length,
        runs: restores.map((r) => ({ ms: r.ms, maxLoopDelayMs: r.maxDelayMs, p99LoopDelayMs: r.p99DelayMs })),
      },
      newDeviceRestore: { medianMs: median(devices.map((d) => d.ms)), medianMaxLoopDelayMs: median(devices.map((d) => d.maxLoopDelayMs)), worstMaxLoopDelayMs: Math.max(...devices.map((d) => d.maxLoopDelayMs)), runs: devices },
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/** A repository holding `count` snapshots of one agent, then a fresh WorkspaceSync's status(). */
async function manySnapshots(count) {
  const root = mkdtempSync(join(tmpdir(), 'bench-sync-many-'))
  try {
    const ws = join(root, 'workspace')
    mkdirSync(join(ws, 'memory'), { recursive: true })
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo') }))
    const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }
    const seed = WorkspaceSync.create({ workspace: ws, env })
    await seed.init()
    const repo = await Repository.open({ backend: new LocalBackend(join(root, 'repo')), key: Buffer.from(seed.showKey(), 'base64') })
    for (let i = 0; i < count; i++) {
      writeFileSync(join(ws, 'memory', 'today.md'), `entry ${i}\n`)
      await repo.backup([ws], { includes: ['memory/**'], tags: ['agent:main', `device:${seed.device}`, 'trigger:timer'], host: seed.device, dirTimes: false, time: new Date(Date.now() - (count - i) * 60_000) })
    }
    await repo.close()
    await seed.close()
    const fresh = WorkspaceSync.create({ workspace: ws, env })
    const r = await withLoopDelay(() => fresh.status())
    await fresh.close()
    return { snapshots: count, statusMs: r.ms, maxLoopDelayMs: r.maxDelayMs, p99LoopDelayMs: r.p99DelayMs }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

const dataset = ensureDataset('memory-50m', 1)
const results = { node: process.version, runs: RUNS, dataset: 'memory-50m (2,000 files, 50 MB) as memory/', targets: [] }
results.targets.push(await measureTarget('local', { provider: 'local', path: './repo-not-in-scope' }, dataset.dir, { HOME: tmpdir() }))
if (process.env.BENCH_SYNC_S3 !== '0') {
  const s3 = await startS3()
  try {
    results.targets.push(await measureTarget('s3 test server', { provider: 'custom', endpoint: s3.endpoint, bucket: 'bench' }, dataset.dir, { HOME: tmpdir(), AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }))
  } finally {
    s3.stop()
  }
}
results.manySnapshots = await manySnapshots(Number(process.env.BENCH_SYNC_SNAPSHOTS ?? 1000))

const f = (n) => (n === undefined ? '' : n.toFixed(n < 10 ? 1 : 0))
const rows = [
  `# Sync figures (${results.node}, medians of ${RUNS})`,
  '',
  '| target | first sync | its max loop delay | unchanged timer sync (watched) | unchanged sync, walked | its requests (PUT/LIST/GET) | one edited note | its max PUT | staged restore | its max loop delay (median; worst) | a new device: staged restore | its max loop delay (median; worst) |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.targets.map((t) => {
    const u = t.unchangedWalked.runs.at(-1).requests
    const watched = t.unchanged.runs.filter((r) => r.watched).length
    return `| ${t.target} | ${f(t.firstSync.ms)} ms | ${f(t.firstSync.maxLoopDelayMs)} ms | ${f(t.unchanged.medianMs)} ms (${watched}/${t.unchanged.runs.length} watched) | ${f(t.unchangedWalked.medianMs)} ms | ${u.PUT}/${u.LIST}/${u.GET} | ${f(t.edit.medianMs)} ms | ${t.edit.maxPut} | ${f(t.stagedRestore.medianMs)} ms | ${f(t.stagedRestore.medianMaxLoopDelayMs)} ms; ${f(t.stagedRestore.worstMaxLoopDelayMs)} ms | ${f(t.newDeviceRestore.medianMs)} ms | ${f(t.newDeviceRestore.medianMaxLoopDelayMs)} ms; ${f(t.newDeviceRestore.worstMaxLoopDelayMs)} ms |`
  }),
  '',
  `Opening a repository with ${results.manySnapshots.snapshots} snapshots (a fresh sync's status): ${f(results.manySnapshots.statusMs)} ms, max loop delay ${f(results.manySnapshots.maxLoopDelayMs)} ms.`,
  '',
]
mkdirSync(join(HERE, 'results'), { recursive: true })
writeFileSync(join(HERE, 'results', 'sync.json'), `${JSON.stringify(results, null, 1)}\n`)
writeFileSync(join(HERE, 'results', 'sync.md'), rows.join('\n'))
console.log(rows.join('\n'))
