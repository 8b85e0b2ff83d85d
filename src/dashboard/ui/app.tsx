/**
 * The dashboard's front end: one page, hash routes, every view a Preact component over the JSON API.
 * The token comes with the first URL (?token=), is kept in sessionStorage and sent as a header; the
 * URL loses it at once. Opened by the gateway's one-time link instead, the page has a cookie and
 * asks for its token (GET session). Every URL is relative: the app may be mounted below a prefix. Charts are hand-written SVG, readable by tests and screen readers.
 */
import { render } from 'preact'
import { useEffect, useMemo, useState } from 'preact/hooks'
import './app.css'

// ---- API -------------------------------------------------------------------------------------------

const params = new URLSearchParams(location.search)
const fromUrl = params.get('token')
if (fromUrl) {
  sessionStorage.setItem('session-sync-token', fromUrl)
  history.replaceState(null, '', location.pathname + location.hash)
}
let TOKEN = sessionStorage.getItem('session-sync-token') ?? ''

class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

async function call<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'x-session-sync-token': TOKEN, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = await res.json().catch(() => ({ error: { code: 'HTTP', message: `${res.status} ${res.statusText}` } }))
  if (!res.ok) throw new ApiError(json.error?.code ?? 'HTTP', json.error?.message ?? res.statusText)
  return json as T
}

function useApi<T>(path: string | undefined, deps: unknown[] = []): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({})
  const [n, setN] = useState(0)
  useEffect(() => {
    if (!path) return
    let live = true
    setState({})
    call<T>(path).then(
      (data) => live && setState({ data }),
      (e: Error) => live && setState({ error: e.message }),
    )
    return () => {
      live = false
    }
  }, [path, n, ...deps])
  return { ...state, reload: () => setN(n + 1) }
}

// ---- formatting ------------------------------------------------------------------------------------

function bytes(n: number | undefined): string {
  if (n === undefined || n === null) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}
const when = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '–')
const short = (id: string | undefined) => (id ? id.slice(0, 8) : '')
const q = (s: string) => (/^[\w./:@~-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)
const enc = encodeURIComponent

// ---- routing ---------------------------------------------------------------------------------------

function useRoute(): { page: string; args: URLSearchParams } {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = () => setHash(location.hash)
    addEventListener('hashchange', on)
    // The hash may have changed between the first render and this effect (effects run after a
    // paint, and a link or a script can set the hash first): that hashchange was missed, so look.
    on()
    return () => removeEventListener('hashchange', on)
  }, [])
  return useMemo(() => {
    const [page, query = ''] = hash.replace(/^#\/?/, '').split('?')
    return { page: page || 'overview', args: new URLSearchParams(query) }
  }, [hash])
}
const go = (page: string, args: Record<string, string | undefined> = {}) => {
  const qs = new URLSearchParams(Object.entries(args).filter(([, v]) => v !== undefined) as Array<[string, string]>).toString()
  location.hash = `#/${page}${qs ? `?${qs}` : ''}`
}

interface Snap {
  id: string
  shortId: string
  time: string
  device: string
  trigger: string
  files?: number
  bytes?: number
  bytesAdded?: number
  bytesStored?: number
  keep: boolean
  reason: string
  storedAt?: string
  /** Why its time does not fit when the storage received it. */
  suspicious?: string
}
interface SnapList {
  snapshots: Snap[]
  workspace: string
  agent: string
  device: string
  /** A repository without a workspace: nothing can be restored or undone. */
  readOnly: boolean
}

/**
 * The snapshot list every view shares: asked for once. A failed answer is not kept: the header shows
 * it with a button that asks again, and every view waiting on the list gets the answer.
 */
const snapList = {
  value: undefined as SnapList | undefined,
  error: undefined as string | undefined,
  pending: undefined as Promise<void> | undefined,
  listeners: new Set<() => void>(),
  load(): void {
    if (this.pending) return
    // An answer to a request a refresh replaced is dropped: it may be older than the one asked after.
    const asked: Promise<void> = call<SnapList>('api/snapshots')
      .then(
        (v) => {
          if (this.pending !== asked) return
          this.value = v
          this.error = undefined
        },
        (e: Error) => {
          if (this.pending !== asked) return
          this.error = e.message
          this.pending = undefined
        },
      )
      .finally(() => {
        for (const f of this.listeners) f()
      })
    this.pending = asked
  },
  /** Asks again (a restore or an undo stored a safety snapshot); the list shown stays until the answer. */
  refresh(): void {
    this.pending = undefined
    this.load()
  },
}
function useSnapshotList(): { list?: SnapList; error?: string; retry: () => void } {
  const [, setTick] = useState(0)
  const rendered = { value: snapList.value, error: snapList.error }
  useEffect(() => {
    const changed = () => setTick((n) => n + 1)
    snapList.listeners.add(changed)
    snapList.load()
    // An answer that came between this render and this effect told no one here: render it now.
    if (snapList.value !== rendered.value || snapList.error !== rendered.error) changed()
    return () => void snapList.listeners.delete(changed)
  }, [])
  return {
    list: snapList.value,
    error: snapList.value ? undefined : snapList.error,
    // Asks now, even while an earlier request is still out (its answer, maybe another failure, is dropped).
    retry: () => {
      snapList.error = undefined
      snapList.refresh()
      setTick((n) => n + 1)
    },
  }
}
const useSnapshots = (): SnapList | undefined => useSnapshotList().list

function Cli({ cmd }: { cmd: string }) {
  return <div class="cli mono" data-testid="cli">{cmd}</div>
}
/** An error, said; with `retry`, a button that asks again (a failed answer is not kept). */
function Err({ msg, retry }: { msg?: string; retry?: () => void }) {
  if (!msg) return null
  return (
    <div class="err" role="alert">
      {msg}
      {retry ? <> <button data-testid="retry" onClick={retry}>Try again</button></> : null}
    </div>
  )
}
function Loading() {
  return <p class="loading">Loading…</p>
}

// ---- overview --------------------------------------------------------------------------------------

