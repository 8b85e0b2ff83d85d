/**
 * The kinds of file a repository stores; each kind lives in its own folder of the backend.
 * `journal` holds a protected repository's records of what trusted operations removed.
 */
export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks' | 'journal'

export const FILE_TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks', 'journal']

/** One stored file: its kind and its name (a 64-hex id, or "config"). */
export interface Handle {
  type: FileType
  name: string
}

export interface ListedFile {
  name: string
  size: number
  modified?: Date
}

export interface ByteRange {
  offset: number
  length: number
}

/**
 * Storage of opaque, immutable files. Implementations: `LocalBackend` (the default), `MemoryBackend`
 * (tests), S3. A backend throws `ObjectNotFoundError` for a missing file and `BackendError` for
 * anything else; it never sees plaintext.
 */
export interface Backend {
  /** Human-readable location for messages (never contains credentials). */
  readonly location: string
  /**
   * True where every read is a request over a network (S3): readers then fetch whole runs of a
   * pack in one request rather than many small ranges. Absent means false (a local folder, memory).
   */
  readonly remote?: boolean
  /**
   * True where a file is in every listing that starts after its save returned (a folder on a local
   * filesystem, memory): a process taking the exclusive lock then has no need to wait before it
   * looks for a conflicting lock (see LockOptions.settleMs). Absent means listings may lag behind
   * writes (S3-compatible storage in general), and it waits.
   */
  readonly listsSavedAtOnce?: boolean
  /** Stores a file atomically: after a crash it is either whole or absent. */
  save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void>
  /** Loads a whole file or a byte range of it (the range must lie inside the file). */
  load(h: Handle, range?: ByteRange): Promise<Uint8Array>
  stat(h: Handle): Promise<{ size: number }>
  /** Removes a file; removing one that is already gone is not an error (idempotent). */
  remove(h: Handle): Promise<void>
  /** Lists the files of one kind; `modified` is when the file was stored, where the storage tells. */
  list(type: FileType): AsyncIterable<ListedFile>
  /**
   * Optional: reads a byte range into `out` (its first `range.length` bytes) instead of a new
   * buffer, so a reader can reuse one buffer for many reads (and hand shared memory to workers
   * without a copy). Same errors as `load`.
   */
  loadInto?(h: Handle, range: ByteRange, out: Uint8Array): Promise<void>
  /**
   * Optional, for backends that can store a large file without holding it in memory: a fresh path
   * where the caller may build such a file (for the local backend, inside the repository, so storing
   * it is a hard link). A crash leaves it to `removeIncomplete`.
   */
  stagingPath?(): string
  /**
   * Optional, with `stagingPath`: stores the complete, synced file at `path` under `h`. The caller
   * keeps `path` and removes it afterwards. Meant for content-addressed files: if `h` exists already
   * with the same size, that counts as stored (so a retry after a lost answer succeeds).
   */
  saveFile?(h: Handle, path: string): Promise<void>
  /** Removes what interrupted writes left behind (temporary files, unfinished multipart uploads) older than the given age. */
  removeIncomplete?(olderThanMs: number): Promise<number>
  /** Releases connections and handles. */
  close?(): Promise<void>
  /**
   * Optional, on versioned storage (S3 with versioning, the Object Lock model; decorators forward
   * it): every version and delete marker of the files of one kind. See VersionedStore.listVersions.
   */
  listVersions?(type: FileType): AsyncIterable<ListedVersion>
  /** Optional, with `listVersions`: reads one version of a file. See VersionedStore.loadVersion. */
  loadVersion?(h: Handle, versionId: string, range?: ByteRange): Promise<Uint8Array>
}

