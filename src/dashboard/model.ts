/**
 * What the dashboard shows, computed from the sync layer and the repository's trees: the overview,
 * folders of a snapshot (one folder at a time, so a 20,000-entry snapshot costs what one folder
 * costs), a file's history, diffs, what was forgotten, search over every version of the memory
 * files, and zips. Every path given here is looked up by name in stored trees; none reaches the disk.
 */
import { diffLines, structuredPatch } from 'diff'
import { zipSync, type Zippable } from 'fflate'
import type { Repository, Snapshot } from '../library.js'
import { InvalidOptionsError, SnapshotNotFoundError } from '../library.js'
import { asText, contentKey, fileBytes, folderEntries, lineCount, MEMORY_TEXT, nodeAt, pathParts, deviceOf, suspicionOf, type StoredNode, type SyncLogEntry } from '../sync/index.js'
import type { DashboardSource } from './source.js'

export interface SnapshotInfo {
  id: string
  shortId: string
  time: string
  device: string
  trigger: string
  files?: number
  bytes?: number
  bytesAdded?: number
  bytesStored?: number
  /** Why retention keeps it, or that the next prune removes it (the sync layer's own plan: see DashboardSource.retentionPlan). */
  keep: boolean
  reason: string
  /** When the storage received its file (the listing's time), where it tells. */
  storedAt?: string
  /** Its time does not fit when the storage received it (forged, or set with --time): why; retention judges it by the storage's time. */
  suspicious?: string
}

export interface FolderEntry {
  name: string
  type: 'file' | 'dir' | 'symlink'
  size: number
  mtime: string
}

export interface FileVersion {
  snapshot: string
  time: string
  device: string
  /** Every snapshot holding this same content (the version first appeared in `snapshot`). */
  snapshots: number
  size: number
  added: number
  removed: number
  text: boolean
  /** Unified diff against the previous version (text, both under the preview limit). */
  patch?: string
  /** The version removed the file (it is absent from `snapshot`). */
  deleted?: boolean
}

export interface SearchHit {
  path: string
  line: number
  text: string
  /** The first snapshot where this version holds the line: when it was learned. */
  firstSeen: string
  firstSnapshot: string
  /** The last snapshot holding this version. */
  lastSeen: string
}

const PREVIEW_BYTES = 1024 * 1024
/** Dedup and compression ratios are shown from this many raw bytes backed up on. */
export const RATIO_MIN_BYTES = 1024 * 1024
const ZIP_MAX_BYTES = 512 * 1024 * 1024
const TEXT_CACHE_BYTES = 64 * 1024 * 1024

export class DashboardModel {
  private readonly texts = new Map<string, string | null>()
  private textBytes = 0
  private known = ''

  constructor(readonly sync: DashboardSource) {}

  async repo(): Promise<Repository> {
    return this.sync.repository()
  }

  /** This agent's snapshots on every device, oldest first; the index is reloaded when they changed. */
  async snapshots(): Promise<Snapshot[]> {
    const repo = await this.repo()
    const all = await repo.snapshots(this.sync.agent ? { tags: [`agent:${this.sync.agent}`] } : {})
    const ids = all.map((s) => s.id).join()
    if (ids !== this.known) {
      if (this.known !== '') repo.invalidateIndex()
      this.known = ids
    }
    return all
  }

  async snapshot(ref: string): Promise<Snapshot> {
    if (!/^[0-9a-f]{8,64}$/.test(ref)) throw new InvalidOptionsError(`not a snapshot id: ${JSON.stringify(ref.slice(0, 80))}`)
    const hit = (await this.snapshots()).filter((s) => s.id.startsWith(ref))
    if (hit.length !== 1) throw new SnapshotNotFoundError(ref)
    return hit[0]
  }

  async snapshotList(): Promise<SnapshotInfo[]> {
    const all = await this.snapshots()
    const plan = new Map((await this.sync.retentionPlan(all)).map((d) => [d.id, d]))
    return all
      .map((s) => ({
        id: s.id,
        shortId: s.shortId,
        time: s.time.toISOString(),
        device: deviceOf(s),
        trigger: s.tags.find((t) => t.startsWith('trigger:'))?.slice(8) ?? '',
        files: s.summary?.totalFiles,
        bytes: s.summary?.totalBytes,
        bytesAdded: s.summary?.bytesAdded,
        bytesStored: s.summary?.bytesStored,
        keep: plan.get(s.id)?.keep ?? true,
        reason: plan.get(s.id)?.reason ?? '',
        ...(s.storedAt ? { storedAt: s.storedAt.toISOString() } : {}),
        ...(s.suspicious ? { suspicious: suspicionOf(s) } : {}),
      }))
      .reverse()
  }