interface Overview {
  status: {
    agent: string
    device: string
    location?: string
    lastSync?: { time: string; trigger: string; result: string; snapshot?: string; error?: { message: string } }
    nextSyncAt?: string
    intervalMinutes: number
    snapshotsPerDevice: Record<string, number>
    storedBytes?: number
    rawBytes?: number
    warnings: string[]
    storageReachable: boolean
    protected?: boolean
    protection?: { objectLock: boolean; lockMode?: string; lockDays?: number }
    pruning?: string
    suspiciousSnapshots?: string[]
    versionCheck?: { time: string; unexplainedDeletes: number; overwrites: number; forgedRecords?: number; events: Array<{ key: string; kind: 'delete' | 'overwrite' | 'forged'; time?: string }>; unavailable?: string }
    pendingConfigChange?: string[]
  }
  totals: { snapshots: number; logicalBytes: number; addedBytes: number; storedBytes: number; dedupRatio?: number; compressionRatio?: number; ratioMinBytes: number }
  chart: Array<{ time: string; snapshot: string; stored: number; changed: number }>
  days: Array<{ day: string; ok: number; warning: number; error: number }>
  log: Array<{ time: string; kind: string; trigger?: string; result: string; snapshot?: string; filesNew?: number; filesChanged?: number; bytesUploaded?: number; durationMs?: number; error?: { code: string; message: string }; detail?: Record<string, unknown> }>
  memory: Version[]
}

