import { fromHex, ID_BYTES, toHex } from '../crypto/ids.js'
import { InvalidOptionsError, ObjectNotFoundError, UnreadableSnapshotsError } from '../errors/index.js'
import { BlobIndex } from '../repository/blob-index.js'
import { INDEX_FILE_PACKS } from '../repository/consolidate.js'
import { BlobType, FORMAT_VERSION, type IndexFile } from '../repository/repofile.js'
import type { Repository } from '../repository/repository.js'
import { listUnindexed, readPackHeaders } from '../repository/unindexed-packs.js'

export interface PruneOptions {
  dryRun?: boolean
  /**
   * The share of the repository that may stay unused after the prune (default 0.05). Packs with
   * nothing used are always deleted; partly used packs are repacked, the most unused first, only
   * until the unused bytes left are at most this share of all bytes kept (0: every one). Repacking
   * means reading and rewriting whole packs, so tolerating a little waste saves most of that work
   * (and, on cloud storage, the transfer).
   */
  maxUnused?: number
  /**
   * Packs smaller than this many bytes (default: pack size / 8) are repacked together when there
   * are at least `smallPacksToCombine` of a blob type, or when packs of that type are repacked anyway.
   */
  smallPackBytes?: number
  /**
   * Small packs of one type worth combining on their own (default 10, restic's rule): fewer are
   * left alone, since every backup of a few changes ends in small packs and rewriting them each
   * prune would cost more transfer than it saves.
   */
  smallPacksToCombine?: number
  /**
   * A prune merges the index files into as few as they fit when more than this many exist (default
   * 8) and they would at least halve in number, also when no pack needs deleting or rewriting: every
   * backup writes one, and every fresh process lists (and without a cache reads) them all.
   */
  maxIndexFiles?: number
  /** Packs stored but in no index are deleted only when older than this (default 24 h): a backup elsewhere may be about to index them. */
  unindexedGraceMs?: number
  signal?: AbortSignal
  onProgress?: (p: { phase: 'mark' | 'plan' | 'repack' | 'index' | 'delete'; done: number; total: number }) => void
  /** How long to wait for other processes' locks (default 0). */
  lockWaitMs?: number
  /**
   * Packs (full ids) to rewrite whatever their use: their used blobs go into new packs (each
   * authenticated first) and the packs are deleted. For packs whose name or header `check
   * --read-data` found damaged while every blob in them opened intact (Problem.intact): the blobs
   * are read where the index says they are, so a damaged header does not matter.
   */
  repack?: string[]
  /**
   * Prune even though some snapshot files cannot be read (Repository.snapshotProblems), treating
   * those snapshots as forgotten: the data only they use is deleted, so they can never be restored,
   * not even if their file is later put back from another copy. Without it prune refuses
   * (`UNREADABLE_SNAPSHOTS`): put the files back, or `forgetSnapshots` them, first.
   */
  ignoreUnreadableSnapshots?: boolean
}

/** One indexed pack and what the plan does with it. */
export interface PackPlan {
  id: string
  size: number
  blobs: number
  usedBlobs: number
  usedBytes: number
  unusedBytes: number
  /** Blob type of the pack's blobs (data and tree blobs live in separate packs). */
  type: BlobType
  action: 'keep' | 'repack' | 'delete'
  /**
   * The pack was in no readable index file: prune read its header and took it in (see
   * PrunePlan.adopted). One younger than the grace period is always kept.
   */
  adopted?: boolean
}