  async overview(): Promise<Record<string, unknown>> {
    const status = await this.sync.status()
    const snaps = await this.snapshots().catch(() => [] as Snapshot[])
    let logical = 0
    let added = 0
    let stored = 0
    let cumulative = 0
    const chart = snaps.map((s) => {
      logical += s.summary?.totalBytes ?? 0
      added += s.summary?.bytesAdded ?? 0
      stored += s.summary?.bytesStored ?? 0
      cumulative += s.summary?.bytesStored ?? 0
      return { time: s.time.toISOString(), snapshot: s.shortId, stored: cumulative, changed: s.summary?.bytesAdded ?? 0 }
    })
    const log = this.sync.log({ limit: 1000 })
    return {
      status: { ...status, workspace: undefined },
      // Ratios say something only past a little data (a few small notes compress and dedup erratically).
      totals: {
        snapshots: snaps.length,
        logicalBytes: logical,
        addedBytes: added,
        storedBytes: stored,
        dedupRatio: logical >= RATIO_MIN_BYTES && added > 0 ? logical / added : undefined,
        compressionRatio: logical >= RATIO_MIN_BYTES && stored > 0 ? added / stored : undefined,
        ratioMinBytes: RATIO_MIN_BYTES,
      },
      chart,
      days: syncDays(log, new Date(), 30),
      log: errorsFirst(log).slice(0, 200),
      restores: this.sync.restores().slice(0, 20),
      memory: await this.history('MEMORY.md', { patches: false }).catch(() => []),
    }
  }

  async folder(ref: string, path: string): Promise<{ snapshot: string; path: string; entries: FolderEntry[] }> {
    const snap = await this.snapshot(ref)
    const repo = await this.repo()
    const node = await nodeAt(repo, snap, path)
    if (!node || node.type !== 'dir') throw new InvalidOptionsError(`no folder ${path || '(workspace)'} in snapshot ${snap.shortId}`)
    const entries = (await folderEntries(repo, node)).map((n) => ({ name: Buffer.from(n.name).toString(), type: n.type, size: n.size, mtime: new Date(n.mtime[0] * 1000).toISOString() }))
    return { snapshot: snap.id, path: pathParts(path).join('/'), entries }
  }

  private async fileNode(ref: string, path: string): Promise<{ snap: Snapshot; node: StoredNode }> {
    const snap = await this.snapshot(ref)
    const node = await nodeAt(await this.repo(), snap, path)
    if (!node || node.type !== 'file') throw new InvalidOptionsError(`no file ${path} in snapshot ${snap.shortId}`)
    return { snap, node }
  }

  /** A file's bytes, for a download. */
  async file(ref: string, path: string): Promise<{ name: string; bytes: Buffer }> {
    const { node } = await this.fileNode(ref, path)
    return { name: pathParts(path).at(-1) ?? 'file', bytes: await fileBytes(await this.repo(), node) }
  }

  /** A text preview (the first MiB), or that it is binary. */
  async preview(ref: string, path: string): Promise<{ path: string; size: number; text?: string; truncated: boolean }> {
    const { node } = await this.fileNode(ref, path)
    if (node.size > PREVIEW_BYTES * 16) return { path, size: node.size, truncated: true }
    const bytes = await fileBytes(await this.repo(), node)
    const text = asText(bytes.subarray(0, PREVIEW_BYTES))
    return { path, size: node.size, text, truncated: bytes.length > PREVIEW_BYTES }
  }

  /** The text of one content version, cached by its blob ids (versions repeat across snapshots). */
  private async textOf(node: StoredNode): Promise<string | undefined> {
    if (node.size > PREVIEW_BYTES) return undefined
    const key = contentKey(node)
    const cached = this.texts.get(key)
    if (cached !== undefined) return cached ?? undefined
    const text = asText(await fileBytes(await this.repo(), node)) ?? null
    this.textBytes += text?.length ?? 0
    if (this.textBytes > TEXT_CACHE_BYTES) {
      this.texts.clear()
      this.textBytes = text?.length ?? 0
    }
    this.texts.set(key, text)
    return text ?? undefined
  }

