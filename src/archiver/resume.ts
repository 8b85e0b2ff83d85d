import type { BlobIndex } from '../repository/blob-index.js'
import type { Repository } from '../repository/repository.js'
import { listUnindexed, readPackHeaders } from '../repository/unindexed-packs.js'

/**
 * Finds packs that are stored but named by no index file (left by an interrupted backup, or one
 * still running elsewhere), reads their headers (one ranged read each) and indexes their blobs, so
 * a backup resumes without uploading them again. Writes one index file for what it found.
 * Unreadable packs are left alone for check and prune to judge. Returns the packs indexed.
 */
export async function indexOrphanPacks(repo: Repository, index: BlobIndex, beforeWrite: () => Promise<void>, signal?: AbortSignal): Promise<number> {
  if ((await listUnindexed(repo, index)).length === 0) return 0
  // Adopting packs means relying on them: only under the lock (a prune may be deleting exactly such
  // packs until then), and only those still there once it is held.
  await beforeWrite()
  const found = (await readPackHeaders(repo, await listUnindexed(repo, index), signal)).map((r) => r.pack)
  if (found.length === 0) return 0
  // Into the cached index only once an index file names them: if that write fails, nothing relies on them.
  await repo.saveIndexFile(found, [], { indexed: true })
  for (const p of found) for (const [type, id, offset, length, raw, codec] of p.blobs) index.add(type, id, p.id, offset, length, raw, codec)
  return found.length
}
