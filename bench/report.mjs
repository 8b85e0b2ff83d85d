// Turns the benchmark's raw measurements (bench/run.mjs) into figures (median, min–max, ratios
// ours/peer) and the markdown report: one table per dataset, the memory-folder sync table, the micro
// table, the machine line. Pure functions of the result object.

const MB = 1e6
const MiB = 2 ** 20

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

function spread(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x))
  return { median: median(v), min: v.length ? Math.min(...v) : null, max: v.length ? Math.max(...v) : null }
}

export function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–'
  const a = Math.abs(x)
  if (a >= 100) return Math.round(x).toLocaleString('en-US')
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  // Small values keep three significant digits (a few kB written, in MB), zero stays 0.
  return a === 0 ? '0' : x.toPrecision(3)
}

// ---- figure definitions -------------------------------------------------------------------------

/** A record that exists and did not fail, or undefined. */
const ok = (rec) => (rec && !rec.error ? rec : undefined)
const cpuS = (rec) => (ok(rec) && rec.cpuUserMs !== null ? (rec.cpuUserMs + rec.cpuSystemMs) / 1000 : null)
const rssMiB = (rec) => (ok(rec) && rec.peakRssBytes !== null ? rec.peakRssBytes / MiB : null)
const wallS = (rec) => (ok(rec) ? rec.wallMs / 1000 : null)
const toMs = (s) => (s === null ? null : s * 1000)

/** Rows of one operation: wall, MB/s, CPU, peak RSS, and what it wrote. */
function opRows(label, key, ds, written) {
  const rows = [
    { figure: `${label}: wall, whole process (s)`, get: (o) => wallS(o[key]) },
    { figure: `${label}: MB/s (dataset MB / wall)`, better: 'higher', get: (o) => (ok(o[key]) ? ds.totalBytes / MB / (o[key].wallMs / 1000) : null) },
    { figure: `${label}: CPU user + system (s)`, get: (o) => cpuS(o[key]) },
    { figure: `${label}: peak RSS (MiB)`, get: (o) => rssMiB(o[key]) },
  ]
  if (written === 'repo') rows.push({ figure: `${label}: bytes written to the repository (MB)`, get: (o) => (ok(o[key]) ? o[key].repoGrowthBytes / MB : null) })
  if (written === 'restore') rows.push({ figure: `${label}: bytes restored (MB)`, get: (o) => (ok(o[key]) ? o[key].bytesRestored / MB : null) })
  return rows
}

/** The history steps of a run of one program (notes-16k: step1 … step8), in order. */
const stepsOf = (o) =>
  Object.keys(o)
    .filter((k) => /^step\d+$/.test(k))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
    .map((k) => o[k])

/** A record standing for a run's incremental steps: the median of each measurement over the steps. */
function stepsMedian(o) {
  const steps = stepsOf(o).filter((r) => ok(r))
  if (steps.length === 0 || steps.length < stepsOf(o).length) return undefined
  const m = (f) => medianOf(steps.map(f).filter((x) => typeof x === 'number'))
  return { wallMs: m((r) => r.wallMs), cpuUserMs: m((r) => r.cpuUserMs), cpuSystemMs: m((r) => r.cpuSystemMs), peakRssBytes: m((r) => r.peakRssBytes), repoGrowthBytes: m((r) => r.repoGrowthBytes) }
}

function datasetRows(ds, name) {
  if (name === 'notes-16k') return notesRows(ds)
  const both = (o) => (ok(o.forget) && ok(o.prune) ? [o.forget, o.prune] : null)
  const sum = (f) => (o) => {
    const b = both(o)
    return b && f(b[0]) !== null && f(b[1]) !== null ? f(b[0]) + f(b[1]) : null
  }
  return [
    ...opRows('first backup', 'first', ds, 'repo'),
    ...opRows('unchanged re-backup', 'unchanged', ds, 'repo'),
    ...opRows('re-backup after edits (set 1)', 'edited', ds, 'repo'),
    ...opRows('full restore (first snapshot)', 'restore', ds, 'restore'),
    ...opRows('check --read-data', 'check', ds),
    { figure: 'forget all but the 2 newest + prune: wall, both processes (s)', get: sum(wallS) },
    { figure: 'forget + prune: CPU user + system (s)', get: sum(cpuS) },
    { figure: 'forget + prune: peak RSS (MiB)', get: (o) => (both(o) ? Math.max(rssMiB(o.forget) ?? 0, rssMiB(o.prune) ?? 0) || null : null) },
    { figure: 'forget + prune: repository bytes freed (MB)', better: 'higher', get: (o) => (both(o) ? (o.forget.repoBytesBefore - o.prune.repoBytesAfter) / MB : null) },
    { figure: 'repository size after the first backup (MB)', get: (o) => (ok(o.first) ? o.first.repoBytesAfter / MB : null) },
    { figure: 'repository size / dataset size', get: (o) => (ok(o.first) ? o.first.repoBytesAfter / ds.totalBytes : null) },
    { figure: 'repository size after all backups (MB)', get: (o) => (ok(o.edited2) ? o.edited2.repoBytesAfter / MB : null) },
    { figure: 'repository size after forget + prune (MB)', get: (o) => (ok(o.prune) ? o.prune.repoBytesAfter / MB : null) },
    { figure: 'local cache size at the end (MB)', ratio: false, get: (o) => (typeof o.cacheBytes === 'number' ? o.cacheBytes / MB : null) },
  ]
}

