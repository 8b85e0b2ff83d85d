import { createHash, randomBytes } from 'node:crypto'
import { endianness, hostname } from 'node:os'
import { LRUCache } from 'lru-cache'
import type { Backend, FileType, Handle } from '../backend/backend.js'
import { CountingBackend, type RequestCounts } from '../backend/counter.js'
import { s3Of } from '../backend/location.js'
import { versionedOf } from '../backend/backend.js'
import { ProtectedWrites } from '../backend/protect.js'
import { TrustedRemovals, type JournalRecord } from './journal.js'
import { OWNER_PUBLIC_KEY, ownerKeyFingerprint, parseOwnerKey, publicKeyOf, readOwnerKey, recordOwnerKey, signJournalRecord, type RecordedOwnerKey } from './owner-key.js'
import { keepRetention, keepsRetention } from './retention.js'
import { Chunker, keyedTable, type ChunkerParams, validateChunkerParams } from '../chunker/index.js'
import { type CompressionSetting } from '../compression/index.js'
import { blobId, storageId, toHex, fromHex, isHexId } from '../crypto/ids.js'
import { createKeyFile, DEFAULT_ARGON2, fitsSecret, kdfCost, kdfOverBound, keyFileInfo, openKeyFile, parseKeyFile, type Argon2Params, type KeyFile, type KeyFileInfo, type Secret } from '../crypto/keyfile.js'
import { formatMemory, limitEnv, resolveLimits, type RepositoryLimits } from './limits.js'
import { deriveKeys, newMasterKey, type RepositoryKeys } from '../crypto/keys.js'
import { addIndexFile, scanIndexFile } from './index-decode.js'
import { openFile, sealFile, sealFileParts, UnknownKeyScheme } from '../crypto/seal.js'
import { CompressedScratch, openSealedBlob } from './blob-open.js'
import {
  AmbiguousSnapshotError,
  BackendError,
  CorruptObjectError,
  InvalidOptionsError,
  NotARepositoryError,
  ObjectNotFoundError,
  RepositoryExistsError,
  SnapshotNotFoundError,
  UnsupportedFormatError,
  WrongPasswordError,
  NotProtectableError,
  OwnerKeyError,
} from '../errors/index.js'
import type { KeyObject } from 'node:crypto'
import { BlobIndex, type BlobLocation } from './blob-index.js'
import { cacheBase, INDEX_MEMO, nameMatches, RepositoryCache, TREE_MEMO } from './cache.js'
import { TREE_MEMO_KIND, TreeMemo, TreeMemoWriter } from './tree-memo.js'
import { decodeObject } from './repofile.js'
import { decodeTree } from './tree-decode.js'
import {
  BlobType,
  CHUNKER_FAMILY,
  configSchema,
  encodeObject,
  FORMAT_VERSION,
  PROTECTED_FORMAT_VERSION,
  indexFileSchema,
  packHeaderSchema,
  snapshotSchema,
  type IndexFile,
  type PackHeader,
  type RepoConfig,
  type RepoProtection,
  type SnapshotFile,
  type Tree,
} from './repofile.js'
import type { StoredPack } from './packer.js'
import { backup, type BackupOptions, type BackupSummary } from '../archiver/archiver.js'
import { restore, type RestoreOptions, type RestoreSummary } from '../restorer/restorer.js'
import { toEntry, walkTree, type Entry } from './tree-walk.js'
import { catObject, type CatKind } from './cat.js'
import { prune, type PruneSummary } from '../prune/prune.js'
import type { PruneOptions } from '../prune/plan.js'
import { listLocks, removeLocks, type LockInfo } from './lock.js'
import { check, checkVersions, doctor, type CheckOptions, type CheckReport, type DoctorReport, type VersionsReport } from '../check/index.js'
import { forget, forgetSnapshots, type RetentionPolicy, type ForgetSummary, type ForgetOptions, type ForgetSnapshotsOptions, type ForgetSnapshotsSummary } from '../forget/index.js'
import { tagSnapshots, type TagOptions, type TagSummary } from './tag.js'
import { repositoryStats, diffSnapshots, findInSnapshots, dump, type Dump, type DumpOptions, type RepositoryStats, type SnapshotDiff, type FindMatch } from '../inspect/index.js'

export const DEFAULT_CHUNKER: ChunkerParams = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 }
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024
export const PROGRAM = 'session-sync-cloud 0.1.0'

/** The index memo's plaintext: this, the SHA-256 of the index files' names it was written for, the index (BlobIndex.memoParts). */
const INDEX_MEMO_MAGIC = Buffer.from('index-memo/1\n')
const INDEX_MEMO_HEAD = INDEX_MEMO_MAGIC.length + 32
/**
 * An index of more blobs is not kept in the memo: 57 bytes a blob, written after every backup that
 * stored something (a million blobs: 57 MB).
 */
const INDEX_MEMO_MAX_BLOBS = 1_000_000
/** The memo holds typed arrays in this machine's byte order: written and read only where that is little-endian. */
const LITTLE_ENDIAN = endianness() === 'LE'

/** What identifies a set of index files: the SHA-256 of their names, sorted, one a line. */
function indexNamesDigest(names: readonly string[]): Buffer {
  return createHash('sha256').update([...names].sort().join('\n')).digest()
}

/** Options of `Repository.init`. */
export interface InitOptions {
  backend: Backend
  /** A passphrase (stretched with Argon2id) … */
  password?: string
  /** … or a raw 32-byte key. Exactly one of the two. */
  key?: Uint8Array
  chunker?: ChunkerParams
  compression?: CompressionSetting
  /** Target pack size in bytes (default 16 MiB). */
  packSize?: number
  /**
   * A protected repository (format version 2): the storage must keep old versions (a bucket with
   * versioning, optionally Object Lock), which init reads back and records in the config. Its
   * writers never delete (locks are released by a sealed release record, index files are not
   * consolidated, leftovers are not cleaned up) and never overwrite (every write is conditional and
   * carries Content-MD5, in one request), so the writer's credential needs no delete permission.
   * Pruning, forgetting and unlocking are for the owner from a trusted device.
   */
  protect?: boolean
  /**
   * With `protect`: the owner's public key (`generateOwnerKey().publicKey`), recorded once so that
   * trusted operations sign the removal journal with the private half and `checkVersions` trusts
   * only signed records. Give the private half to the owner only, never to the agent.
   */
  ownerPublicKey?: string
  /** Argon2id cost for the passphrase (default 64 MiB, 3 passes); at most the limits' KDF bounds. */
  argon2?: Argon2Params
  /** Bounds on what stored objects may ask for (see RepositoryLimits; default: environment, else built-in). */
  limits?: Partial<RepositoryLimits>
  /**
   * Folder of the local cache: snapshot and index files and the packs that hold trees, kept as
   * stored (encrypted) under `<cacheDir>/<repository id>/`, so a fresh process reads only what is
   * new. Default: SESSION_SYNC_CACHE_DIR, else `$XDG_CACHE_HOME/session-sync-cloud`, else
   * `~/.cache/session-sync-cloud`. `false` turns the cache off, as SESSION_SYNC_NO_CACHE=1 does
   * whatever this says. A cache that cannot be used is left out with one warning (see `onWarning`).
   */
  cacheDir?: string | false
  /**
   * Told of a problem that does not stop the operation (the cache turned off). Default:
   * `process.emitWarning`. Problems found while opening are also in `openWarnings`.
   */
  onWarning?: (message: string) => void
}

/** Options of `Repository.open`. */
export interface OpenOptions {
  backend: Backend
  password?: string
  key?: Uint8Array
  /**
   * The key file to try first: the one this secret opened last time (`repo.keyId`, kept by the
   * caller). When it opens, no other key file is read, so key files planted since cost nothing.
   */
  preferKeyId?: string
  /** Bounds on what stored objects may ask for (see RepositoryLimits; default: environment, else built-in). */
  limits?: Partial<RepositoryLimits>
  /**
   * Folder of the local cache: snapshot and index files and the packs that hold trees, kept as
   * stored (encrypted) under `<cacheDir>/<repository id>/`, so a fresh process reads only what is
   * new. Default: SESSION_SYNC_CACHE_DIR, else `$XDG_CACHE_HOME/session-sync-cloud`, else
   * `~/.cache/session-sync-cloud`. `false` turns the cache off, as SESSION_SYNC_NO_CACHE=1 does
   * whatever this says. A cache that cannot be used is left out with one warning (see `onWarning`).
   */
  cacheDir?: string | false
  /**
   * Told of a problem that does not stop the operation (the cache turned off). Default:
   * `process.emitWarning`. Problems found while opening are also in `openWarnings`.
   */
  onWarning?: (message: string) => void
  /**
   * The owner's credential on a trusted device: in a protected repository, prune, forget, unlock and
   * key remove may delete, and each delete is first named in a sealed record of the removal journal
   * (`journal/`), so `checkVersions` can tell them from a compromised writer's. Writes stay
   * conditional. No effect on an unprotected repository.
   */
  trusted?: boolean
  /**
   * The owner's private key (PKCS#8 PEM, from `generateOwnerKey` or `key owner --init`), with
   * `trusted`: signs each removal journal record. Required for a trusted operation that removes
   * files in a repository that records an owner key (OWNER_KEY_REQUIRED without it). Never stored.
   */
  ownerKey?: string | Uint8Array
}

