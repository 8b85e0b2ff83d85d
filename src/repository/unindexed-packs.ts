import { fromHex } from '../crypto/ids.js'
import { CorruptObjectError, ObjectNotFoundError } from '../errors/index.js'
import type { BlobIndex } from './blob-index.js'
import { locateBlobs, type StoredPack } from './packer.js'
import { mapLimit, type Repository } from './repository.js'

/**
 * Packs stored but named by no index file: left by an interrupted backup, or by an index file that
 * is lost or damaged. Backups adopt them to resume (archiver/resume.ts); prune plans them when the
 * index is known to be incomplete (prune/plan.ts).
 */

/** A pack in storage as listed. */
export interface ListedPack {
  name: string
  size: number
  modified?: Date
}

/** The packs in storage that `index` does not name. */
export async function listUnindexed(repo: Repository, index: BlobIndex): Promise<ListedPack[]> {
  const out: ListedPack[] = []
  for await (const f of repo.backend.list('data')) if (!index.hasPack(fromHex(f.name))) out.push(f)
  return out
}

/**
 * Reads the headers of `packs` (one ranged read each, 4 at a time) into index entries, in the order
 * given. A pack whose header cannot be read, or that is gone, is left out, for check and prune to
 * judge.
 */
export async function readPackHeaders(repo: Repository, packs: ListedPack[], signal?: AbortSignal): Promise<Array<{ pack: StoredPack; listed: ListedPack }>> {
  const read: Array<{ pack: StoredPack; listed: ListedPack } | undefined> = new Array(packs.length)
  await mapLimit(
    packs.map((listed, i) => ({ listed, i })),
    4,
    async ({ listed, i }) => {
      if (signal?.aborted) return
      try {
        const header = await repo.loadPackHeader(listed.name, listed.size)
        read[i] = { listed, pack: { id: fromHex(listed.name), size: listed.size, scheme: header.scheme, keyId: header.keyId, blobs: locateBlobs(header.blobs) } }
      } catch (e) {
        if (!(e instanceof CorruptObjectError || e instanceof ObjectNotFoundError)) throw e
      }
    },
  )
  return read.filter((r): r is { pack: StoredPack; listed: ListedPack } => r !== undefined)
}
