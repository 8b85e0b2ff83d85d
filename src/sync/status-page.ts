/**
 * memory/sync-dashboard.html: one self-contained page rewritten after every sync, for a user who
 * opens the workspace in a file browser. Inline CSS only: no script, no network, no token, nothing
 * secret (it is built from the sync log's lines and the state's last sync).
 */
import { randomBytes } from 'node:crypto'
import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SyncLogEntry } from './log.js'
import { ownFilesDir, RESTORE_TEMP_SUFFIX, STATUS_PAGE } from './scope.js'

export interface StatusPageInput {
  agent: string
  device: string
  state: { lastSync?: { time: string; trigger: string; result: string; snapshot?: string; error?: { message: string } }; lastSuccessAt?: string }
  log: SyncLogEntry[]
  now: Date
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

export function renderStatusPage(p: StatusPageInput): string {
  const last = p.state.lastSync
  const ok = last && last.result !== 'error'
  const rows = p.log
    .map(
      (e) =>
        `<tr class="${esc(e.result)}"><td>${esc(e.time.replace('T', ' ').slice(0, 19))}Z</td><td>${esc(e.kind)}</td><td>${esc(e.trigger)}</td><td>${esc(e.result)}</td><td>${esc(e.snapshot?.slice(0, 8))}</td><td>${e.filesNew ?? ''}${e.filesChanged !== undefined ? ` / ${e.filesChanged}` : ''}</td><td>${esc(bytes(e.bytesUploaded))}</td><td>${esc(e.error?.message)}</td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Memory backup: ${esc(p.agent)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2430;background:#f7f8fa}
h1{font-size:1.3rem}.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:1rem 1.2rem;margin-bottom:1rem}
.ok{color:#176c3a}.bad{color:#a3261b}table{border-collapse:collapse;width:100%;background:#fff}
td,th{border-bottom:1px solid #e6e9ef;padding:.3rem .5rem;text-align:left;font-variant-numeric:tabular-nums}
tr.error td{background:#fdecea}tr.warning td{background:#fff6e0}
</style></head><body>
<h1>Memory backup of agent ${esc(p.agent)} on ${esc(p.device)}</h1>
<div class="card"><strong class="${ok ? 'ok' : 'bad'}">${last ? (ok ? 'Last sync succeeded' : 'Last sync failed') : 'No sync yet'}</strong>
${last ? `<div>${esc(last.time)} · trigger ${esc(last.trigger)} · ${esc(last.result)}${last.snapshot ? ` · snapshot ${esc(last.snapshot.slice(0, 8))}` : ''}</div>` : ''}
${last?.error ? `<div class="bad">${esc(last.error.message)}</div>` : ''}
${p.state.lastSuccessAt ? `<div>Last successful sync: ${esc(p.state.lastSuccessAt)}</div>` : ''}
<div>Page written ${esc(p.now.toISOString())}</div></div>
<table><thead><tr><th>time (UTC)</th><th>kind</th><th>trigger</th><th>result</th><th>snapshot</th><th>files new / changed</th><th>uploaded</th><th>error</th></tr></thead>
<tbody>
${rows}
</tbody></table>
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
