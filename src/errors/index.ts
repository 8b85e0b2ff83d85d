/**
 * Typed errors. Every error the library throws on purpose is a `SessionSyncError` with a stable
 * `code` that callers branch on, a `data` object with the details, and a message written for the
 * person who has to act on it.
 */

export type ErrorCode =
  | 'WRONG_PASSWORD'
  | 'NOT_A_REPOSITORY'
  | 'REPOSITORY_EXISTS'
  | 'CORRUPT_OBJECT'
  | 'UNSUPPORTED_FORMAT'
  | 'OBJECT_NOT_FOUND'
  | 'SNAPSHOT_NOT_FOUND'
  | 'AMBIGUOUS_SNAPSHOT'
  | 'UNSAFE_PATH'
  | 'INVALID_OPTIONS'
  | 'BACKEND_ERROR'
  | 'ABORTED'
  | 'READ_ONLY'
  | 'SOURCE_ERROR'
  | 'TARGET_ERROR'
  | 'INTERNAL'
  | 'LOCKED'
  | 'CONCURRENT_PRUNE'
  | 'INVALID_CONFIG'
  | 'NOT_CONFIGURED'
  | 'SYNC_BUSY'
  | 'KEY_MISSING'
  | 'RESTORE_NOT_FOUND'
  | 'STORAGE_UNREACHABLE'
  | 'UNREADABLE_SNAPSHOTS'
  | 'TREE_TOO_LARGE'
  | 'OBJECT_EXISTS'
  | 'PERMISSION_DENIED'
  | 'NOT_PROTECTABLE'
  | 'READ_ONLY_VIEW'
  | 'NO_VERSIONS'
  | 'PROTECTED_REPOSITORY'
  | 'UNRESOLVED_SECRET'
  | 'UNSUPPORTED_RUNTIME'
  | 'OWNER_KEY_REQUIRED'
  | 'OWNER_KEY_MISMATCH'
  | 'OWNER_KEY_EXISTS'

/** Marks the errors of this library, whichever copy of it made them (see SessionSyncError). */
const ERROR_BRAND = Symbol.for('session-sync-cloud.error')

export class SessionSyncError extends Error {
  readonly code: ErrorCode
  readonly data: Record<string, unknown>
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.data = data
    Object.defineProperty(this, ERROR_BRAND, { value: true })
  }

  /**
   * `e instanceof SessionSyncError` holds for errors of every copy of this module in the process: a
   * host that loads the plugin more than once (OpenClaw does, per registration mode) gets errors
   * thrown by one copy and caught by another, whose class is another object. Subclasses keep the
   * ordinary check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== SessionSyncError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[ERROR_BRAND] === true
  }
}

/**
 * No key file of the repository opens with the given password or key. `skipped`: key files that were
 * not tried (over the KDF bound, unreadable), each with the reason; one of them may be the user's.
 */
export class WrongPasswordError extends SessionSyncError {
  constructor(skipped: string[] = []) {
    const tail = skipped.length === 0 ? '' : ` ${skipped.length} key file${skipped.length === 1 ? ' was' : 's were'} not tried: ${skipped.join('; ')}.`
    super('WRONG_PASSWORD', `wrong password or key: no key file of this repository opens with it. Check SESSION_SYNC_PASSWORD or --password-file.${tail}`, { skipped })
  }
}

/** The location holds no repository (no config or no key files). */
export class NotARepositoryError extends SessionSyncError {
  constructor(location: string, detail: string) {
    super('NOT_A_REPOSITORY', `${location} is not a session-sync repository (${detail}); create one with "session-sync init".`, { location })
  }
}

export class RepositoryExistsError extends SessionSyncError {
  constructor(location: string) {
    super('REPOSITORY_EXISTS', `${location} already holds a repository; open it instead of initializing it again.`, { location })
  }
}

/** A stored object failed authentication, its hash, or validation of its contents. */
export class CorruptObjectError extends SessionSyncError {
  constructor(what: string, id: string, reason: string, options?: { cause?: unknown }) {
    super('CORRUPT_OBJECT', `${what} ${id} is corrupt (${reason}); run "session-sync check" and restore the object from another copy if you have one.`, { what, id, reason }, options)
  }
}

/** The object uses a format version or key scheme this program does not know. */
export class UnsupportedFormatError extends SessionSyncError {
  constructor(what: string, detail: string) {
    super('UNSUPPORTED_FORMAT', `${what} uses ${detail}, which this version of session-sync does not support; upgrade session-sync.`, { what, detail })
  }
}

export class ObjectNotFoundError extends SessionSyncError {
  constructor(what: string, id: string) {
    super('OBJECT_NOT_FOUND', `${what} ${id} does not exist in the repository.`, { what, id })
  }
}