  /** Every distinct version of a file across the agent's snapshots, oldest first, with +/− lines. */
  async history(path: string, opts: { patches?: boolean } = {}): Promise<FileVersion[]> {
    pathParts(path)
    const repo = await this.repo()
    const out: FileVersion[] = []
    let prevKey: string | undefined
    let prevText: string | undefined
    for (const s of await this.snapshots()) {
      if (s.tags.includes('trigger:restore-safety')) continue
      const node = await nodeAt(repo, s, path)
      const key = node?.type === 'file' ? contentKey(node) : undefined
      if (key === prevKey) {
        if (out.length > 0) out[out.length - 1].snapshots++
        continue
      }
      const text = node?.type === 'file' ? await this.textOf(node) : ''
      const before = prevText ?? ''
      const counts = text !== undefined && (prevText !== undefined || prevKey === undefined) ? changedLines(before, text) : { added: 0, removed: 0 }
      const v: FileVersion = { snapshot: s.id, time: s.time.toISOString(), device: deviceOf(s), snapshots: 1, size: node?.size ?? 0, text: text !== undefined, ...counts }
      if (!node || node.type !== 'file') v.deleted = true
      if (opts.patches !== false && text !== undefined && (prevText !== undefined || prevKey === undefined)) v.patch = patchOf(path, before, text)
      if (key === undefined && prevKey === undefined) {
        // absent before and now: nothing to record
        continue
      }
      out.push(v)
      prevKey = key
      prevText = text
    }
    return out
  }

  /** Paths added, removed and changed between two snapshots (relative to the workspace). */
  async diff(fromRef: string, toRef: string): Promise<{ from: string; to: string; added: string[]; removed: string[]; modified: string[] }> {
    const a = await this.snapshot(fromRef)
    const b = await this.snapshot(toRef)
    const d = await (await this.repo()).diff(a.id, b.id)
    const rel = (p: string) => p.replace(/^\/+/, '').split('/').slice(1).join('/')
    const keep = (ps: string[]) => ps.map(rel).filter((p) => p !== '' && p !== '/')
    return { from: a.id, to: b.id, added: keep(d.added), removed: keep(d.removed), modified: keep(d.modified) }
  }

  /** One file's text diff between two snapshots (absent on a side counts as empty). */
  async fileDiff(fromRef: string, toRef: string, path: string): Promise<{ path: string; patch?: string; added: number; removed: number; binary: boolean }> {
    const repo = await this.repo()
    const texts: Array<string | undefined> = []
    for (const ref of [fromRef, toRef]) {
      const node = await nodeAt(repo, await this.snapshot(ref), path)
      texts.push(node?.type === 'file' ? await this.textOf(node) : '')
    }
    if (texts[0] === undefined || texts[1] === undefined) return { path, added: 0, removed: 0, binary: true }
    return { path, patch: patchOf(path, texts[0], texts[1]), ...changedLines(texts[0], texts[1]), binary: false }
  }

  /**
   * What the agent forgot between two snapshots: files that are gone, and for memory text files that
   * changed, the lines that are gone (each restorable from `from`).
   */
  async forgotten(fromRef: string, toRef: string): Promise<{ from: string; to: string; files: string[]; lines: Array<{ path: string; lines: string[]; before: number; after: number }> }> {
    const d = await this.diff(fromRef, toRef)
    const repo = await this.repo()
    const a = await this.snapshot(fromRef)
    const b = await this.snapshot(toRef)
    const lines: Array<{ path: string; lines: string[]; before: number; after: number }> = []
    for (const p of d.modified) {
      if (!MEMORY_TEXT.test(p)) continue
      const x = await nodeAt(repo, a, p)
      const y = await nodeAt(repo, b, p)
      if (x?.type !== 'file' || y?.type !== 'file') continue
      const before = await this.textOf(x)
      const after = await this.textOf(y)
      if (before === undefined || after === undefined) continue
      const gone = diffLines(before, after)
        .filter((c) => c.removed)
        .flatMap((c) => c.value.replace(/\n$/, '').split('\n'))
        .filter((l) => l.trim() !== '')
      if (gone.length > 0) lines.push({ path: p, lines: gone, before: lineCount(before), after: lineCount(after) })
    }
    return { from: d.from, to: d.to, files: d.removed.filter((p) => !p.endsWith('/')), lines }
  }

