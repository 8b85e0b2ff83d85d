import { createHash } from 'node:crypto'
import type { DeleteObjectsCommand, S3Client, S3ClientConfig, StorageClass } from '@aws-sdk/client-s3'
import { BackendError, ObjectExistsError, ObjectNotFoundError, PermissionDeniedError, SessionSyncError } from '../errors/index.js'
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
  type RetentionMode,
  type RetentionStore,
  type StoredVersion,
  type VersionedStore,
} from './backend.js'
import { S3Reader } from './s3-reads.js'

export interface S3Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Options of the S3-compatible backend. */
export interface S3Options {
  bucket: string
  /** Folder inside the bucket ("" for its root). */
  prefix?: string
  region?: string
  /** Endpoint URL for non-AWS stores (MinIO, B2, R2, Wasabi, a local server). */
  endpoint?: string
  /** Path-style URLs (bucket in the path): needed by most custom endpoints. */
  forcePathStyle?: boolean
  /** Explicit credentials; otherwise the standard AWS chain (environment, shared profile, …). */
  credentials?: S3Credentials
  /** Shared-config profile to take credentials from. */
  profile?: string
  storageClass?: StorageClass
  /** Connections at once (default 8). */
  maxConnections?: number
  /** Objects at least this large are uploaded in parts (default 64 MiB). */
  multipartThreshold?: number
  /** Part size of multipart uploads (default 16 MiB, at least 5 MiB). */
  partSize?: number
  /** Keys asked for per listing request (default: the store's maximum, 1000 on S3). */
  listPageSize?: number
  /** Milliseconds a request may take until its answer starts, upload included, before it fails as a timeout (default 120 s). */
  requestTimeoutMs?: number
  /**
   * Milliseconds a connection may stay silent (nothing sent, nothing received) before its request
   * fails as a timeout (default 30 s): what ends a request to a store that accepted it and hung,
   * while a slow but moving upload or download goes on.
   */
  idleTimeoutMs?: number
  /** Milliseconds to wait for a connection (default 10 s). */
  connectTimeoutMs?: number
  /**
   * Certificates (PEM) to trust for an https endpoint instead of the system's: a private CA's, or a
   * self-signed server's.
   */
  caCertificates?: string[]
}

/**
 * Reads a response body into one buffer as its chunks arrive, each copied into place: the SDK's
 * own collector keeps every chunk and joins them at the end, a copy of a whole pack in one go that
 * held the event loop for 50-130 ms (a 16 MiB pack, 2 cores). With `into`, the chunks land there
 * (a reader's reused or shared buffer: copying a whole pack into shared memory afterwards held the
 * loop for tens of milliseconds more).
 */
async function readBody(body: unknown, length: number | undefined, into?: Uint8Array): Promise<Uint8Array> {
  try {
    return await readBodyOnce(body, length, into)
  } catch (e) {
    // A body left half read would hold its connection until the idle timeout: let it go now.
    ;(body as { destroy?: () => void }).destroy?.()
    throw e
  }
}

async function readBodyOnce(body: unknown, length: number | undefined, into?: Uint8Array): Promise<Uint8Array> {
  const stream = body as AsyncIterable<Uint8Array> & { transformToByteArray?: () => Promise<Uint8Array> }
  if (length === undefined || typeof (stream as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
    // No length (a chunked answer): the SDK's body collects itself; the reader's is a plain stream.
    let whole: Uint8Array
    if (stream.transformToByteArray) whole = await stream.transformToByteArray()
    else {
      const chunks: Uint8Array[] = []
      for await (const c of stream) chunks.push(c)
      whole = Buffer.concat(chunks)
    }
    if (!into) return whole
    if (whole.length > into.length) throw new Error(`the response is longer than the range asked for (${whole.length} bytes)`)
    into.set(whole)
    return into.subarray(0, whole.length)
  }
  if (into && length > into.length) throw new Error(`the response is longer than the range asked for (${length} bytes)`)
  const out = into ?? Buffer.allocUnsafe(length)
  let at = 0
  for await (const chunk of stream) {
    if (at + chunk.length > length) throw new Error(`the response is longer than its Content-Length (${length} bytes)`)
    out.set(chunk, at)
    at += chunk.length
  }
  return at === out.length ? out : out.subarray(0, at)
}

/** Node's codes for a server certificate no trusted CA vouches for. */
const UNTRUSTED_CERT = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_UNTRUSTED)$/

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket'])

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
}

