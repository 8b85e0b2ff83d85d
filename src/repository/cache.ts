import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { packNameMatches, storageId, toHex } from '../crypto/ids.js'

/**
 * The local cache of one repository: copies of the stored files every open reads (snapshot and
 * index files) and of the packs that hold trees, so a fresh process does not download them again.
 *
 * - Entry: a stored file's bytes exactly as stored (encrypted: the cache never holds plaintext; the
 *   files of its own, the tree and index memos, are sealed under the repository's key too),
 *   named by the file's id, in `<cache dir>/<repository id>/<index|data>/<id>`; snapshot files, small
 *   and many (one per sync), all in one bundle file, `snapshots.bundle`, read at once. The id is
 *   the SHA-256 of those bytes (of a pack's trailer), so an entry is checked on every read; one that
 *   does not match is removed and the file fetched again. A pack's blobs are authenticated when
 *   opened: one that fails to open from a cached pack drops it too, and the pack is fetched again.
 * - Eviction: entries whose file storage no longer lists (forgotten snapshots, index files a prune
 *   replaced, packs no index names) are removed when the repository lists that kind of file.
 * - Sharing: processes may share a cache. Entries are written to a temporary name and renamed, so a
 *   reader sees a whole entry or none; content-addressed entries never change, so two writers of one
 *   entry write the same bytes. The memos are the last writer's (each names what it holds: the
 *   index files its index is of, the ids of its trees); temporary files a crashed writer left are
 *   removed when a process opens the cache an hour later.
 * - Failure: a cache that cannot be created, read or written is turned off with one warning; it
 *   never fails an operation. Files are 0600 in folders of 0700.
 *
 * The layout is restic's (its `internal/cache`), and so is the tag file that tells backup tools to
 * skip the folder.
 */

/** Kinds of file cached one entry per file (snapshot files go in the bundle). */
export type CachedType = 'index' | 'data'
const TYPES: readonly CachedType[] = ['index', 'data']

/** Temporary entries older than this are left behind by a crashed writer and removed on eviction. */
const STALE_TEMP_MS = 60 * 60 * 1000

const TAG = 'CACHEDIR.TAG'
/** Every cached snapshot file in one: `(id: 32 bytes, length: u32 LE, stored bytes)` repeated. */
export const SNAPSHOT_BUNDLE = 'snapshots.bundle'
/**
 * The tree memo (see repository/tree-memo.ts): the trees of the last snapshot written from this
 * machine, sealed as one file under the repository's key, as every file here is encrypted.
 */
export const TREE_MEMO = 'trees.memo'
/** The index memo (see Repository.loadIndex): the index of a set of index files, sealed as one file. */
export const INDEX_MEMO = 'index.memo'
type OwnFile = typeof TREE_MEMO | typeof INDEX_MEMO
const TAG_TEXT = 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by session-sync-cloud.\n# For information about cache directory tags see https://bford.info/cachedir/\n'

/**
 * The folder that holds the caches of every repository (one subfolder per repository id), or
 * undefined when caching is off: `option` false, or SESSION_SYNC_NO_CACHE set (to anything but
 * `0`), turns it off; a string is the folder; otherwise SESSION_SYNC_CACHE_DIR, else
 * `$XDG_CACHE_HOME/session-sync-cloud`, else `~/.cache/session-sync-cloud`.
 */
export function cacheBase(option: string | false | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const off = env.SESSION_SYNC_NO_CACHE
  if (off !== undefined && off !== '' && off !== '0') return undefined
  if (option === false) return undefined
  if (typeof option === 'string') return option
  if (env.SESSION_SYNC_CACHE_DIR) return env.SESSION_SYNC_CACHE_DIR
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and to be ignored.
  const xdg = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache')
  return join(xdg, 'session-sync-cloud')
}

export class RepositoryCache {
  private off = false