export class SnapshotNotFoundError extends SessionSyncError {
  constructor(ref: string) {
    super('SNAPSHOT_NOT_FOUND', `no snapshot matches "${ref}"; list them with "session-sync snapshots".`, { ref })
  }
}

export class AmbiguousSnapshotError extends SessionSyncError {
  constructor(ref: string, count: number) {
    super('AMBIGUOUS_SNAPSHOT', `"${ref}" matches ${count} snapshots; give more characters of the id.`, { ref, count })
  }
}

/** A name in a tree would escape the restore target or is not a plain name. */
export class UnsafePathError extends SessionSyncError {
  constructor(name: string, reason: string) {
    super('UNSAFE_PATH', `refusing unsafe name ${JSON.stringify(name)} in the snapshot (${reason}); the repository may have been tampered with.`, { name, reason })
  }
}

export class InvalidOptionsError extends SessionSyncError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('INVALID_OPTIONS', message, data)
  }
}

/** The storage backend failed: unreachable, permission denied, disk full… */
export class BackendError extends SessionSyncError {
  /** `detail`: for subclasses that say more than the cause (their own code, message and data). */
  constructor(operation: string, name: string, cause: unknown, detail?: { code: ErrorCode; message?: string; data?: Record<string, unknown> }) {
    const why = cause instanceof Error ? cause.message : String(cause)
    super(detail?.code ?? 'BACKEND_ERROR', detail?.message ?? `storage ${operation} of ${name} failed: ${why}`, { operation, name, ...detail?.data }, { cause })
  }
}

/** A write that must not overwrite found the file there already (a conditional write was refused). */
export class ObjectExistsError extends BackendError {
  constructor(operation: string, name: string) {
    super(operation, name, new Error('file already exists'), { code: 'OBJECT_EXISTS' })
  }
}

/**
 * The storage refused the request for lack of permission, or because the object is protected
 * (versioning, Object Lock retention, a bucket policy). On a protected repository this is what a
 * writer's credential is meant to get for deletes and overwrites.
 */
export class PermissionDeniedError extends BackendError {
  constructor(operation: string, name: string, cause: unknown) {
    super(operation, name, cause, { code: 'PERMISSION_DENIED' })
  }
}

/** `init --protect` on storage that cannot keep old versions (no versioning, or a backend without it). */
export class NotProtectableError extends SessionSyncError {
  constructor(location: string, why: string) {
    super('NOT_PROTECTABLE', `${location} cannot hold a protected repository: ${why}; enable versioning on the bucket (and Object Lock for retention), or init without --protect`, { location, why })
  }
}

/** A write into a read-only view of a repository as it was at a past time (`--as-of`). */
export class ReadOnlyViewError extends SessionSyncError {
  constructor(what: string, asOf: Date) {
    super('READ_ONLY_VIEW', `refusing to ${what}: this is a read-only view of the repository as it was at ${asOf.toISOString()}; copy it out with "session-sync recover --as-of TIME --to LOCATION" and write there`, { what, asOf: asOf.toISOString() })
  }
}

/** A view of the past (`--as-of`) or a version listing asked of storage that keeps no versions. */
export class NoVersionsError extends SessionSyncError {
  constructor(location: string) {
    super('NO_VERSIONS', `${location} keeps no old versions of its files (only an S3 bucket with versioning does), so there is no earlier state to read`, { location })
  }
}

/** A protected repository's writer was asked to delete something: only a trusted prune with the owner's credential removes files. */
export class ProtectedRepositoryError extends SessionSyncError {
  constructor(what: string) {
    super('PROTECTED_REPOSITORY', `refusing to ${what}: the repository is protected, its writers never delete; run prune, forget or unlock from a trusted device with the owner's credential`, { what })
  }
}

/**
 * The owner key that signs a protected repository's removal journal: OWNER_KEY_REQUIRED (a trusted
 * operation would remove files, and the repository records an owner key, but none was given),
 * OWNER_KEY_MISMATCH (the key given is not the one the repository records, or it records none),
 * OWNER_KEY_EXISTS (recording one where one is recorded: it is never replaced).
 */
export class OwnerKeyError extends SessionSyncError {
  constructor(code: 'OWNER_KEY_REQUIRED' | 'OWNER_KEY_MISMATCH' | 'OWNER_KEY_EXISTS', message: string, data: Record<string, unknown> = {}) {
    super(code, message, data)
  }
}

/**
 * Storage kept failing in ways a later attempt might not (no answer, dropped connections, 5xx,
 * throttling) until the retry deadline or the last attempt: code STORAGE_UNREACHABLE, a
 * `BackendError` still. `last` is the last attempt's error.
 */
