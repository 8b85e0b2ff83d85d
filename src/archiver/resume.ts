import { fromHex } from '../crypto/ids.js'
import { CorruptObjectError, ObjectNotFoundError } from '../errors/index.js'
import type { BlobIndex } from '../repository/blob-index.js'
import { locateBlobs, type StoredPack } from '../repository/packer.js'
import { mapLimit, type Repository } from '../repository/repository.js'

/**
 * Finds packs that are stored but named by no index file (left by an interrupted backup, or one
 * still running elsewhere), reads their headers (one ranged read each) and indexes their blobs, so
 * a backup resumes without uploading them again. Writes one index file for what it found.
 * Unreadable packs are left alone for check and prune to judge. Returns the packs indexed.
 */
export async function indexOrphanPacks(repo: Repository, index: BlobIndex, beforeWrite: () => Promise<void>, signal?: AbortSignal): Promise<number> {
  const unindexed = async () => {
    const out: Array<{ name: string; size: number }> = []
    for await (const f of repo.backend.list('data')) if (!index.hasPack(fromHex(f.name))) out.push(f)
    return out
  }
  if ((await unindexed()).length === 0) return 0
  // Adopting packs means relying on them: only under the lock (a prune may be deleting exactly such
  // packs until then), and only those still there once it is held.
  await beforeWrite()
  const orphans = await unindexed()
  const found: StoredPack[] = []
  await mapLimit(orphans, 4, async ({ name, size }) => {
    if (signal?.aborted) return
    try {
      const header = await repo.loadPackHeader(name, size)
      found.push({ id: fromHex(name), size, scheme: header.scheme, keyId: header.keyId, blobs: locateBlobs(header.blobs) })
    } catch (e) {
      if (!(e instanceof CorruptObjectError || e instanceof ObjectNotFoundError)) throw e
    }
  })
  if (found.length === 0) return 0
  // Into the cached index only once an index file names them: if that write fails, nothing relies on them.
  await repo.saveIndexFile(found)
  for (const p of found) for (const [type, id, offset, length, raw, codec] of p.blobs) index.add(type, id, p.id, offset, length, raw, codec)
  return found.length
}
