import { fromHex } from '../crypto/ids.js'
import { toEntry, walkTree, type Entry } from '../repository/tree-walk.js'
import type { Repository } from '../repository/repository.js'

export interface FindMatch {
  snapshot: string
  time: Date
  entry: Entry
}

/**
 * Which snapshots hold paths matching a glob. A pattern with a slash is matched against the whole
 * path inside the snapshot (`memory/notes/*.md`), one without against the name (`*.md`).
 */
export async function findInSnapshots(repo: Repository, pattern: string, opts: { signal?: AbortSignal } = {}): Promise<FindMatch[]> {
  const { default: picomatch } = await import('picomatch') // loaded only when find is used
  const isMatch = picomatch(pattern, { dot: true, basename: !pattern.includes('/') })
  const out: FindMatch[] = []
  for (const s of await repo.snapshots()) {
    for await (const { path, node } of walkTree(repo, fromHex(s.tree), '', opts.signal)) {
      if (isMatch(path)) out.push({ snapshot: s.id, time: s.time, entry: toEntry(path, node) })
    }
  }
  return out
}