/** What a prune will do: computed first, printed by a dry run, executed by prune. */
export interface PrunePlan {
  packs: PackPlan[]
  /** Packs in storage that no index names, old enough to delete. */
  unindexedToDelete: Array<{ id: string; size: number }>
  /** Unindexed packs kept because they are younger than the grace period. */
  unindexedKept: number
  /**
   * Packs in no readable index file that prune read the headers of and planned like indexed ones:
   * done when an index file is damaged, or a snapshot needs a blob no index names (an index file
   * lost), so that the packs holding what the snapshots need are kept and the new index names them.
   */
  adopted: number
  /** Index files that cannot be read: superseded and deleted once the adopted packs are indexed. */
  damagedIndexFiles: string[]
  /** Snapshots whose file cannot be read, planned as if forgotten (only with ignoreUnreadableSnapshots). */
  ignoredSnapshots: string[]
  /** Index files the new index supersedes (damaged ones included: prune deletes them). */
  indexFiles: string[]
  /**
   * The prune rewrites the index although no pack changes: there are more index files than
   * PruneOptions.maxIndexFiles and they merge into this many (0: no merge of its own is planned).
   */
  mergeIndexFilesInto: number
  /** Parsed index files, by name (used to build the new index). */
  indexContents: Map<string, IndexFile>
  stats: {
    snapshots: number
    usedBlobs: number
    unusedBlobs: number
    duplicateBlobs: number
    packsToDelete: number
    packsToRepack: number
    packsToKeep: number
    bytesToDelete: number
    bytesToRepack: number
    bytesUnusedAfter: number
  }
  /** The one copy of every used blob that stays: its pack is the location's packId. */
  keepers: BlobIndex
}

const NO_PACK = Buffer.alloc(32)

