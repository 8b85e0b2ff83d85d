import { InvalidOptionsError, throwIfAborted } from '../errors/index.js'
import { Lock } from './lock.js'
import { decodeObject, snapshotSchema, type SnapshotFile } from './repofile.js'
import type { Repository } from './repository.js'

export interface TagOptions {
  /** Tags to add. */
  add?: string[]
  /** Tags to remove. */
  remove?: string[]
  /** Replace every tag with these (not with add or remove). */
  set?: string[]
  signal?: AbortSignal
}

export interface TagSummary {
  /** Snapshots whose tags changed: the old id, the new one (a snapshot is named by its bytes), the tags now. */
  changed: Array<{ from: string; to: string; tags: string[] }>
  /** Snapshots that already had the tags asked for: left as they are. */
  unchanged: string[]
}

/**
 * Changes the tags of snapshots (restic's `tag`). A snapshot file is named by the hash of its bytes,
 * so each changed one is stored anew, everything but its tags as it was, and then the old file is
 * removed: at every moment one of the two exists, so a prune running meanwhile keeps its data.
 * Under a shared lock, as a backup.
 */
export async function tagSnapshots(repo: Repository, ids: string[], opts: TagOptions): Promise<TagSummary> {
  const { add = [], remove = [], set } = opts
  if (set !== undefined && (add.length > 0 || remove.length > 0)) throw new InvalidOptionsError('--set replaces every tag: give it alone, or use --add and --remove')
  if (set === undefined && add.length === 0 && remove.length === 0) throw new InvalidOptionsError('nothing to change: give --add, --remove or --set')
  for (const t of [...add, ...remove, ...(set ?? [])]) if (t === '' || t.includes(',')) throw new InvalidOptionsError(`"${t}" is not a tag: a tag is a non-empty name without commas`)
  // A retag replaces each snapshot file (a new one, the old removed): where removals must be
  // signed, that is checked before the first new file is stored.
  await repo.readyToRemove('retag snapshots')
  const lock = await Lock.acquire(repo, { exclusive: false, signal: opts.signal })
  const summary: TagSummary = { changed: [], unchanged: [] }
  try {
    for (const id of ids) {
      throwIfAborted(opts.signal, 'tag')
      const snap = await repo.findSnapshot(id)
      const raw: SnapshotFile = decodeObject(snapshotSchema, await repo.loadFile('snapshots', snap.id, 'snapshot'))
      const tags = set !== undefined ? [...new Set(set)] : [...new Set([...raw.tags.filter((t) => !remove.includes(t)), ...add.filter((t) => !remove.includes(t))])]
      if (JSON.stringify(tags) === JSON.stringify(raw.tags)) {
        summary.unchanged.push(snap.id)
        continue
      }
      const to = await repo.saveFile('snapshots', 'snapshot', { ...raw, tags } satisfies SnapshotFile)
      await repo.backend.remove({ type: 'snapshots', name: snap.id })
      summary.changed.push({ from: snap.id, to, tags })
    }
  } finally {
    await lock.release()
  }
  return summary
}
