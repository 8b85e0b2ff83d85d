import { createHash, randomBytes } from 'node:crypto'
import { BackendError, ObjectExistsError, ObjectNotFoundError, PermissionDeniedError } from '../errors/index.js'
import {
  type Backend,
  type BucketProtection,
  type ByteRange,
  describe,
  type FileType,
  type Handle,
  type ListedFile,
  type ListedVersion,
  type ObjectLockState,
  type ObjectRetention,
  type RetentionStore,
  type RetentionMode,
  type StoredVersion,
  type VersionedStore,
} from './backend.js'

/**
 * A model of a versioned S3 bucket with Object Lock, for tests of what a real server cannot show
 * quickly (weeks passing, retention expiring): versions and delete markers, retention that can only
 * be extended (GOVERNANCE, which the owner may bypass, and COMPLIANCE, which nobody may), legal
 * holds, per-credential permissions, and `If-None-Match` (honoured or, like some servers on
 * versioned buckets, ignored). Time comes from an injected clock.
 */

/** What a credential may do, as a bucket policy or application key would grant it. */
export interface ModelPermissions {
  read: boolean
  write: boolean
  /** Delete a file (without a version id: on a versioned bucket, adds a delete marker). */
  delete: boolean
  /** Delete one version of a file. */
  deleteVersion: boolean
  /** Set a version's retention (extending it; shortening needs bypass in GOVERNANCE, never in COMPLIANCE). */
  putRetention: boolean
  /** Bypass GOVERNANCE retention: the bucket owner's right. */
  bypassGovernance: boolean
}

export const MODEL_ROLES = {
  /** The bucket owner: everything, including bypassing GOVERNANCE retention. */
  owner: { read: true, write: true, delete: true, deleteVersion: true, putRetention: true, bypassGovernance: true },
  /** A protected repository's writer: upload and read, extend retention, never delete. */
  writer: { read: true, write: true, delete: false, deleteVersion: false, putRetention: true, bypassGovernance: false },
  /** Full delete rights but no bypass: what a careless policy gives a second user. */
  deleter: { read: true, write: true, delete: true, deleteVersion: true, putRetention: true, bypassGovernance: false },
} satisfies Record<string, ModelPermissions>

export interface ObjectLockModelOptions {
  versioning?: 'enabled' | 'suspended' | 'off'
  objectLock?: boolean
  defaultRetention?: { mode: RetentionMode; days: number }
  /** Whether a conditional write (If-None-Match: *) is refused when the file exists (default true). */
  honoursIfNoneMatch?: boolean
  /** Refuse writes without Content-MD5 while Object Lock is on, as AWS does (default true). */
  requireChecksum?: boolean
  /** The clock (default Date.now). */
  now?: () => number
}

interface Version {
  versionId: string
  data?: Uint8Array // undefined: a delete marker
  modified: number
  mode?: RetentionMode
  retainUntil?: number
  legalHold: boolean
}

const DAY = 86_400_000

/** One bucket; `backend(credential)` gives a Backend acting with that credential's permissions. */
export class ObjectLockModel {
  readonly objects = new Map<string, Version[]>() // oldest first
  readonly options: Required<Omit<ObjectLockModelOptions, 'defaultRetention'>> & { defaultRetention?: { mode: RetentionMode; days: number } }
  private readonly users = new Map<string, ModelPermissions>()

  constructor(opts: ObjectLockModelOptions = {}) {
    this.options = {
      versioning: opts.versioning ?? 'enabled',
      objectLock: opts.objectLock ?? false,
      defaultRetention: opts.defaultRetention,
      honoursIfNoneMatch: opts.honoursIfNoneMatch ?? true,
      requireChecksum: opts.requireChecksum ?? true,
      now: opts.now ?? Date.now,
    }
    if (this.options.objectLock && this.options.versioning !== 'enabled') throw new TypeError('Object Lock needs versioning enabled')
    if (this.options.defaultRetention && !this.options.objectLock) throw new TypeError('a default retention needs Object Lock')
  }

