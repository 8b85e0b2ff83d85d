import type { Handle } from '../backend/backend.js'
import { countsSince, type RequestCounts } from '../backend/counter.js'
import { fromHex, toHex } from '../crypto/ids.js'
import { AbortedError, BackendError, CorruptObjectError } from '../errors/index.js'
import { INDEX_FILE_PACKS } from '../repository/consolidate.js'
import { Lock } from '../repository/lock.js'
import { Packer, type StoredPack } from '../repository/packer.js'
import type { BlobType, IndexFile } from '../repository/repofile.js'
import { mapLimit, type Repository } from '../repository/repository.js'
import { planPrune, type PrunePlan, type PruneOptions } from './plan.js'

export interface PruneSummary {
  dryRun: boolean
  plan: Omit<PrunePlan, 'keepers' | 'indexContents'>
  packsDeleted: number
  packsRepacked: number
  packsWritten: number
  unindexedPacksDeleted: number
  blobsRepacked: number
  bytesFreed: number
  indexFilesWritten: number
  indexFilesDeleted: number
  /** Temporary files or multipart uploads that interrupted writes left behind, removed. */
  incompleteUploadsRemoved: number
  /**
   * In a protected repository opened by its owner (trusted): lock files and lock release records
   * stored more than twice the stale age ago, which its writers leave behind, removed.
   */
  lockFilesRemoved: number
  requests: RequestCounts
  durationMs: number
}

/** Lock files and release records stored longer ago than this: no reader reads them (twice the stale age). */
const OLD_LOCK_RECORD_MS = 2 * 30 * 60_000

/**
 * In a protected repository opened trusted, removes the lock files and release records its writers
 * leave (two a backup) once no reader reads them, after a journal record names them.
 */
async function removeOldLockRecords(repo: Repository): Promise<number> {
  if (!repo.protected || !repo.trusted) return 0
  const now = Date.now()
  const old: Handle[] = []
  for await (const f of repo.backend.list('locks')) if (f.modified && now - f.modified.getTime() > OLD_LOCK_RECORD_MS) old.push({ type: 'locks', name: f.name })
  await repo.announceRemovals(old, 'prune')
  await mapLimit(old, 8, (h) => repo.backend.remove(h))
  return old.length
}

/**
 * Mark and sweep under the exclusive lock. The sweep runs in a crash-safe order: repacked blobs go
 * to new packs first; then one new index that names every remaining pack and supersedes every old
 * index file; then the old index files are deleted; last the packs nothing names any more. A crash
 * at any step leaves a valid repository (at worst with garbage the next prune removes).
 */