/** Largest snapshot file read (paths, tags, excludes and counts: kilobytes); a bigger one is unreadable. */
const MAX_SNAPSHOT_FILE_BYTES = 64 * 1024 * 1024

/** Largest key file read (they are about 200 bytes): a bigger one is skipped, not loaded. */
const MAX_KEY_FILE_BYTES = 64 * 1024

/** A snapshot as the library reports it. */
export interface Snapshot {
  /** 64-hex id (the SHA-256 of the stored snapshot file). */
  id: string
  /** First 8 hex digits of the id. */
  shortId: string
  time: Date
  host: string
  user: string
  paths: string[]
  tags: string[]
  /** Id of the root tree blob. */
  tree: string
  parents: string[]
  excludes: string[]
  program: string
  summary?: SnapshotFile['summary']
  /** When the storage says the snapshot file was written (the listing's time), where it tells. */
  storedAt?: Date
  /**
   * The snapshot says it was taken more than FUTURE_SNAPSHOT_TOLERANCE_MS after the storage received
   * its file: a device's clock far ahead, or a planted snapshot meant to become `latest` and push real
   * ones out of a keep policy. Such a snapshot is ordered (and `latest`, and counted by forget) by
   * `storedAt`, and reported in `Repository.futureSnapshots`.
   */
  futureDated?: boolean
  /** The time was given by the user (`backup --time`), as the snapshot file records. */
  timeGiven?: boolean
  /**
   * The snapshot's time does not fit the storage's time of its file: outside [storedAt − its
   * backup's duration − SUSPICIOUS_MARGIN_MS, storedAt + SUSPICIOUS_MARGIN_MS]. A forged time (a
   * junk snapshot meant to push real ones out of a policy), a time given with `backup --time`, a
   * copy, or a clock far off. Forget judges it by `storedAt` and never lets it displace a snapshot
   * whose time fits; listed in `Repository.suspiciousSnapshots`.
   */
  suspicious?: boolean
}

/** How far a snapshot's time may lie outside the span its backup ran in, by the storage's clock, before it is suspicious. */
export const SUSPICIOUS_MARGIN_MS = 5 * 60_000

/** Whether a snapshot's time is outside the span its backup could have run in by the storage's time of its file. */
export function isSuspicious(s: Pick<Snapshot, 'time' | 'storedAt' | 'summary'>): boolean {
  if (!s.storedAt) return false
  const stored = s.storedAt.getTime()
  const t = s.time.getTime()
  return t > stored + SUSPICIOUS_MARGIN_MS || t < stored - (s.summary?.durationMs ?? 0) - SUSPICIOUS_MARGIN_MS
}

/**
 * How far a snapshot's own time may lie after the storage's time of its file before it counts as
 * dated in the future (clocks of devices and storage differ by seconds to minutes).
 */
export const FUTURE_SNAPSHOT_TOLERANCE_MS = 60 * 60_000

/** The time a snapshot is ordered and kept by: its own, or its storage time if it is dated in the future. */
export function snapshotOrderTime(s: Snapshot): Date {
  return s.futureDated && s.storedAt ? s.storedAt : s.time
}

/** Filters for listing snapshots. */
export interface SnapshotFilter {
  host?: string
  tags?: string[]
  /** Snapshots whose set of paths equals this set. */
  paths?: string[]
}

function secretOf(o: { password?: string; key?: Uint8Array }): Secret {
  if (o.password !== undefined && o.key !== undefined) throw new InvalidOptionsError('give either a password or a key, not both')
  if (o.key !== undefined) {
    if (o.key.length !== 32) throw new InvalidOptionsError('a raw key must be exactly 32 bytes')
    return { key: o.key }
  }
  if (o.password === undefined) throw new InvalidOptionsError('a password or a key is required')
  if (o.password.length === 0) throw new InvalidOptionsError('the password must not be empty')
  return { password: o.password }
}

/**
 * An open repository: its config and keys, and access to every stored object. The in-memory index
 * loads on first use by an operation that needs it. Adapters reach everything through this class.
 */
export class Repository {
  private indexLoaded?: Promise<BlobIndex>
  private indexFileNames: string[] = []
  /**
   * Whether the in-memory index is exactly what reading `indexFileNames` would give: true once loaded
   * (with no damaged file), false from a write that changed the files without adding to it the same
   * blobs (prune, consolidation) until it is loaded again. Only then is it kept in the index memo.
   */
  private indexExact = false
  /** Index files that could not be read when the index was loaded. */
  indexProblems: Array<{ name: string; error: Error }> = []
  /**
   * Snapshot files the last `snapshots()` (or anything that lists snapshots) could not read; they
   * are left out of its result. Remove one with `forgetSnapshots([id])`; prune refuses while any exist.
   */
  snapshotProblems: Array<{ id: string; error: Error }> = []
  /**
   * Snapshots the last `snapshots()` found dated after the storage's time of their file (see
   * `Snapshot.futureDated`); they are listed, ordered by their storage time.
   */
  futureSnapshots: Snapshot[] = []
  /** Snapshots the last `snapshots()` found suspicious (see `Snapshot.suspicious`), by id. */
  suspiciousSnapshots: Snapshot[] = []
  /** What opening the repository skipped (key files over the KDF bound, unreadable ones), for a person. */
  openWarnings: string[] = []
  /**
   * Trees loaded once so far, as their plaintexts. A decoded tree is an object per entry and more
   * (names, times, contents), which the collector copies and promotes while a cache holds it; its
   * plaintext is one buffer outside the heap, and decoding is the cheap part of a load. A tree loaded
   * a second time (a process that backs up or walks the same snapshot again, such as a sync that
   * keeps the repository open), or loaded by a caller that will load it again (see loadTree), is
   * kept in `trees`, decoded. Decoded trees' names and contents are views of their plaintext: no
   * one writes into either.
   */
  private readonly treePlains = new LRUCache<string, Uint8Array>({ maxSize: 32 * 1024 * 1024, sizeCalculation: (b) => Math.max(1, b.length) })
  /** Trees loaded more than once, decoded (see treePlains). */
  private readonly trees = new LRUCache<string, Tree>({ max: 4096 })
  /** Whole tree packs: trees are read in bursts (a walk), so one read serves many (64 MiB at most). */
  private readonly treePacks = new LRUCache<string, Uint8Array>({ maxSize: 64 * 1024 * 1024, sizeCalculation: (b) => Math.max(1, b.length) })
  private readonly treePackLoads = new Map<string, Promise<Uint8Array>>()
  /** Tree packs in `treePacks` that were read from the local cache (a blob that fails to open drops them). */
  private readonly treePacksFromCache = new Set<string>()
  /** The local cache's tree memo (see tree-memo.ts), read when a tree is first wanted; null: none, or dropped. */
  private treeMemo?: TreeMemo | null
  /** The root tree of the snapshot whose trees this process last wrote to the memo. */
  private rememberedRoot?: string
  private snapshotCache = new Map<string, Snapshot>()
  /** The local cache (undefined: off); see OpenOptions.cacheDir. */
  private cache?: RepositoryCache
  /** While above zero (a check runs), stored files are read from storage, never from the local cache. */
  private cacheBypass = 0
  /** The cache's snapshot bundle as read (once) and since changed; `dirty` until written back. */
  private bundle?: { entries: Map<string, Uint8Array>; dirty: boolean }
  /** Where compressed blobs are decrypted on their way to decompression (openBlob is synchronous). */
  private readonly compressedScratch = new CompressedScratch()
  readonly chunker: Chunker
  /** The owner's private key given to open (OpenOptions.ownerKey). */
  private ownerPrivateKey?: KeyObject
  /** The owner key the repository records, read once for signing. */
  private recordedOwnerKey?: Promise<RecordedOwnerKey | undefined>

  private constructor(
    /** The storage, behind a request counter whose counts every operation's summary reports. */
    readonly backend: CountingBackend,
    readonly config: RepoConfig,
    /** @internal */ readonly keys: RepositoryKeys,
    private readonly master: Buffer,
    /** The key file this repository was opened with. */
    readonly keyId: string,
    /** Bounds on what stored objects may ask for; may be changed on an open repository. */
    readonly limits: RepositoryLimits,
  ) {
    this.chunker = new Chunker(config.chunker, keyedTable(keys.chunker))
  }