/** Mark and plan: walks every snapshot's trees to find the used blobs, then decides per pack. */
export async function planPrune(repo: Repository, opts: PruneOptions = {}): Promise<PrunePlan> {
  const maxUnused = opts.maxUnused ?? 0.05
  if (!(maxUnused >= 0 && maxUnused <= 1)) throw new InvalidOptionsError('maxUnused must be a fraction between 0 and 1')
  const smallPack = opts.smallPackBytes ?? Math.floor(repo.config.packSize / 8)
  const grace = opts.unindexedGraceMs ?? 24 * 3600_000
  const index = await repo.index()
  const damaged = new Set(repo.indexProblems.map((p) => p.name))
  // With an index file damaged, the packs it named are in no readable index: they would look unused,
  // and deleting them could lose data. So their headers are read and they are planned like indexed
  // packs; the new index names those kept, and the damaged file goes. The same when a snapshot needs
  // a blob no index names (an index file lost): then the mark runs again with them.
  let adopted = damaged.size > 0 ? await adoptUnindexed(repo, index, grace) : undefined
  const has = (type: BlobType, id: Uint8Array) => index.has(type, id) || !!adopted?.index.has(type, id)

  // Mark.
  const snapshots = await repo.snapshots()
  // The data an unreadable snapshot uses is unknown: marking without it would delete it.
  const ignoredSnapshots = repo.snapshotProblems.map((p) => p.id)
  if (ignoredSnapshots.length > 0 && !opts.ignoreUnreadableSnapshots) throw new UnreadableSnapshotsError(ignoredSnapshots)
  let used = new BlobIndex(Math.max(1024, index.size))
  let visited = new Set<string>()
  let marked = 0
  const markTree = async (id: Uint8Array, where: string): Promise<void> => {
    const key = toHex(id)
    if (visited.has(key)) return
    visited.add(key)
    if (opts.signal?.aborted) throw new Error('aborted')
    if (!has(BlobType.Tree, id)) throw new ObjectNotFoundError('tree blob', `${key} (${where})`)
    used.add(BlobType.Tree, id, NO_PACK, 0, 0, 0, 0)
    const tree = await repo.loadTree(id, adopted?.index.get(BlobType.Tree, id))
    for (const n of tree.nodes) {
      if (n.content) {
        for (let o = 0; o < n.content.length; o += ID_BYTES) {
          const blob = n.content.subarray(o, o + ID_BYTES)
          if (!has(BlobType.Data, blob)) throw new ObjectNotFoundError('data blob', `${toHex(blob)} (${where}/${Buffer.from(n.name).toString()})`)
          used.add(BlobType.Data, blob, NO_PACK, 0, 0, 0, 0)
        }
      }
      if (n.subtree) await markTree(n.subtree, `${where}/${Buffer.from(n.name).toString()}`)
    }
    opts.onProgress?.({ phase: 'mark', done: ++marked, total: 0 })
  }
  const markAll = async () => {
    for (const s of snapshots) await markTree(fromHex(s.tree), `snapshot ${s.shortId}`)
  }
  try {
    await markAll()
  } catch (e) {
    if (!(e instanceof ObjectNotFoundError) || adopted) throw e
    adopted = await adoptUnindexed(repo, index, grace)
    if (adopted.packs.length === 0) throw e
    used = new BlobIndex(Math.max(1024, index.size))
    visited = new Set()
    await markAll()
  }

  // Plan: one keeper per used blob (its first indexed copy); everything else is unused.
  const indexFiles = repo.loadedIndexFiles()
  const indexContents = new Map<string, IndexFile>()
  for (const name of indexFiles) if (!damaged.has(name)) indexContents.set(name, await repo.loadIndexFile(name))
  // Adopted packs last: a blob both in them and in an indexed pack keeps its indexed copy.
  if (adopted && adopted.packs.length > 0) indexContents.set(ADOPTED, { v: FORMAT_VERSION, supersedes: [], packs: adopted.packs })
  const superseded = new Set<string>()
  for (const f of indexContents.values()) for (const s of f.supersedes) superseded.add(toHex(s))
  const kept = new BlobIndex(Math.max(1024, used.size))
  const packs = new Map<string, PackPlan>()
  let unusedBlobs = 0
  let duplicateBlobs = 0
  for (const [name, file] of indexContents) {
    if (superseded.has(name)) continue
    for (const p of file.packs) {
      const id = toHex(p.id)
      let plan = packs.get(id)
      if (!plan) {
        plan = { id, size: p.size, blobs: 0, usedBlobs: 0, usedBytes: 0, unusedBytes: 0, type: (p.blobs[0]?.[0] ?? BlobType.Data) as BlobType, action: 'keep' }
        if (name === ADOPTED) plan.adopted = true
        packs.set(id, plan)
      }
      for (const [type, blob, , length] of p.blobs) {
        plan.blobs++
        if (used.has(type, blob) && !kept.has(type, blob)) {
          kept.add(type, blob, Buffer.from(p.id), 0, 0, 0, 0)
          plan.usedBlobs++
          plan.usedBytes += length
        } else {
          if (used.has(type, blob)) duplicateBlobs++
          else unusedBlobs++
          plan.unusedBytes += length
        }
      }
    }
  }
  // Small packs are combined, per blob type (data and tree blobs never share a pack): only where
  // there are two or more of a type, so a repository with one small pack of each settles.
  const small: Record<BlobType, PackPlan[]> = { [BlobType.Data]: [], [BlobType.Tree]: [] }
  for (const plan of packs.values()) {
    if (plan.usedBlobs === 0) plan.action = 'delete'
    else if (plan.size < smallPack) small[plan.type].push(plan)
  }
  const combine = opts.smallPacksToCombine ?? 10
  for (const group of Object.values(small)) {
    if (group.length >= Math.max(2, combine)) for (const p of group) p.action = 'repack'
  }
  repackForUnused([...packs.values()], maxUnused)
  for (const id of opts.repack ?? []) {
    const plan = packs.get(id)
    if (!plan) throw new InvalidOptionsError(`pack ${id} is in no index: there is nothing to repack (give a pack's full id, as check names it)`)
    if (plan.action === 'keep') plan.action = plan.usedBlobs > 0 ? 'repack' : 'delete'
  }
  // Where packs of a type are repacked anyway, that type's lone small pack joins them: the repack
  // ends in a new (likely small) pack of its own, and the two small packs would otherwise make the
  // next prune repack again. So a prune right after a prune has nothing to do.
  for (const plan of packs.values()) {
    if (plan.action !== 'repack') continue
    for (const p of small[plan.type]) p.action = 'repack'
  }
  // An adopted pack younger than the grace period may be a running backup's (see unindexedGraceMs).
  for (const plan of packs.values()) if (plan.adopted && adopted!.young.has(plan.id)) plan.action = 'keep'

  const unindexedToDelete: PrunePlan['unindexedToDelete'] = []
  let unindexedKept = 0
  const now = Date.now()
  for await (const f of repo.backend.list('data')) {
    if (packs.has(f.name)) continue
    if (f.modified && now - f.modified.getTime() >= grace) unindexedToDelete.push({ id: f.name, size: f.size })
    else unindexedKept++
  }

  const all = [...packs.values()]
  const sum = (a: PackPlan[], f: (p: PackPlan) => number) => a.reduce((n, p) => n + f(p), 0)
  const del = all.filter((p) => p.action === 'delete')
  const rep = all.filter((p) => p.action === 'repack')
  // The index files a prune that rewrites the index would write: one per INDEX_FILE_PACKS packs kept.
  const mergedFiles = Math.max(1, Math.ceil((all.length - del.length) / INDEX_FILE_PACKS))
  const mergeIndexFilesInto = indexFiles.length > (opts.maxIndexFiles ?? 8) && mergedFiles * 2 <= indexFiles.length ? mergedFiles : 0
  return {
    packs: all,
    unindexedToDelete,
    unindexedKept,
    adopted: adopted?.packs.length ?? 0,
    damagedIndexFiles: [...damaged],
    ignoredSnapshots,
    indexFiles,
    mergeIndexFilesInto,
    indexContents,
    keepers: kept,
    stats: {
      snapshots: snapshots.length,
      usedBlobs: used.size,
      unusedBlobs,
      duplicateBlobs,
      packsToDelete: del.length,
      packsToRepack: rep.length,
      packsToKeep: all.length - del.length - rep.length,
      bytesToDelete: sum(del, (p) => p.size) + unindexedToDelete.reduce((n, p) => n + p.size, 0),
      bytesToRepack: sum(rep, (p) => p.size),
      bytesUnusedAfter: sum(all.filter((p) => p.action === 'keep'), (p) => p.unusedBytes),
    },
  }
}