/** notes-16k: a repository's history (first backup, unchanged, the incremental steps, ...). */
function notesRows(ds) {
  const rows = datasetRows(ds, '')
  const at = rows.findIndex((r) => r.figure.startsWith('re-backup after edits'))
  const withSteps = (o) => ({ ...o, incr: stepsMedian(o) })
  const incr = opRows('incremental backup, median of the history steps', 'incr', ds, 'repo').map((r) => ({ ...r, get: (o) => r.get(withSteps(o)) }))
  const perStep = Array.from({ length: 8 }, (_, k) => ({ figure: `history step ${k + 1}: wall (s)`, get: (o) => wallS(o[`step${k + 1}`]) }))
  const floor = [
    { figure: 'floor: Node starting and lstat-ing every entry, nothing else: wall (s)', ratio: false, get: (o) => wallS(o.floor) },
    {
      figure: 'incremental (median step) above the floor, in floors: (wall − floor) / floor',
      ratio: false,
      get: (o) => {
        const m = stepsMedian(o)
        return m && ok(o.floor) ? (m.wallMs - o.floor.wallMs) / o.floor.wallMs : null
      },
    },
  ]
  rows.splice(at, 5, ...incr, ...perStep.filter((_, k) => k < 8), ...floor)
  const last = (o) => stepsOf(o).at(-1)
  const sizeAll = rows.findIndex((r) => r.figure.startsWith('repository size after all backups'))
  rows[sizeAll] = { figure: 'repository size after all backups (MB)', get: (o) => (ok(last(o)) ? last(o).repoBytesAfter / MB : null) }
  return rows
}

/** The memory-folder sync: an unchanged backup, whole process, with a raw key and with a password. */
function syncRows() {
  const parsed = (rec) => (ok(rec) ? rec.parsed : undefined)
  return [
    { figure: 'unchanged sync, raw key: wall, whole process (ms) — peers: with their password', get: (o) => (ok(o.unchangedKey) ? o.unchangedKey.wallMs : null), getPeer: (o) => (ok(o.unchanged) ? o.unchanged.wallMs : null) },
    { figure: 'floor: the same Node starting, loading node:crypto and lstat-ing every entry, nothing else: wall (ms)', ratio: false, get: (o) => (ok(o.floor) ? o.floor.wallMs : null) },
    { figure: 'unchanged sync, password: wall, whole process (ms)', get: (o) => (ok(o.unchanged) ? o.unchanged.wallMs : null) },
    { figure: 'raw key: Node start-up + library load (ms)', ratio: false, get: (o) => parsed(o.unchangedKey)?.startupMs ?? null },
    { figure: 'raw key: open, no KDF (ms)', ratio: false, get: (o) => parsed(o.unchangedKey)?.openMs ?? null },
    { figure: 'raw key: the backup itself (ms)', ratio: false, get: (o) => parsed(o.unchangedKey)?.opMs ?? null },
    { figure: 'password: open, Argon2id KDF (ms)', ratio: false, get: (o) => parsed(o.unchanged)?.openMs ?? null },
    { figure: 'raw key: CPU user + system (ms)', get: (o) => toMs(cpuS(o.unchangedKey)), getPeer: (o) => toMs(cpuS(o.unchanged)) },
    { figure: 'raw key: peak RSS (MiB)', get: (o) => rssMiB(o.unchangedKey), getPeer: (o) => rssMiB(o.unchanged) },
    { figure: 'raw key, repository kept open: each further unchanged backup in the same process (ms; median of 5 a run)', ratio: false, get: (o) => medianOf(parsed(o.unchangedOpen)?.summary?.repeatMs) },
  ]
}