  /** The storage as given to init or open. */
  get storage(): Backend {
    const b = this.backend.inner
    return b instanceof ProtectedWrites ? b.inner : b
  }

  /** A protected repository opened with the owner's credential (OpenOptions.trusted): it may delete, journaling each delete. */
  get trusted(): boolean {
    return this.backend.inner instanceof TrustedRemovals
  }

  /**
   * In a protected repository opened trusted, stores one sealed journal record naming the files an
   * operation is about to remove (prune names all of its deletes at once this way); elsewhere nothing.
   */
  async announceRemovals(handles: Handle[], operation: string): Promise<void> {
    const t = this.backend.inner
    if (t instanceof TrustedRemovals && handles.length > 0) await t.announce(handles, operation)
  }

  /** The owner's public key the repository records (its oldest version), if it records one. */
  ownerKey(): Promise<RecordedOwnerKey | undefined> {
    return readOwnerKey(this)
  }

  /**
   * Records the owner's public key in a protected repository made without one (`key owner --init`):
   * once, never replaced (OWNER_KEY_EXISTS). Journal records stored from then on count only signed.
   */
  async recordOwnerKey(publicKey: string): Promise<void> {
    if (!this.protected) throw new InvalidOptionsError('only a protected repository (init --protect) has an owner key: its removal journal is what the key signs')
    await recordOwnerKey(this, publicKey)
    this.recordedOwnerKey = undefined
  }

  /**
   * In a protected repository opened trusted: checks that the removal journal can be written as it
   * must be before anything is changed — signed with the owner key given to open where the
   * repository records one (OWNER_KEY_REQUIRED without it, OWNER_KEY_MISMATCH for another key).
   */
  async readyToRemove(operation: string): Promise<void> {
    if (this.trusted) await this.journalSigner(operation)
  }

  /** The owner's private key to sign journal records with, or undefined where the repository records no owner key. */
  private async journalSigner(operation: string): Promise<KeyObject | undefined> {
    this.recordedOwnerKey ??= readOwnerKey(this).catch((e: unknown) => {
      this.recordedOwnerKey = undefined
      throw e
    })
    const recorded = await this.recordedOwnerKey
    const given = this.ownerPrivateKey
    if (!recorded) {
      if (given) throw new OwnerKeyError('OWNER_KEY_MISMATCH', `an owner key was given, but the repository records none, so its journal cannot be checked against it: record it once with "session-sync key owner --init" (it then prints or writes the key pair), or leave the owner key out`)
      return undefined
    }
    if (!given) {
      throw new OwnerKeyError(
        'OWNER_KEY_REQUIRED',
        `refusing to ${operation}: the repository records an owner key (${ownerKeyFingerprint(recorded.publicKey)}…) and each removal must be signed with it; give the owner's private key with --owner-key FILE (or SESSION_SYNC_OWNER_KEY_FILE) on this trusted device`,
        { publicKey: recorded.publicKey },
      )
    }
    const ownKey = publicKeyOf(given)
    if (ownKey !== recorded.publicKey) {
      throw new OwnerKeyError('OWNER_KEY_MISMATCH', `the owner key given (${ownerKeyFingerprint(ownKey)}…) is not the one the repository records (${ownerKeyFingerprint(recorded.publicKey)}…): give the key file "init --protect" or "key owner --init" wrote for this repository`, { given: ownKey, recorded: recorded.publicKey })
    }
    return given
  }

  /** Stores one removal journal record, signed where the repository records an owner key. */
  private async writeJournalRecord(record: JournalRecord): Promise<void> {
    const key = await this.journalSigner(record.operation)
    await this.saveFile('journal', 'journal', key ? signJournalRecord(record, this.id, key) : record)
  }

  /** A protected repository: its writers never delete nor overwrite (see InitOptions.protect). */
  get protected(): boolean {
    return this.config.protect !== undefined
  }

  /** Requests made to storage through this repository so far. */
  requests(): RequestCounts {
    return { ...this.backend.counts }
  }

  /** The repository's random id (hex). */
  get id(): string {
    return toHex(this.config.id)
  }

  /** Creates a repository in an empty location and returns it open. */
  static async init(opts: InitOptions): Promise<Repository> {
    const secret = secretOf(opts)
    const chunker = opts.chunker ?? DEFAULT_CHUNKER
    try {
      validateChunkerParams(chunker)
    } catch (e) {
      throw new InvalidOptionsError(`invalid chunker parameters: ${(e as Error).message}`)
    }
    if (opts.ownerPublicKey !== undefined && !opts.protect) throw new InvalidOptionsError('an owner key is for a protected repository: add protect, or leave ownerPublicKey out')
    if (opts.ownerPublicKey !== undefined && !OWNER_PUBLIC_KEY.test(opts.ownerPublicKey)) throw new InvalidOptionsError('ownerPublicKey must be a raw Ed25519 public key, base64url (43 characters): generateOwnerKey().publicKey')
    const packSize = opts.packSize ?? DEFAULT_PACK_SIZE
    if (!Number.isInteger(packSize) || packSize < 64 * 1024 || packSize > 1024 * 1024 * 1024) {
      throw new InvalidOptionsError('packSize must be an integer between 64 KiB and 1 GiB')
    }
    const limits = resolveLimits(opts.limits)
    const argon2 = opts.argon2 ?? DEFAULT_ARGON2
    if ('password' in secret) checkKdfBound(argon2, limits)
    let backend = new CountingBackend(opts.backend)
    await s3Of(backend)?.ensureBucket()
    if (await exists(backend, { type: 'config', name: 'config' })) throw new RepositoryExistsError(backend.location)
    let protect: RepoProtection | undefined
    if (opts.protect) {
      protect = await readProtection(opts.backend)
      backend = protectedCounting(opts.backend, backend)
    }
    const master = newMasterKey()
    const keys = deriveKeys(master)
    const config: RepoConfig = {
      v: protect ? PROTECTED_FORMAT_VERSION : FORMAT_VERSION,
      id: randomBytes(32),
      created: new Date().toISOString(),
      chunker: { family: CHUNKER_FAMILY, min: chunker.min, avg: chunker.avg, max: chunker.max },
      compression: opts.compression ?? 'auto',
      packSize,
      ...(protect ? { protect } : {}),
    }
    const keyFile = await createKeyFile(master, secret, argon2)
    const keyId = toHex(storageId(keyFile))
    await backend.save({ type: 'keys', name: keyId }, keyFile, { ifAbsent: true })
    await backend.save({ type: 'config', name: 'config' }, sealFile(keys.encryption, 'config', encodeObject(config)), { ifAbsent: true })
    const repo = new Repository(backend, config, keys, master, keyId, limits)
    if (protect && opts.ownerPublicKey !== undefined) await repo.recordOwnerKey(opts.ownerPublicKey)
    repo.openCache(opts)
    return repo
  }