  /** Adds (or replaces) a credential. */
  user(name: string, permissions: ModelPermissions): this {
    this.users.set(name, { ...permissions })
    return this
  }

  /** A backend acting as `name` (a role name of MODEL_ROLES is made on first use). */
  backend(name: string): ObjectLockModelBackend {
    if (!this.users.has(name) && name in MODEL_ROLES) this.user(name, MODEL_ROLES[name as keyof typeof MODEL_ROLES])
    const p = this.users.get(name)
    if (!p) throw new TypeError(`no credential named ${name}`)
    return new ObjectLockModelBackend(this, name, p)
  }

  now(): number {
    return this.options.now()
  }

  /** The newest version of a key, if it is not a delete marker. */
  current(key: string): Version | undefined {
    const vs = this.objects.get(key)
    const v = vs?.[vs.length - 1]
    return v?.data ? v : undefined
  }

  /** Whether a version is held by retention or a legal hold now; `bypass` lifts GOVERNANCE only. */
  locked(v: Version, bypass: boolean): boolean {
    if (v.legalHold) return true
    if (v.retainUntil === undefined || v.retainUntil <= this.now()) return false
    return v.mode === 'COMPLIANCE' || !bypass
  }

  put(key: string, data: Uint8Array, retention?: { mode: RetentionMode; retainUntil: number }): Version {
    const now = this.now()
    const d = this.options.defaultRetention
    const v: Version = {
      versionId: this.options.versioning === 'enabled' ? randomBytes(8).toString('hex') : 'null',
      data: Uint8Array.from(data),
      modified: now,
      legalHold: false,
      ...(retention ? retention : d ? { mode: d.mode, retainUntil: now + d.days * DAY } : {}),
    }
    const vs = this.objects.get(key) ?? []
    if (this.options.versioning !== 'enabled') {
      const keep = vs.filter((x) => x.versionId !== 'null')
      keep.push(v)
      this.objects.set(key, keep)
    } else {
      vs.push(v)
      this.objects.set(key, vs)
    }
    return v
  }
}

/** The bucket seen through one credential. */
export class ObjectLockModelBackend implements Backend, VersionedStore, RetentionStore {
  readonly location: string
  /** Set by protectWrites: every save is conditional and carries Content-MD5. */
  protectedWrites = false
  /** `?retention` requests made through this credential: GET (read) and PUT (set). */
  readonly retentionRequests = { GET: 0, PUT: 0 }

  constructor(
    readonly model: ObjectLockModel,
    readonly credential: string,
    readonly permissions: ModelPermissions,
  ) {
    this.location = `model:${credential}`
  }

  private key(h: Handle): string {
    return `${h.type}/${h.name}`
  }

  private need(right: keyof ModelPermissions, op: string, h: Handle | string): void {
    if (!this.permissions[right]) throw new PermissionDeniedError(op, typeof h === 'string' ? h : describe(h), new Error(`AccessDenied: the credential ${this.credential} may not ${op}`))
  }

