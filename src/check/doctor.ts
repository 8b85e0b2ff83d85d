import { versionedOf, type Handle } from '../backend/backend.js'
import { storageId, toHex } from '../crypto/ids.js'
import { sealFile } from '../crypto/seal.js'
import { ObjectExistsError, PermissionDeniedError, ProtectedRepositoryError, SessionSyncError } from '../errors/index.js'
import type { LockRelease } from '../repository/lock.js'
import { encodeObject, PROTECTED_FORMAT_VERSION } from '../repository/repofile.js'
import type { Repository } from '../repository/repository.js'

/**
 * `doctor` proves each protection of the storage with the credential at hand, on a canary object,
 * and reports what it observed: never a protection it did not see work (some stores accept lock
 * headers and ignore them). The canary is a sealed lock release record that releases no lock, so
 * readers ignore it and a trusted prune removes it with the other release records.
 */

export type DoctorCheckName = 'versioning' | 'object-lock' | 'overwrite-refused' | 'overwrite-keeps-version' | 'lock-headers' | 'delete-refused' | 'version-delete-refused'

export interface DoctorCheck {
  check: DoctorCheckName
  /** `observed`: the protection was seen to work; `not-observed`: it was seen not to; `unknown`: it could not be tried. */
  status: 'observed' | 'not-observed' | 'unknown'
  /** What happened, for a person. */
  detail: string
}

export interface DoctorReport {
  location: string
  /** The repository records a protection (init --protect). */
  protectedRepository: boolean
  /** The canary's name in `locks/`, when it was written. */
  canary?: string
  checks: DoctorCheck[]
  /** Every check observed. */
  ok: boolean
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export async function doctor(repo: Repository): Promise<DoctorReport> {
  const storage = repo.storage
  const checks: DoctorCheck[] = []
  const add = (check: DoctorCheckName, status: DoctorCheck['status'], detail: string) => checks.push({ check, status, detail })
  const report = (canary?: string): DoctorReport => ({ location: storage.location, protectedRepository: repo.protected, ...(canary ? { canary } : {}), checks, ok: checks.length > 0 && checks.every((c) => c.status === 'observed') })
  const store = versionedOf(storage)
  if (!store) {
    add('versioning', 'not-observed', 'this storage keeps no old versions: nothing protects the history from a writer (only an S3 bucket with versioning can)')
    return report()
  }
  try {
    const p = await store.bucketProtection()
    add('versioning', p.versioning === 'enabled' ? 'observed' : 'not-observed', `the bucket reports versioning ${p.versioning}`)
    add('object-lock', p.objectLock ? 'observed' : 'not-observed', p.objectLock ? `the bucket reports Object Lock${p.defaultRetention ? ` with a default retention of ${p.defaultRetention.mode} for ${p.defaultRetention.days} days` : ' without a default retention'}` : 'the bucket reports no Object Lock')
  } catch (e) {
    add('versioning', 'unknown', `the bucket's configuration could not be read with this credential: ${why(e)}`)
  }

  const record: LockRelease = { v: PROTECTED_FORMAT_VERSION, released: '0'.repeat(64), time: new Date().toISOString() }
  const bytes = sealFile(repo.keys.encryption, 'lock', encodeObject(record))
  const h: Handle = { type: 'locks', name: toHex(storageId(bytes)) }
  try {
    await store.saveConditional(h, bytes)
  } catch (e) {
    for (const c of ['overwrite-refused', 'lock-headers', 'delete-refused', 'version-delete-refused'] as const) add(c, 'unknown', `the canary could not be written: ${why(e)}`)
    return report()
  }
  let first: string | undefined
  try {
    first = (await store.versions(h)).find((v) => v.latest && !v.deleteMarker)?.versionId
  } catch (e) {
    add('overwrite-keeps-version', 'unknown', `the canary's versions could not be listed: ${why(e)}`)
  }

  // The same bytes again, conditionally: harmless if accepted, and what the server does is what counts.
  try {
    await store.saveConditional(h, bytes)
    add('overwrite-refused', 'not-observed', 'a conditional overwrite (If-None-Match: *) of the canary was accepted; the library looks first, so only a race is left open')
  } catch (e) {
    if (e instanceof ObjectExistsError) add('overwrite-refused', 'observed', 'a conditional overwrite (If-None-Match: *) of the canary was refused')
    else if (e instanceof PermissionDeniedError) add('overwrite-refused', 'observed', `an overwrite of the canary was denied: ${why(e)}`)
    else add('overwrite-refused', 'unknown', `the overwrite attempt failed otherwise: ${why(e)}`)
  }
  if (first !== undefined) {
    try {
      const vs = await store.versions(h)
      const kept = vs.some((v) => v.versionId === first && !v.deleteMarker)
      add('overwrite-keeps-version', kept ? 'observed' : 'not-observed', kept ? `the canary's first version is still stored (${vs.length} version${vs.length === 1 ? '' : 's'})` : "the canary's first version is gone")
    } catch (e) {
      add('overwrite-keeps-version', 'unknown', `the canary's versions could not be listed: ${why(e)}`)
    }
  }

  try {
    const lock = await store.lockState(h, first)
    if (lock.mode && lock.retainUntil) add('lock-headers', lock.retainUntil.getTime() > Date.now() ? 'observed' : 'not-observed', `a HEAD returned ${lock.mode} retention until ${lock.retainUntil.toISOString()}${lock.legalHold ? ' and a legal hold' : ''}`)
    else add('lock-headers', 'not-observed', `a HEAD of the canary returned no retention${lock.legalHold ? ' (only a legal hold)' : ''}: new objects are not locked`)
  } catch (e) {
    add('lock-headers', 'unknown', `the canary could not be read back: ${why(e)}`)
  }

  try {
    // Opened by the owner (trusted), the journal names the canary first: its delete marker is explained.
    await repo.announceRemovals([h], 'doctor')
    await storage.remove(h)
    let marker = false
    try {
      marker = (await store.versions(h)).some((v) => v.deleteMarker && v.latest)
    } catch {
      // What was observed stands: the delete was accepted.
    }
    add('delete-refused', 'not-observed', `a delete of the canary was accepted with this credential${marker ? ' (a delete marker was written; the versions behind it stay)' : ''}`)
  } catch (e) {
    if (e instanceof PermissionDeniedError) add('delete-refused', 'observed', `a delete of the canary was refused: ${why(e)}`)
    else add('delete-refused', 'unknown', `the delete attempt failed otherwise: ${why(e)}`)
  }

  if (first === undefined) add('version-delete-refused', 'unknown', "the canary's version is not known")
  else {
    try {
      await store.removeVersion(h, first)
      add('version-delete-refused', 'not-observed', "a delete of the canary's version was accepted: this credential can destroy history")
    } catch (e) {
      if (e instanceof PermissionDeniedError) add('version-delete-refused', 'observed', `a delete of the canary's version was refused: ${why(e)}`)
      else if (e instanceof SessionSyncError && !(e instanceof ProtectedRepositoryError)) add('version-delete-refused', 'unknown', `the version delete failed otherwise: ${why(e)}`)
      else throw e
    }
  }
  return report(h.name)
}