  /**
   * Opens an existing repository with a password or a raw key. Key files are tried the preferred one
   * first (`preferKeyId`), then the cheapest first, so one planted with a costly KDF is tried last; a
   * key file over the KDF bounds (`limits`), or that cannot be read or its KDF fails, is skipped and
   * named in `openWarnings`.
   */
  static async open(opts: OpenOptions): Promise<Repository> {
    const secret = secretOf(opts)
    const ownerKey = opts.ownerKey !== undefined ? parseOwnerKey(opts.ownerKey) : undefined
    const limits = resolveLimits(opts.limits)
    const backend = new CountingBackend(opts.backend)
    // The config and the key files' listing at once: one round trip to storage instead of two.
    const listing = (async () => {
      const listed = new Map<string, number>()
      for await (const f of backend.list('keys')) listed.set(f.name, f.size)
      return listed
    })()
    listing.catch(() => {}) // its error, if the config loaded, is thrown below
    let sealedConfig: Uint8Array
    try {
      sealedConfig = await backend.load({ type: 'config', name: 'config' })
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw new NotARepositoryError(backend.location, 'no config file')
      throw e
    }
    const listed = await listing
    if (listed.size === 0) throw new NotARepositoryError(backend.location, 'no key files')
    const warnings: string[] = []
    const skipped: string[] = []
    let badKeyFiles = 0
    const read = async (name: string): Promise<KeyFile | undefined> => {
      const got = await readKeyFile(backend, name, listed.get(name) ?? 0).catch((e: unknown) => {
        if (e instanceof ObjectNotFoundError) return undefined // removed since it was listed
        throw e
      })
      if (got === undefined) return undefined
      if (typeof got === 'string') {
        badKeyFiles++
        warnings.push(`key file ${name} skipped: ${got}`)
        return undefined
      }
      if (!fitsSecret(got, secret)) return undefined
      const over = kdfOverBound(got, limits)
      if (over) {
        const text = kdfBoundText(name, got, over, limits)
        warnings.push(`${text}; skipped`)
        skipped.push(text)
        return undefined
      }
      return got
    }
    let configFailure: CorruptObjectError | undefined
    const attempt = async (name: string, kf: KeyFile): Promise<Repository | undefined> => {
      let master: Buffer | undefined
      try {
        master = await openKeyFile(kf, secret)
      } catch (e) {
        const text = `key file ${name}: its key derivation failed (${(e as Error).message})`
        warnings.push(`${text}; skipped`)
        skipped.push(text)
        return undefined
      }
      if (!master) return undefined
      const keys = deriveKeys(master)
      let config: RepoConfig
      try {
        config = decodeObject(configSchema, openFile(keys.encryption, 'config', sealedConfig))
      } catch (e) {
        if (e instanceof UnknownKeyScheme) throw new UnsupportedFormatError('config', `key scheme ${e.scheme}`)
        // Another key file may hold the repository's keys: this one can be what a creation that
        // lost a race to another left behind (its key file saved, its config refused).
        configFailure ??= new CorruptObjectError('config', 'config', (e as Error).message, { cause: e })
        warnings.push(`key file ${name} opens with the secret, but its keys do not open the config; skipped`)
        return undefined
      }
      if ((config.v === PROTECTED_FORMAT_VERSION) !== (config.protect !== undefined)) {
        throw new CorruptObjectError('config', 'config', `format version ${config.v} ${config.protect ? 'cannot record' : 'must record'} a protection`)
      }
      validateChunkerParams(config.chunker)
      const repo = new Repository(config.protect ? protectedCounting(opts.backend, backend, opts.trusted === true) : backend, config, keys, master, name, limits)
      const trusted = repo.backend.inner
      if (trusted instanceof TrustedRemovals) trusted.writer = (record) => repo.writeJournalRecord(record)
      if (ownerKey) repo.ownerPrivateKey = ownerKey
      repo.openWarnings = warnings
      repo.openCache(opts)
      return repo
    }
    const preferred = opts.preferKeyId !== undefined && listed.has(opts.preferKeyId) ? opts.preferKeyId : undefined
    if (preferred) {
      const kf = await read(preferred)
      const repo = kf && (await attempt(preferred, kf))
      if (repo) return repo
    }
    const rest = [...listed.keys()].filter((n) => n !== preferred).sort()
    const candidates = (await mapLimit(rest, 8, async (name) => ({ name, kf: await read(name) }))).filter((c): c is { name: string; kf: KeyFile } => c.kf !== undefined)
    candidates.sort((a, b) => kdfCost(a.kf) - kdfCost(b.kf) || (a.name < b.name ? -1 : 1))
    for (const { name, kf } of candidates) {
      const repo = await attempt(name, kf)
      if (repo) return repo
    }
    if (configFailure) throw configFailure
    if (badKeyFiles === listed.size) throw new CorruptObjectError('key files', 'keys/*', 'none of them is a valid key file')
    throw new WrongPasswordError(skipped)
  }

  // ---- local cache ------------------------------------------------------------------------------

  private openCache(opts: { cacheDir?: string | false; onWarning?: (message: string) => void }): void {
    const base = cacheBase(opts.cacheDir)
    if (base === undefined) return
    const onWarning = opts.onWarning ?? ((m: string) => process.emitWarning(m, { code: 'SESSION_SYNC_CACHE' }))
    let opening = true
    this.cache = RepositoryCache.open(base, this.id, (m) => {
      if (opening) this.openWarnings.push(m)
      onWarning(m)
    })
    opening = false
  }

  /** The local cache's folder for this repository, while the cache is in use. */
  get cacheDir(): string | undefined {
    return this.cache?.enabled ? this.cache.dir : undefined
  }

  private cached(): RepositoryCache | undefined {
    return this.cacheBypass > 0 || !this.cache?.enabled ? undefined : this.cache
  }

  /** The cached snapshot files (read from the cache's bundle the first time), while the cache is in use. */
  private snapshotBundle(): { entries: Map<string, Uint8Array>; dirty: boolean } | undefined {
    const cache = this.cached()
    if (!cache) return undefined
    if (!this.bundle) {
      const read = cache.readSnapshotBundle()
      this.bundle = { entries: read.entries, dirty: read.damaged }
    }
    return this.bundle
  }

  /** Writes the snapshot bundle back when it changed. */
  private saveSnapshotBundle(): void {
    const bundle = this.snapshotBundle()
    if (!bundle?.dirty) return
    this.cached()!.writeSnapshotBundle(bundle.entries)
    bundle.dirty = false
  }

  /** Runs fn with every stored file read from storage (check must see storage, not the cache). */
  async withoutCache<T>(fn: () => Promise<T>): Promise<T> {
    this.cacheBypass++
    try {
      return await fn()
    } finally {
      this.cacheBypass--
    }
  }

  // ---- stored files -----------------------------------------------------------------------------

  /**
   * Loads a stored file, checks its SHA-256 against its name, decrypts it. Snapshot and index files
   * come from the local cache when it has them (checked there the same way).
   */
  async loadFile(type: Exclude<FileType, 'config' | 'keys' | 'data'>, name: string, kind: string, from?: Backend): Promise<Buffer> {
    const cache = type === 'index' && !from ? this.cached() : undefined
    const bundle = type === 'snapshots' && !from ? this.snapshotBundle() : undefined
    const hit = cache?.get('index', name) ?? bundle?.entries.get(name)
    const bytes = hit ?? (await (from ?? this.backend).load({ type, name }))
    if (!hit && toHex(storageId(bytes)) !== name) throw new CorruptObjectError(type, name, 'its SHA-256 does not match its name')
    let plain: Buffer
    try {
      plain = openFile(this.keys.encryption, kind, bytes)
    } catch (e) {
      if (e instanceof UnknownKeyScheme) throw new UnsupportedFormatError(`${type}/${name}`, `key scheme ${e.scheme}`)
      throw new CorruptObjectError(type, name, (e as Error).message, { cause: e })
    }
    if (cache && !hit) cache.put('index', name, bytes)
    if (bundle && !hit) {
      bundle.entries.set(name, bytes)
      bundle.dirty = true
    }
    return plain
  }

  /** Seals and stores a standalone file; returns its id. Snapshot and index files are also cached. */
  async saveFile(type: 'index' | 'snapshots' | 'locks' | 'journal', kind: string, value: unknown): Promise<string> {
    const bytes = sealFile(this.keys.encryption, kind, encodeObject(value))
    const name = toHex(storageId(bytes))
    await this.backend.save({ type, name }, bytes)
    if (type === 'index') this.cached()?.put(type, name, bytes)
    const bundle = type === 'snapshots' ? this.snapshotBundle() : undefined
    if (bundle) {
      bundle.entries.set(name, bytes)
      bundle.dirty = true
      this.saveSnapshotBundle()
    }
    return name
  }

  // ---- index --------------------------------------------------------------------------------------

  /** The in-memory index of every blob, loaded once from all index files. */
  index(): Promise<BlobIndex> {
    this.indexLoaded ??= this.loadIndex().catch((e) => {
      this.indexLoaded = undefined
      throw e
    })
    return this.indexLoaded
  }

  /** Forgets the loaded index, so the next operation reads the index files again. */
  invalidateIndex(): void {
    this.indexLoaded = undefined
    this.indexExact = false
    this.treePacks.clear()
  }

  /**
   * Index files this process deleted after storing others that name the same packs (consolidation):
   * the in-memory index stays valid, and a later backup must not take their absence for a prune.
   */
  forgetIndexFiles(names: string[]): void {
    // The files that replaced them may hold packs of index files this process never read.
    this.indexExact = false
    const gone = new Set(names)
    this.indexFileNames = this.indexFileNames.filter((n) => !gone.has(n))
    for (const n of names) this.cached()?.remove('index', n)
  }

  /** Names of the index files the in-memory index was built from. */
  loadedIndexFiles(): string[] {
    return [...this.indexFileNames]
  }

