/**
 * memory/sync-dashboard.html: one self-contained page rewritten after every sync, for a user who
 * opens the workspace in a file browser. Inline CSS and SVG only: no script, no network, no token,
 * nothing secret (it is built from the sync log's lines and the state's last sync and alarms); its own
 * Content-Security-Policy forbids every load.
 */
import { randomBytes } from 'node:crypto'
import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SyncLogEntry } from './log.js'
import { ownFilesDir, RESTORE_TEMP_SUFFIX, STATUS_PAGE } from './scope.js'

export interface StatusPageInput {
  agent: string
  device: string
  state: { lastSync?: { time: string; trigger: string; result: string; snapshot?: string; error?: { message: string } }; lastSuccessAt?: string; shrink?: Array<{ path: string; percent: number; linesBefore: number; linesAfter: number; from: string }> }
  /** The sync log, newest first (the page reads up to 1,000 lines of it). */
  log: SyncLogEntry[]
  now: Date
  /** For the next scheduled sync. */
  intervalMinutes?: number
}

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function bytes(n: number | undefined): string {
  if (n === undefined) return ''
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

const when = (iso: string) => `${iso.replace('T', ' ').slice(0, 16)} UTC`
const RANK: Record<string, number> = { error: 0, warning: 1, aborted: 2 }

/** Uploaded bytes in all (a line) and bytes added per sync (bars), from the log's syncs that stored something. */
export function renderChart(log: SyncLogEntry[]): string {
  const syncs = log.filter((e) => e.kind === 'sync' && e.result !== 'error' && e.result !== 'aborted' && e.result !== 'unchanged' && e.snapshot).reverse()
  if (syncs.length === 0) return '<p>No snapshots in the log yet.</p>'
  const W = 760
  const H = 200
  const L = 64
  const R = 64
  const T = 10
  const B = 26
  let total = 0
  const pts = syncs.map((e) => ({ time: e.time, changed: e.bytesAdded ?? 0, stored: (total += e.bytesUploaded ?? 0) }))
  const maxS = Math.max(1, ...pts.map((p) => p.stored))
  const maxC = Math.max(1, ...pts.map((p) => p.changed))
  const step = (W - L - R) / pts.length
  const x = (i: number) => L + step * i + step / 2
  const yS = (v: number) => T + (H - T - B) * (1 - v / maxS)
  const yC = (v: number) => T + (H - T - B) * (1 - v / maxC)
  const bw = Math.max(1, Math.min(18, step * 0.6))
  const bars = pts.map((p, i) => `<rect class="changed" x="${(x(i) - bw / 2).toFixed(1)}" y="${yC(p.changed).toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - B - yC(p.changed)).toFixed(1)}" fill="#f2b24c"><title>${esc(when(p.time))}: ${esc(bytes(p.changed))} changed</title></rect>`).join('')
  const line = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${yS(p.stored).toFixed(1)}`).join(' ')
  const dots = pts.map((p, i) => `<circle class="stored" cx="${x(i).toFixed(1)}" cy="${yS(p.stored).toFixed(1)}" r="3" fill="#2f5fd0"><title>${esc(when(p.time))}: ${esc(bytes(p.stored))} uploaded in all</title></circle>`).join('')
  const ticks = [0, 0.5, 1]
    .map((f) => `<line x1="${L}" x2="${W - R}" y1="${yS(maxS * f).toFixed(1)}" y2="${yS(maxS * f).toFixed(1)}" stroke="#eef1f5"/><text x="${L - 6}" y="${(yS(maxS * f) + 4).toFixed(1)}" text-anchor="end">${esc(bytes(Math.round(maxS * f)))}</text><text x="${W - R + 6}" y="${(yC(maxC * f) + 4).toFixed(1)}">${esc(bytes(Math.round(maxC * f)))}</text>`)
    .join('')
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="uploaded bytes in all and bytes changed per sync">${ticks}<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#c8cfdb"/>${bars}<path d="${line}" fill="none" stroke="#2f5fd0" stroke-width="2"/>${dots}<text x="${L}" y="${H - 6}">${esc(when(pts[0].time))}</text><text x="${W - R}" y="${H - 6}" text-anchor="end">${esc(when(pts[pts.length - 1].time))}</text></svg>
<div class="legend"><span><i class="sw" style="background:#2f5fd0"></i>uploaded in all (left)</span> <span><i class="sw" style="background:#f2b24c"></i>changed per sync (right)</span></div>`
}

/** One square per UTC day for the last 30 days: green (all syncs ok), amber (warnings), red (a failure), grey (none). */
export function renderStrip(log: SyncLogEntry[], now: Date): string {
  const days: Array<{ day: string; ok: number; warning: number; error: number }> = []
  for (let i = 29; i >= 0; i--) days.push({ day: new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10), ok: 0, warning: 0, error: 0 })
  const byDay = new Map(days.map((d) => [d.day, d]))
  for (const e of log) {
    if (e.kind !== 'sync') continue
    const d = byDay.get(e.time.slice(0, 10))
    if (!d) continue
    if (e.result === 'error') d.error++
    else if (e.result === 'warning') d.warning++
    else if (e.result === 'ok' || e.result === 'unchanged') d.ok++
  }
  const w = 22
  return `<svg class="strip" viewBox="0 0 ${days.length * w} 28" width="100%" style="max-width:${days.length * w}px" role="img" aria-label="sync results for the last 30 days">${days
    .map((d, i) => `<rect x="${i * w + 1}" y="0" width="${w - 2}" height="28" rx="3" fill="${d.error > 0 ? '#c0362c' : d.warning > 0 ? '#e0a323' : d.ok > 0 ? '#2c9b5a' : '#dfe3ea'}"><title>${d.day}: ${d.ok} ok, ${d.warning} with warnings, ${d.error} failed</title></rect>`)
    .join('')}</svg>`
}