export class RetriesExhaustedError extends BackendError {
  constructor(operation: string, attempts: number, elapsedMs: number, last: unknown) {
    // The innermost reason: a BackendError's own message repeats the operation.
    const inner = last instanceof BackendError && last.cause instanceof Error ? last.cause : last
    const why = inner instanceof Error ? inner.message : String(inner)
    const secs = Math.round(elapsedMs / 100) / 10
    super(operation, '', last, {
      code: 'STORAGE_UNREACHABLE',
      message:
        `the storage gave no usable answer to ${operation}: ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'} in ${secs} s failed (last: ${why}). ` +
        'Check the endpoint URL and the network (or the provider\'s status page). If the storage is only slow, allow more time with --s3-timeout and --retry-deadline (SESSION_SYNC_S3_TIMEOUT, SESSION_SYNC_RETRY_DEADLINE).',
      data: { attempts, elapsedMs },
    })
  }
}

export class AbortedError extends SessionSyncError {
  constructor(what = 'operation') {
    super('ABORTED', `${what} was aborted`)
  }
}

/** A state-changing call where nothing may change (the dashboard opened on a repository without a workspace). */
export class ReadOnlyError extends SessionSyncError {
  constructor(message: string) {
    super('READ_ONLY', message)
  }
}

/** A file or directory being backed up could not be read. */
export class SourceError extends SessionSyncError {
  constructor(path: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause)
    super('SOURCE_ERROR', `cannot read ${path}: ${why}`, { path }, { cause })
  }
}

/** The restore target could not be written. */
export class TargetError extends SessionSyncError {
  constructor(path: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause)
    super('TARGET_ERROR', `cannot write ${path}: ${why}`, { path }, { cause })
  }
}

/** Another process holds a conflicting lock on the repository. */
export class LockedError extends SessionSyncError {
  /** `waitedMs`: how long the caller waited for the lock before giving up (0: it did not wait). */
  constructor(holder: { host: string; pid: number; time: string; exclusive: boolean; id: string }, waitedMs = 0) {
    super(
      'LOCKED',
      `the repository is ${waitedMs > 0 ? 'still ' : ''}locked ${holder.exclusive ? 'exclusively ' : ''}by pid ${holder.pid} on ${holder.host} since ${holder.time}${waitedMs > 0 ? ` after waiting ${waitedMs / 1000} s` : ''}; wait for it to finish, or if that process is gone run "session-sync unlock"`,
      { ...holder, waitedMs },
    )
  }
}

/** A prune changed the index while a backup was deciding what to store; the backup must start again. */
export class ConcurrentPruneError extends SessionSyncError {
  constructor() {
    super('CONCURRENT_PRUNE', 'a prune rewrote the index while this backup was running; nothing was lost, run the backup again')
  }
}

/**
 * Snapshot files that cannot be read (damaged, or of an unknown format) while an operation needs to
 * know what every snapshot references: prune would delete the data only they use.
 */
export class UnreadableSnapshotsError extends SessionSyncError {
  constructor(ids: string[]) {
    const list = ids.join(', ')
    super(
      'UNREADABLE_SNAPSHOTS',
      `refusing to prune: ${ids.length === 1 ? 'snapshot' : 'snapshots'} ${list} cannot be read, so the data ${ids.length === 1 ? 'it uses' : 'they use'} is unknown and pruning could delete it. ` +
        `Restore the snapshot ${ids.length === 1 ? 'file' : 'files'} from another copy if you have one, or remove ${ids.length === 1 ? 'it' : 'them'} with "session-sync forget ${ids.join(' ')}", then prune again.`,
      { ids },
    )
  }
}

/**
 * A snapshot's tree expands to more entries than the bound: its folders reference the same subtrees
 * over and over (a tree DAG that grows exponentially), which only a tampered repository holds at
 * that size. Raised before anything is expanded, so it costs one read of each distinct tree.
 */
export class TreeTooLargeError extends SessionSyncError {
  /** `bound`: which one was exceeded, the number of entries or the levels of nesting. */
  constructor(tree: string, limit: number, bound: 'entries' | 'depth' = 'entries') {
    const what =
      bound === 'entries'
        ? `expands to more than ${limit} entries (folders that reference the same subtrees many times)`
        : `nests folders more than ${limit} levels deep`
    const raise = bound === 'entries' ? 'SESSION_SYNC_MAX_TREE_ENTRIES or the maxTreeEntries' : 'SESSION_SYNC_MAX_TREE_DEPTH or the maxTreeDepth'
    super('TREE_TOO_LARGE', `tree ${tree} ${what}; the repository may have been tampered with. If the snapshot is genuine, raise the bound with ${raise} limit of Repository.open.`, { tree, limit, bound })
  }
}

/** A failure inside the program itself (a worker thread died, an invariant broke). */
export class InternalError extends SessionSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', `internal error: ${message}; please report it`, {}, options)
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new AbortedError(what)
}
