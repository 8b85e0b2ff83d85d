import { fromHex, ID_BYTES, toHex } from '../crypto/ids.js'
import { BlobIndex } from '../repository/blob-index.js'
import { BlobType } from '../repository/repofile.js'
import type { Repository } from '../repository/repository.js'

export interface RepositoryStats {
  snapshots: number
  /** Bytes all snapshots would restore to, added up. */
  totalFileBytes: number
  totalFiles: number
  /** Plaintext bytes of the distinct blobs the snapshots use. */
  rawBytes: number
  /** Bytes of those blobs as stored (compressed and sealed). */
  storedBlobBytes: number
  /** Bytes of all packs in the index. */
  packBytes: number
  blobs: number
  packs: number
  /** totalFileBytes / rawBytes: what deduplication saves. */
  dedupRatio: number
  /** rawBytes / storedBlobBytes: what compression saves. */
  compressionRatio: number
}

/** Sizes and ratios of the repository, from its index and every snapshot's trees. */
export async function repositoryStats(repo: Repository, signal?: AbortSignal): Promise<RepositoryStats> {
  const index = await repo.index()
  const snapshots = await repo.snapshots()
  const seen = new BlobIndex(Math.max(1024, index.size))
  const none = Buffer.alloc(32)
  let totalFileBytes = 0
  let totalFiles = 0
  let rawBytes = 0
  let storedBlobBytes = 0
  const count = (type: BlobType, id: Uint8Array) => {
    if (seen.has(type, id)) return
    seen.add(type, id, none, 0, 0, 0, 0)
    const loc = index.get(type, id)
    if (loc) {
      rawBytes += loc.rawLength
      storedBlobBytes += loc.length
    }
  }
  // Files and bytes below each tree, by id: a subtree referenced many times (identical folders, or a
  // forged tree that repeats one on every level and expands exponentially) is read and counted once.
  const below = new Map<string, { files: number; bytes: number }>()
  const walk = async (treeId: Uint8Array): Promise<{ files: number; bytes: number }> => {
    const key = toHex(treeId)
    const known = below.get(key)
    if (known) return known
    const sum = { files: 0, bytes: 0 }
    if (signal?.aborted) return sum
    count(BlobType.Tree, treeId)
    const tree = await repo.loadTree(treeId)
    for (const n of tree.nodes) {
      if (n.type === 'file') {
        sum.files++
        sum.bytes += n.size
        for (let o = 0; o < n.content!.length; o += ID_BYTES) count(BlobType.Data, n.content!.subarray(o, o + ID_BYTES))
      } else if (n.type === 'dir') {
        const sub = await walk(n.subtree!)
        sum.files += sub.files
        sum.bytes += sub.bytes
      }
    }
    below.set(key, sum)
    return sum
  }
  for (const s of snapshots) {
    const sum = await walk(fromHex(s.tree))
    totalFiles += sum.files
    totalFileBytes += sum.bytes
  }
  let packBytes = 0
  const packs = new Set<string>()
  for (const name of repo.loadedIndexFiles()) {
    const f = await repo.loadIndexFile(name)
    for (const p of f.packs) {
      const id = toHex(p.id)
      if (packs.has(id)) continue
      packs.add(id)
      packBytes += p.size
    }
  }
  return {
    snapshots: snapshots.length,
    totalFileBytes,
    totalFiles,
    rawBytes,
    storedBlobBytes,
    packBytes,
    blobs: index.size,
    packs: packs.size,
    dedupRatio: rawBytes > 0 ? totalFileBytes / rawBytes : 1,
    compressionRatio: storedBlobBytes > 0 ? rawBytes / storedBlobBytes : 1,
  }
}