export function renderStatusPage(p: StatusPageInput): string {
  const last = p.state.lastSync
  const ok = last && last.result !== 'error'
  const syncs = p.log.filter((e) => e.kind === 'sync')
  const uploaded = syncs.reduce((n, e) => n + (e.bytesUploaded ?? 0), 0)
  const snapshots = new Set(syncs.filter((e) => e.result !== 'error' && e.result !== 'aborted' && e.snapshot).map((e) => e.snapshot)).size
  const next = p.intervalMinutes && p.state.lastSuccessAt ? new Date(Math.max(Date.parse(p.state.lastSuccessAt) + p.intervalMinutes * 60_000, p.now.getTime())).toISOString() : undefined
  const sorted = [...p.log].sort((a, b) => (RANK[a.result] ?? 3) - (RANK[b.result] ?? 3) || b.time.localeCompare(a.time)).slice(0, 60)
  const rows = sorted
    .map(
      (e) =>
        `<tr class="${esc(e.result)}"><td>${esc(e.time.replace('T', ' ').slice(0, 19))}Z</td><td>${esc(e.kind)}</td><td>${esc(e.trigger)}</td><td>${esc(e.result)}</td><td>${esc(e.snapshot?.slice(0, 8))}</td><td>${e.filesNew ?? ''}${e.filesChanged !== undefined ? ` / ${e.filesChanged}` : ''}</td><td>${esc(bytes(e.bytesUploaded))}</td><td>${esc(e.error?.message ?? (e.kind === 'shrink' ? e.detail?.path : ''))}</td></tr>`,
    )
    .join('\n')
  const alarms = (p.state.shrink ?? []).map((a) => `<div class="alarm">Shrink alarm: ${esc(a.path)} lost ${a.percent}% of its lines in one sync (${a.linesBefore} → ${a.linesAfter}); the earlier version is in snapshot ${esc(a.from.slice(0, 8))}.</div>`).join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Memory backup: ${esc(p.agent)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2430;background:#f7f8fa}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin:1.2rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.8rem;margin-bottom:1rem}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:.8rem 1rem}
.k{color:#5d6778;font-size:.8rem;text-transform:uppercase}.v{font-size:1.2rem;font-weight:600}
.ok{color:#176c3a}.bad{color:#a3261b}table{border-collapse:collapse;width:100%;background:#fff}
.alarm{background:#fff4e0;border:1px solid #f0c877;border-radius:8px;padding:.6rem .9rem;margin-bottom:.6rem}
.panel{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:1rem;margin-bottom:1rem}
.chart text{font-size:11px;fill:#5d6778}.legend{font-size:.85rem;color:#5d6778}.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
td,th{border-bottom:1px solid #e6e9ef;padding:.3rem .5rem;text-align:left;font-variant-numeric:tabular-nums}
tr.error td{background:#fdecea}tr.warning td{background:#fff6e0}
</style></head><body>
<h1>Memory backup of agent ${esc(p.agent)} on ${esc(p.device)}</h1>
${alarms}
<div class="cards">
<div class="card"><div class="k">Last sync</div><div class="v ${ok ? 'ok' : 'bad'}">${last ? (ok ? esc(last.result) : 'failed') : 'none yet'}</div><div>${last ? `${esc(when(last.time))} · ${esc(last.trigger)}${last.snapshot ? ` · ${esc(last.snapshot.slice(0, 8))}` : ''}` : ''}</div>${last?.error ? `<div class="bad">${esc(last.error.message)}</div>` : ''}</div>
<div class="card"><div class="k">Next sync</div><div class="v">${next ? esc(when(next)) : '–'}</div><div>${p.intervalMinutes ? `every ${p.intervalMinutes} min` : ''}</div></div>
<div class="card"><div class="k">Last success</div><div class="v">${p.state.lastSuccessAt ? esc(when(p.state.lastSuccessAt)) : '–'}</div></div>
<div class="card"><div class="k">Uploaded (log)</div><div class="v">${esc(bytes(uploaded))}</div><div>${snapshots} snapshots in the log</div></div>
</div>
<div class="panel"><h2>Stored and changed bytes per sync</h2>${renderChart(p.log)}<h2>Last 30 days</h2>${renderStrip(p.log, p.now)}</div>
<h2>Sync log (errors first)</h2>
<table><thead><tr><th>time (UTC)</th><th>kind</th><th>trigger</th><th>result</th><th>snapshot</th><th>files new / changed</th><th>uploaded</th><th>error</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p>Page written ${esc(p.now.toISOString())}. For history, diffs, search and restore: <code>session-sync dashboard</code>.</p>
</body></html>
`
}

/** Rewrites the page through a temporary file (which the scope never backs up) and a rename. */
export function writeStatusPage(workspace: string, input: StatusPageInput): void {
  const dir = ownFilesDir(workspace)
  const path = join(workspace, STATUS_PAGE)
  const tmp = join(dir, `.sync-dashboard.${randomBytes(4).toString('hex')}${RESTORE_TEMP_SUFFIX}`)
  try {
    writeFileSync(tmp, renderStatusPage(input), { mode: 0o644 })
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}