  /** Lines matching `query` (case-insensitive) in every version of every memory text file. */
  async search(query: string, limit = 200): Promise<{ query: string; hits: SearchHit[]; truncated: boolean }> {
    const q = query.trim().toLowerCase()
    if (q.length < 2 || q.length > 200) throw new InvalidOptionsError('search for 2 to 200 characters')
    const repo = await this.repo()
    const versions = new Map<string, { path: string; node: StoredNode; first: Snapshot; last: Snapshot }>()
    for (const s of await this.snapshots()) {
      const root = await nodeAt(repo, s, '')
      if (!root) continue
      const stack: Array<{ node: StoredNode; path: string }> = [{ node: root, path: '' }]
      while (stack.length > 0) {
        const { node, path } = stack.pop()!
        for (const n of await folderEntries(repo, node)) {
          const p = path === '' ? Buffer.from(n.name).toString() : `${path}/${Buffer.from(n.name).toString()}`
          if (n.type === 'dir') stack.push({ node: n, path: p })
          else if (n.type === 'file' && MEMORY_TEXT.test(p) && n.size <= PREVIEW_BYTES) {
            const k = `${p}\0${contentKey(n)}`
            const v = versions.get(k)
            if (v) v.last = s
            else versions.set(k, { path: p, node: n, first: s, last: s })
          }
        }
      }
    }
    const hits: SearchHit[] = []
    const seen = new Set<string>()
    for (const v of versions.values()) {
      const text = await this.textOf(v.node)
      if (!text || !text.toLowerCase().includes(q)) continue
      const ls = text.split('\n')
      for (let i = 0; i < ls.length; i++) {
        if (!ls[i].toLowerCase().includes(q)) continue
        const k = `${v.path}\0${ls[i]}`
        if (seen.has(k)) continue // the same line in a later version: its first version says when it was learned
        seen.add(k)
        hits.push({ path: v.path, line: i + 1, text: ls[i].slice(0, 500), firstSeen: v.first.time.toISOString(), firstSnapshot: v.first.id, lastSeen: v.last.time.toISOString() })
      }
    }
    hits.sort((x, y) => x.firstSeen.localeCompare(y.firstSeen) || x.path.localeCompare(y.path) || x.line - y.line)
    return { query, hits: hits.slice(0, limit), truncated: hits.length > limit }
  }

  /** A folder (or the whole snapshot) as a zip; refused past 512 MiB (restore it instead). */
  async zip(ref: string, path: string): Promise<{ name: string; bytes: Uint8Array }> {
    const snap = await this.snapshot(ref)
    const repo = await this.repo()
    const node = await nodeAt(repo, snap, path)
    if (!node) throw new InvalidOptionsError(`no ${path} in snapshot ${snap.shortId}`)
    const base = pathParts(path).at(-1) ?? `workspace-${snap.shortId}`
    const files: Zippable = {}
    let total = 0
    const add = async (n: StoredNode, rel: string): Promise<void> => {
      if (n.type === 'file') {
        total += n.size
        if (total > ZIP_MAX_BYTES) throw new InvalidOptionsError(`more than ${ZIP_MAX_BYTES / 1024 / 1024} MiB: restore it into the staging folder instead`)
        files[rel] = [await fileBytes(repo, n), { mtime: new Date(n.mtime[0] * 1000) }]
      } else if (n.type === 'dir') {
        for (const c of await folderEntries(repo, n)) await add(c, `${rel}/${Buffer.from(c.name).toString()}`)
      }
    }
    await add(node, base)
    return { name: `${base}.zip`, bytes: zipSync(files, { level: 6 }) }
  }
}

function changedLines(a: string, b: string): { added: number; removed: number } {
  let added = 0
  let removed = 0
  for (const c of diffLines(a, b)) {
    if (c.added) added += c.count ?? 0
    else if (c.removed) removed += c.count ?? 0
  }
  return { added, removed }
}

function patchOf(path: string, a: string, b: string): string {
  const p = structuredPatch(path, path, a, b, '', '', { context: 3 })
  return p.hunks.map((h) => [`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, ...h.lines].join('\n')).join('\n')
}

const RANK: Record<string, number> = { error: 0, warning: 1, aborted: 2 }

/** The log with errors first, then warnings, each newest first. */
export function errorsFirst(log: SyncLogEntry[]): SyncLogEntry[] {
  return [...log].sort((a, b) => (RANK[a.result] ?? 3) - (RANK[b.result] ?? 3) || b.time.localeCompare(a.time))
}

/** For each of the last `n` UTC days, how its syncs went (counts per result). */
export function syncDays(log: SyncLogEntry[], now: Date, n: number): Array<{ day: string; ok: number; warning: number; error: number }> {
  const days = new Map<string, { day: string; ok: number; warning: number; error: number }>()
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10)
    days.set(d, { day: d, ok: 0, warning: 0, error: 0 })
  }
  for (const e of log) {
    if (e.kind !== 'sync') continue
    const d = days.get(e.time.slice(0, 10))
    if (!d) continue
    if (e.result === 'error') d.error++
    else if (e.result === 'warning') d.warning++
    else if (e.result === 'ok' || e.result === 'unchanged') d.ok++
  }
  return [...days.values()]
}