  private async loadIndex(): Promise<BlobIndex> {
    const names: string[] = []
    for await (const f of this.backend.list('index')) names.push(f.name)
    this.indexFileNames = names
    this.indexProblems = []
    const remembered = this.rememberedIndex(names)
    if (remembered) {
      this.indexExact = true
      return remembered
    }
    // Each file is checked on the fast path (see index-decode.ts) and kept as its plaintext until its
    // blobs are added; one the fast path leaves to the general decoder is kept decoded.
    type Loaded = { name: string; supersedes: Uint8Array[]; blobs: number } & ({ plain: Buffer; file?: undefined } | { file: IndexFile })
    const loaded = await mapLimit(names, 8, async (name): Promise<Loaded | undefined> => {
      try {
        const plain = await this.loadFile('index', name, 'index')
        const scanned = scanIndexFile(plain)
        if (scanned) return { name, plain, supersedes: scanned.supersedes, blobs: scanned.blobs }
        const file = decodeIndexFile(name, plain)
        return { name, file, supersedes: file.supersedes, blobs: file.packs.reduce((m, p) => m + p.blobs.length, 0) }
      } catch (e) {
        // A damaged index file must not block restores of what other index files describe; prune
        // refuses to run while one exists, and check names it.
        if (!(e instanceof CorruptObjectError || e instanceof UnsupportedFormatError)) throw e
        this.indexProblems.push({ name, error: e })
        return undefined
      }
    })
    const files = loaded.filter((f): f is Loaded => f !== undefined)
    const superseded = new Set<string>()
    for (const f of files) for (const s of f.supersedes) superseded.add(toHex(s))
    const idx = new BlobIndex(files.reduce((n, f) => n + f.blobs, 0))
    const cache = this.cached()
    const packs = cache ? new Set<string>() : undefined
    const onPack = packs && ((packId: Buffer) => packs.add(packId.toString('hex')))
    for (const f of files) {
      if (superseded.has(f.name)) continue
      if (!f.file) {
        addIndexFile(f.plain, idx, onPack)
        continue
      }
      for (const p of f.file.packs) {
        const packId = Buffer.from(p.id)
        onPack?.(packId)
        for (const [type, id, offset, length, raw, codec] of p.blobs) idx.add(type, id, packId, offset, length, raw, codec)
      }
    }
    if (cache && this.indexProblems.length === 0) {
      // What storage no longer lists leaves the cache: index files a prune replaced, packs it deleted.
      const listed = new Set(names)
      cache.evict('index', (n) => listed.has(n))
      cache.evict('data', (n) => packs!.has(n))
      this.writeIndexMemo(cache, idx, names)
    }
    this.indexExact = this.indexProblems.length === 0
    return idx
  }

  /**
   * The index as the index memo holds it, when the memo was written for exactly these index files
   * (see writeIndexMemo); undefined otherwise. A memo that does not open or parse is removed.
   */
  private rememberedIndex(names: string[]): BlobIndex | undefined {
    const cache = this.cached()
    if (!cache || !LITTLE_ENDIAN) return undefined
    const sealed = cache.readOwn(INDEX_MEMO)
    if (!sealed) return undefined
    try {
      const plain = openFile(this.keys.encryption, INDEX_MEMO, sealed)
      if (plain.length < INDEX_MEMO_HEAD || !plain.subarray(0, INDEX_MEMO_MAGIC.length).equals(INDEX_MEMO_MAGIC)) throw new Error('not an index memo')
      if (!plain.subarray(INDEX_MEMO_MAGIC.length, INDEX_MEMO_HEAD).equals(indexNamesDigest(names))) return undefined
      return BlobIndex.fromMemo(plain.subarray(INDEX_MEMO_HEAD))
    } catch {
      cache.removeOwn(INDEX_MEMO)
      return undefined
    }
  }

  /**
   * Keeps an index in the local cache's index memo for the next process that lists exactly these
   * index files. Index files are named by the SHA-256 of their bytes, so the same names are the same
   * files, and an index loaded from them the same blobs (where a blob lies in two packs, either may be
   * named: both hold it). Loading it is reading one file, without decoding every index file (see
   * docs/SMALL-FILES.md, "The index memo").
   */
  private writeIndexMemo(cache: RepositoryCache, idx: BlobIndex, names: string[]): void {
    if (!LITTLE_ENDIAN) return
    if (idx.size > INDEX_MEMO_MAX_BLOBS) return cache.removeOwn(INDEX_MEMO) // an older one would be read for nothing
    const head = Buffer.concat([INDEX_MEMO_MAGIC, indexNamesDigest(names)])
    cache.writeOwn(INDEX_MEMO, (write) => sealFileParts(this.keys.encryption, INDEX_MEMO, [head, ...idx.memoParts()], write))
  }

  /**
   * Keeps the index this process holds in the index memo (see writeIndexMemo), for the index files it
   * listed and those it wrote since: a backup's, at its end, so that the next process finds its
   * index in one file. Only while the index is exactly what those files give (see `indexExact`), and
   * is the one given.
   */
  async rememberIndex(used: BlobIndex): Promise<void> {
    const cache = this.cached()
    if (!cache || !this.indexLoaded) return
    const idx = await this.indexLoaded
    // `used`: the index the backup added its blobs to; one loaded again since is not it.
    if (idx === used && this.indexExact && this.indexProblems.length === 0) this.writeIndexMemo(cache, idx, this.indexFileNames)
  }

  async loadIndexFile(name: string): Promise<IndexFile> {
    return decodeIndexFile(name, await this.loadFile('index', name, 'index'))
  }

  /**
   * Writes one index file naming the given packs; returns its id. `indexed`: the caller adds (or has
   * added) exactly these packs' blobs to the in-memory index (a backup's packs); otherwise the
   * in-memory index is no longer known to be what the files give (see `indexExact`).
   */
  async saveIndexFile(packs: StoredPack[], supersedes: string[] = [], { indexed = false }: { indexed?: boolean } = {}): Promise<string> {
    if (!indexed || supersedes.length > 0) this.indexExact = false
    const file: IndexFile = {
      v: FORMAT_VERSION,
      supersedes: supersedes.map(fromHex),
      packs: packs.map((p) => ({ id: p.id, size: p.size, scheme: p.scheme, keyId: p.keyId, blobs: p.blobs })),
    }
    const name = await this.saveFile('index', 'index', file)
    // The in-memory index now includes this file: a later prune that deletes it must be noticed.
    if (this.indexLoaded) this.indexFileNames.push(name)
    return name
  }

  // ---- blobs --------------------------------------------------------------------------------------

  /**
   * Opens one sealed blob read from a pack: authenticates, decompresses, checks its id. With
   * `scratch`, nothing is allocated for the plaintext where it fits there: an uncompressed blob is
   * decrypted into it (it needs the sealed length less BLOB_OVERHEAD), a compressed one is decrypted
   * into a buffer of this repository and decompressed into it (it needs `rawLength`); the result is
   * then a view of `scratch`. `verifyId` false skips the id check (see RestoreOptions.verifyIds).
   */
  openBlob(type: BlobType, id: Uint8Array, sealed: Uint8Array, rawLength: number, codec: number, packId: Uint8Array, scratch?: Uint8Array, verifyId = true): Uint8Array {
    try {
      return openSealedBlob(this.keys, id, sealed, rawLength, codec, this.compressedScratch, scratch, verifyId)
    } catch (e) {
      throw new CorruptObjectError(type === BlobType.Tree ? 'tree blob' : 'data blob', `${toHex(id)} in pack ${toHex(packId)}`, (e as Error).message, { cause: e })
    }
  }

  /** Loads one blob's plaintext. `fallback`: where it is when no index names it (prune's adopted packs). */
  async loadBlob(type: BlobType, id: Uint8Array, fallback?: BlobLocation): Promise<Uint8Array> {
    const idx = await this.index()
    const loc = idx.get(type, id) ?? fallback
    if (!loc) throw this.missingBlob(type === BlobType.Tree ? 'tree blob' : 'data blob', toHex(id))
    const name = toHex(loc.packId)
    if (type === BlobType.Tree) {
      const pack = await this.treePack(name)
      const fromCache = this.treePacksFromCache.has(name)
      try {
        if (loc.offset + loc.length > pack.length) throw new CorruptObjectError('pack', name, 'shorter than its index says')
        return this.openBlob(type, id, pack.subarray(loc.offset, loc.offset + loc.length), loc.rawLength, loc.codec, loc.packId)
      } catch (e) {
        if (!fromCache || !(e instanceof CorruptObjectError)) throw e
        // A damaged cache entry, not damaged storage: drop it and read the pack from storage.
        this.cache?.remove('data', name)
        this.treePacks.delete(name)
        this.treePacksFromCache.delete(name)
        return this.loadBlob(type, id, fallback)
      }
    }
    const sealed = await this.loadRange(name, loc.offset, loc.length)
    return this.openBlob(type, id, sealed, loc.rawLength, loc.codec, loc.packId)
  }