/** The store's answer to a request it does not implement (501, or its error code with another status). */
function notImplemented(e: unknown): boolean {
  return statusOf(e) === 501 || (e as Error)?.name === 'NotImplemented'
}

/** S3 features some S3-compatible stores lack; the backend falls back when a store refuses one. */
export type S3Feature = 'conditional-write' | 'batch-delete' | 'list-uploads'

/**
 * DeleteObjects must carry an integrity header. The SDK sends a CRC32 one (x-amz-checksum-crc32),
 * which many S3-compatible stores do not know and then refuse for lack of Content-MD5, the header S3
 * itself long required: send Content-MD5 instead, which AWS accepts as well.
 */
function withContentMd5(cmd: DeleteObjectsCommand): DeleteObjectsCommand {
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown }
      if (req.headers && (typeof req.body === 'string' || req.body instanceof Uint8Array)) {
        for (const h of Object.keys(req.headers)) if (/^x-amz-checksum-|^x-amz-sdk-checksum-algorithm$/i.test(h)) delete req.headers[h]
        req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64')
      }
      return next(args)
    },
    { step: 'build', priority: 'low', name: 'contentMd5ForDeleteObjects' },
  )
  return cmd
}

/**
 * A repository in an S3-compatible bucket. Checksums are computed only where a request requires
 * them: several third-party stores reject or mangle the SDK's newer default integrity headers, and
 * every stored file is already named by the SHA-256 of its bytes (a pack by that of its authenticated
 * header), which readers verify, and every blob is authenticated.
 */
export class S3Backend implements Backend, VersionedStore, RetentionStore {
  readonly location: string
  readonly remote = true
  /** Set by protectWrites (a protected repository): every save is conditional, carries Content-MD5 and is one request. */
  protectedWrites = false
  /** Objects stored by multipart upload so far. */
  multipartUploads = 0
  /**
   * Features this store answered "not implemented" to; the backend remembers each for its lifetime
   * and uses its fallback from then on (look-then-write, one delete a file, no cleanup of uploads).
   */
  readonly unsupported = new Set<S3Feature>()
  private readonly prefix: string
  private readonly config: S3ClientConfig
  // The SDK loads on first use, so programs that never touch S3 do not pay for it at start-up.
  private loaded?: Promise<{ sdk: typeof import('@aws-sdk/client-s3'); client: S3Client }>

