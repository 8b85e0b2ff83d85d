/**
 * Retention that follows the data, in a protected repository on storage with Object Lock.
 *
 * Every object a snapshot needs — its file, the packs of its trees and data, the index files naming
 * those packs, the config and the key files — must stay locked at least until the snapshot's
 * storage time + R (R: the retention days the repository recorded at init). New objects take the
 * bucket's default retention (R days from their upload), so an object a new snapshot shares with old
 * ones, or one uploaded a little before the snapshot file, may have less left than the snapshot
 * needs: such an object is extended to now + R + 7 days. The 7 days are what make frequent backups
 * cheap: once extended, an object needs nothing for a week of backups.
 *
 * What is known of each object's lock is kept per open repository and in its local cache folder (a
 * lower bound: the listing's time of upload + R, or what was last read or set), so a backup asks the
 * storage only about objects whose known lock is too short: its new objects, and old ones once a
 * week. `check` (`verify`) trusts none of it and asks the storage.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { retentionStoreOf, versionedOf, type FileType, type Handle, type RetentionMode } from '../backend/backend.js'
import { ID_BYTES, toHex } from '../crypto/ids.js'
import { ObjectNotFoundError, PermissionDeniedError } from '../errors/index.js'
import { OWNER_KEY_NAME } from './owner-key.js'
import { BlobType } from './repofile.js'
import type { Repository, Snapshot } from './repository.js'

const DAY_MS = 86_400_000

/** Days an extension adds beyond R, so a backup every few minutes extends an object once a week. */
export const RETENTION_SLACK_DAYS = 7

/** What keeping the retention of snapshots' objects did. */
export interface RetentionReport {
  /** Objects the snapshots need. */
  objects: number
  /** `GET ?retention` requests made (objects whose known lock was too short). */
  read: number
  /** Objects whose retention was extended, one `PUT ?retention` each. */
  extended: number
  /** The objects extended, as `type/name` (`config` for the config): what a backup left short and the owner's `check` extended. */
  extendedObjects: string[]
  /** The retain-until date (ISO) the extended objects got: now + R + 7 days. */
  extendedUntil?: string
  /** Objects still locked for less than a snapshot needs, as `type/name` (`config` for the config). */
  lapsing: string[]
  /** Why extending stopped, if it did (typically: the credential may not set retention). */
  denied?: string
}

export interface KeepRetentionOptions {
  /** Extend what is too short (default true); false only reports it. */
  extend?: boolean
  /** The storage's time now, in ms (default: the later of this machine's clock and the newest snapshot's storage time). */
  now?: number
  /**
   * Hold every object against what the storage says now (its listing and `GET ?retention`), not
   * against what this process or the local cache remembers: what `check` does.
   */
  verify?: boolean
}

interface Known {
  /** Object key → a lower bound of the time its lock ends (ms). */
  until: Map<string, number>
  /** Pack id → the index files naming it. */
  packIndex: Map<string, string[]>
  indexFilesRead: Set<string>
}

const state = new WeakMap<Repository, Known>()

/** The file in the repository's local cache folder that keeps what is known of objects' locks across processes. */
const KNOWN_FILE = 'retention-locks.json'

function known(repo: Repository): Known {
  let k = state.get(repo)
  if (!k) {
    k = { until: new Map(), packIndex: new Map(), indexFilesRead: new Set() }
    const dir = repo.cacheDir
    if (dir) {
      try {
        const saved = JSON.parse(readFileSync(join(dir, KNOWN_FILE), 'utf8')) as Record<string, unknown>
        for (const [key, v] of Object.entries(saved)) if (typeof v === 'number' && Number.isFinite(v)) k.until.set(key, v)
      } catch {
        // none yet, or unreadable: the listing and the storage tell again
      }
    }
    state.set(repo, k)
  }
  return k
}

function saveKnown(repo: Repository, k: Known): void {
  const dir = repo.cacheDir
  if (!dir) return
  try {
    const tmp = join(dir, `${KNOWN_FILE}.${process.pid}.tmp`)
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(k.until)), { mode: 0o600 })
    renameSync(tmp, join(dir, KNOWN_FILE))
  } catch {
    // a cache: the next process asks the storage again
  }
}