  /** The error for a blob the index does not have: names a damaged index file when there is one. */
  missingBlob(what: string, id: string): Error {
    const damaged = this.indexProblems[0]
    if (damaged) return new CorruptObjectError('index', damaged.name, `unreadable (${damaged.error.message}), and ${what} ${id} is in no other index`, { cause: damaged.error })
    return new ObjectNotFoundError(what, id)
  }

  /**
   * Reads part of a pack; a pack shorter than its index says is corrupt, not a storage failure.
   * With `into` (large enough) and a backend that can, the bytes land there and a view of it is
   * returned: no new buffer per read.
   */
  async loadRange(pack: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    try {
      if (into && into.length >= length && this.backend.loadInto) {
        await this.backend.loadInto({ type: 'data', name: pack }, { offset, length }, into)
        return into.subarray(0, length)
      }
      return await this.backend.load({ type: 'data', name: pack }, { offset, length })
    } catch (e) {
      if (e instanceof BackendError && /beyond the end/.test(e.message)) throw new CorruptObjectError('pack', pack, 'shorter than its index says', { cause: e })
      throw e
    }
  }

  private async treePack(name: string): Promise<Uint8Array> {
    const hit = this.treePacks.get(name)
    if (hit) return hit
    let loading = this.treePackLoads.get(name)
    if (!loading) {
      loading = this.loadTreePack(name).finally(() => this.treePackLoads.delete(name))
      this.treePackLoads.set(name, loading)
    }
    const pack = await loading
    this.treePacks.set(name, pack)
    return pack
  }

  /** A whole tree pack, from the local cache when it has it; one read from storage is cached when its bytes match its name. */
  private async loadTreePack(name: string): Promise<Uint8Array> {
    const cache = this.cached()
    const hit = cache?.get('data', name)
    if (hit) {
      this.treePacksFromCache.add(name)
      return hit
    }
    const pack = await this.backend.load({ type: 'data', name })
    this.treePacksFromCache.delete(name)
    // Its blobs are authenticated one by one when opened (see loadBlob); a pack whose trailer is not
    // the named one is not kept.
    if (cache && nameMatches('data', name, pack)) cache.put('data', name, pack)
    return pack
  }

  /**
   * Loads and validates one tree (cached: see treePlains). `again`: the caller will load it again
   * soon (a bounded walk before the real one), so it is kept decoded from this load on.
   */
  async loadTree(id: Uint8Array, fallback?: BlobLocation, { again = false }: { again?: boolean } = {}): Promise<Tree> {
    const key = toHex(id)
    const decoded = this.trees.get(key)
    if (decoded) return decoded
    const kept = this.treePlains.get(key)
    const memo = kept || fallback ? undefined : await this.memoTree(id, key)
    let plain = kept ?? memo ?? (await this.loadBlob(BlobType.Tree, id, fallback))
    let tree: Tree
    try {
      tree = decodeTree(plain)
    } catch (e) {
      throw new CorruptObjectError('tree blob', key, (e as Error).message, { cause: e })
    }
    if (kept || again) {
      this.treePlains.delete(key)
      this.trees.set(key, tree)
    } else {
      // A small output of some decompressors (brotli on Node 20) is a view of a shared pool's 8 KiB:
      // what is kept is a copy of its own (the memo's one buffer is kept whole anyway).
      if (!memo && plain.byteLength !== plain.buffer.byteLength) {
        const own = Buffer.allocUnsafeSlow(plain.byteLength)
        own.set(plain)
        plain = own
      }
      this.treePlains.set(key, plain)
    }
    return tree
  }

  /**
   * A tree's plaintext from the local cache's tree memo: only for a tree the index names (as a load
   * from its pack needs), and only when the bytes hash to the id. A memo that fails either check of
   * its own (unreadable, or a tree that does not match its id) is dropped whole.
   */
  private async memoTree(id: Uint8Array, key: string): Promise<Uint8Array | undefined> {
    const cache = this.cached()
    if (!cache) return undefined
    if (this.treeMemo === undefined) {
      const sealed = cache.readOwn(TREE_MEMO)
      try {
        this.treeMemo = sealed ? TreeMemo.parse(openFile(this.keys.encryption, TREE_MEMO_KIND, sealed)) : null
      } catch {
        this.treeMemo = null
        cache.removeOwn(TREE_MEMO)
      }
    }
    const plain = this.treeMemo?.get(key)
    if (!plain || !(await this.index()).get(BlobType.Tree, id)) return undefined
    if (!blobId(this.keys.blobId, plain).equals(id)) {
      this.treeMemo = null
      cache.removeOwn(TREE_MEMO)
      return undefined
    }
    return plain
  }

  /** A writer of the tree memo for a backup (see tree-memo.ts and finishTreeMemo), or undefined while the cache is off. */
  treeMemoWriter(): TreeMemoWriter | undefined {
    const cache = this.cached()
    return cache && new TreeMemoWriter(cache.createOwn(TREE_MEMO), this.keys.encryption)
  }

  /**
   * Ends a backup's tree memo (the trees it stored were added as it stored them): the trees it took
   * from its parent unchanged (`writer.reused`) are added from what this process loaded, and the memo takes
   * the old one's place. Unless the memo already holds the snapshot with this root (then it is left
   * as it is), or a tree cannot be found (then too).
   */
  finishTreeMemo(writer: TreeMemoWriter, root: Uint8Array): void {
    // An older memo is not read again for nothing when this snapshot's trees are too many for one.
    if (writer.tooLarge) return this.cached()?.removeOwn(TREE_MEMO)
    if (!writer.open) return
    if (this.remembers(root)) return writer.abort()
    for (const id of writer.reused) {
      const key = toHex(id)
      if (writer.has(key)) continue
      const plain = this.treePlains.peek(key) ?? this.treeMemo?.get(key) ?? this.encodedAgain(id, key)
      if (!plain) return writer.abort()
      writer.add(key, id, plain)
    }
    if (writer.tooLarge) return this.cached()?.removeOwn(TREE_MEMO)
    if (writer.commit()) this.rememberedRoot = toHex(root)
  }

  /**
   * Whether the tree memo holds the snapshot with this root tree: this process wrote it last, or,
   * when it wrote none, the memo it read holds that tree (a memo holds every tree of the snapshot it
   * was written for).
   */
  private remembers(root: Uint8Array): boolean {
    const key = toHex(root)
    return this.rememberedRoot !== undefined ? this.rememberedRoot === key : this.treeMemo?.get(key) !== undefined
  }

  /** A tree this process kept decoded, encoded again (deterministic), when that gives its id. */
  private encodedAgain(id: Uint8Array, key: string): Uint8Array | undefined {
    const tree = this.trees.peek(key)
    if (!tree) return undefined
    const plain = encodeObject({ v: tree.v, nodes: tree.nodes } satisfies Tree)
    return blobId(this.keys.blobId, plain).equals(id) ? plain : undefined
  }

  /** Reads a pack's header (the last bytes of the pack). */
  async loadPackHeader(packId: string, packSize?: number): Promise<PackHeader> {
    const h: Handle = { type: 'data', name: packId }
    const size = packSize ?? (await this.backend.stat(h)).size
    if (size < 4) throw new CorruptObjectError('pack', packId, 'too short')
    const tailLen = Math.min(size, 64 * 1024)
    const tail = Buffer.from(await this.backend.load(h, { offset: size - tailLen, length: tailLen }))
    const hlen = tail.readUInt32LE(tail.length - 4)
    if (hlen + 4 > size) throw new CorruptObjectError('pack', packId, 'header length out of range')
    const sealed = hlen + 4 <= tailLen ? tail.subarray(tail.length - 4 - hlen, tail.length - 4) : await this.backend.load(h, { offset: size - 4 - hlen, length: hlen })
    try {
      return decodeObject(packHeaderSchema, openFile(this.keys.encryption, 'pack-header', sealed))
    } catch (e) {
      if (e instanceof UnknownKeyScheme) throw new UnsupportedFormatError(`pack ${packId}`, `key scheme ${e.scheme}`)
      throw new CorruptObjectError('pack header', packId, (e as Error).message, { cause: e })
    }
  }

  // ---- snapshots ----------------------------------------------------------------------------------