  constructor(readonly opts: S3Options) {
    if (!opts.bucket) throw new TypeError('an S3 bucket name is required')
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '')
    this.location = `s3:${opts.endpoint ? `${opts.endpoint.replace(/\/+$/, '')}/` : ''}${opts.bucket}${this.prefix ? `/${this.prefix}` : ''}`
    const maxSockets = opts.maxConnections ?? 8
    const config: S3ClientConfig = {
      region: opts.region ?? 'us-east-1',
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? !!opts.endpoint,
      credentials: opts.credentials,
      profile: opts.profile,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1, // retries belong to the retry decorator, which knows our errors
      requestHandler: {
        requestTimeout: opts.requestTimeoutMs ?? 120_000,
        connectionTimeout: opts.connectTimeoutMs ?? 10_000,
        socketTimeout: opts.idleTimeoutMs ?? 30_000,
        throwOnRequestTimeout: true,
        httpAgent: { keepAlive: true, maxSockets },
        httpsAgent: { keepAlive: true, maxSockets, ...(opts.caCertificates?.length ? { ca: opts.caCertificates } : {}) },
      },
    }
    this.config = config
  }

  /**
   * The SDK-free reader (GET, HEAD, listings), where its answers are certain to be the SDK's: an
   * explicit endpoint and static credentials (see s3-reads.ts); undefined elsewhere.
   */
  private reader(): S3Reader | undefined {
    if (this.readerInstance !== undefined) return this.readerInstance ?? undefined
    this.readerInstance = null
    const env = process.env
    const credentials =
      this.opts.credentials ??
      (!this.opts.profile && !env.AWS_PROFILE && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN }
        : undefined)
    if (!this.opts.endpoint || !credentials || env.SESSION_SYNC_S3_SDK_READS === '1') return undefined
    this.readerInstance = new S3Reader({
      endpoint: this.opts.endpoint,
      region: this.config.region as string,
      bucket: this.opts.bucket,
      forcePathStyle: !!this.config.forcePathStyle,
      credentials,
      maxSockets: this.opts.maxConnections ?? 8,
      requestTimeoutMs: this.opts.requestTimeoutMs ?? 120_000,
      idleTimeoutMs: this.opts.idleTimeoutMs ?? 30_000,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      caCertificates: this.opts.caCertificates,
    })
    return this.readerInstance
  }
  /** Whether the SDK was loaded: reads alone do not load it where the SDK-free reader serves them. */
  get sdkLoaded(): boolean {
    return this.loaded !== undefined
  }
  /** The reader once decided: undefined before the first read, null where the SDK serves reads. */
  private readerInstance?: S3Reader | null

  private api(): Promise<{ sdk: typeof import('@aws-sdk/client-s3'); client: S3Client }> {
    this.loaded ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: new sdk.S3Client(this.config) }))
    return this.loaded
  }

  private key(h: Handle): string {
    const rel = h.type === 'config' ? 'config' : h.type === 'data' ? `data/${h.name.slice(0, 2)}/${h.name}` : `${h.type}/${h.name}`
    return this.prefix ? `${this.prefix}/${rel}` : rel
  }

  private wrap(op: string, h: Handle | string, e: unknown): SessionSyncError {
    if (e instanceof SessionSyncError) return e
    const name = typeof h === 'string' ? h : describe(h)
    if (typeof h !== 'string' && (NOT_FOUND.has((e as Error)?.name) || statusOf(e) === 404)) return new ObjectNotFoundError(h.type === 'config' ? 'config' : h.type, h.name)
    if (statusOf(e) === 403 || (e as Error)?.name === 'AccessDenied') return new PermissionDeniedError(op, name, e)
    if ((e as Error)?.name === 'CredentialsProviderError' || /Could not load credentials/i.test((e as Error)?.message ?? '')) {
      return new BackendError(op, name, new Error('no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE to a profile in ~/.aws/credentials', { cause: e }))
    }
    if (UNTRUSTED_CERT.test((e as { code?: string })?.code ?? '')) {
      return new BackendError(op, name, new Error(`the endpoint's TLS certificate is not trusted (${(e as Error).message}): give the certificate of its CA with --cacert FILE (SESSION_SYNC_CACERT)`, { cause: e }))
    }
    if ((e as Error)?.name === 'TimeoutError') return new BackendError(op, name, Object.assign(new Error(this.timeoutReason(e as Error), { cause: e }), { name: 'TimeoutError', code: 'ETIMEDOUT' }))
    return new BackendError(op, name, e)
  }

  /** The SDK's timeout messages, said for a user: which limit was reached, and after how long. */
  private timeoutReason(e: Error): string {
    const s = (ms: number) => `${Math.round(ms / 100) / 10} s`
    if (/did not establish a connection/.test(e.message)) return `no connection within ${s(this.opts.connectTimeoutMs ?? 10_000)}`
    if (/of inactivity/.test(e.message)) return `no answer for ${s(this.opts.idleTimeoutMs ?? 30_000)}`
    if (/requestTimeout/.test(e.message)) return `no answer within ${s(this.opts.requestTimeoutMs ?? 120_000)}`
    return e.message
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    const { sdk, client } = await this.api()
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket: this.opts.bucket }))
      return
    } catch (e) {
      if (statusOf(e) !== 404 && !NOT_FOUND.has((e as Error).name)) throw this.wrap('check bucket', this.opts.bucket, e)
    }
    try {
      await client.send(new sdk.CreateBucketCommand({ Bucket: this.opts.bucket }))
    } catch (e) {
      const name = (e as Error).name
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw this.wrap('create bucket', this.opts.bucket, e)
    }
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    const { sdk, client } = await this.api()
    const Key = this.key(h)
    try {
      const ifAbsent = opts?.ifAbsent === true || this.protectedWrites
      if (ifAbsent) {
        // Not every store honours If-None-Match (some ignore it, radosgw on versioned buckets), so
        // look first; If-None-Match still closes the race where it is honoured.
        if (await this.exists(Key)) throw new ObjectExistsError('save', describe(h))
      }
      const threshold = this.opts.multipartThreshold ?? 64 * 1024 * 1024
      if (data.length >= threshold && !ifAbsent) {
        const { Upload } = await import('@aws-sdk/lib-storage')
        const upload = new Upload({
          client: (await this.api()).client,
          params: { Bucket: this.opts.bucket, Key, Body: data, StorageClass: this.opts.storageClass, ContentType: 'application/octet-stream' },
          partSize: Math.max(5 * 1024 * 1024, this.opts.partSize ?? 16 * 1024 * 1024),
          queueSize: 4,
          leavePartsOnError: false,
        })
        await upload.done()
        this.multipartUploads++
      } else {
        const conditional = ifAbsent && !this.unsupported.has('conditional-write')
        // Object Lock buckets refuse writes without an integrity header; Content-MD5 is the one every store knows.
        const ContentMD5 = this.protectedWrites ? createHash('md5').update(data).digest('base64') : undefined
        const put = (ifNoneMatch: boolean) =>
          client.send(
            new sdk.PutObjectCommand({
              Bucket: this.opts.bucket,
              Key,
              Body: data,
              ContentLength: data.length,
              StorageClass: this.opts.storageClass,
              ContentType: 'application/octet-stream',
              IfNoneMatch: ifNoneMatch ? '*' : undefined,
              ContentMD5,
            }),
          )
        try {
          await put(conditional)
        } catch (e) {
          if (!conditional || !notImplemented(e)) throw e
          // The store does not do conditional writes: the look above stands in for it from now on.
          this.unsupported.add('conditional-write')
          await put(false)
        }
      }
    } catch (e) {
      if (statusOf(e) === 412) throw new ObjectExistsError('save', describe(h))
      throw this.wrap('save', h, e)
    }
  }

  private async exists(Key: string): Promise<boolean> {
    try {
      const reader = this.reader()
      if (reader) await reader.head(Key)
      else {
        const { sdk, client } = await this.api()
        await client.send(new sdk.HeadObjectCommand({ Bucket: this.opts.bucket, Key }))
      }
      return true
    } catch (e) {
      if (statusOf(e) === 404 || NOT_FOUND.has((e as Error).name)) return false
      throw e
    }
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.get(h, range)
  }

  async loadInto(h: Handle, range: ByteRange, out: Uint8Array): Promise<void> {
    if (out.length < range.length) throw new RangeError('output buffer too small for the range')
    await this.get(h, range, out)
  }

  private async get(h: Handle, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array> {
    try {
      if (range && range.length === 0) return new Uint8Array(0)
      const reader = this.reader()
      let r: { Body?: unknown; ContentLength?: number }
      if (reader) {
        const got = await reader.get(this.key(h), range ? { first: range.offset, last: range.offset + range.length - 1 } : undefined)
        r = { Body: got.body, ContentLength: got.length }
      } else {
        const { sdk, client } = await this.api()
        r = await client.send(new sdk.GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(h), Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined }))
      }
      const body = await readBody(r.Body!, r.ContentLength, into?.subarray(0, range?.length))
      if (range && body.length !== range.length) throw new Error(`range ${range.offset}+${range.length} is beyond the end of the file (got ${body.length} bytes)`)
      return body
    } catch (e) {
      if (statusOf(e) === 416) throw new BackendError('load', describe(h), new Error(`range ${range?.offset}+${range?.length} is beyond the end of the file`))
      throw this.wrap('load', h, e)
    }
  }

  async stat(h: Handle): Promise<{ size: number }> {
    try {
      const reader = this.reader()
      if (reader) return await reader.head(this.key(h))
      const { sdk, client } = await this.api()
      const r = await client.send(new sdk.HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(h) }))
      return { size: r.ContentLength ?? 0 }
    } catch (e) {
      throw this.wrap('stat', h, e)
    }
  }

  async remove(h: Handle): Promise<void> {
    const { sdk, client } = await this.api()
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(h) }))
    } catch (e) {
      const err = this.wrap('remove', h, e)
      if (!(err instanceof ObjectNotFoundError)) throw err
    }
  }

  /**
   * Deletes many files with batch requests (1000 a request, with Content-MD5); on a store without
   * batch deletes, one request a file.
   */
  async removeMany(handles: Handle[]): Promise<void> {
    const { sdk, client } = await this.api()
    for (let i = 0; i < handles.length; i += 1000) {
      const batch = handles.slice(i, i + 1000)
      if (this.unsupported.has('batch-delete')) {
        for (const h of batch) await this.remove(h)
        continue
      }
      try {
        const r = await client.send(withContentMd5(new sdk.DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: batch.map((h) => ({ Key: this.key(h) })), Quiet: true } })))
        const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey')
        if (failed.length > 0) throw new Error(`${failed.length} deletions failed, first: ${failed[0].Key}: ${failed[0].Message ?? failed[0].Code}`)
      } catch (e) {
        if (!notImplemented(e)) throw this.wrap('remove', `${batch.length} files`, e)
        this.unsupported.add('batch-delete')
        for (const h of batch) await this.remove(h)
      }
    }
  }

  async *list(type: FileType): AsyncIterable<ListedFile> {
    const base = this.prefix ? `${this.prefix}/` : ''
    const Prefix = type === 'config' ? `${base}config` : `${base}${type}/`
    let ContinuationToken: string | undefined
    do {
      let r: { Contents?: Array<{ Key?: string; Size?: number; LastModified?: Date }>; IsTruncated?: boolean; NextContinuationToken?: string }
      try {
        const reader = this.reader()
        if (reader) {
          const page = await reader.list(Prefix, ContinuationToken, this.opts.listPageSize)
          r = { Contents: page.objects.map((o) => ({ Key: o.key, Size: o.size, LastModified: o.modified })), IsTruncated: page.next !== undefined, NextContinuationToken: page.next }
        } else {
          const { sdk, client } = await this.api()
          r = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix, ContinuationToken, MaxKeys: this.opts.listPageSize }))
        }
      } catch (e) {
        throw this.wrap('list', type, e)
      }
      for (const o of r.Contents ?? []) {
        const name = o.Key!.slice(o.Key!.lastIndexOf('/') + 1)
        if (type === 'config' ? o.Key === Prefix : /^[0-9a-f]{64}$/.test(name)) yield { name, size: o.Size ?? 0, modified: o.LastModified }
      }
      ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined
    } while (ContinuationToken)
  }

  /**
   * Aborts multipart uploads left incomplete under this repository's prefix (a killed process leaves
   * its parts behind, billed but invisible); returns how many. Only uploads older than
   * `olderThanMs` are touched, so another machine's running backup keeps its upload.
   */
  async abortIncompleteUploads(olderThanMs = 0): Promise<number> {
    const { sdk, client } = await this.api()
    let n = 0
    let KeyMarker: string | undefined
    let UploadIdMarker: string | undefined
    try {
      do {
        const r = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: this.opts.bucket, Prefix: this.prefix ? `${this.prefix}/` : undefined, KeyMarker, UploadIdMarker }))
        for (const u of r.Uploads ?? []) {
          if (olderThanMs > 0 && u.Initiated && Date.now() - u.Initiated.getTime() < olderThanMs) continue
          await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: u.Key!, UploadId: u.UploadId! }))
          n++
        }
        KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined
        UploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined
      } while (KeyMarker)
    } catch (e) {
      if (notImplemented(e)) this.unsupported.add('list-uploads')
      throw this.wrap('abort incomplete uploads in', this.opts.bucket, e)
    }
    return n
  }

  /**
   * The generic name prune uses: abandoned multipart uploads older than `olderThanMs`. On a store
   * that cannot list them (remembered), there is nothing to abort: 0.
   */
  async removeIncomplete(olderThanMs: number): Promise<number> {
    if (this.unsupported.has('list-uploads')) return 0
    try {
      return await this.abortIncompleteUploads(olderThanMs)
    } catch (e) {
      if (this.unsupported.has('list-uploads')) return 0
      throw e
    }
  }

  // ---- versioned store (protected repositories) ----------------------------------------------------

  protectWrites(): void {
    this.protectedWrites = true
  }

  /** Reads the bucket's versioning and Object Lock configuration back. */
  async bucketProtection(): Promise<BucketProtection> {
    const { sdk, client } = await this.api()
    let versioning: BucketProtection['versioning']
    try {
      const v = await client.send(new sdk.GetBucketVersioningCommand({ Bucket: this.opts.bucket }))
      versioning = v.Status === 'Enabled' ? 'enabled' : v.Status === 'Suspended' ? 'suspended' : 'off'
    } catch (e) {
      throw this.wrap('read the versioning', this.opts.bucket, e)
    }
    try {
      const r = await client.send(new sdk.GetObjectLockConfigurationCommand({ Bucket: this.opts.bucket }))
      const c = r.ObjectLockConfiguration
      const d = c?.Rule?.DefaultRetention
      const days = d ? (d.Days ?? (d.Years ?? 0) * 365) : 0
      return {
        versioning,
        objectLock: c?.ObjectLockEnabled === 'Enabled',
        ...(d?.Mode && days > 0 ? { defaultRetention: { mode: d.Mode as 'GOVERNANCE' | 'COMPLIANCE', days } } : {}),
      }
    } catch (e) {
      // A bucket without Object Lock answers with an error (ObjectLockConfigurationNotFoundError, 404).
      // A store without Object Lock at all answers 501.
      if (statusOf(e) === 404 || notImplemented(e) || /ObjectLockConfigurationNotFound/.test((e as Error).name ?? '')) return { versioning, objectLock: false }
      throw this.wrap('read the Object Lock configuration', this.opts.bucket, e)
    }
  }

  /** The retention and legal hold on a file's current version (or one version), from a HEAD. */
  async lockState(h: Handle, versionId?: string): Promise<ObjectLockState> {
    const { sdk, client } = await this.api()
    try {
      const r = await client.send(new sdk.HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(h), VersionId: versionId }))
      return {
        ...(r.VersionId ? { versionId: r.VersionId } : {}),
        ...(r.ObjectLockMode ? { mode: r.ObjectLockMode as 'GOVERNANCE' | 'COMPLIANCE' } : {}),
        ...(r.ObjectLockRetainUntilDate ? { retainUntil: new Date(r.ObjectLockRetainUntilDate) } : {}),
        ...(r.ObjectLockLegalHoldStatus ? { legalHold: r.ObjectLockLegalHoldStatus === 'ON' } : {}),
      }
    } catch (e) {
      throw this.wrap('head', h, e)
    }
  }

  /** The versions and delete markers of one file, newest first. */
  async versions(h: Handle): Promise<StoredVersion[]> {
    const { sdk, client } = await this.api()
    const Key = this.key(h)
    const out: StoredVersion[] = []
    let KeyMarker: string | undefined
    let VersionIdMarker: string | undefined
    try {
      do {
        const r = await client.send(new sdk.ListObjectVersionsCommand({ Bucket: this.opts.bucket, Prefix: Key, KeyMarker, VersionIdMarker }))
        for (const v of r.Versions ?? []) if (v.Key === Key) out.push({ versionId: v.VersionId ?? 'null', size: v.Size ?? 0, modified: v.LastModified, deleteMarker: false, latest: v.IsLatest === true })
        for (const m of r.DeleteMarkers ?? []) if (m.Key === Key) out.push({ versionId: m.VersionId ?? 'null', size: 0, modified: m.LastModified, deleteMarker: true, latest: m.IsLatest === true })
        KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined
        VersionIdMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined
      } while (KeyMarker)
    } catch (e) {
      throw this.wrap('list the versions', h, e)
    }
    return out.sort((a, b) => Number(b.latest) - Number(a.latest) || (b.modified?.getTime() ?? 0) - (a.modified?.getTime() ?? 0))
  }

  /** Every version and delete marker of the files of one kind, a page (up to 1000) a request. */
  async *listVersions(type: FileType): AsyncIterable<ListedVersion> {
    const { sdk, client } = await this.api()
    const base = this.prefix ? `${this.prefix}/` : ''
    const Prefix = type === 'config' ? `${base}config` : `${base}${type}/`
    const nameOf = (key: string): string | undefined => {
      const name = key.slice(key.lastIndexOf('/') + 1)
      return (type === 'config' ? key === Prefix : /^[0-9a-f]{64}$/.test(name)) ? name : undefined
    }
    let KeyMarker: string | undefined
    let VersionIdMarker: string | undefined
    do {
      let r
      try {
        r = await client.send(new sdk.ListObjectVersionsCommand({ Bucket: this.opts.bucket, Prefix, KeyMarker, VersionIdMarker, MaxKeys: this.opts.listPageSize }))
      } catch (e) {
        throw this.wrap('list the versions of', type, e)
      }
      for (const v of r.Versions ?? []) {
        const name = nameOf(v.Key!)
        if (name) yield { name, versionId: v.VersionId ?? 'null', size: v.Size ?? 0, modified: v.LastModified, deleteMarker: false, latest: v.IsLatest === true, ...(v.ETag ? { etag: v.ETag.replace(/"/g, '') } : {}) }
      }
      for (const m of r.DeleteMarkers ?? []) {
        const name = nameOf(m.Key!)
        if (name) yield { name, versionId: m.VersionId ?? 'null', size: 0, modified: m.LastModified, deleteMarker: true, latest: m.IsLatest === true }
      }
      KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined
      VersionIdMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined
    } while (KeyMarker)
  }

  /** Reads one version of a file (`GET ?versionId`), whole or a range. */
  async loadVersion(h: Handle, versionId: string, range?: ByteRange): Promise<Uint8Array> {
    const { sdk, client } = await this.api()
    try {
      if (range && range.length === 0) return new Uint8Array(0)
      const r = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(h), VersionId: versionId, Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined }),
      )
      const body = await readBody(r.Body!, r.ContentLength)
      if (range && body.length !== range.length) throw new Error(`range ${range.offset}+${range.length} is beyond the end of the file (got ${body.length} bytes)`)
      return body
    } catch (e) {
      // A delete marker's version answers 405 (MethodNotAllowed).
      if (statusOf(e) === 405 || (e as Error)?.name === 'MethodNotAllowed' || (e as Error)?.name === 'NoSuchVersion') throw new ObjectNotFoundError(h.type === 'config' ? 'config' : h.type, `${h.name} (version ${versionId})`)
      if (statusOf(e) === 416) throw new BackendError('load', describe(h), new Error(`range ${range?.offset}+${range?.length} is beyond the end of the file`))
      throw this.wrap('load a version of', h, e)
    }
  }

  async saveConditional(h: Handle, data: Uint8Array): Promise<void> {
    const { sdk, client } = await this.api()
    try {
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: this.opts.bucket,
          Key: this.key(h),
          Body: data,
          ContentLength: data.length,
          ContentType: 'application/octet-stream',
          IfNoneMatch: '*',
          ContentMD5: createHash('md5').update(data).digest('base64'),
        }),
      )
    } catch (e) {
      if (statusOf(e) === 412) throw new ObjectExistsError('save', describe(h))
      throw this.wrap('save', h, e)
    }
  }

  /** The retention of a file's current version (or one version): `GET ?retention`. */
  async retention(h: Handle, versionId?: string): Promise<ObjectRetention> {
    const { sdk, client } = await this.api()
    try {
      const r = await client.send(new sdk.GetObjectRetentionCommand({ Bucket: this.opts.bucket, Key: this.key(h), VersionId: versionId }))
      const mode = r.Retention?.Mode
      const until = r.Retention?.RetainUntilDate
      return { ...(mode ? { mode: mode as RetentionMode } : {}), ...(until ? { retainUntil: new Date(until) } : {}) }
    } catch (e) {
      // An object without retention answers NoSuchObjectLockConfiguration (404 on some stores).
      if (/NoSuchObjectLockConfiguration|ObjectLockConfigurationNotFound/.test((e as Error).name ?? '')) return {}
      throw this.wrap('get the retention', h, e)
    }
  }

  /**
   * Extends a file's retention: `PUT ?retention` with Content-MD5 (the request requires an integrity
   * header; the SDK's CRC32 one is swapped as for batch deletes). Never with the GOVERNANCE bypass, so
   * the storage refuses anything but an extension.
   */
  async setRetention(h: Handle, versionId: string | undefined, retention: { mode: RetentionMode; retainUntil: Date }): Promise<void> {
    const { sdk, client } = await this.api()
    try {
      const cmd = new sdk.PutObjectRetentionCommand({ Bucket: this.opts.bucket, Key: this.key(h), VersionId: versionId, Retention: { Mode: retention.mode, RetainUntilDate: retention.retainUntil } })
      await client.send(withContentMd5(cmd as unknown as DeleteObjectsCommand) as unknown as typeof cmd)
    } catch (e) {
      throw this.wrap('set the retention', h, e)
    }
  }

  /** Deletes one version of a file: what Object Lock and a writer's policy must refuse. */
  async removeVersion(h: Handle, versionId: string, opts: { bypassGovernance?: boolean } = {}): Promise<void> {
    const { sdk, client } = await this.api()
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(h), VersionId: versionId, BypassGovernanceRetention: opts.bypassGovernance || undefined }))
    } catch (e) {
      throw this.wrap('delete a version', h, e)
    }
  }

  async close(): Promise<void> {
    this.readerInstance?.close()
    if (this.loaded) (await this.loaded).client.destroy()
  }
}
