import { NoVersionsError, ObjectNotFoundError, ReadOnlyViewError } from '../errors/index.js'
import { packNameMatches, storageId, toHex } from '../crypto/ids.js'
import { type Backend, type ByteRange, describe, type FileType, type Handle, type ListedFile, type ListedVersion, versionedOf } from './backend.js'

/**
 * The view's time for "now": no limit at all, so nothing the storage stored is left out by the
 * difference between this machine's clock and the storage's (versions carry the storage's times).
 */
export const AS_OF_NOW = new Date(8.64e15)

/** The version of one file the view shows. */
interface Chosen {
  versionId: string
  size: number
  modified?: Date
}

/**
 * A read-only view of a repository on versioned storage as it was at a past time, built from the
 * object versions: what `recover --as-of` opens. For each file:
 * - `config` and key files: the oldest version stored at or before the time (a later one is a
 *   rewrite, which no writer of a protected repository makes);
 * - every other file (named by the hash of its bytes): the oldest version stored at or before the
 *   time whose bytes hash to its name, so a later overwrite is skipped even where it keeps what
 *   names it (a pack's trailer) (a file with one such version is taken as it is, and readers
 *   verify it as they always do);
 * - a file whose newest event at or before the time is a delete marker is gone (forgotten or pruned
 *   by then: the writers of a protected repository cannot delete); versions stored before that
 *   marker do not count for a later re-upload;
 * - lock files: none (the view holds no locks of the past); the locks readers take on the view
 *   live in memory only.
 * Every other write and every remove is a typed READ_ONLY_VIEW error. `snapshots`, `ls`, `restore`
 * and `check` work on a repository opened on it as on any other.
 */
export class AsOfBackend implements Backend {
  readonly remote?: boolean
  /** The only files saved to a view are its locks, kept in memory. */
  readonly listsSavedAtOnce = true
  private readonly chosen = new Map<FileType, Promise<Map<string, Chosen>>>()
  private readonly locks = new Map<string, { data: Uint8Array; modified: Date }>()
  private readonly listVersionsOf: (type: FileType) => AsyncIterable<ListedVersion>
  private readonly loadVersionOf: (h: Handle, versionId: string, range?: ByteRange) => Promise<Uint8Array>

  constructor(
    /** The storage (its decorators included) whose versions are read. */
    readonly storage: Backend,
    /** The time the view shows. */
    readonly asOf: Date,
  ) {
    const direct = storage.listVersions && storage.loadVersion ? storage : versionedOf(storage)
    if (!direct?.listVersions || !direct.loadVersion) throw new NoVersionsError(storage.location)
    const { listVersions, loadVersion } = direct
    this.listVersionsOf = (type) => listVersions.call(direct, type)
    this.loadVersionOf = (h, v, r) => loadVersion.call(direct, h, v, r)
    this.remote = storage.remote
  }

  get location(): string {
    return `${this.storage.location} as of ${this.asOf.getTime() === AS_OF_NOW.getTime() ? 'now' : this.asOf.toISOString()}`
  }

  /** The version of each file of a kind the view shows (resolved once per kind). */
  versionsShown(type: FileType): Promise<Map<string, Chosen>> {
    let p = this.chosen.get(type)
    if (!p) {
      p = this.resolve(type)
      p.catch(() => this.chosen.delete(type))
      this.chosen.set(type, p)
    }
    return p
  }

  private async resolve(type: FileType): Promise<Map<string, Chosen>> {
    const out = new Map<string, Chosen>()
    if (type === 'locks') return out
    const until = this.asOf.getTime()
    const candidates = new Map<string, ListedVersion[]>()
    for await (const v of this.listVersionsOf(type)) {
      if (v.modified && v.modified.getTime() > until) continue
      const list = candidates.get(v.name) ?? []
      list.push(v)
      candidates.set(v.name, list)
    }
    for (const [name, all] of candidates) {
      all.sort((a, b) => (a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0)) // oldest first
      // The file as it stood at the time: gone if its last event by then is a delete marker (a trusted
      // forget or prune); else made of the versions stored since the marker before, if any.
      const lastMarker = all.findLastIndex((v) => v.deleteMarker)
      if (lastMarker === all.length - 1) continue
      const vs = all.slice(lastMarker + 1)
      let pick: ListedVersion | undefined
      if (type === 'config' || type === 'keys' || vs.length === 1) pick = vs[0]
      else {
        // More than one version under a name no writer rewrites: the first whose bytes match it. A
        // later one is a rewrite: an attacker can keep a pack's trailer (which names it) and change
        // the blobs before it, so a match is no proof; the first write is the original.
        for (let i = 0; i < vs.length && !pick; i++) {
          const bytes = await this.loadVersionOf({ type, name }, vs[i].versionId)
          if (type === 'data' ? packNameMatches(name, bytes) !== false : toHex(storageId(bytes)) === name) pick = vs[i]
        }
        pick ??= vs[0] // none matches: the oldest, which readers then name as corrupt
      }
      out.set(name, { versionId: pick.versionId, size: pick.size, ...(pick.modified ? { modified: pick.modified } : {}) })
    }
    return out
  }

  private async shown(h: Handle): Promise<Chosen> {
    const c = (await this.versionsShown(h.type)).get(h.name)
    if (!c) throw new ObjectNotFoundError(h.type === 'config' ? 'config' : h.type, h.name)
    return c
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    if (h.type !== 'locks') throw new ReadOnlyViewError(`write ${describe(h)}`, this.asOf)
    this.locks.set(h.name, { data: Uint8Array.from(data), modified: new Date() })
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    if (h.type === 'locks') {
      const l = this.locks.get(h.name)
      if (!l) throw new ObjectNotFoundError('locks', h.name)
      return range ? l.data.slice(range.offset, range.offset + range.length) : Uint8Array.from(l.data)
    }
    const c = await this.shown(h)
    return this.loadVersionOf(h, c.versionId, range)
  }

  async stat(h: Handle): Promise<{ size: number }> {
    if (h.type === 'locks') {
      const l = this.locks.get(h.name)
      if (!l) throw new ObjectNotFoundError('locks', h.name)
      return { size: l.data.length }
    }
    return { size: (await this.shown(h)).size }
  }

  async remove(h: Handle): Promise<void> {
    if (h.type !== 'locks') throw new ReadOnlyViewError(`remove ${describe(h)}`, this.asOf)
    this.locks.delete(h.name)
  }

  async *list(type: FileType): AsyncIterable<ListedFile> {
    if (type === 'locks') {
      for (const [name, l] of [...this.locks]) yield { name, size: l.data.length, modified: l.modified }
      return
    }
    for (const [name, c] of await this.versionsShown(type)) yield { name, size: c.size, ...(c.modified ? { modified: c.modified } : {}) }
  }

  close(): Promise<void> {
    return this.storage.close?.() ?? Promise.resolve()
  }
}

/**
 * A read-only view of the repository in `storage` (versioned) as it was at `time`; open it with
 * `Repository.open({ backend: asOf(storage, time), … })`. NO_VERSIONS where the storage keeps none.
 */
export function asOf(storage: Backend, time: Date): AsOfBackend {
  if (Number.isNaN(time.getTime())) throw new TypeError('asOf needs a valid time')
  return new AsOfBackend(storage, time)
}
