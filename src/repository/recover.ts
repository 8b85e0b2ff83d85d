import { InvalidOptionsError, ObjectExistsError, ObjectNotFoundError, RepositoryExistsError } from '../errors/index.js'
import { type Backend, type FileType, versionedOf } from '../backend/backend.js'
import { ProtectedWrites } from '../backend/protect.js'
import { mapLimit } from './repository.js'

/** What `recover` copied. */
export interface RecoverSummary {
  /** Files copied, per kind. */
  copied: Record<Exclude<FileType, 'locks'>, number>
  /** Files the target held already with the same bytes (a resumed copy). */
  alreadyThere: number
  bytes: number
}

export interface RecoverOptions {
  /** Files copied at once (default 4). */
  concurrency?: number
  onProgress?: (p: { type: FileType; done: number; total: number }) => void
}

/** Packs first, then index files, snapshots, journal records and keys, the config last: an interrupted copy is no repository yet. */
const ORDER = ['data', 'index', 'snapshots', 'journal', 'keys', 'config'] as const

/**
 * Copies every file a repository view shows (for `recover --to`, an `asOf` view of the past) into
 * `target`, byte for byte, so `target` becomes the same repository (same id, keys and password) as
 * it was. Lock files are not copied. Writes never overwrite: a file already in the target with the
 * same bytes counts as copied (running it again resumes), one with other bytes is OBJECT_EXISTS (a
 * copy of another time, or of an overwrite: recover into a new location); the view's own storage is
 * refused as a target (INVALID_OPTIONS); into versioned storage every write is
 * conditional and carries Content-MD5, as a protected writer's, a different config there is
 * REPOSITORY_EXISTS.
 */
export async function recoverTo(view: Backend, into: Backend, opts: RecoverOptions = {}): Promise<RecoverSummary> {
  // Into versioned storage (an Object Lock bucket wants Content-MD5), as a protected writer writes.
  const below = (view as { storage?: Backend }).storage ?? view
  if (into.location === below.location) throw new InvalidOptionsError(`recover copies into a new location, not into ${into.location}, which it reads: give another prefix or bucket`)
  const target = versionedOf(into) ? new ProtectedWrites(into) : into
  const summary: RecoverSummary = { copied: { config: 0, keys: 0, data: 0, index: 0, snapshots: 0, journal: 0 }, alreadyThere: 0, bytes: 0 }
  const config = await view.load({ type: 'config', name: 'config' })
  const there = await target.load({ type: 'config', name: 'config' }).catch((e: unknown) => {
    if (e instanceof ObjectNotFoundError) return undefined
    throw e
  })
  if (there && !Buffer.from(there).equals(Buffer.from(config))) throw new RepositoryExistsError(target.location)
  for (const type of ORDER) {
    const names: string[] = []
    for await (const f of view.list(type)) names.push(f.name)
    let done = 0
    await mapLimit(names, opts.concurrency ?? 4, async (name) => {
      const h = { type, name }
      const size = await target.stat(h).then(
        (s) => s.size,
        (e: unknown) => {
          if (e instanceof ObjectNotFoundError) return undefined
          throw e
        },
      )
      if (size !== undefined) {
        // Its bytes, not only its size: an overwrite keeps the size (and a pack's trailer).
        if (type !== 'config') {
          const [mine, theirs] = await Promise.all([view.load(h), target.load(h)])
          if (!Buffer.from(mine).equals(Buffer.from(theirs))) throw new ObjectExistsError('copy', `${type}/${name} (with other bytes: recover into a new location)`)
        }
        summary.alreadyThere++
      } else {
        const data = type === 'config' ? config : await view.load(h)
        await target.save(h, data, { ifAbsent: true })
        summary.copied[type]++
        summary.bytes += data.length
      }
      opts.onProgress?.({ type, done: ++done, total: names.length })
    })
  }
  return summary
}
