import { hostname } from 'node:os'
import { array, literal, object, oneOf, optional, str, tuple, type Infer } from '../codec/schema.js'
import { FILE_TYPES, type FileType, type Handle } from '../backend/backend.js'
import { ProtectedWrites } from '../backend/protect.js'
import type { Backend } from '../backend/backend.js'
import { PROTECTED_FORMAT_VERSION } from './repofile.js'

/**
 * The removal journal of a protected repository: before a trusted operation (prune, forget, unlock,
 * key remove, run with the owner's credential) removes files, it stores a sealed record in
 * `journal/` naming them. A delete marker on versioned storage that no record names was made by
 * someone else: `checkVersions` reports it as the sign of a compromised writer.
 *
 * A repository that records an owner key (owner-key.ts) has each record signed with the owner's
 * private key (`sig`, Ed25519 over the record and the repository's id): the repository key that
 * seals a record is also a writer's, so only the signature tells the owner's records from forged
 * ones. Records written before (and in repositories without an owner key) have none.
 */
export const journalSchema = object({
  v: literal(PROTECTED_FORMAT_VERSION),
  time: str(64),
  host: str(1024),
  operation: str(64),
  removed: array(tuple([oneOf(FILE_TYPES as readonly FileType[]), str(64)]), 10_000_000),
  /** The owner's Ed25519 signature (base64) of the fields above and the repository's id. */
  sig: optional(str(128)),
})
export type JournalRecord = Infer<typeof journalSchema>

/** Writes one sealed journal record; the repository supplies it. */
export type JournalWriter = (record: JournalRecord) => Promise<void>

const key = (h: Handle) => `${h.type}/${h.name}`

/**
 * The storage under a protected repository opened by its owner (`OpenOptions.trusted`): writes as a
 * protected writer's (conditional, Content-MD5, one request), but removes are allowed, each named
 * in a journal record first. Removes not announced by `announce` are recorded as they come, those
 * made at once in one record.
 */
export class TrustedRemovals extends ProtectedWrites {
  writer?: JournalWriter
  readonly removeIncomplete?: (olderThanMs: number) => Promise<number>
  private readonly announced = new Set<string>()
  private pending: Handle[] = []
  private batch?: Promise<void>

  constructor(inner: Backend) {
    super(inner)
    const { removeIncomplete } = inner
    if (removeIncomplete) this.removeIncomplete = (olderThanMs) => removeIncomplete.call(inner, olderThanMs)
  }

  /** Stores one journal record naming `handles` (before `operation` removes them). */
  async announce(handles: Handle[], operation: string): Promise<void> {
    const fresh = handles.filter((h) => !this.announced.has(key(h)))
    if (fresh.length === 0) return
    if (!this.writer) throw new Error('the removal journal has no writer')
    await this.writer({ v: PROTECTED_FORMAT_VERSION, time: new Date().toISOString(), host: hostname(), operation, removed: fresh.map((h) => [h.type, h.name]) })
    for (const h of fresh) this.announced.add(key(h))
  }

  override async remove(h: Handle): Promise<void> {
    if (!this.announced.has(key(h))) {
      this.pending.push(h)
      // Removes asked for at once (a mapLimit's workers) share one record.
      this.batch ??= Promise.resolve().then(() => {
        const hs = this.pending
        this.pending = []
        this.batch = undefined
        return this.announce(hs, 'remove')
      })
      await this.batch
    }
    await this.inner.remove(h)
  }
}