const keyOf = (h: Handle) => (h.type === 'config' ? 'config' : `${h.type}/${h.name}`)

/** Whether the repository asks for retention to follow its data: protected, on storage with Object Lock and a recorded retention. */
export function keepsRetention(repo: Repository): boolean {
  return !!repo.config.protect?.objectLock && !!repo.config.protect.retention && !!retentionStoreOf(repo.storage)
}

/**
 * Every object the given snapshots need, with the time until which it must stay locked: the latest
 * storage time + R of the snapshots that need it.
 */
export async function neededObjects(repo: Repository, snapshots: Snapshot[], now: number): Promise<Map<string, { h: Handle; until: number }>> {
  const R = (repo.config.protect?.retention?.days ?? 0) * DAY_MS
  const out = new Map<string, { h: Handle; until: number }>()
  const need = (h: Handle, until: number) => {
    const k = keyOf(h)
    const had = out.get(k)
    if (!had || had.until < until) out.set(k, { h, until })
  }
  const index = await repo.index()
  const k = known(repo)
  // Index files naming each pack (read once per open repository; protected writers never supersede).
  for (const name of repo.loadedIndexFiles()) {
    if (k.indexFilesRead.has(name)) continue
    const f = await repo.loadIndexFile(name)
    for (const p of f.packs) {
      const id = toHex(p.id)
      const names = k.packIndex.get(id) ?? []
      names.push(name)
      k.packIndex.set(id, names)
    }
    k.indexFilesRead.add(name)
  }
  const stored = (s: Snapshot) => (s.storedAt ?? (s.time.getTime() > now ? new Date(now) : s.time)).getTime()
  // Newest first: a tree seen once has already been given the latest time that needs it.
  const ordered = [...snapshots].sort((a, b) => stored(b) - stored(a))
  const seen = new Set<string>()
  const packs = new Map<string, number>()
  const usePack = (packId: Buffer | undefined, until: number) => {
    if (!packId) return
    const id = packId.toString('hex')
    if ((packs.get(id) ?? 0) < until) packs.set(id, until)
  }
  let keysUntil = 0
  for (const s of ordered) {
    const until = stored(s) + R
    keysUntil = Math.max(keysUntil, until)
    need({ type: 'snapshots', name: s.id }, until)
    const walk = async (treeId: Uint8Array): Promise<void> => {
      const hex = toHex(treeId)
      if (seen.has(hex)) return
      seen.add(hex)
      usePack(index.get(BlobType.Tree, treeId)?.packId, until)
      let tree
      try {
        tree = await repo.loadTree(treeId)
      } catch (e) {
        // A tree no longer stored (a snapshot file pointing at what a prune removed: a forged one,
        // or damage that check reports): nothing of it is left to keep locked.
        if (e instanceof ObjectNotFoundError) return
        throw e
      }
      for (const n of tree.nodes) {
        if (n.content) for (let o = 0; o < n.content.length; o += ID_BYTES) usePack(index.get(BlobType.Data, n.content.subarray(o, o + ID_BYTES))?.packId, until)
        if (n.subtree) await walk(n.subtree)
      }
    }
    await walk(Buffer.from(s.tree, 'hex'))
  }
  for (const [id, until] of packs) {
    need({ type: 'data', name: id }, until)
    for (const name of k.packIndex.get(id) ?? []) need({ type: 'index', name }, until)
  }
  if (ordered.length > 0) {
    need({ type: 'config', name: 'config' }, keysUntil)
    for await (const f of repo.backend.list('keys')) need({ type: 'keys', name: f.name }, keysUntil)
  }
  return out
}

/**
 * Keeps every object the snapshots need locked until the snapshot's storage time + R: reads the
 * retention of objects whose known lock is shorter and extends those still short to now + R + 7
 * days. A credential that may not set retention stops the extending (reported in `denied`), it does
 * not fail: what is left short is named in `lapsing` for the owner's `check` to extend.
 * Undefined where the repository keeps no retention (see keepsRetention).
 */