/** The key of the adopted packs among the index files' contents: not an index file name (those are hex). */
const ADOPTED = '(adopted)'

/**
 * Reads the headers of the packs in storage that no readable index file names (see
 * unindexed-packs.ts). Those whose header cannot be read stay unindexed (deleted after the grace
 * period, as before). `young`: the ids of those younger than the grace period.
 */
async function adoptUnindexed(repo: Repository, index: BlobIndex, graceMs: number): Promise<{ packs: IndexFile['packs']; index: BlobIndex; young: Set<string> }> {
  const now = Date.now()
  const read = await readPackHeaders(repo, await listUnindexed(repo, index))
  const young = new Set(read.filter(({ listed }) => !listed.modified || now - listed.modified.getTime() < graceMs).map(({ listed }) => listed.name))
  const packs = read.map((r) => r.pack)
  const adoptedIndex = new BlobIndex(Math.max(1024, packs.reduce((n, p) => n + p.blobs.length, 0)))
  for (const p of packs) for (const [type, id, offset, length, raw, codec] of p.blobs) adoptedIndex.add(type, id, p.id, offset, length, raw, codec)
  return { packs, index: adoptedIndex, young }
}

/**
 * Marks partly used packs for repacking, the most unused share first (tree packs before data packs,
 * as trees are read by every backup and restore), until the unused bytes of the packs kept are at
 * most `maxUnused` of all bytes kept.
 */
function repackForUnused(all: PackPlan[], maxUnused: number): void {
  let used = 0
  let unused = 0
  for (const p of all) {
    if (p.action === 'delete') continue
    used += p.usedBytes
    if (p.action === 'keep') unused += p.unusedBytes
  }
  const candidates = all.filter((p) => p.action === 'keep' && p.unusedBytes > 0)
  const share = (p: PackPlan) => p.unusedBytes / Math.max(1, p.usedBytes + p.unusedBytes)
  candidates.sort((a, b) => (a.type === b.type ? share(b) - share(a) : a.type === BlobType.Tree ? -1 : 1))
  for (const p of candidates) {
    if (unused <= maxUnused * (used + unused)) break
    p.action = 'repack'
    unused -= p.unusedBytes
  }
}
