import { toHex } from '../crypto/ids.js'
import { CorruptObjectError, UnsupportedFormatError } from '../errors/index.js'
import type { StoredPack } from './packer.js'
import type { IndexFile } from './repofile.js'
import { mapLimit, type Repository } from './repository.js'

/** Packs named by one index file that consolidation writes (as prune writes them). */
export const INDEX_FILE_PACKS = 2000

/** A backup merges the index files when there are more than this many (BackupOptions.consolidateIndexes). */
export const CONSOLIDATE_INDEX_FILES = 50

export interface ConsolidateResult {
  /** Index files replaced (deleted once the new ones were stored). */
  replaced: number
  written: number
}

/**
 * Merges many small index files into few: every backup writes one, so a repository synced every 15
 * minutes gains thousands, and every fresh process lists (and without a cache, reads) them all.
 * Runs under the caller's lock (a backup's shared lock: prune cannot run meanwhile). Crash-safe in
 * prune's order: the new files are stored first, the last of them superseding every file it
 * replaces, and only then are the old ones deleted; no pack is touched, so a backup running
 * elsewhere that relied on an old file still finds every blob it deduplicated against (it notices
 * the deleted file before it writes, and starts again). Does nothing when `minFiles` or fewer index
 * files exist, when the files would not shrink by half, or when one of them cannot be read (prune
 * deals with a damaged index file).
 */
export async function consolidateIndexFiles(repo: Repository, minFiles = CONSOLIDATE_INDEX_FILES): Promise<ConsolidateResult> {
  const none = { replaced: 0, written: 0 }
  const names: string[] = []
  for await (const f of repo.backend.list('index')) names.push(f.name)
  if (names.length <= minFiles) return none
  let damaged = false
  const files = await mapLimit(names, 8, async (name) => {
    try {
      return { name, file: await repo.loadIndexFile(name) }
    } catch (e) {
      if (!(e instanceof CorruptObjectError || e instanceof UnsupportedFormatError)) throw e
      damaged = true
      return undefined
    }
  })
  if (damaged) return none
  const read = files as Array<{ name: string; file: IndexFile }>
  const superseded = new Set<string>()
  for (const { file } of read) for (const s of file.supersedes) superseded.add(toHex(s))
  const packs: StoredPack[] = []
  const seen = new Set<string>()
  for (const { name, file } of read) {
    if (superseded.has(name)) continue
    for (const p of file.packs) {
      const id = toHex(p.id)
      if (seen.has(id)) continue
      seen.add(id)
      packs.push({ id: Buffer.from(p.id), size: p.size, scheme: p.scheme, keyId: p.keyId, blobs: p.blobs.map(([t, b, o, l, r, c]) => [t, Buffer.from(b), o, l, r, c]) })
    }
  }
  const chunks = Math.max(1, Math.ceil(packs.length / INDEX_FILE_PACKS))
  if (chunks * 2 > names.length) return none
  const written: string[] = []
  for (let i = 0; i < chunks; i++) {
    // Only the last file supersedes the old ones: until it is stored, they still describe every pack.
    const last = i === chunks - 1
    written.push(await repo.saveIndexFile(packs.slice(i * INDEX_FILE_PACKS, (i + 1) * INDEX_FILE_PACKS), last ? names : []))
  }
  await mapLimit(names, 8, (name) => repo.backend.remove({ type: 'index', name }))
  repo.forgetIndexFiles(names)
  return { replaced: names.length, written: written.length }
}