export async function keepRetention(repo: Repository, snapshots: Snapshot[], opts: KeepRetentionOptions = {}): Promise<RetentionReport | undefined> {
  const store = retentionStoreOf(repo.storage)
  const policy = repo.config.protect?.retention
  if (!store || !policy || !repo.config.protect?.objectLock) return undefined
  const R = policy.days * DAY_MS
  const newest = Math.max(0, ...snapshots.map((s) => s.storedAt?.getTime() ?? 0))
  const now = opts.now ?? Math.max(Date.now(), newest)
  const needed = await neededObjects(repo, snapshots, now)
  // The owner key's record (owner-key.ts) is as vital as the config: a lapsed lock would let a
  // credential with version deletes replace it. The owner's check keeps it locked as long (a writer's
  // backup does not look for it: one request more a backup).
  // Readers trust its oldest version (a later one is a rewrite no owner makes), so that version's
  // lock is the one kept: not the newest, which whoever wrote it last would choose.
  const config = needed.get('config')
  const ownerKeyHandle: Handle = { type: 'journal', name: OWNER_KEY_NAME }
  const versionOf = new Map<string, string>()
  if (opts.verify && config) {
    const versioned = versionedOf(repo.backend)
    if (versioned) {
      const versions = (await versioned.versions(ownerKeyHandle)).filter((v) => !v.deleteMarker)
      versions.sort((a, b) => (a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0))
      if (versions.length > 0) {
        needed.set(keyOf(ownerKeyHandle), { h: ownerKeyHandle, until: config.until })
        versionOf.set(keyOf(ownerKeyHandle), versions[0].versionId)
      }
    } else {
      const recorded = await repo.backend.stat(ownerKeyHandle).then(
        () => true,
        (e: unknown) => (e instanceof ObjectNotFoundError ? false : Promise.reject(e)),
      )
      if (recorded) needed.set(keyOf(ownerKeyHandle), { h: ownerKeyHandle, until: config.until })
    }
  }
  const shared = known(repo)
  const k: Known = opts.verify ? { ...shared, until: new Map() } : shared
  // What the listing tells of objects not known yet: uploaded at `modified`, so locked until at least modified + R.
  const unknown = new Set<FileType>()
  for (const [key, n] of needed) if ((k.until.get(key) ?? 0) < n.until && n.h.type !== 'config') unknown.add(n.h.type)
  for (const type of unknown) {
    for await (const f of repo.backend.list(type)) {
      if (!f.modified) continue
      const key = `${type}/${f.name}`
      if (versionOf.has(key)) continue // the listing tells of the newest version only
      const bound = f.modified.getTime() + R
      if ((k.until.get(key) ?? 0) < bound) k.until.set(key, bound)
    }
  }
  const report: RetentionReport = { objects: needed.size, read: 0, extended: 0, extendedObjects: [], lapsing: [] }
  const extend = opts.extend ?? true
  const target = now + R + RETENTION_SLACK_DAYS * DAY_MS
  for (const [key, n] of [...needed].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if ((k.until.get(key) ?? 0) >= n.until) continue
    let mode: RetentionMode = policy.mode
    report.read++
    const r = await store.retention(n.h, versionOf.get(key))
    if (r.retainUntil) k.until.set(key, Math.max(k.until.get(key) ?? 0, r.retainUntil.getTime()))
    if ((k.until.get(key) ?? 0) >= n.until) continue
    if (r.mode) mode = r.mode
    if (!extend || report.denied !== undefined) {
      report.lapsing.push(key)
      continue
    }
    try {
      await store.setRetention(n.h, versionOf.get(key), { mode, retainUntil: new Date(target) })
      k.until.set(key, target)
      report.extended++
      report.extendedObjects.push(key)
      report.extendedUntil = new Date(target).toISOString()
    } catch (e) {
      if (!(e instanceof PermissionDeniedError)) throw e
      report.denied = e.message
      report.lapsing.push(key)
    }
  }
  if (k !== shared) for (const [key, until] of k.until) shared.until.set(key, Math.max(shared.until.get(key) ?? 0, until))
  saveKnown(repo, shared)
  return report
}

/** Forgets what is known of objects' locks (a test, or a repository whose retention changed under it). */
export function forgetKnownRetention(repo: Repository): void {
  state.delete(repo)
}