export function describe(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`
}

// ---- versioned, lockable storage (protected repositories) ------------------------------------------

export type RetentionMode = 'GOVERNANCE' | 'COMPLIANCE'

/** A bucket's protection as the storage reports it. */
export interface BucketProtection {
  versioning: 'enabled' | 'suspended' | 'off'
  /** Object Lock is on for the bucket. */
  objectLock: boolean
  /** The retention new objects get when Object Lock is on and a default is set. */
  defaultRetention?: { mode: RetentionMode; days: number }
}

/** The lock on one object version as a HEAD returns it (fields absent: the storage returned none). */
export interface ObjectLockState {
  versionId?: string
  mode?: RetentionMode
  retainUntil?: Date
  legalHold?: boolean
}

/** One version of a stored file, newest first in a listing. */
export interface StoredVersion {
  versionId: string
  size: number
  modified?: Date
  deleteMarker: boolean
  latest: boolean
}

/** One version (or delete marker) of a file of one kind, as a listing of all versions (`?versions`) gives it. */
export interface ListedVersion extends StoredVersion {
  /** The file's name (a 64-hex id, or "config"). */
  name: string
  /** The storage's entity tag of the version (the MD5 of its bytes for a single-request write), where it tells. */
  etag?: string
}

/**
 * What a backend on versioned storage offers beyond `Backend`: reading the bucket's protection back,
 * the versions of a file or of every file of a kind, reading one version, the lock on one, and
 * deleting one version (what a protection must refuse).
 */
export interface VersionedStore {
  bucketProtection(): Promise<BucketProtection>
  lockState(h: Handle, versionId?: string): Promise<ObjectLockState>
  versions(h: Handle): Promise<StoredVersion[]>
  /**
   * Every version and delete marker of every file of one kind (`GET ?versions`), in no promised
   * order; `modified` is when the storage stored each.
   */
  listVersions(type: FileType): AsyncIterable<ListedVersion>
  /** Reads one version of a file, whole or a byte range (`GET ?versionId`); ObjectNotFoundError for a delete marker or an unknown version. */
  loadVersion(h: Handle, versionId: string, range?: ByteRange): Promise<Uint8Array>
  removeVersion(h: Handle, versionId: string): Promise<void>
  /**
   * One conditional write (If-None-Match: *, Content-MD5) with no look first: what the server itself
   * does with it. ObjectExistsError when it refuses.
   */
  saveConditional(h: Handle, data: Uint8Array): Promise<void>
  /**
   * From now on every save refuses to overwrite (If-None-Match: * where honoured, a look first
   * where not), carries Content-MD5 and is one request (no multipart).
   */
  protectWrites(): void
}

/**
 * The versioned store under a backend and its decorators, if it is one: decorators (retry, limits,
 * counters, protected writes) forward to it through their `inner` backend.
 */
export function versionedOf(backend: Backend): (Backend & VersionedStore) | undefined {
  let b: unknown = backend
  for (let i = 0; i < 8 && b; i++) {
    const v = b as Partial<VersionedStore>
    if (typeof v.bucketProtection === 'function' && typeof v.removeVersion === 'function' && typeof v.protectWrites === 'function') return b as Backend & VersionedStore
    b = (b as { inner?: unknown }).inner
  }
  return undefined
}

/** An object's retention as `GET ?retention` returns it (both absent: none set). */
export interface ObjectRetention {
  mode?: RetentionMode
  retainUntil?: Date
}

/**
 * Object Lock retention of single objects (`?retention`): what keeps a protected repository's
 * objects locked as long as a snapshot needs them. Setting it may only extend a lock (shortening
 * needs the owner's GOVERNANCE bypass and is never done here); a credential without the right gets
 * PERMISSION_DENIED. Without `versionId`, the current version.
 */
export interface RetentionStore {
  retention(h: Handle, versionId?: string): Promise<ObjectRetention>
  setRetention(h: Handle, versionId: string | undefined, retention: { mode: RetentionMode; retainUntil: Date }): Promise<void>
}

/** The storage under a backend and its decorators that sets Object Lock retention, if it does. */
export function retentionStoreOf(backend: Backend): (Backend & RetentionStore) | undefined {
  let b: unknown = backend
  for (let i = 0; i < 8 && b; i++) {
    const v = b as Partial<RetentionStore>
    if (typeof v.retention === 'function' && typeof v.setRetention === 'function') return b as Backend & RetentionStore
    b = (b as { inner?: unknown }).inner
  }
  return undefined
}