  /**
   * Every snapshot, oldest first, optionally filtered. A snapshot file that cannot be read (damaged,
   * of an unknown format) is left out and named in `snapshotProblems`: one bad file must not hide
   * the others. A snapshot dated after the storage's time of its file (`futureDated`) takes its
   * place by that storage time, and is named in `futureSnapshots`.
   */
  async snapshots(filter: SnapshotFilter = {}): Promise<Snapshot[]> {
    const listed = new Map<string, { size: number; modified?: Date }>()
    for await (const f of this.backend.list('snapshots')) listed.set(f.name, f)
    for (const k of this.snapshotCache.keys()) if (!listed.has(k)) this.snapshotCache.delete(k)
    const bundle = this.snapshotBundle()
    if (bundle) {
      // Snapshots storage no longer lists (forgotten) leave the cache.
      for (const n of bundle.entries.keys()) {
        if (listed.has(n)) continue
        bundle.entries.delete(n)
        bundle.dirty = true
      }
    }
    const missing = [...listed.keys()].filter((n) => !this.snapshotCache.has(n))
    const problems: Array<{ id: string; error: Error }> = []
    await mapLimit(missing, 8, async (name) => {
      try {
        const size = listed.get(name)?.size ?? 0
        if (size > MAX_SNAPSHOT_FILE_BYTES) throw new CorruptObjectError('snapshot', name, `${size} bytes, more than a snapshot file can be (${MAX_SNAPSHOT_FILE_BYTES})`)
        this.snapshotCache.set(name, await this.loadSnapshot(name))
      } catch (e) {
        if (e instanceof ObjectNotFoundError) return // removed since it was listed
        if (!(e instanceof CorruptObjectError || e instanceof UnsupportedFormatError)) throw e
        problems.push({ id: name, error: e })
      }
    })
    this.snapshotProblems = problems.sort((a, b) => (a.id < b.id ? -1 : 1))
    const future: Snapshot[] = []
    for (const s of this.snapshotCache.values()) {
      const storedAt = listed.get(s.id)?.modified
      s.storedAt = storedAt
      s.futureDated = storedAt !== undefined && s.time.getTime() > storedAt.getTime() + FUTURE_SNAPSHOT_TOLERANCE_MS
      if (s.futureDated) future.push(s)
      s.suspicious = isSuspicious(s)
    }
    this.futureSnapshots = future.sort((a, b) => (a.id < b.id ? -1 : 1))
    this.suspiciousSnapshots = [...this.snapshotCache.values()].filter((s) => s.suspicious).sort((a, b) => (a.id < b.id ? -1 : 1))
    this.saveSnapshotBundle()
    const wantPaths = filter.paths ? JSON.stringify([...filter.paths].sort()) : undefined
    return [...this.snapshotCache.values()]
      .filter((s) => (filter.host === undefined || s.host === filter.host) && (!filter.tags || filter.tags.every((t) => s.tags.includes(t))) && (wantPaths === undefined || JSON.stringify([...s.paths].sort()) === wantPaths))
      .sort((a, b) => snapshotOrderTime(a).getTime() - snapshotOrderTime(b).getTime() || a.id.localeCompare(b.id))
  }

  async loadSnapshot(name: string): Promise<Snapshot> {
    const plain = await this.loadFile('snapshots', name, 'snapshot')
    let s: SnapshotFile
    try {
      s = decodeObject(snapshotSchema, plain)
      if (Number.isNaN(Date.parse(s.time))) throw new Error('time is not a date')
    } catch (e) {
      throw new CorruptObjectError('snapshot', name, (e as Error).message, { cause: e })
    }
    return {
      id: name,
      shortId: name.slice(0, 8),
      time: new Date(s.time),
      host: s.host,
      user: s.user,
      paths: s.paths,
      tags: s.tags,
      tree: toHex(s.tree),
      parents: s.parents.map(toHex),
      excludes: s.excludes,
      program: s.program,
      summary: s.summary,
      ...(s.timeGiven ? { timeGiven: true } : {}),
    }
  }

  /** Stores a snapshot; returns its id. */
  async saveSnapshot(s: Omit<SnapshotFile, 'v' | 'program'>): Promise<string> {
    return this.saveFile('snapshots', 'snapshot', { v: FORMAT_VERSION, program: PROGRAM, ...s } satisfies SnapshotFile)
  }

  /**
   * Finds one snapshot by `latest`, an id or unique id prefix, or an ISO time (the newest snapshot
   * at or before it). The filter narrows `latest` and times.
   */
  async findSnapshot(ref: string, filter: SnapshotFilter = {}): Promise<Snapshot> {
    if (isHexId(ref) && Object.keys(filter).length === 0) {
      // A full id names one file: no listing (a sync that knows its parent makes no request for it).
      const cached = this.snapshotCache.get(ref)
      if (cached) return cached
      try {
        const s = await this.loadSnapshot(ref)
        this.snapshotCache.set(ref, s)
        this.saveSnapshotBundle()
        return s
      } catch (e) {
        if (e instanceof ObjectNotFoundError) throw new SnapshotNotFoundError(ref)
        throw e
      }
    }
    const all = await this.snapshots(filter)
    if (ref === 'latest') {
      const s = all.at(-1)
      if (!s) throw new SnapshotNotFoundError(ref)
      return s
    }
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const hits = all.filter((s) => s.id.startsWith(ref))
      if (hits.length === 1) return hits[0]
      if (hits.length > 1) throw new AmbiguousSnapshotError(ref, hits.length)
      if (isHexId(ref) || !looksLikeTime(ref)) throw new SnapshotNotFoundError(ref)
    }
    if (looksLikeTime(ref)) {
      const t = Date.parse(ref)
      const before = all.filter((s) => snapshotOrderTime(s).getTime() <= t)
      const s = before.at(-1)
      if (!s) throw new SnapshotNotFoundError(ref)
      return s
    }
    throw new SnapshotNotFoundError(ref)
  }

  // ---- operations -------------------------------------------------------------------------------

  /** Backs up files and folders into a new snapshot. */
  backup(paths: string[], opts?: BackupOptions): Promise<BackupSummary> {
    return backup(this, paths, opts)
  }

  /** Restores a snapshot (`latest`, an id prefix, or an ISO time) into a target folder. */
  restore(snapshot: string, target: string, opts?: RestoreOptions): Promise<RestoreSummary> {
    return restore(this, snapshot, target, opts)
  }

  /** Lists the entries of a snapshot, optionally only below a path inside it. */
  async *ls(snapshot: string, opts: { path?: string; signal?: AbortSignal } = {}): AsyncGenerator<Entry> {
    const snap = await this.findSnapshot(snapshot)
    const under = opts.path?.replace(/^\/+|\/+$/g, '')
    for await (const { path, node } of walkTree(this, fromHex(snap.tree), '', opts.signal)) {
      if (under && path !== under && !path.startsWith(`${under}/`)) continue
      yield toEntry(path, node)
    }
  }

  /** Removes unused data (mark and sweep) under the exclusive lock; `dryRun` only plans. */
  async prune(opts?: PruneOptions): Promise<PruneSummary> {
    // A prune that could not sign its journal would fail after writing its new packs and index.
    if (!opts?.dryRun) await this.readyToRemove('prune')
    return prune(this, opts)
  }

  /** The locks held on the repository (stale ones marked). */
  locks(): Promise<LockInfo[]> {
    return listLocks(this)
  }

  /** Removes stale locks, or every lock with `all`; returns the removed ones. */
  unlock(opts: { all?: boolean } = {}): Promise<LockInfo[]> {
    return removeLocks(this, opts)
  }

  /** Verifies the repository (structure, and with `readData` the packs' bytes); never modifies it. */
  async check(opts?: CheckOptions): Promise<CheckReport> {
    const report = await check(this, opts)
    if (keepsRetention(this) && this.snapshotProblems.length === 0) {
      // The retention invariant: every object a snapshot needs is locked until its storage time + R.
      report.retention = await keepRetention(this, await this.snapshots(), { extend: opts?.extendRetention ?? true, verify: true })
      for (const key of report.retention?.lapsing ?? []) {
        report.problems.push({ kind: 'retention-short', object: key, message: `${key} is locked for less than a snapshot that needs it requires${report.retention!.denied ? ` and could not be extended (${report.retention!.denied})` : ''}: run check with the owner's credential` })
      }
      if (report.retention && report.retention.lapsing.length > 0) report.ok = false
    }
    return report
  }

  /**
   * On versioned storage: the delete markers no record of the removal journal names and the
   * overwritten files, the signs of a compromised writer (`check --versions`). Never modifies
   * anything; NO_VERSIONS where the storage keeps no versions.
   */
  checkVersions(): Promise<VersionsReport> {
    return checkVersions(this)
  }

  /**
   * Proves the storage's protections with this repository's credential on a canary object: an
   * overwrite is refused, lock headers come back on a HEAD, a delete and a version delete are
   * refused. Reports what it observed per check, never a protection it did not see work. It writes
   * one small object (and may leave a delete marker where deletes are allowed).
   */
  doctor(): Promise<DoctorReport> {
    return doctor(this)
  }

  /** Applies a retention policy per group of snapshots and removes the snapshots it does not keep. */
  forget(policy: RetentionPolicy, opts?: ForgetOptions): Promise<ForgetSummary> {
    return forget(this, policy, opts)
  }

  /** Removes the named snapshots (ids or unique prefixes). */
  forgetSnapshots(ids: string[], opts?: ForgetSnapshotsOptions): Promise<ForgetSnapshotsSummary> {
    return forgetSnapshots(this, ids, opts)
  }

  /** Sizes, deduplication and compression ratios. */
  stats(signal?: AbortSignal): Promise<RepositoryStats> {
    return repositoryStats(this, signal)
  }

  /** Paths added, removed and modified between two snapshots. */
  diff(from: string, to: string): Promise<SnapshotDiff> {
    return diffSnapshots(this, from, to)
  }

  /** Which snapshots hold paths matching a glob (`*.md`, or `memory/notes/**` with slashes). */
  find(pattern: string, opts?: { signal?: AbortSignal }): Promise<FindMatch[]> {
    return findInSnapshots(this, pattern, opts)
  }

  /**
   * One file of a snapshot (its content), or a folder (`""` for the whole snapshot) as a POSIX tar
   * archive, restic's `dump`. `path` as `ls` prints it, or relative to the backed-up folder.
   */
  dump(snapshot: string, path: string, opts?: DumpOptions): Promise<Dump> {
    return dump(this, snapshot, path, opts)
  }

  /** Adds, removes or sets the tags of snapshots (full ids or prefixes, `latest`); each changed one gets a new id. */
  tag(snapshots: string[], opts: TagOptions): Promise<TagSummary> {
    return tagSnapshots(this, snapshots, opts)
  }

  /** Decrypts and decodes one stored object for inspection (byte fields as hex). */
  cat(kind: CatKind, id?: string): Promise<unknown> {
    return catObject(this, kind, id)
  }

  /** Host name recorded in new snapshots. */
  static defaultHost(): string {
    return hostname()
  }

  /** Key files of the repository (metadata only); `current` marks the one this repository was opened with. */
  async keyFiles(): Promise<Array<{ id: string; current: boolean } & KeyFileInfo>> {
    const out: Array<{ id: string; current: boolean } & KeyFileInfo> = []
    for await (const f of this.backend.list('keys')) {
      try {
        out.push({ id: f.name, current: f.name === this.keyId, ...this.keyFileInfo(await this.backend.load({ type: 'keys', name: f.name })) })
      } catch {
        // A key file that does not parse cannot open the repository; check reports it.
      }
    }
    return out
  }

  /** Adds a key file for another password or raw key; data is not re-encrypted. Returns its id. */
  async addKey(secret: { password?: string; key?: Uint8Array }, argon2: Argon2Params = DEFAULT_ARGON2): Promise<string> {
    const s = secretOf(secret)
    if ('password' in s) checkKdfBound(argon2, this.limits)
    const file = await createKeyFile(this.master, s, argon2)
    const id = toHex(storageId(file))
    await this.backend.save({ type: 'keys', name: id }, file, { ifAbsent: true })
    return id
  }

  /** Removes a key file (by id or unique prefix). The key this repository was opened with cannot be removed. */
  async removeKey(ref: string): Promise<string> {
    const ids = (await this.keyFiles()).map((k) => k.id).filter((id) => id.startsWith(ref))
    if (ids.length === 0) throw new ObjectNotFoundError('key', ref)
    if (ids.length > 1) throw new InvalidOptionsError(`"${ref}" matches ${ids.length} keys; give more characters`)
    if (ids[0] === this.keyId) throw new InvalidOptionsError('refusing to remove the key this repository was opened with; open it with another key first, or use changePassword')
    await this.readyToRemove('remove a key')
    await this.backend.remove({ type: 'keys', name: ids[0] })
    return ids[0]
  }

  /** Replaces the current key by one for a new password (or raw key). Returns the new key's id. */
  async changePassword(secret: { password?: string; key?: Uint8Array }, argon2: Argon2Params = DEFAULT_ARGON2): Promise<string> {
    // The old key's removal is checked first: nothing is added when it could not be made.
    await this.readyToRemove('change the password')
    const id = await this.addKey(secret, argon2)
    const old = this.keyId
    ;(this as { keyId: string }).keyId = id
    await this.backend.remove({ type: 'keys', name: old })
    return id
  }

  /** Releases the backend. */
  /** What a stored key file says about itself (its sealed host, user and time opened with this repository's key). */
  keyFileInfo(bytes: Uint8Array): KeyFileInfo {
    return keyFileInfo(parseKeyFile(bytes), this.master)
  }

  async close(): Promise<void> {
    await this.backend.close?.()
  }
}