  private constructor(
    /** This repository's folder inside the cache. */
    readonly dir: string,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Opens (creating it when needed) the cache of repository `repoId` under `base`; undefined, after
   * one warning, when it cannot be used.
   */
  static open(base: string, repoId: string, warn: (message: string) => void): RepositoryCache | undefined {
    const dir = join(base, repoId)
    try {
      mkdirSync(base, { recursive: true, mode: 0o700 })
      if (!exists(join(base, TAG))) writeAtomic(join(base, TAG), TAG_TEXT)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      // The entries are encrypted, but their names and sizes are nobody else's business.
      if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700)
      for (const t of TYPES) mkdirSync(join(dir, t), { recursive: true, mode: 0o700 })
      // A folder that exists but cannot be written to is found now, not on the first entry.
      const probe = join(dir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`)
      closeSync(openSync(probe, 'wx', 0o600))
      unlinkSync(probe)
    } catch (e) {
      warn(cacheWarning(dir, e))
      return undefined
    }
    sweepStale(dir)
    return new RepositoryCache(dir, warn)
  }

  /** Whether the cache is in use (it turns itself off after a failure). */
  get enabled(): boolean {
    return !this.off
  }

  /** The cached bytes of a stored file, or undefined. An entry that does not match its name is removed. */
  get(type: CachedType, name: string): Buffer | undefined {
    if (this.off) return undefined
    const path = this.path(type, name)
    let bytes: Buffer
    try {
      bytes = readFileSync(path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e)
      return undefined
    }
    if (!nameMatches(type, name, bytes)) {
      this.remove(type, name)
      return undefined
    }
    return bytes
  }

  /** Keeps a stored file's bytes (the caller has checked that they are the named file's). */
  put(type: CachedType, name: string, bytes: Uint8Array): void {
    if (this.off) return
    try {
      writeAtomic(this.path(type, name), bytes)
    } catch (e) {
      this.fail(e)
    }
  }

  remove(type: CachedType, name: string): void {
    if (this.off) return
    try {
      unlinkSync(this.path(type, name))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e)
    }
  }

  /**
   * The snapshot files kept in the bundle: one file holding every cached snapshot file, so a fresh
   * process reads one file instead of thousands (each entry is checked against its name; one that
   * does not match is left out, and `damaged` says so: the caller writes the bundle again).
   */
  readSnapshotBundle(): { entries: Map<string, Buffer>; damaged: boolean } {
    const entries = new Map<string, Buffer>()
    if (this.off) return { entries, damaged: false }
    let bytes: Buffer
    try {
      bytes = readFileSync(join(this.dir, SNAPSHOT_BUNDLE))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e)
      return { entries, damaged: false }
    }
    const { entries: read, damaged } = parseBundle(bytes)
    return { entries: read, damaged }
  }

  /** Replaces the bundle with these snapshot files (names and their stored bytes). */
  writeSnapshotBundle(entries: Map<string, Uint8Array>): void {
    if (this.off) return
    try {
      writeAtomic(join(this.dir, SNAPSHOT_BUNDLE), encodeBundle(entries))
    } catch (e) {
      this.fail(e)
    }
  }

  /** A file of this cache's own (not a stored file: see TREE_MEMO, INDEX_MEMO), or undefined when there is none. */
  readOwn(name: OwnFile): Buffer | undefined {
    if (this.off) return undefined
    try {
      return readFileSync(join(this.dir, name))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e)
      return undefined
    }
  }

  /**
   * Replaces a file of this cache's own: `fill` writes it part by part under a temporary name, which
   * is then renamed (a reader sees the old file or the whole new one).
   */
  writeOwn(name: OwnFile, fill: (write: (bytes: Uint8Array) => void) => void): void {
    const file = this.createOwn(name)
    if (!file) return
    try {
      fill((b) => file.write(b))
    } catch (e) {
      file.abort()
      throw e
    }
    file.commit()
  }

  /**
   * A file of this cache's own written over time (see writeOwn): `write` as the bytes come (they are
   * gathered into writes of 64 KiB), `commit` to put it in place, `abort` to drop it. A failure
   * turns the cache off, as any does, and makes the rest no-ops. Undefined while the cache is off.
   */
  createOwn(name: OwnFile): OwnFileWriter | undefined {
    if (this.off) return undefined
    const tmp = join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    let fd: number | undefined
    try {
      fd = openSync(tmp, 'wx', 0o600)
    } catch (e) {
      this.fail(e)
      return undefined
    }
    return new OwnFileWriter(fd, tmp, join(this.dir, name), (e) => this.fail(e))
  }

  removeOwn(name: OwnFile): void {
    if (this.off) return
    try {
      unlinkSync(join(this.dir, name))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e)
    }
  }

  /** Names of the cached files of one kind. */
  names(type: CachedType): string[] {
    if (this.off) return []
    try {
      return readdirSync(join(this.dir, type)).filter((n) => !n.startsWith('.'))
    } catch (e) {
      this.fail(e)
      return []
    }
  }

  /**
   * Removes the entries of one kind that `keep` rejects (files storage no longer lists), and
   * temporary files a crashed writer left. Returns how many entries it removed.
   */
  evict(type: CachedType, keep: (name: string) => boolean): number {
    if (this.off) return 0
    let removed = 0
    try {
      const folder = join(this.dir, type)
      for (const n of readdirSync(folder)) {
        if (n.startsWith('.')) {
          try {
            if (Date.now() - lstatSync(join(folder, n)).mtimeMs > STALE_TEMP_MS) rmSync(join(folder, n), { force: true })
          } catch {
            // another process renamed or removed it
          }
          continue
        }
        if (keep(n)) continue
        rmSync(join(folder, n), { force: true })
        removed++
      }
    } catch (e) {
      this.fail(e)
    }
    return removed
  }

  private path(type: CachedType, name: string): string {
    // Names come from listings and indexes of untrusted storage: only plain ids become paths.
    if (!/^[0-9a-f]{64}$/.test(name)) throw new Error(`not a file id: ${name}`)
    return join(this.dir, type, name)
  }

  private fail(e: unknown): void {
    if (this.off) return
    this.off = true
    this.warn(cacheWarning(this.dir, e))
  }
}

/** See RepositoryCache.createOwn. */
export class OwnFileWriter {
  private buf: Buffer | undefined = Buffer.allocUnsafe(64 * 1024)
  private used = 0

  constructor(
    private fd: number | undefined,
    private readonly tmp: string,
    private readonly path: string,
    private readonly fail: (e: unknown) => void,
  ) {}

  write(bytes: Uint8Array): void {
    if (this.fd === undefined || !this.buf) return
    try {
      if (this.used + bytes.length > this.buf.length) this.flush()
      if (bytes.length >= this.buf.length) writeAll(this.fd, bytes)
      else {
        this.buf.set(bytes, this.used)
        this.used += bytes.length
      }
    } catch (e) {
      this.drop(e)
    }
  }

  /** Puts the file in place; false when it could not be (or was dropped before). */
  commit(): boolean {
    const fd = this.fd
    if (fd === undefined) return false
    try {
      this.flush()
    } catch (e) {
      this.drop(e)
      return false
    }
    this.fd = undefined // before closing: a close that throws is not tried twice
    this.buf = undefined
    try {
      closeSync(fd)
      renameSync(this.tmp, this.path)
      return true
    } catch (e) {
      rmSync(this.tmp, { force: true })
      this.fail(e)
      return false
    }
  }

  abort(): void {
    this.drop()
  }

  private flush(): void {
    if (this.used > 0) writeAll(this.fd!, this.buf!.subarray(0, this.used))
    this.used = 0
  }

  /** Whether it is still being written: not committed, dropped or failed. */
  get ok(): boolean {
    return this.fd !== undefined
  }

  private drop(e?: unknown): void {
    this.buf = undefined
    const fd = this.fd
    this.fd = undefined // before closing: a close that throws is not tried twice
    if (fd !== undefined) {
      try {
        closeSync(fd)
      } catch {
        // closing is all that is left to do with it
      }
    }
    rmSync(this.tmp, { force: true })
    if (e !== undefined) this.fail(e)
  }
}

/** Removes temporary files a crashed writer left in a folder (older than STALE_TEMP_MS). */
function sweepStale(folder: string): void {
  try {
    for (const n of readdirSync(folder)) {
      if (!n.startsWith('.') || !n.endsWith('.tmp')) continue
      try {
        if (Date.now() - lstatSync(join(folder, n)).mtimeMs > STALE_TEMP_MS) rmSync(join(folder, n), { force: true })
      } catch {
        // another process renamed or removed it
      }
    }
  } catch {
    // nothing to sweep where nothing can be listed
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at)
}

/**
 * Whether bytes are the stored file of that name: the SHA-256 of a snapshot or index file; for a
 * pack, that of its trailer (the blobs are authenticated when opened: see Repository.loadBlob).
 */
export function nameMatches(type: CachedType, name: string, bytes: Uint8Array): boolean {
  return type === 'data' ? packNameMatches(name, bytes) !== false : toHex(storageId(bytes)) === name
}

export function encodeBundle(entries: Map<string, Uint8Array>): Buffer {
  const parts: Uint8Array[] = []
  for (const [name, bytes] of entries) {
    const head = Buffer.allocUnsafe(36)
    head.write(name, 0, 32, 'hex')
    head.writeUInt32LE(bytes.length, 32)
    parts.push(head, bytes)
  }
  return Buffer.concat(parts)
}

/** The entries of a bundle whose bytes match their names; `damaged` when any did not (or it is cut short). */
export function parseBundle(bytes: Buffer): { entries: Map<string, Buffer>; damaged: boolean } {
  const entries = new Map<string, Buffer>()
  let damaged = false
  let at = 0
  while (at < bytes.length) {
    if (at + 36 > bytes.length) return { entries, damaged: true }
    const name = bytes.toString('hex', at, at + 32)
    const length = bytes.readUInt32LE(at + 32)
    if (at + 36 + length > bytes.length) return { entries, damaged: true }
    const entry = bytes.subarray(at + 36, at + 36 + length)
    if (toHex(storageId(entry)) === name) entries.set(name, entry)
    else damaged = true
    at += 36 + length
  }
  return { entries, damaged }
}

function cacheWarning(dir: string, e: unknown): string {
  return `the local cache in ${dir} cannot be used (${(e as Error).message}); going on without it, every file is read from storage. Point the cache at a writable folder (--cache-dir, SESSION_SYNC_CACHE_DIR or the cacheDir option), or turn it off (--no-cache, SESSION_SYNC_NO_CACHE=1 or cacheDir: false)`
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/** Writes through a temporary name in the same folder and a rename, so a reader sees all or nothing. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    writeFileSync(tmp, data, { mode: 0o600 })
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}