function Chart({ points }: { points: Overview['chart'] }) {
  const W = 760
  const H = 220
  const L = 64
  const R = 64
  const T = 12
  const B = 28
  if (points.length === 0) return <p class="muted">No snapshots yet.</p>
  const maxStored = Math.max(1, ...points.map((p) => p.stored))
  const maxChanged = Math.max(1, ...points.map((p) => p.changed))
  const step = (W - L - R) / Math.max(1, points.length)
  const x = (i: number) => L + step * i + step / 2
  const yS = (v: number) => T + (H - T - B) * (1 - v / maxStored)
  const yC = (v: number) => T + (H - T - B) * (1 - v / maxChanged)
  const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${yS(p.stored).toFixed(1)}`).join(' ')
  const bw = Math.max(1, Math.min(18, step * 0.6))
  return (
    <figure>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label="stored size and changed bytes per sync" data-testid="chart">
        <line x1={L} y1={H - B} x2={W - R} y2={H - B} stroke="#c8cfdb" />
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={L} x2={W - R} y1={yS(maxStored * f)} y2={yS(maxStored * f)} stroke="#eef1f5" />
            <text x={L - 6} y={yS(maxStored * f) + 4} text-anchor="end">{bytes(maxStored * f)}</text>
            <text x={W - R + 6} y={yC(maxChanged * f) + 4}>{bytes(maxChanged * f)}</text>
          </g>
        ))}
        {points.map((p, i) => (
          <rect key={`b${i}`} class="changed" data-bytes={p.changed} x={x(i) - bw / 2} y={yC(p.changed)} width={bw} height={H - B - yC(p.changed)} fill="#f2b24c" opacity="0.8">
            <title>{`${when(p.time)}: ${bytes(p.changed)} changed`}</title>
          </rect>
        ))}
        <path d={line} fill="none" stroke="#2f5fd0" stroke-width="2" />
        {points.map((p, i) => (
          <circle key={`c${i}`} class="stored" data-bytes={p.stored} cx={x(i)} cy={yS(p.stored)} r="3" fill="#2f5fd0">
            <title>{`${when(p.time)} (${p.snapshot}): ${bytes(p.stored)} stored in all`}</title>
          </circle>
        ))}
        <text x={L} y={H - 8}>{when(points[0].time)}</text>
        <text x={W - R} y={H - 8} text-anchor="end">{when(points[points.length - 1].time)}</text>
      </svg>
      <figcaption class="legend">
        <span><i style={{ background: '#2f5fd0' }} />stored in all (left axis)</span>
        <span><i style={{ background: '#f2b24c' }} />changed bytes per sync (right axis)</span>
      </figcaption>
    </figure>
  )
}

function Strip({ days }: { days: Overview['days'] }) {
  const w = 22
  return (
    <svg class="strip" viewBox={`0 0 ${days.length * w} 30`} width="100%" style={{ maxWidth: `${days.length * w}px` }} data-testid="strip" role="img" aria-label="sync results for the last 30 days">
      {days.map((d, i) => {
        const fill = d.error > 0 ? '#c0362c' : d.warning > 0 ? '#e0a323' : d.ok > 0 ? '#2c9b5a' : '#dfe3ea'
        return (
          <rect key={d.day} x={i * w} y={0} width={w} height={30} rx={3} fill={fill} data-day={d.day} data-ok={d.ok} data-error={d.error}>
            <title>{`${d.day}: ${d.ok} ok, ${d.warning} with warnings, ${d.error} failed`}</title>
          </rect>
        )
      })}
    </svg>
  )
}

function OverviewPage() {
  const { data, error, reload } = useApi<Overview>('api/overview')
  const list = useSnapshots()
  if (error) return <Err msg={error} retry={reload} />
  if (!data) return <Loading />
  const s = data.status
  const last = s.lastSync
  const t = data.totals
  return (
    <div>
      <h2>Is my agent's memory safe?</h2>
      {s.warnings.map((w) => (
        <div class="alarm" data-testid="warning" key={w}>{w}</div>
      ))}
      <div class="cards">
        <div class="card" data-testid="last-sync">
          <div class="k">Last sync</div>
          <div class={`v ${last?.result === 'error' ? 'bad' : 'ok'}`}>{last ? last.result : 'none yet'}</div>
          <div class="s">{last ? `${when(last.time)} · ${last.trigger}` : ''}</div>
        </div>
        <div class="card" data-testid="next-sync">
          <div class="k">Next sync</div>
          <div class="v">{s.nextSyncAt ? new Date(s.nextSyncAt).toLocaleTimeString(undefined, { timeStyle: 'short' }) : '–'}</div>
          <div class="s">every {s.intervalMinutes} min</div>
        </div>
        <div class="card" data-testid="stored">
          <div class="k">Stored / raw</div>
          <div class="v" data-bytes={t.storedBytes}>{bytes(t.storedBytes)}</div>
          <div class="s" data-raw={s.rawBytes}>latest snapshot: {bytes(s.rawBytes)} raw</div>
        </div>
        <div class="card" data-testid="snapshot-count">
          <div class="k">Snapshots kept</div>
          <div class="v">{t.snapshots}</div>
          <div class="s">
            {Object.entries(s.snapshotsPerDevice).map(([d, n]) => (
              <span key={d} class="tag" data-device={d} data-count={n}>{`${d}: ${n}`}</span>
            ))}
          </div>
        </div>
        {t.dedupRatio !== undefined || t.compressionRatio !== undefined ? (
          <div class="card" data-testid="ratios">
            <div class="k">Dedup · compression</div>
            <div class="v">{t.dedupRatio ? `${t.dedupRatio.toFixed(1)}×` : '–'} · {t.compressionRatio ? `${t.compressionRatio.toFixed(1)}×` : '–'}</div>
            <div class="s">{bytes(t.logicalBytes)} backed up ÷ {bytes(t.addedBytes)} added ÷ {bytes(t.storedBytes)} stored</div>
          </div>
        ) : (
          <div class="card" data-testid="backed-up">
            <div class="k">Backed up</div>
            <div class="v">{bytes(t.logicalBytes)}</div>
            <div class="s">{bytes(t.addedBytes)} added · ratios from {bytes(t.ratioMinBytes)}</div>
          </div>
        )}
      </div>
      <Protection s={s} list={list} />
      <div class="panel">
        <h3>Stored size and changed bytes per sync</h3>
        <Chart points={data.chart} />
        <h3>Last 30 days</h3>
        <Strip days={data.days} />
      </div>
      <div class="panel">
        <h3>MEMORY.md over time</h3>
        {data.memory.length === 0 ? (
          <p class="muted">No MEMORY.md in any snapshot.</p>
        ) : (
          <ul class="timeline" data-testid="memory-timeline">
            {[...data.memory].reverse().slice(0, 12).map((v) => (
              <li key={v.snapshot}>
                <a href={`#/history?path=MEMORY.md`}>{when(v.time)}</a> <span class="tag">{v.device}</span> <span class="plus">+{v.added}</span> <span class="minus">−{v.removed}</span> {v.deleted ? <strong class="bad">deleted</strong> : <span class="muted">{bytes(v.size)}</span>}
              </li>
            ))}
          </ul>
        )}
      </div>
      <div class="panel">
        <h3>Sync log (errors first)</h3>
        {list && !list.readOnly ? <Cli cmd={`session-sync sync log --workspace ${q(list.workspace)}`} /> : null}
        <table data-testid="log">
          <thead>
            <tr><th>time</th><th>kind</th><th>trigger</th><th>result</th><th>snapshot</th><th class="num">new / changed</th><th class="num">uploaded</th><th>error</th></tr>
          </thead>
          <tbody>
            {data.log.slice(0, 60).map((e, i) => (
              <tr key={i} class={e.result}>
                <td>{when(e.time)}</td><td>{e.kind}</td><td>{e.trigger ?? ''}</td><td class={e.result}>{e.result}</td><td class="mono">{short(e.snapshot)}</td>
                <td class="num">{e.filesNew !== undefined ? `${e.filesNew} / ${e.filesChanged ?? 0}` : ''}</td><td class="num">{e.bytesUploaded !== undefined ? bytes(e.bytesUploaded) : ''}</td>
                <td>{e.error?.message ?? (e.kind === 'shrink' ? String(e.detail?.path ?? '') : '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}

/** Protected history: the protection, where pruning runs, what the storage's versions show, suspicious snapshots, pending changes. */
function Protection({ s, list }: { s: Overview['status']; list?: SnapList }) {
  if (!s.protected) {
    return (
      <div class="panel" data-testid="protection" data-protected="false">
        <h3>Protected history: off</h3>
        <p class="muted">This agent's credential may delete its backups (see "protect" in the README).</p>
      </div>
    )
  }
  const p = s.protection
  const c = s.versionCheck
  const found = c ? c.unexplainedDeletes + c.overwrites + (c.forgedRecords ?? 0) : 0
  const sus = s.suspiciousSnapshots ?? []
  const pending = s.pendingConfigChange ?? []
  const snap = (id: string) => list?.snapshots.find((x) => x.id === id)
  return (
    <div class="panel" data-testid="protection" data-protected="true">
      <h3>Protected history: on</h3>
      <p data-testid="protection-mode">
        {p ? (p.objectLock ? `Versioning and Object Lock${p.lockMode ? `: ${p.lockMode}, ${p.lockDays} days` : ' (no default retention)'}` : 'Versioning, no Object Lock') : 'Versioning'}. This agent's credential cannot delete or overwrite its backups.
      </p>
      {s.pruning ? <p class="muted" data-testid="pruning">{s.pruning[0].toUpperCase() + s.pruning.slice(1)}.</p> : null}
      <h3>Deletes and overwrites no trusted prune made</h3>
      {!c ? (
        <p class="muted" data-testid="version-check">Not checked yet (daily, after a sync).</p>
      ) : c.unavailable ? (
        <p class="warn" data-testid="version-check">The storage's object versions cannot be listed: {c.unavailable}</p>
      ) : found === 0 ? (
        <p class="ok" data-testid="version-check">None (checked {when(c.time)}).</p>
      ) : (
        <div data-testid="version-check" data-found={found}>
          <p class="bad">{c.unexplainedDeletes} delete marker(s) and {c.overwrites} overwrite(s){c.forgedRecords ? `, ${c.forgedRecords} forged journal record(s)` : ''} (checked {when(c.time)}): a credential that may delete or overwrite was used on the repository.</p>
          <table>
            <thead><tr><th>when</th><th>what</th><th>file</th></tr></thead>
            <tbody>
              {c.events.map((e) => (
                <tr key={`${e.kind}${e.key}${e.time}`} data-event={e.key}><td>{when(e.time)}</td><td class="bad">{e.kind === 'delete' ? 'deleted' : e.kind === 'overwrite' ? 'overwritten' : 'forged record'}</td><td class="mono">{e.key}</td></tr>
              ))}
            </tbody>
          </table>
          <Cli cmd="session-sync check --versions" />
          <Cli cmd="session-sync --as-of '<a time before the first>' restore …" />
        </div>
      )}
      <h3>Suspicious snapshots</h3>
      {sus.length === 0 ? (
        <p class="muted" data-testid="suspicious">None.</p>
      ) : (
        <ul data-testid="suspicious">
          {sus.map((id) => (
            <li key={id} data-snapshot={id}>
              <a class="mono" href={`#/snapshots?snapshot=${id}`}>{id.slice(0, 8)}</a> <span class="muted">{snap(id)?.suspicious ?? 'its time does not fit when the storage received it'}</span>
            </li>
          ))}
        </ul>
      )}
      {pending.length > 0 ? (
        <div data-testid="pending">
          <h3>Config changes waiting for the owner</h3>
          <ul>{pending.map((x) => <li key={x}>{x}</li>)}</ul>
          {list && !list.readOnly ? <Cli cmd={`session-sync sync confirm --workspace ${q(list.workspace)}`} /> : null}
        </div>
      ) : null}
    </div>
  )
}

// ---- snapshots and the tree browser ----------------------------------------------------------------

interface Entry {
  name: string
  type: 'file' | 'dir' | 'symlink'
  size: number
  mtime: string
}

const PAGE = 500

function Folder({ snapshot, path, selected, onSelect }: { snapshot: string; path: string; selected?: string; onSelect: (p: string, type: string) => void }) {
  const { data, error, reload } = useApi<{ entries: Entry[] }>(`api/folder?snapshot=${snapshot}&path=${enc(path)}`)
  const [open, setOpen] = useState<Record<string, boolean>>({})
  const [shown, setShown] = useState(PAGE)
  if (error) return <Err msg={error} retry={reload} />
  if (!data) return <div class="muted">…</div>
  const entries = data.entries
  return (
    <ul data-folder={path}>
      {entries.slice(0, shown).map((e) => {
        const p = path ? `${path}/${e.name}` : e.name
        return (
          <li key={e.name}>
            <span
              class={selected === p ? 'sel' : ''}
              data-path={p}
              data-type={e.type}
              onClick={() => {
                if (e.type === 'dir') setOpen({ ...open, [e.name]: !open[e.name] })
                onSelect(p, e.type)
              }}
            >
              <i class={`icon ${e.type}${open[e.name] ? ' open' : ''}`} aria-hidden="true" />
              {e.name}
              {e.type === 'file' ? <span class="size">{bytes(e.size)}</span> : null}
            </span>
            {e.type === 'dir' && open[e.name] ? <Folder snapshot={snapshot} path={p} selected={selected} onSelect={onSelect} /> : null}
          </li>
        )
      })}
      {entries.length > shown ? (
        <li>
          <button data-testid="more" onClick={() => setShown(shown + PAGE)}>show {Math.min(PAGE, entries.length - shown)} more of {entries.length - shown}</button>
        </li>
      ) : null}
    </ul>
  )
}

function FilePanel({ snap, path, type, list }: { snap: Snap; path: string; type: string; list: SnapList }) {
  const preview = useApi<{ text?: string; size: number; truncated: boolean }>(type === 'file' ? `api/preview?snapshot=${snap.id}&path=${enc(path)}` : undefined, [path])
  return (
    <div class="panel" data-testid="selection">
      <h3 class="mono">{path || '(whole workspace)'}</h3>
      <div class="row">
        {type === 'file' ? (
          <>
            <a class="button" data-testid="download-file" href={`download/file?snapshot=${snap.id}&path=${enc(path)}`} download>Download</a>
            <button onClick={() => go('history', { path })}>History</button>
          </>
        ) : (
          <a class="button" data-testid="download-zip" href={`download/zip?snapshot=${snap.id}&path=${enc(path)}`} download>Download as zip</a>
        )}
        {list.readOnly ? null : <button class="primary" data-testid="restore-open" onClick={() => go('restore', { snapshot: snap.id, path })}>Restore…</button>}
      </div>
      <Cli cmd={`session-sync --repo <repository> restore ${snap.shortId} --target <folder>${path ? ` --include ${q(`${rootOf(list)}/${path}${type === 'dir' ? '/**' : ''}`)}` : ''}`} />
      {type === 'file' ? (
        preview.error ? <Err msg={preview.error} /> : !preview.data ? <Loading /> : preview.data.text === undefined ? <p class="muted">Binary or large file ({bytes(preview.data.size)}): download it to look inside.</p> : <pre class="preview" data-testid="preview">{preview.data.text}{preview.data.truncated ? '\n… (first MiB shown)' : ''}</pre>
      ) : null}
    </div>
  )
}
const rootOf = (l: SnapList) => l.workspace.split(/[\\/]/).filter(Boolean).pop() ?? ''

function SnapshotsPage({ args }: { args: URLSearchParams }) {
  const list = useSnapshots()
  const chosen = args.get('snapshot')
  const [sel, setSel] = useState<{ path: string; type: string }>({ path: '', type: 'dir' })
  useEffect(() => setSel({ path: '', type: 'dir' }), [chosen])
  if (!list) return <Loading />
  const byDevice = new Map<string, Snap[]>()
  for (const s of list.snapshots) byDevice.set(s.device, [...(byDevice.get(s.device) ?? []), s])
  const snap = list.snapshots.find((s) => s.id === chosen)
  if (snap) {
    const prev = list.snapshots.filter((s) => s.device === snap.device && s.time < snap.time)[0]
    return (
      <div>
        <h2>
          Snapshot <span class="mono">{snap.shortId}</span> <span class="muted">{when(snap.time)} · {snap.device} · {snap.trigger}</span>
        </h2>
        <div class="row">
          <button onClick={() => go('snapshots')}>← all snapshots</button>
          {prev ? <button onClick={() => go('diff', { from: prev.id, to: snap.id })}>What changed since the one before</button> : null}
          {list.readOnly ? null : <button data-testid="restore-snapshot" onClick={() => go('restore', { snapshot: snap.id, path: '' })}>Restore the whole snapshot…</button>}
        </div>
        <div class="browser">
          <div class="panel tree" data-testid="tree">
            <Folder snapshot={snap.id} path="" selected={sel.path} onSelect={(path, type) => setSel({ path, type })} />
          </div>
          <FilePanel snap={snap} path={sel.path} type={sel.type} list={list} />
        </div>
      </div>
    )
  }
  return (
    <div>
      <h2>Snapshots by device</h2>
      {list.readOnly ? null : <Cli cmd={`session-sync sync retention --dry-run --workspace ${q(list.workspace)}`} />}
      {[...byDevice.entries()].map(([device, snaps]) => (
        <div class="panel" key={device} data-device={device}>
          <h3>{device} <span class="muted">({snaps.length}){device === list.device ? ' · this device' : ''}</span></h3>
          <table>
            <thead>
              <tr><th>time</th><th>id</th><th>trigger</th><th class="num">files</th><th class="num">size</th><th class="num">added</th><th>retention</th></tr>
            </thead>
            <tbody>
              {snaps.map((s) => (
                <tr key={s.id} data-snapshot={s.id}>
                  <td><a href={`#/snapshots?snapshot=${s.id}`}>{when(s.time)}</a>{s.suspicious ? <> <span class="tag suspicious" data-testid="suspicious-mark" title={s.suspicious}>suspicious</span><div class="muted small">{s.suspicious}</div></> : null}</td><td class="mono">{s.shortId}</td><td>{s.trigger}</td>
                  <td class="num">{s.files ?? ''}</td><td class="num">{bytes(s.bytes)}</td><td class="num">{bytes(s.bytesAdded)}</td>
                  <td class={s.keep ? 'muted' : 'bad'}>{s.keep ? `kept: ${s.reason}` : `next prune removes it (${s.reason})`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  )
}

// ---- history, diff, forgotten, search --------------------------------------------------------------

interface Version {
  snapshot: string
  time: string
  device: string
  snapshots: number
  size: number
  added: number
  removed: number
  text: boolean
  patch?: string
  deleted?: boolean
}

function Patch({ text }: { text?: string }) {
  if (!text) return <p class="muted">No text difference.</p>
  return (
    <div class="patch" data-testid="patch">
      {text.split('\n').map((l, i) => (
        <div key={i} class={l.startsWith('@@') ? 'h' : l.startsWith('+') ? 'a' : l.startsWith('-') ? 'd' : ''}>{l || ' '}</div>
      ))}
    </div>
  )
}

function HistoryPage({ args }: { args: URLSearchParams }) {
  const path = args.get('path') ?? 'MEMORY.md'
  const [input, setInput] = useState(path)
  const { data, error, reload } = useApi<{ versions: Version[] }>(`api/history?path=${enc(path)}`)
  const [open, setOpen] = useState<string | undefined>()
  return (
    <div>
      <h2>History of a file</h2>
      <form class="row" onSubmit={(e) => (e.preventDefault(), go('history', { path: input }))}>
        <input value={input} onInput={(e) => setInput((e.target as HTMLInputElement).value)} size={40} aria-label="path" />
        <button type="submit">Show</button>
      </form>
      <Err msg={error} retry={reload} />
      {!data && !error ? <Loading /> : null}
      {data ? (
        <div class="panel">
          <p class="muted">{data.versions.length} distinct versions of <span class="mono">{path}</span>, newest first.</p>
          <table data-testid="versions">
            <thead><tr><th>first seen</th><th>device</th><th>snapshot</th><th class="num">lines</th><th class="num">size</th><th /></tr></thead>
            <tbody>
              {[...data.versions].reverse().map((v) => (
                <>
                  <tr key={v.snapshot} class={open === v.snapshot ? 'sel' : ''} data-version={v.snapshot}>
                    <td>{when(v.time)}</td><td>{v.device}</td><td class="mono">{short(v.snapshot)}{v.snapshots > 1 ? <span class="muted"> +{v.snapshots - 1}</span> : null}</td>
                    <td class="num"><span class="plus">+{v.added}</span> <span class="minus">−{v.removed}</span></td>
                    <td class="num">{v.deleted ? <strong class="bad">deleted</strong> : bytes(v.size)}</td>
                    <td>
                      <button onClick={() => setOpen(open === v.snapshot ? undefined : v.snapshot)}>{open === v.snapshot ? 'hide' : 'diff'}</button>{' '}
                      {!v.deleted && !READ_ONLY ? <button onClick={() => go('restore', { snapshot: v.snapshot, path })}>restore this version…</button> : null}
                    </td>
                  </tr>
                  {open === v.snapshot ? (
                    <tr key={`${v.snapshot}-p`}><td colSpan={6}><Patch text={v.patch} /></td></tr>
                  ) : null}
                </>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  )
}

function SnapSelect({ list, value, onChange, label }: { list: SnapList; value?: string; onChange: (id: string) => void; label: string }) {
  return (
    <label>
      {label}{' '}
      <select value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)} aria-label={label} data-testid={`select-${label}`}>
        {list.snapshots.map((s) => (
          <option key={s.id} value={s.id}>{`${when(s.time)} · ${s.device} · ${s.shortId}`}</option>
        ))}
      </select>
    </label>
  )
}

function DiffPage({ args }: { args: URLSearchParams }) {
  const list = useSnapshots()
  const from = args.get('from') ?? list?.snapshots[1]?.id
  const to = args.get('to') ?? list?.snapshots[0]?.id
  const file = args.get('path') ?? undefined
  const d = useApi<{ added: string[]; removed: string[]; modified: string[] }>(from && to ? `api/diff?from=${from}&to=${to}` : undefined)
  const fd = useApi<{ patch?: string; added: number; removed: number; binary: boolean }>(from && to && file ? `api/filediff?from=${from}&to=${to}&path=${enc(file)}` : undefined)
  if (!list) return <Loading />
  if (list.snapshots.length < 2) return <p class="muted">A diff needs two snapshots.</p>
  const latestOf = (device: string) => list.snapshots.find((s) => s.device === device)
  const devices = [...new Set(list.snapshots.map((s) => s.device))]
  const pick = (p: string) => go('diff', { from, to, path: p })
  const link = (p: string) => (p.endsWith('/') ? <span class="mono">{p}</span> : <a href="#" class="mono" onClick={(e) => (e.preventDefault(), pick(p))}>{p}</a>)
  return (
    <div>
      <h2>Diff between two snapshots</h2>
      <div class="row">
        <SnapSelect list={list} label="from" value={from} onChange={(v) => go('diff', { from: v, to })} />
        <SnapSelect list={list} label="to" value={to} onChange={(v) => go('diff', { from, to: v })} />
      </div>
      {devices.length > 1 ? (
        <div class="row devices">
          <span class="muted">Latest of one device against another:</span>
          {devices.flatMap((a) => devices.filter((b) => b !== a).map((b) => <button key={`${a}-${b}`} onClick={() => go('diff', { from: latestOf(a)!.id, to: latestOf(b)!.id })}>{a} → {b}</button>))}
        </div>
      ) : null}
      <Cli cmd={`session-sync --repo <repository> diff ${short(from)} ${short(to)}`} />
      <Err msg={d.error} />
      {d.data ? (
        <div class="panel lists" data-testid="diff">
          <div><h3 class="plus">Added ({d.data.added.length})</h3><ul>{d.data.added.map((p) => <li key={p}>{link(p)}</li>)}</ul></div>
          <div><h3 class="minus">Removed ({d.data.removed.length})</h3><ul>{d.data.removed.map((p) => <li key={p}>{link(p)}</li>)}</ul></div>
          <div><h3>Changed ({d.data.modified.length})</h3><ul>{d.data.modified.map((p) => <li key={p}>{link(p)}</li>)}</ul></div>
        </div>
      ) : from && to ? <Loading /> : null}
      {file ? (
        <div class="panel">
          <h3 class="mono">{file}</h3>
          {fd.data ? (fd.data.binary ? <p class="muted">Binary file.</p> : <><p><span class="plus">+{fd.data.added}</span> <span class="minus">−{fd.data.removed}</span></p><Patch text={fd.data.patch} /></>) : <Loading />}
        </div>
      ) : null}
    </div>
  )
}

function ForgotPage({ args }: { args: URLSearchParams }) {
  const list = useSnapshots()
  const own = list?.snapshots.filter((s) => s.trigger !== 'restore-safety') ?? []
  const from = args.get('from') ?? own[1]?.id
  const to = args.get('to') ?? own[0]?.id
  const { data, error } = useApi<{ files: string[]; lines: Array<{ path: string; lines: string[]; before: number; after: number }> }>(from && to ? `api/forgotten?from=${from}&to=${to}` : undefined)
  if (!list) return <Loading />
  if (own.length < 2) return <p class="muted">Two snapshots are needed to see what was forgotten.</p>
  return (
    <div>
      <h2>What did my agent forget?</h2>
      <div class="row">
        <SnapSelect list={list} label="from" value={from} onChange={(v) => go('forgot', { from: v, to })} />
        <SnapSelect list={list} label="to" value={to} onChange={(v) => go('forgot', { from, to: v })} />
      </div>
      <Err msg={error} />
      {!data ? <Loading /> : (
        <div data-testid="forgotten">
          <div class="panel">
            <h3>Files that disappeared ({data.files.length})</h3>
            {data.files.length === 0 ? <p class="muted">None.</p> : (
              <table><tbody>{data.files.map((p) => (
                <tr key={p}><td class="mono">{p}</td><td>{READ_ONLY ? null : <button onClick={() => go('restore', { snapshot: from!, path: p })}>restore…</button>}</td></tr>
              ))}</tbody></table>
            )}
          </div>
          <div class="panel">
            <h3>Lines that disappeared</h3>
            {data.lines.length === 0 ? <p class="muted">None.</p> : data.lines.map((f) => (
              <div key={f.path}>
                <div class="row"><strong class="mono">{f.path}</strong> <span class="muted">{f.before} → {f.after} lines</span> {READ_ONLY ? null : <button onClick={() => go('restore', { snapshot: from!, path: f.path })}>restore the earlier version…</button>} <button onClick={() => go('diff', { from, to, path: f.path })}>diff</button></div>
                <div class="patch">{f.lines.map((l, i) => <div key={i} class="d">{`- ${l}`}</div>)}</div>
              </div>
            ))}
          </div>
        </div>
      )}
    </div>
  )
}

function SearchPage({ args }: { args: URLSearchParams }) {
  const query = args.get('q') ?? ''
  const [input, setInput] = useState(query)
  const { data, error } = useApi<{ hits: Array<{ path: string; line: number; text: string; firstSeen: string; firstSnapshot: string; lastSeen: string }>; truncated: boolean }>(query.length >= 2 ? `api/search?q=${enc(query)}` : undefined)
  return (
    <div>
      <h2>Search every version of the memory files</h2>
      <form class="row" onSubmit={(e) => (e.preventDefault(), go('search', { q: input }))}>
        <input value={input} onInput={(e) => setInput((e.target as HTMLInputElement).value)} size={40} placeholder="when did it learn …?" aria-label="search" data-testid="search-input" />
        <button type="submit" class="primary">Search</button>
      </form>
      <Err msg={error} />
      {query && !data && !error ? <Loading /> : null}
      {data ? (
        <div class="panel">
          <p class="muted">{data.hits.length}{data.truncated ? '+' : ''} lines, the earliest first (first seen = when it was learned).</p>
          <table data-testid="hits">
            <thead><tr><th>first seen</th><th>last seen</th><th>file</th><th>line</th></tr></thead>
            <tbody>
              {data.hits.map((h, i) => (
                <tr key={i}>
                  <td>{when(h.firstSeen)}</td><td>{when(h.lastSeen)}</td>
                  <td><a href={`#/history?path=${enc(h.path)}`} class="mono">{h.path}</a>:{h.line}</td><td><code>{h.text}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  )
}

// ---- restore -----------------------------------------------------------------------------------------

interface RestoreResult {
  id: string
  inPlace: boolean
  snapshot: string
  stagingDir?: string
  diff: { added: string[]; changed: string[]; removed: string[]; unchanged: string[] }
  safetySnapshot?: string
  applied?: { written: number; removed: number }
}
interface Job {
  id: string
  kind: string
  state: 'running' | 'done' | 'failed' | 'cancelled'
  progress?: { step: 'safety' | 'fetch' | 'compare' | 'apply'; done: number; total: number; percent: number }
  result?: RestoreResult
  error?: { code: string; message: string }
}

function useJob(): { job?: Job; start: (path: string, body: unknown) => void; cancel: () => void; reset: () => void; error?: string } {
  const [job, setJob] = useState<Job>()
  const [error, setError] = useState<string>()
  useEffect(() => {
    if (!job) return
    if (job.state !== 'running') {
      // A restore or undo that ended may have stored a safety snapshot: the list shows it.
      snapList.refresh()
      return
    }
    const t = setTimeout(() => call<Job>(`api/jobs/${job.id}`).then(setJob, (e: Error) => setError(e.message)), 300)
    return () => clearTimeout(t)
  }, [job])
  return {
    job,
    error,
    start: (path, body) => {
      setError(undefined)
      call<Job>(path, body).then(setJob, (e: Error) => setError(e.message))
    },
    cancel: () => job && call(`api/jobs/${job.id}/cancel`, {}).catch(() => {}),
    reset: () => setJob(undefined),
  }
}

function Lists({ diff }: { diff: RestoreResult['diff'] }) {
  const box = (title: string, cls: string, items: string[], id: string) => (
    <div data-testid={id}>
      <h3 class={cls}>{title} ({items.length})</h3>
      <ul>{items.slice(0, 300).map((p) => <li key={p} class="mono">{p}</li>)}</ul>
    </div>
  )
  return (
    <div class="lists">
      {box('Overwritten', 'warn', diff.changed, 'overwritten')}
      {box('Added', 'plus', diff.added, 'added')}
      {box('Removed', 'minus', diff.removed, 'removed')}
      <div data-testid="left"><h3 class="muted">Left as they are ({diff.unchanged.length})</h3></div>
    </div>
  )
}

const STEPS: Record<string, string> = { safety: 'taking a safety snapshot', fetch: 'fetching the snapshot', compare: 'comparing with the workspace', apply: 'putting files in place' }

function JobView({ job, cancel, onUndo }: { job: Job; cancel: () => void; onUndo?: (id: string) => void }) {
  return (
    <div class="panel" data-testid="job" data-state={job.state}>
      {job.state === 'running' ? (
        <>
          <strong>{job.kind === 'undo' ? 'Undoing…' : 'Restoring…'}</strong> <span class="muted" data-testid="step">{STEPS[job.progress?.step ?? 'fetch']}{job.progress && job.progress.total > 1 ? ` (${job.progress.step === 'fetch' ? `${bytes(job.progress.done)} of ${bytes(job.progress.total)}` : `${job.progress.done} of ${job.progress.total} files`})` : ''}; a cancel rolls back</span>
          <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={job.progress?.percent ?? 0} data-testid="progress">
            <div style={{ width: `${job.progress?.percent ?? 0}%` }} />
            <span>{job.progress?.percent ?? 0}%</span>
          </div>
          <button class="danger" data-testid="cancel" onClick={cancel}>Cancel</button>
        </>
      ) : job.state === 'done' && job.result ? (
        <>
          <strong class="ok">{job.kind === 'undo' ? 'Undone' : job.result.inPlace ? 'Restored in place' : 'Restored into the staging folder'}</strong>
          {job.result.applied ? <span> · {job.result.applied.written} written, {job.result.applied.removed} removed</span> : null}
          {job.result.stagingDir ? <div>Files are in <span class="mono">{job.result.stagingDir}</span></div> : null}
          {job.result.inPlace ? (
            <div class="row">
              <span class="muted">Restore record <span class="mono">{job.result.id}</span>, safety snapshot <span class="mono">{short(job.result.safetySnapshot)}</span></span>
              {onUndo ? <button data-testid="undo" onClick={() => onUndo(job.result!.id)}>Undo</button> : null}
            </div>
          ) : null}
          {job.result.inPlace ? <Cli cmd={`session-sync sync undo ${job.result.id}`} /> : null}
        </>
      ) : (
        <strong class={job.state === 'cancelled' ? 'warn' : 'bad'} data-testid="job-end">{job.state === 'cancelled' ? 'Cancelled: the workspace was rolled back' : `Failed: ${job.error?.message}`}</strong>
      )}
    </div>
  )
}

function RestorePage({ args }: { args: URLSearchParams }) {
  const list = useSnapshots()
  const snapshot = args.get('snapshot') ?? ''
  const path = args.get('path') ?? ''
  const [preview, setPreview] = useState<RestoreResult>()
  const [perr, setPerr] = useState<string>()
  const [busy, setBusy] = useState(false)
  const job = useJob()
  const undo = useJob()
  const snap = list?.snapshots.find((s) => s.id === snapshot)
  const paths = path ? [path] : undefined
  useEffect(() => {
    setPreview(undefined)
    job.reset()
    undo.reset()
  }, [snapshot, path])
  if (!list) return <Loading />
  if (list.readOnly) return <Err msg="This dashboard shows a repository without a workspace: nothing can be restored here. Download files or folders instead, or restore with the CLI." />
  if (!snap) return <Err msg="Choose a snapshot and a file or folder to restore from the Snapshots page." />
  const cli = (extra: string) => `session-sync sync restore --snapshot ${snap.shortId}${path ? ` --path ${q(path)}` : ''}${extra} --workspace ${q(list.workspace)}`
  return (
    <div>
      <h2>
        Restore <span class="mono">{path || 'the whole workspace'}</span> <span class="muted">from {when(snap.time)} ({snap.device}, {snap.shortId})</span>
      </h2>
      <div class="panel">
        <div class="row">
          <button
            class="primary"
            data-testid="preview-restore"
            disabled={busy}
            onClick={() => {
              setBusy(true)
              setPerr(undefined)
              call<RestoreResult>('api/restore/preview', { snapshot: snap.id, paths }).then(setPreview, (e: Error) => setPerr(e.message)).finally(() => setBusy(false))
            }}
          >
            {busy ? 'Comparing…' : 'Preview what changes'}
          </button>
          <a class="button" data-testid="restore-zip" href={`download/zip?snapshot=${snap.id}&path=${enc(path)}`} download>Download as zip instead</a>
        </div>
        <Err msg={perr} />
        {preview ? (
          <div data-testid="restore-preview">
            <Lists diff={preview.diff} />
            <p class="muted">Out-of-scope files are never touched. A safety snapshot is taken first; Undo puts everything back.</p>
            <div class="row">
              <button class="danger" data-testid="restore-run" disabled={job.job?.state === 'running'} onClick={() => job.start('api/restore', { snapshot: snap.id, paths, mode: 'in-place' })}>Restore in place</button>
              <button data-testid="restore-staged" disabled={job.job?.state === 'running'} onClick={() => job.start('api/restore', { snapshot: snap.id, paths, mode: 'staged' })}>Restore into the staging folder</button>
            </div>
            <Cli cmd={cli(' --in-place')} />
            <Cli cmd={cli('')} />
          </div>
        ) : null}
      </div>
      <Err msg={job.error} />
      {job.job ? <JobView job={job.job} cancel={job.cancel} onUndo={(id) => undo.start('api/undo', { id })} /> : null}
      <Err msg={undo.error} />
      {undo.job ? <JobView job={undo.job} cancel={undo.cancel} /> : null}
    </div>
  )
}

function RestoresPage() {
  const { data, error, reload } = useApi<{ restores: Array<{ id: string; time: string; kind: string; snapshot: string; safetySnapshot: string; paths?: string[]; undoes?: string }> }>('api/restores')
  const undo = useJob()
  useEffect(() => {
    if (undo.job && undo.job.state !== 'running') reload()
  }, [undo.job?.state])
  return (
    <div>
      <h2>Restores and undos</h2>
      <Err msg={error || undo.error} />
      {undo.job ? <JobView job={undo.job} cancel={undo.cancel} /> : null}
      {!data ? <Loading /> : (
        <div class="panel">
          <table>
            <thead><tr><th>time</th><th>kind</th><th>id</th><th>from snapshot</th><th>paths</th><th /></tr></thead>
            <tbody>
              {data.restores.map((r) => (
                <tr key={r.id}>
                  <td>{when(r.time)}</td><td>{r.kind}</td><td class="mono">{r.id}</td><td class="mono">{short(r.snapshot)}</td><td class="mono">{r.paths?.join(', ') ?? 'all'}</td>
                  <td><button onClick={() => undo.start('api/undo', { id: r.id })}>undo</button> <span class="cli mono">session-sync sync undo {r.id}</span></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}

// ---- the shell ---------------------------------------------------------------------------------------

/** Set once the snapshot list says so: a repository without a workspace (no restore, no undo). */
let READ_ONLY = false

const PAGES: Array<[string, string]> = [
  ['overview', 'Overview'],
  ['snapshots', 'Snapshots'],
  ['history', 'History'],
  ['diff', 'Diff'],
  ['forgot', 'Forgotten'],
  ['search', 'Search'],
  ['restores', 'Restores'],
]

function App() {
  const { page, args } = useRoute()
  const { list, error: listError, retry } = useSnapshotList()
  READ_ONLY = list?.readOnly === true
  const view = useMemo(() => {
    switch (page) {
      case 'snapshots':
        return <SnapshotsPage args={args} />
      case 'history':
        return <HistoryPage args={args} />
      case 'diff':
        return <DiffPage args={args} />
      case 'forgot':
        return <ForgotPage args={args} />
      case 'search':
        return <SearchPage args={args} />
      case 'restore':
        return <RestorePage args={args} />
      case 'restores':
        return <RestoresPage />
      default:
        return <OverviewPage />
    }
  }, [page, args.toString(), list?.readOnly])
  if (!TOKEN) return <main><Err msg='Open the dashboard by the URL "session-sync dashboard" printed: it carries the token.' /></main>
  return (
    <>
      <header>
        <h1>session-sync</h1>
        <span class="who">{list ? (list.readOnly ? 'a repository, read-only' : `agent ${list.agent} · ${list.device}`) : ''}</span>
        <nav>
          {PAGES.filter(([id]) => !(READ_ONLY && id === 'restores')).map(([id, label]) => (
            <a key={id} href={`#/${id}`} class={page === id ? 'on' : ''}>{label}</a>
          ))}
        </nav>
      </header>
      <main>
        <Err msg={listError && `The snapshot list could not be loaded: ${listError}`} retry={retry} />
        {view}
      </main>
    </>
  )
}

const root = document.getElementById('app')!
/** Opened without a token in the URL (the gateway's one-time link set a cookie): the token from the cookie's session. */
async function start(): Promise<void> {
  if (!TOKEN) {
    const res = await fetch('session').catch(() => undefined)
    const json = res?.ok ? ((await res.json()) as { token?: string }) : undefined
    if (json?.token) {
      TOKEN = json.token
      sessionStorage.setItem('session-sync-token', TOKEN)
    }
  }
  root.textContent = '' // the static "Loading…" the page starts with
  render(<App />, root)
}
void start()