/** Reads and validates one key file: the key file, or why it cannot be used. */
async function readKeyFile(backend: Backend, name: string, listedSize: number): Promise<KeyFile | string> {
  if (listedSize > MAX_KEY_FILE_BYTES) return `${listedSize} bytes, more than a key file can be (${MAX_KEY_FILE_BYTES})`
  const bytes = await backend.load({ type: 'keys', name })
  if (bytes.length > MAX_KEY_FILE_BYTES) return `${bytes.length} bytes, more than a key file can be (${MAX_KEY_FILE_BYTES})`
  if (toHex(storageId(bytes)) !== name) return 'its SHA-256 does not match its name'
  try {
    return parseKeyFile(bytes)
  } catch (e) {
    return (e as Error).message
  }
}

/** What a key file over the KDF bound asks for, and how to raise the bound. */
function kdfBoundText(name: string, kf: KeyFile, over: 'memory' | 'passes', limits: RepositoryLimits): string {
  if (kf.kdf.alg !== 'argon2id13') return `key file ${name}`
  return over === 'memory'
    ? `key file ${name} asks for ${formatMemory(kf.kdf.memLimitBytes)} of Argon2id memory, more than the bound of ${formatMemory(limits.maxKdfMemory)} (if it is yours, raise the bound with ${limitEnv('maxKdfMemory')} or the maxKdfMemory limit of Repository.open)`
    : `key file ${name} asks for ${kf.kdf.opsLimit} Argon2id passes, more than the bound of ${limits.maxKdfPasses} (if it is yours, raise the bound with ${limitEnv('maxKdfPasses')} or the maxKdfPasses limit of Repository.open)`
}

/** A new key file must open under the bounds in effect, or its owner would be locked out by default. */
/** An index file's plaintext through the general decoder (see index-decode.ts for the fast path). */
function decodeIndexFile(name: string, plain: Uint8Array): IndexFile {
  try {
    return decodeObject(indexFileSchema, plain)
  } catch (e) {
    throw new CorruptObjectError('index', name, (e as Error).message, { cause: e })
  }
}

function checkKdfBound(argon2: Argon2Params, limits: RepositoryLimits): void {
  if (argon2.memLimitBytes > limits.maxKdfMemory) {
    throw new InvalidOptionsError(`Argon2id memory ${formatMemory(argon2.memLimitBytes)} is more than the bound of ${formatMemory(limits.maxKdfMemory)} that opening a repository accepts; raise it with ${limitEnv('maxKdfMemory')} (on every machine that opens the repository) or choose less`)
  }
  if (argon2.opsLimit > limits.maxKdfPasses) {
    throw new InvalidOptionsError(`${argon2.opsLimit} Argon2id passes are more than the bound of ${limits.maxKdfPasses} that opening a repository accepts; raise it with ${limitEnv('maxKdfPasses')} (on every machine that opens the repository) or choose fewer`)
  }
}

function looksLikeTime(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}/.test(s) && !Number.isNaN(Date.parse(s))
}

async function exists(backend: Backend, h: Handle): Promise<boolean> {
  try {
    await backend.stat(h)
    return true
  } catch (e) {
    if (e instanceof ObjectNotFoundError) return false
    throw e
  }
}

/** Runs fn over items with at most `limit` at once, keeping order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** The storage's versioning and Object Lock, read back; refuses storage that cannot keep old versions. */
async function readProtection(storage: Backend): Promise<RepoProtection> {
  const v = versionedOf(storage)
  if (!v) throw new NotProtectableError(storage.location, 'this storage keeps no old versions (only an S3 bucket with versioning can)')
  const p = await v.bucketProtection()
  if (p.versioning !== 'enabled') throw new NotProtectableError(storage.location, `bucket versioning is ${p.versioning}`)
  return { versioning: 'enabled', objectLock: p.objectLock, ...(p.defaultRetention ? { retention: { ...p.defaultRetention } } : {}) }
}

/** The request counter over protected writes, carrying on the counts made so far. */
function protectedCounting(storage: Backend, before: CountingBackend, trusted = false): CountingBackend {
  const c = new CountingBackend(trusted ? new TrustedRemovals(storage) : new ProtectedWrites(storage))
  Object.assign(c.counts, before.counts)
  return c
}