export async function prune(repo: Repository, opts: PruneOptions = {}): Promise<PruneSummary> {
  const started = performance.now()
  const before = repo.requests()
  const lock = opts.dryRun ? undefined : await Lock.acquire(repo, { exclusive: true, waitMs: opts.lockWaitMs ?? 0 })
  try {
    repo.invalidateIndex() // read the index as it is now, under the lock
    const plan = await planPrune(repo, opts)
    const { keepers, indexContents, ...shown } = plan
    const summary: PruneSummary = {
      dryRun: !!opts.dryRun,
      plan: shown,
      packsDeleted: 0,
      packsRepacked: 0,
      packsWritten: 0,
      unindexedPacksDeleted: 0,
      blobsRepacked: 0,
      bytesFreed: 0,
      indexFilesWritten: 0,
      indexFilesDeleted: 0,
      incompleteUploadsRemoved: 0,
      lockFilesRemoved: 0,
      requests: countsSince(repo.requests(), before),
      durationMs: 0,
    }
    // Adopted packs and damaged index files need the new index even when no pack goes.
    // Many index files are merged by the same path, with no pack to write or delete.
    const nothingToDo = plan.stats.packsToDelete === 0 && plan.stats.packsToRepack === 0 && plan.unindexedToDelete.length === 0 && plan.adopted === 0 && plan.damagedIndexFiles.length === 0 && plan.mergeIndexFilesInto === 0
    if (!opts.dryRun) summary.lockFilesRemoved = await removeOldLockRecords(repo)
    if (opts.dryRun || nothingToDo) {
      summary.durationMs = Math.round(performance.now() - started)
      return summary
    }
    const check = () => {
      if (opts.signal?.aborted) throw new AbortedError('prune')
    }

    // 1. Repack: carry the used blobs of repacked packs into new packs, sealed bytes as they are.
    const newPacks: StoredPack[] = []
    const packer = new Packer({
      backend: repo.backend,
      encryptionKey: repo.keys.encryption,
      packSize: repo.config.packSize,
      maxInFlight: 2,
      onStored: (p) => {
        newPacks.push(p)
      },
    })
    const repack = plan.packs.filter((p) => p.action === 'repack')
    // A pack's blobs as the index lists them: read where the index says (as restores read them), so
    // a pack whose header is damaged is repacked all the same; every blob is authenticated anyway.
    const listedBlobs = new Map<string, IndexFile['packs'][number]['blobs']>()
    for (const file of indexContents.values()) for (const p of file.packs) if (!listedBlobs.has(toHex(p.id))) listedBlobs.set(toHex(p.id), p.blobs)
    // The blobs a pack carries are read in one range into one buffer, reused for every pack (where
    // the storage can read into a buffer): a fresh buffer for each pack cost page faults on all its
    // pages and, as external memory, full collections of the heap. Blobs that lie back to back go
    // into the new pack in one write.
    let buffer: Buffer | undefined
    const readRange = async (id: string, offset: number, length: number): Promise<Uint8Array> => {
      if (repo.backend.loadInto) {
        if (!buffer || buffer.length < length) buffer = Buffer.allocUnsafeSlow(Math.max(length, repo.config.packSize + repo.config.chunker.max + 1024 * 1024))
        try {
          await repo.backend.loadInto({ type: 'data', name: id }, { offset, length }, buffer)
          return buffer.subarray(0, length)
        } catch (e) {
          // Shorter than its index says: read what there is, and say so below.
          if (!(e instanceof BackendError && /beyond the end/.test(e.message))) throw e
        }
      }
      const whole = await repo.backend.load({ type: 'data', name: id })
      if (whole.length < offset + length) throw new CorruptObjectError('pack', id, `shorter than its index says (${whole.length} bytes; its blobs reach ${offset + length})`)
      return whole.subarray(offset, offset + length)
    }
    let done = 0
    for (const p of repack) {
      check()
      // Carry a blob only from the pack that holds its chosen copy (duplicates elsewhere are dropped).
      const carried = new Set<string>()
      const carry: Array<{ type: BlobType; id: Buffer; start: number; length: number; rawLength: number; codec: number }> = []
      for (const [type, id, start, length, raw, codec] of listedBlobs.get(p.id) ?? []) {
        const keeper = keepers.get(type, id)
        if (!keeper || toHex(keeper.packId) !== p.id) continue
        const key = `${type}:${toHex(id)}`
        if (carried.has(key)) continue
        carried.add(key)
        carry.push({ type, id: Buffer.from(id), start, length, rawLength: raw, codec })
      }
      if (carry.length > 0) {
        carry.sort((a, b) => a.start - b.start)
        const from = carry[0].start
        let to = 0
        for (const b of carry) to = Math.max(to, b.start + b.length)
        const bytes = await readRange(p.id, from, to - from)
        const packId = fromHex(p.id)
        for (let i = 0; i < carry.length; ) {
          // A run: blobs of one type back to back in the pack.
          let j = i + 1
          while (j < carry.length && carry[j].type === carry[i].type && carry[j].start === carry[j - 1].start + carry[j - 1].length) j++
          const run = carry.slice(i, j)
          const at = run[0].start - from
          const end = run[run.length - 1].start + run[run.length - 1].length - from
          // Authenticate before carrying: never copy a corrupt blob into a new pack.
          for (const b of run) repo.openBlob(b.type, b.id, bytes.subarray(b.start - from, b.start - from + b.length), b.rawLength, b.codec, packId)
          await packer.addRun(run[0].type, run, bytes.subarray(at, end))
          summary.blobsRepacked += run.length
          i = j
        }
      }
      opts.onProgress?.({ phase: 'repack', done: ++done, total: repack.length })
    }
    await packer.flush()
    summary.packsWritten = newPacks.length
    summary.packsRepacked = repack.length
    check()

    // 2. One new index naming every pack that stays, superseding every old index file.
    const keepPacks = new Set(plan.packs.filter((p) => p.action === 'keep').map((p) => p.id))
    const remaining: StoredPack[] = [...newPacks]
    const listed = new Set<string>()
    for (const file of indexContents.values()) {
      for (const p of file.packs) {
        const id = toHex(p.id)
        if (!keepPacks.has(id) || listed.has(id)) continue
        listed.add(id)
        remaining.push({ id: Buffer.from(p.id), size: p.size, scheme: p.scheme, keyId: p.keyId, blobs: p.blobs.map(([t, b, o, l, r, c]) => [t, Buffer.from(b), o, l, r, c]) })
      }
    }
    const INDEX_CHUNK = INDEX_FILE_PACKS
    const written: string[] = []
    const chunks = Math.max(1, Math.ceil(remaining.length / INDEX_CHUNK))
    for (let i = 0; i < chunks; i++) {
      // Only the last file supersedes the old ones: until it exists, the old files still describe
      // every pack, so a crash between two new files loses nothing.
      const last = i === chunks - 1
      written.push(await repo.saveIndexFile(remaining.slice(i * INDEX_CHUNK, (i + 1) * INDEX_CHUNK), last ? plan.indexFiles : []))
    }
    summary.indexFilesWritten = written.length
    opts.onProgress?.({ phase: 'index', done: written.length, total: written.length })

    // In a protected repository (opened trusted), one journal record names every file deleted below first.
    const doomed = [...plan.packs.filter((p) => p.action !== 'keep'), ...plan.unindexedToDelete.map((p) => ({ id: p.id, size: p.size }))]
    await repo.announceRemovals([...plan.indexFiles.map((name) => ({ type: 'index' as const, name })), ...doomed.map((p) => ({ type: 'data' as const, name: p.id }))], 'prune')

    // 3. Delete the old index files.
    await mapLimit(plan.indexFiles, 8, async (name) => {
      await repo.backend.remove({ type: 'index', name })
      summary.indexFilesDeleted++
    })

    // 4. Delete packs nothing names any more.
    let deleted = 0
    await mapLimit(doomed, 8, async (p) => {
      await repo.backend.remove({ type: 'data', name: p.id })
      summary.bytesFreed += p.size
      opts.onProgress?.({ phase: 'delete', done: ++deleted, total: doomed.length })
    })
    // Net: what the new packs take is not freed.
    summary.bytesFreed -= newPacks.reduce((n, p) => n + p.size, 0)
    const removedIncomplete = await removeIncompleteUploads(repo, opts.unindexedGraceMs ?? 24 * 3600_000)
    summary.incompleteUploadsRemoved = removedIncomplete
    summary.packsDeleted = plan.stats.packsToDelete
    summary.unindexedPacksDeleted = plan.unindexedToDelete.length
    summary.requests = countsSince(repo.requests(), before)
    summary.durationMs = Math.round(performance.now() - started)
    return summary
  } finally {
    // Also after a failure: the index files may have changed (new ones written, old ones deleted)
    // while the in-memory index is still the one read before; the next operation reads them again.
    repo.invalidateIndex()
    await lock?.release()
  }
}

/**
 * Lets the storage drop what interrupted writes left (local temporary files, S3 multipart uploads);
 * best effort. The repository's request counter offers removeIncomplete where the storage below it
 * (through any of the library's wrappers) has it.
 */
async function removeIncompleteUploads(repo: Repository, olderThanMs: number): Promise<number> {
  if (!repo.backend.removeIncomplete) return 0
  try {
    return await repo.backend.removeIncomplete(olderThanMs)
  } catch {
    return 0 // not every store supports listing unfinished uploads; nothing is lost by skipping it
  }
}