/** The median of a list of numbers, or null without any. */
function medianOf(xs) {
  if (!Array.isArray(xs) || xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** The same object with every number rounded to 5 significant digits (for latest.json). */
function roundAll(o) {
  return JSON.parse(JSON.stringify(o, (k, v) => (typeof v === 'number' && Number.isFinite(v) && v !== 0 ? Number(v.toPrecision(5)) : v)))
}

/** Evaluates rows over every run of every program: values, median/min/max, ratios ours/peer. */
function evaluate(rows, runs, programs) {
  const ours = programs.filter((p) => p.kind === 'ours')
  const peers = programs.filter((p) => p.kind === 'peer')
  return rows.map((row) => {
    const values = {}
    const stats = {}
    for (const p of programs) {
      const get = p.kind === 'peer' && row.getPeer ? row.getPeer : row.get
      values[p.id] = runs.map((r) => (r.variants[p.id] ? get(r.variants[p.id]) : null))
      stats[p.id] = spread(values[p.id])
    }
    const ratios = {}
    if (row.ratio !== false) {
      for (const o of ours) {
        for (const q of peers) {
          const a = stats[o.id].median
          const b = stats[q.id].median
          ratios[`${o.id}/${q.id}`] = a !== null && b ? a / b : null
        }
      }
    }
    return { figure: row.figure, better: row.better ?? 'lower', values: roundAll(values), stats: roundAll(stats), ratios: roundAll(ratios) }
  })
}

// ---- markdown -----------------------------------------------------------------------------------

function cell(s, runs) {
  if (s.median === null) return '–'
  return runs > 1 && s.min !== s.max ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median)
}

function table(figs, programs, runs) {
  const ours = programs.filter((p) => p.kind === 'ours')
  const peers = programs.filter((p) => p.kind === 'peer')
  const head = ['figure', ...programs.map((p) => p.label), ...peers.map((q) => `ours/${q.label}`)]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`]
  for (const f of figs) {
    const ratioCells = peers.map((q) => {
      const rs = ours.map((o) => f.ratios[`${o.id}/${q.id}`])
      return rs.every((r) => r === null || r === undefined) ? '' : rs.map((r) => (r === null || r === undefined ? '–' : r.toFixed(2))).join(' · ')
    })
    lines.push(`| ${[f.figure, ...programs.map((p) => cell(f.stats[p.id], runs)), ...ratioCells].join(' | ')} |`)
  }
  return lines
}

function describeDataset(name, d) {
  const c = d.composition
  const mb = (x) => `${fmt(x / MB)} MB`
  let s = `${d.fileCount.toLocaleString('en-US')} file${d.fileCount === 1 ? '' : 's'} in ${d.dirCount} folder${d.dirCount === 1 ? '' : 's'}, ${mb(d.totalBytes)}`
  if (name === 'big-2g') s += ` (${c.segments} segments: random ${mb(c.randomBytes)}, text ${mb(c.textBytes)}, repeats of earlier spans ${mb(c.repeatBytes)}, zeros ${mb(c.zeroBytes)})`
  else if (c.copyBytes || c.spanSharedBytes)
    s += ` (unique binary ${mb(c.uniqueBinaryBytes)}, unique text ${mb(c.uniqueTextBytes)}, exact copies ${mb(c.copyBytes)}, shared spans ${mb(c.spanSharedBytes)}: ${Math.round(c.duplicatedFraction * 100)}% duplicated)`
  return s + (d.reused ? ', reused' : `, generated in ${fmt(d.generatedMs / 1000)} s`)
}

function describeEdits(name, edits) {
  if (name === 'notes-16k')
    return (
      `History (each step stacked on the ones before, then backed up by every program): ` +
      edits.map((e, i) => `step ${i + 1}: ${e.files} files (${e.newFiles} added, ${e.deleted} deleted, ${e.renamed} renamed, the rest edited), ${fmt(e.changedBytes / 1e3)} kB written`).join('; ') +
      '.'
    )
  const what = { 'mixed-1g': '~1% of the files edited in place', 'memory-50m': "a day's appends (MEMORY.md and ~1% of the files, plus one new session log)", 'big-2g': '20 stretches of 2–8 KiB overwritten' }[name]
  return `Edits (${what}): ` + edits.map((e, i) => `set ${i + 1}: ${e.files} file(s) of ${fmt(e.bytes / MB)} MB touched${e.newFiles ? `, ${e.newFiles} new` : ''}, ${fmt(e.changedBytes / 1e3)} kB written`).join('; ') + '.'
}

/**
 * Files an unchanged re-backup did not take from its parent: should be 0, else parent detection
 * failed. Known for ours and restic (borg's --json output does not say).
 */
function rereadFiles(rec) {
  const p = ok(rec)?.parsed
  if (p?.summary && typeof p.summary.filesUnmodified === 'number') return p.summary.totalFiles - p.summary.filesUnmodified
  if (p && typeof p.files_unmodified === 'number') return p.total_files_processed - p.files_unmodified
  return 0
}

/** Failed steps, failed checks and unchanged re-backups that read files again, as sentences. */
function problems(runs, programs) {
  const out = []
  runs.forEach((r, i) => {
    for (const p of programs) {
      const o = r.variants[p.id]
      if (!o) continue
      for (const [step, rec] of Object.entries(o)) {
        if (rec && typeof rec === 'object' && rec.error) out.push(`run ${i + 1}, ${p.label}, ${step}: exit ${rec.exitCode}: ${rec.error.split('\n').at(-1)}`)
      }
      if (o.check?.parsed?.summary && o.check.parsed.summary.ok === false) out.push(`run ${i + 1}, ${p.label}: check found ${o.check.parsed.summary.problemCount} problem(s)`)
      const reread = rereadFiles(o.unchanged)
      if (reread) out.push(`run ${i + 1}, ${p.label}: the unchanged re-backup read ${reread} file(s) again (previous snapshot not used as parent?)`)
    }
  })
  return out
}

function microTable(micro, programs) {
  const ours = programs.filter((p) => p.kind === 'ours' && micro[p.id])
  if (ours.length === 0 || ours.every((p) => !micro[p.id].chunker && !micro[p.id].micro)) return []
  const m = (p) => micro[p.id].micro
  const idx = (p) => m(p)?.index
  const first = ours.map(idx).find(Boolean)
  const L = first?.layouts
  const rows = [
    ['chunker: FastCDC on 256 MiB of random bytes in memory, median of 5 (MB/s)', (p) => micro[p.id].chunker?.chunker_MBps],
    ['HMAC-SHA256, node:crypto, 1 MiB buffers (MB/s)', (p) => m(p)?.crypto.hmacSha256.MBps],
    ['blob id: the library’s HMAC-SHA256 (MB/s)', (p) => m(p)?.crypto.blobId.MBps],
    ['AES-256-GCM encrypt, node:crypto, one 1 MiB update() (MB/s)', (p) => m(p)?.crypto.aes256gcm.MBps],
    ['seal blob: the library’s HMAC blob key + AES-256-GCM into a buffer (MB/s)', (p) => m(p)?.crypto.sealBlob.MBps],
    ['open blob: the library’s AES-256-GCM decrypt + verify (MB/s)', (p) => m(p)?.crypto.openBlob.MBps],
    [`index: bytes per blob in memory (${fmt(first?.blobs ?? 0)} blobs)`, (p) => idx(p)?.memoryBytesPerBlob],
    ['index: lookups/s, ids present', (p) => idx(p)?.lookupsPerSecondHit],
    ['index: lookups/s, ids absent', (p) => idx(p)?.lookupsPerSecondMiss],
    [`index load, as backups write it (${L ? L.asBackupWrites.indexFiles : '?'} files) (ms)`, (p) => idx(p)?.layouts.asBackupWrites.loadMs],
    [`index load, as prune writes it (${L ? L.asPruneWrites.indexFiles : '?'} files) (ms)`, (p) => idx(p)?.layouts.asPruneWrites.loadMs],
    ['index files: bytes per blob on disk', (p) => idx(p)?.layouts.asPruneWrites.bytesOnDiskPerBlob],
  ]
  const head = ['figure', ...ours.map((p) => p.label)]
  return [`| ${head.join(' | ')} |`, `|---|${ours.map(() => '---:').join('|')}|`, ...rows.map(([label, get]) => `| ${label} | ${ours.map((p) => fmt(get(p) ?? null)).join(' | ')} |`)]
}

/** The report: { text (markdown), figures (per dataset, for latest.json) }. */
export function markdown(res) {
  const mi = res.machine
  const programs = res.programs
  const runs = res.config.runs
  const figures = {}
  const lines = []
  lines.push('# session-sync-cloud benchmark', '')
  lines.push(`${res.time} · scale ${res.config.scale} · ${runs} run(s) (median${runs > 1 ? ', min–max in brackets' : ''}) · commit ${res.commit?.slice(0, 12) ?? 'unknown'} (dist ${res.distSha256})`, '')
  lines.push(
    `Machine: ${mi.cpuModel}, ${mi.cores} cores, ${(mi.totalMemBytes / 2 ** 30).toFixed(0)} GiB RAM, ${mi.platform}. Load average (1/5/15 min) at start ${mi.loadAvgAtStart.join(' ')}, at end ${mi.loadAvgAtEnd.join(' ')} (a backup alone keeps about ${mi.cores} cores busy; more means other processes competed).`,
    '',
  )
  lines.push('Programs (each step runs for each of them in turn, in this order in the first run and rotated by one program each further run; every operation in a process of its own, a fresh repository per run):', '')
  for (const p of programs) lines.push(`- **${p.label}**: ${p.version}; ${p.settings}`)
  for (const s of res.skipped) lines.push(`- **${s.label}**: skipped: ${s.reason}`)
  lines.push('')
  lines.push(
    'Wall = spawn to exit of the process; CPU and peak RSS = the child’s rusage (GNU time), the same way for every program. "Bytes written to the repository" = growth of the repository folder (sum of file sizes); peers also write local caches (last row). Ratio cells: ours on each Node (in column order, separated by ·) divided by the peer; below 1 = ours lower (better for times, sizes and memory), above 1 for MB/s and bytes freed = ours higher.',
    '',
  )
  for (const [name, d] of Object.entries(res.datasets)) {
    const runsOf = res.runs[name]
    // Programs that ran on this dataset (the raw-key variants of ours run on some only).
    const here = programs.filter((p) => runsOf.some((r) => r.variants[p.id]))
    const figs = evaluate(datasetRows(d, name), runsOf, here)
    figures[name] = figs
    lines.push(`## ${name}`, '', `${describeDataset(name, d)}.`, '')
    lines.push(...table(figs, here, runs), '')
    if (runsOf[0]?.edits?.length) lines.push(describeEdits(name, runsOf[0].edits), '')
    const ver = programs.map((p) => [p, runsOf[0]?.variants[p.id]?.restore?.verify]).filter(([, v]) => v)
    if (ver.length) lines.push(`Restore check (run 1, size and SHA-256 of every file): ${ver.map(([p, v]) => `${p.label} ${v.mismatched} of ${v.files} differ`).join('; ')}.`, '')
    const bad = problems(runsOf, programs)
    if (bad.length) lines.push('Problems:', '', ...bad.map((b) => `- ${b}`), '')
    if (name === 'memory-50m') {
      const sync = evaluate(syncRows(), runsOf, programs)
      figures['memory-50m sync'] = sync
      lines.push('### memory folder: unchanged sync', '')
      lines.push(...table(sync, programs, runs), '')
      const verdict = programs
        .filter((p) => p.kind === 'ours')
        .map((p) => {
          const m = sync[0].stats[p.id].median
          const floor = sync[1].stats[p.id].median
          return `${p.label} ${fmt(m)} ms: ${m === null ? 'not measured' : m < 150 ? 'met' : 'not met'}${floor === null ? '' : ` (its floor, start-up and an lstat of every entry alone: ${fmt(floor)} ms)`}`
        })
      lines.push('Peers have no raw-key mode: their cells in the raw-key rows are their unchanged backup with the password.', '')
      lines.push(`Target: an unchanged sync of the memory folder under 150 ms, whole process, with the raw key. ${verdict.join('; ')}.`, '')
      const kept = sync.at(-1)
      const keptCells = programs.filter((p) => p.kind === 'ours' && kept.stats[p.id].median !== null).map((p) => `${p.label} ${fmt(kept.stats[p.id].median)} ms`)
      if (keptCells.length) lines.push(`In a process that keeps the repository open (as a plugin does between scheduled syncs), each further unchanged sync took ${keptCells.join('; ')} (the table's last row): no Node start-up, library load or key opening.`, '')
    }
  }
  const mt = microTable(res.micro, programs)
  if (mt.length) {
    lines.push('## micro', '', ...mt, '')
    lines.push('From the TypeScript sources (tsx), one process per Node binary. Hash/cipher: 1 MiB buffers already in memory, median of the timed runs. Index: made-up entries (16 blobs a pack), written as index files of a local repository, loaded by `Repository.index()` (list, read, decrypt, decode, build) with the files in the page cache, median of 3.', '')
  }
  lines.push(`MB = 10^6 bytes, MiB = 2^20 bytes. Benchmark wall time ${fmt(res.benchWallSeconds)} s. See bench/README.md.`)
  return { text: lines.join('\n') + '\n', figures }
}
