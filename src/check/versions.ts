import { AsOfBackend } from '../backend/as-of.js'
import { FILE_TYPES, type FileType, type ListedVersion, versionedOf } from '../backend/backend.js'
import { CorruptObjectError, NoVersionsError } from '../errors/index.js'
import { journalSchema } from '../repository/journal.js'
import { OWNER_KEY_NAME, readOwnerKey, verifyJournalRecord, type RecordedOwnerKey } from '../repository/owner-key.js'
import { decodeObject } from '../repository/repofile.js'
import type { Repository } from '../repository/repository.js'

/** One version or delete marker of a stored file. */
export interface VersionEvent {
  type: FileType
  name: string
  versionId: string
  /** When the storage stored it. */
  time?: Date
}

/** What `checkVersions` found in the storage's object versions. */
export interface VersionsReport {
  /** Delete markers that no record of the removal journal names: made by someone other than a trusted operation. */
  unexplainedDeletes: VersionEvent[]
  /**
   * Files stored again under a name they already had, with other bytes (each later version): no
   * writer of a protected repository overwrites, so these are a compromised writer's (or another
   * program's). `recover --as-of` skips them.
   */
  overwrites: VersionEvent[]
  /** Delete markers a journal record named before they were made (trusted prune, forget, unlock). */
  explainedDeletes: number
  /** Journal records read (signed, unsigned and forged). */
  journalRecords: number
  /** The owner's public key the repository records (its oldest version), if any: only records it verifies explain. */
  ownerKey?: RecordedOwnerKey
  /** Records carrying a valid signature of the owner key. */
  signedJournalRecords: number
  /**
   * Records without a signature that the owner key's record names as stored before it (or in a
   * repository that records none): read and counted as explanations, but anyone holding the
   * repository key could have written them. Record an owner key (`key owner --init`) so that later
   * ones must be signed.
   */
  unsignedJournalRecords: string[]
  /**
   * Records that explain nothing: a signature the owner key does not verify, a signature where no
   * owner key is recorded, or no signature and not among the records the owner key's record names
   * as stored before it. Only a writer holding the repository key, not the owner's private key,
   * makes these.
   */
  forgedJournalRecords: { name: string; why: string }[]
  /** Journal records that could not be read (named, not trusted). */
  unreadableJournalRecords: string[]
  versionsListed: number
  /** No unexplained delete marker, no overwrite, no forged journal record. */
  ok: boolean
}

/** Storage times come at one-second resolution (S3's LastModified): a record and its deletes may share a second. */
const SLACK_MS = 1000

/**
 * Which journal records explain anything: where the repository records an owner key, only those
 * its signature verifies, and the unsigned ones the owner key's record names as stored before it
 * (the journal as it was when the key was recorded); elsewhere every readable record, reported as
 * unsigned. Overwrites are never explained: no trusted operation rewrites a file, so no record,
 * signed or not, makes one expected.
 *
 * Lists every version and delete marker of the repository's files on versioned storage and names
 * those no trusted operation made: delete markers no journal record named first, and overwrites
 * (a second version with other bytes, by the storage's entity tag where it gives one, else by
 * size). NO_VERSIONS on storage without versions. Never modifies anything. On a repository opened
 * on an `asOf` view, the versions of the storage below the view are listed.
 */
export async function checkVersions(repo: Repository): Promise<VersionsReport> {
  // On a view of the past (a repository whose current key files or config were overwritten opens
  // only so), the versions are those of the storage below it.
  const storage = repo.storage instanceof AsOfBackend ? repo.storage.storage : repo.storage
  const store = storage.listVersions ? storage : versionedOf(storage)
  if (!store?.listVersions) throw new NoVersionsError(storage.location)
  const report: VersionsReport = { unexplainedDeletes: [], overwrites: [], explainedDeletes: 0, journalRecords: 0, signedJournalRecords: 0, unsignedJournalRecords: [], forgedJournalRecords: [], unreadableJournalRecords: [], versionsListed: 0, ok: true }
  const ownerKey = await readOwnerKey(repo)
  if (ownerKey) report.ownerKey = ownerKey
  const earlier = new Set(ownerKey?.earlier ?? [])

  // What the journal explains: each named file, from the time its record was stored.
  const explained = new Map<string, number>()
  // Every record, also those stored after a view's time: the delete markers below are all listed.
  const journal = repo.storage instanceof AsOfBackend ? new AsOfBackend(storage, new Date(8.64e15)) : repo.backend
  // A record counts from its first storing: the same bytes stored again later (a new version) must not
  // move it past the deletes it announced, making them look unexplained.
  const firstStored = new Map<string, number>()
  for await (const v of store.listVersions.call(store, 'journal')) {
    if (v.deleteMarker || !v.modified) continue
    firstStored.set(v.name, Math.min(firstStored.get(v.name) ?? Infinity, v.modified.getTime()))
  }
  for await (const f of journal.list('journal')) {
    if (f.name === OWNER_KEY_NAME) continue
    try {
      const record = decodeObject(journalSchema, await repo.loadFile('journal', f.name, 'journal', journal))
      report.journalRecords++
      const at = firstStored.get(f.name) ?? f.modified?.getTime() ?? Date.parse(record.time)
      // Sealing proves only the repository key, which every writer holds: the owner's signature tells.
      let forged: string | undefined
      if (record.sig !== undefined) {
        if (!ownerKey) forged = 'signed, but the repository records no owner key'
        else if (!verifyJournalRecord(record, repo.id, ownerKey.publicKey)) forged = "its signature is not the owner key's"
      } else if (ownerKey && !earlier.has(f.name)) forged = 'not signed, and not among the records stored before the owner key was recorded'
      if (forged) {
        report.forgedJournalRecords.push({ name: f.name, why: forged })
        continue
      }
      if (record.sig !== undefined) report.signedJournalRecords++
      else report.unsignedJournalRecords.push(f.name)
      for (const [type, name] of record.removed) {
        const k = `${type}/${name}`
        explained.set(k, Math.min(explained.get(k) ?? Infinity, at))
      }
    } catch (e) {
      if (!(e instanceof CorruptObjectError)) throw e
      report.unreadableJournalRecords.push(f.name)
    }
  }

  for (const type of FILE_TYPES) {
    const byName = new Map<string, ListedVersion[]>()
    for await (const v of store.listVersions.call(store, type)) {
      report.versionsListed++
      const list = byName.get(v.name) ?? []
      list.push(v)
      byName.set(v.name, list)
    }
    for (const [name, vs] of byName) {
      vs.sort((a, b) => (a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0))
      const event = (v: ListedVersion): VersionEvent => ({ type, name, versionId: v.versionId, ...(v.modified ? { time: v.modified } : {}) })
      let first: ListedVersion | undefined
      for (const v of vs) {
        if (v.deleteMarker) {
          const since = explained.get(`${type}/${name}`)
          if (since !== undefined && (v.modified === undefined || v.modified.getTime() + SLACK_MS >= since)) report.explainedDeletes++
          else report.unexplainedDeletes.push(event(v))
          continue
        }
        if (!first) {
          first = v
          continue
        }
        const same = first.etag !== undefined && v.etag !== undefined ? first.etag === v.etag : first.size === v.size
        if (!same) report.overwrites.push(event(v))
      }
    }
  }
  report.ok = report.unexplainedDeletes.length === 0 && report.overwrites.length === 0 && report.forgedJournalRecords.length === 0
  return report
}