  protectWrites(): void {
    this.protectedWrites = true
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean; contentMd5?: string }): Promise<void> {
    this.need('write', 'save', h)
    const k = this.key(h)
    const md5 = opts?.contentMd5 ?? (this.protectedWrites ? createHash('md5').update(data).digest('base64') : undefined)
    if (this.model.options.objectLock && this.model.options.requireChecksum && !md5) {
      throw new BackendError('save', describe(h), new Error('InvalidRequest: Content-MD5 is required for a write into a bucket with Object Lock'))
    }
    if (md5 && md5 !== createHash('md5').update(data).digest('base64')) throw new BackendError('save', describe(h), new Error('BadDigest: the Content-MD5 does not match the body'))
    const ifAbsent = opts?.ifAbsent || this.protectedWrites
    // Look first where the store ignores If-None-Match (the backend does so in protected mode).
    if (ifAbsent && (this.model.options.honoursIfNoneMatch || this.protectedWrites) && this.model.current(k)) throw new ObjectExistsError('save', describe(h))
    this.model.put(k, data)
  }

  async saveConditional(h: Handle, data: Uint8Array): Promise<void> {
    this.need('write', 'save', h)
    if (this.model.options.honoursIfNoneMatch && this.model.current(this.key(h))) throw new ObjectExistsError('save', describe(h))
    this.model.put(this.key(h), data)
  }

  private version(h: Handle, versionId?: string): Version {
    const k = this.key(h)
    const v = versionId === undefined ? this.model.current(k) : this.model.objects.get(k)?.find((x) => x.versionId === versionId)
    if (!v || (versionId !== undefined && !v.data)) throw new ObjectNotFoundError(h.type, h.name)
    return v
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.need('read', 'load', h)
    const f = this.version(h).data!
    if (!range) return Uint8Array.from(f)
    if (range.offset < 0 || range.length < 0 || range.offset + range.length > f.length) {
      throw new BackendError('load', describe(h), new Error(`range ${range.offset}+${range.length} is beyond the end of the file`))
    }
    return f.slice(range.offset, range.offset + range.length)
  }

  async stat(h: Handle): Promise<{ size: number }> {
    this.need('read', 'stat', h)
    return { size: this.version(h).data!.length }
  }

  async remove(h: Handle): Promise<void> {
    this.need('delete', 'remove', h)
    const k = this.key(h)
    const vs = this.model.objects.get(k)
    if (!vs) return
    if (this.model.options.versioning === 'enabled') {
      // A delete without a version id only hides the file behind a marker; every version stays.
      if (vs[vs.length - 1].data) vs.push({ versionId: randomBytes(8).toString('hex'), modified: this.model.now(), legalHold: false })
      return
    }
    const nul = vs.find((x) => x.versionId === 'null')
    if (nul && this.model.locked(nul, false)) throw new PermissionDeniedError('remove', describe(h), new Error('AccessDenied: the object is locked'))
    this.model.objects.set(k, vs.filter((x) => x.versionId !== 'null'))
  }

  async *list(type: FileType): AsyncIterable<ListedFile> {
    this.need('read', 'list', type)
    const prefix = `${type}/`
    for (const [k, vs] of [...this.model.objects]) {
      const v = vs[vs.length - 1]
      if (k.startsWith(prefix) && v.data) yield { name: k.slice(prefix.length), size: v.data.length, modified: new Date(v.modified) }
    }
  }

  async bucketProtection(): Promise<BucketProtection> {
    const o = this.model.options
    return { versioning: o.versioning, objectLock: o.objectLock, ...(o.defaultRetention ? { defaultRetention: { ...o.defaultRetention } } : {}) }
  }

  async lockState(h: Handle, versionId?: string): Promise<ObjectLockState> {
    this.need('read', 'head', h)
    const v = this.version(h, versionId)
    return { versionId: v.versionId, ...(v.mode ? { mode: v.mode, retainUntil: new Date(v.retainUntil!) } : {}), legalHold: v.legalHold }
  }

  async versions(h: Handle): Promise<StoredVersion[]> {
    this.need('read', 'list the versions', h)
    const vs = this.model.objects.get(this.key(h)) ?? []
    return vs
      .map((v, i) => ({ versionId: v.versionId, size: v.data?.length ?? 0, modified: new Date(v.modified), deleteMarker: !v.data, latest: i === vs.length - 1 }))
      .reverse()
  }

  async *listVersions(type: FileType): AsyncIterable<ListedVersion> {
    this.need('read', 'list the versions', type)
    const prefix = `${type}/`
    for (const [k, vs] of [...this.model.objects]) {
      if (!k.startsWith(prefix)) continue
      const name = k.slice(prefix.length)
      for (let i = vs.length - 1; i >= 0; i--) {
        const v = vs[i]
        yield {
          name,
          versionId: v.versionId,
          size: v.data?.length ?? 0,
          modified: new Date(v.modified),
          deleteMarker: !v.data,
          latest: i === vs.length - 1,
          ...(v.data ? { etag: createHash('md5').update(v.data).digest('hex') } : {}),
        }
      }
    }
  }

  async loadVersion(h: Handle, versionId: string, range?: ByteRange): Promise<Uint8Array> {
    this.need('read', 'load a version', h)
    const f = this.version(h, versionId).data!
    if (!range) return Uint8Array.from(f)
    if (range.offset < 0 || range.length < 0 || range.offset + range.length > f.length) {
      throw new BackendError('load', describe(h), new Error(`range ${range.offset}+${range.length} is beyond the end of the file`))
    }
    return f.slice(range.offset, range.offset + range.length)
  }

  /** Deletes one version; `bypassGovernance` asks to lift GOVERNANCE retention (only a credential with that right may). */
  async removeVersion(h: Handle, versionId: string, opts: { bypassGovernance?: boolean } = {}): Promise<void> {
    this.need('deleteVersion', 'delete a version', h)
    if (opts.bypassGovernance) this.need('bypassGovernance', 'bypass governance retention', h)
    const k = this.key(h)
    const vs = this.model.objects.get(k)
    const v = vs?.find((x) => x.versionId === versionId)
    if (!vs || !v) return
    if (this.model.locked(v, opts.bypassGovernance === true)) {
      throw new PermissionDeniedError('delete a version', describe(h), new Error(`AccessDenied: version ${versionId} is locked (${v.legalHold ? 'legal hold' : `${v.mode} until ${new Date(v.retainUntil!).toISOString()}`})`))
    }
    vs.splice(vs.indexOf(v), 1)
    if (vs.length === 0) this.model.objects.delete(k)
  }

  /**
   * Sets a version's retention. Extending is allowed with `putRetention`; shortening it, or turning
   * COMPLIANCE into GOVERNANCE, only with bypass on GOVERNANCE, and never on COMPLIANCE.
   */
  async setRetention(h: Handle, versionId: string | undefined, retention: { mode: RetentionMode; retainUntil: Date }, opts: { bypassGovernance?: boolean } = {}): Promise<void> {
    this.need('putRetention', 'set the retention', h)
    this.retentionRequests.PUT++
    if (opts.bypassGovernance) this.need('bypassGovernance', 'bypass governance retention', h)
    if (!this.model.options.objectLock) throw new BackendError('set the retention', describe(h), new Error('InvalidRequest: the bucket has no Object Lock'))
    const v = this.version(h, versionId)
    const until = retention.retainUntil.getTime()
    const active = v.retainUntil !== undefined && v.retainUntil > this.model.now()
    const weakens = active && (until < v.retainUntil! || (v.mode === 'COMPLIANCE' && retention.mode === 'GOVERNANCE'))
    if (weakens && (v.mode === 'COMPLIANCE' || !opts.bypassGovernance)) {
      throw new PermissionDeniedError('set the retention', describe(h), new Error(`AccessDenied: retention of ${v.mode} until ${new Date(v.retainUntil!).toISOString()} may only be extended`))
    }
    v.mode = retention.mode
    v.retainUntil = until
  }

  /** The retention of the current version (or one version), as `GET ?retention` returns it. */
  async retention(h: Handle, versionId?: string): Promise<ObjectRetention> {
    this.need('read', 'get the retention', h)
    this.retentionRequests.GET++
    const v = this.version(h, versionId)
    return v.mode ? { mode: v.mode, retainUntil: new Date(v.retainUntil!) } : {}
  }

  async setLegalHold(h: Handle, versionId: string, on: boolean): Promise<void> {
    this.need('putRetention', 'set the legal hold', h)
    this.version(h, versionId).legalHold = on
  }
}
