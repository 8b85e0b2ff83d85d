import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { hostname, userInfo } from 'node:os'
import { LocalBackend } from '../backend/local.js'
import { countsSince, type RequestCounts } from '../backend/counter.js'
import { writerCodec } from '../compression/index.js'
import { blobId, fromHex, ID_BYTES, toHex } from '../crypto/ids.js'
import { AbortedError, ConcurrentPruneError, InvalidOptionsError, ObjectNotFoundError, SessionSyncError, SourceError, throwIfAborted } from '../errors/index.js'
import { Lock, type LockInfo } from '../repository/lock.js'
import type { BlobIndex } from '../repository/blob-index.js'
import { Packer, type StoredPack } from '../repository/packer.js'
import { BlobType, encodeObject, FORMAT_VERSION, type SnapshotSummary, type Tree, type TreeNode } from '../repository/repofile.js'
import type { Repository, Snapshot } from '../repository/repository.js'
import { BlobSaver, SEAL_INLINE_BYTES } from './blob-saver.js'
import { Excluder } from './excludes.js'
import { Pacer } from '../runtime/pace.js'
import { ChunkPool } from './chunk-pool.js'
import { SealPool } from './seal-pool.js'
import { chunkFile, type ChunkHints } from './file-chunks.js'
import type { TreeMemoWriter } from '../repository/tree-memo.js'
import { indexOrphanPacks } from './resume.js'
import { joinPath, type Prewalk, type PrewalkListing } from './prewalk.js'
import { EntryStat } from './entry-stat.js'
import { consolidateIndexFiles } from '../repository/consolidate.js'
import { keepRetention, keepsRetention, type RetentionReport } from '../repository/retention.js'

/** Progress of a running backup, reported through `BackupOptions.onProgress`. */
export interface BackupProgress {
  filesDone: number
  dirsDone: number
  bytesDone: number
  /** Totals from a quick scan before the backup (known when onProgress is given). */
  totalFiles: number
  totalBytes: number
  bytesAdded: number
  errors: number
  currentPath?: string
}

export interface BackupOptions {
  signal?: AbortSignal
  /** Called at most every `progressIntervalMs` and once at the end. */
  onProgress?: (p: BackupProgress) => void
  progressIntervalMs?: number
  /** Host recorded in the snapshot (default: this machine's host name). */
  host?: string
  tags?: string[]
  /** gitignore-style patterns matched against `<source name>/<path>`; they apply after `includes`. */
  excludes?: string[]
  /**
   * An allowlist: globs relative to each source folder (`MEMORY.md`, `memory/**`, `notes/*.md`);
   * only what one of them matches (or lies below a folder one matches) is backed up. Default: everything.
   */
  includes?: string[]
  /** Files holding more patterns, one per line. */
  excludeFiles?: string[]
  /** Leave out files larger than this many bytes. */
  excludeLargerThan?: number
  /**
   * The snapshot to compare against for change detection: a snapshot reference, or false for none.
   * Default: the latest snapshot of the same host and paths.
   */
  parent?: string | false
  /** When nothing changed since the parent, store nothing and return `skipped: true`. */
  skipIfUnchanged?: boolean
  /** Time recorded in the snapshot (default: now). */
  time?: Date
  /**
   * Whether `time` was chosen by the user (recorded in the snapshot as `timeGiven`); default: whether
   * `time` is given. A caller passing the clock's time (the sync layer) says false.
   */
  timeGiven?: boolean
  /**
   * Record folders' modification and change times (default true). False stores them as zero, so
   * files created, renamed or deleted in a folder outside the backup's scope (a log, a sidecar) do
   * not make an unchanged backup look changed; a restore then leaves those folders' times as it finds them.
   */
  dirTimes?: boolean
  /**
   * Worker threads that read, chunk, hash, compress and seal files; 0 does all of it on the calling
   * thread. Given, they start with the first file to read. Default: one per core, at most 8,
   * started only when the backup has more than 64 MiB to read in files larger than a chunk (a
   * smaller one, or one of many small files, is as fast without them and needs less memory). Such a smaller backup hands compressing and sealing to one
   * worker of its own once it has sealed 8 MiB; 0 keeps that on the calling thread too.
   */
  threads?: number
  /** How long to wait for a prune's exclusive lock to go away (default 0: fail at once with LOCKED). */
  lockWaitMs?: number
  /**
   * Called when the backup starts waiting (lockWaitMs) for an exclusive lock another process holds,
   * and again if another one is in the way after it: a waiting backup is visible, not just slow.
   */
  onLockWait?: (holder: LockInfo) => void
  /** Packs uploaded between two index files written during the backup (default 16). */
  indexEvery?: number
  /**
   * A backup that stored something merges the repository's index files into few when there are
   * more than this many (default 50): each backup adds one, and every process that opens the
   * repository lists them all. The new files are stored before the old ones are deleted. `false`
   * never does, for writers that must not delete anything (prune still merges them).
   */
  consolidateIndexes?: number | false
  /**
   * Called for every file as it is decided: `new` (not in the parent snapshot), `changed` (read
   * again: its size, times or inode differ), `unmodified` (its blobs reused unread). `path` as `ls`
   * prints it.
   */
  onFile?: (file: { path: string; status: 'new' | 'changed' | 'unmodified' }) => void
  /**
   * The paths the snapshot records, one for each path backed up, instead of their absolute paths;
   * the parent is looked for under them too. For content staged under a temporary name, such as a
   * backup of standard input recorded as `/NAME` (restic's --stdin).
   */
  recordedPaths?: string[]
  /**
   * Folder listings and lstats gathered while the repository was opened (see Prewalk): the walk
   * takes them instead of asking the file system again. The backup stops it when its walk starts.
   */
  prewalk?: Prewalk
}

/**
 * A file or directory that could not be backed up as it is (the backup goes on without it), or
 * (`kind: 'changed'`) a file that changed while it was read, twice: see Walker.node for what the
 * snapshot holds then.
 */
export interface BackupIssue {
  path: string
  message: string
  kind?: 'unreadable' | 'changed'
}

export interface BackupSummary extends SnapshotSummary {
  /** The new snapshot's id, or undefined when skipped. */
  snapshotId?: string
  skipped: boolean
  parent?: string
  tree: string
  packsStored: number
  /** Packs an interrupted backup had stored without indexing, found and reused by this one. */
  packsResumed: number
  /** Bytes read from source files (unchanged files are not read). */
  bytesRead: number
  /** Requests made to storage by this backup. */
  requests: RequestCounts
  errors: BackupIssue[]
  /** Index files this backup merged into fewer (see BackupOptions.consolidateIndexes); 0 when none. */
  indexFilesMerged: number
  /**
   * In a protected repository with Object Lock: how the objects the new snapshot needs were kept
   * locked until its storage time + R (see repository/retention.ts). Objects left short (the
   * credential may not extend retention) are in `lapsing`; the owner's `check` extends them.
   */
  retention?: RetentionReport
  /** Problems that did not fail the backup, for a person (retention that could not be extended). */
  warnings?: string[]
}

type Counts = Omit<SnapshotSummary, 'dataBlobsAdded' | 'treeBlobsAdded' | 'bytesAdded' | 'bytesStored' | 'durationMs'>

const READ_SIZE = 4 * 1024 * 1024
/** A backup reads this much on the calling thread before it starts chunk workers. */
const INLINE_BYTES = 64 * 1024 * 1024
/** The most entries the scan before a first backup looks at to decide that (beyond: large). */
const SCAN_ENTRIES = 20_000

/**
 * Backs up paths into a new snapshot: walks them, reuses the content of files whose size, mtime,
 * ctime and inode match the parent snapshot, chunks and stores everything else, then writes trees
 * bottom-up, the index, and last the snapshot.
 */
export async function backup(repo: Repository, paths: string[], opts: BackupOptions = {}): Promise<BackupSummary> {
  try {
    return await backupOnce(repo, paths, opts)
  } catch (e) {
    if (!(e instanceof ConcurrentPruneError)) throw e
    // Nothing was written yet: read the pruned index and start again, once.
    repo.invalidateIndex()
    return await backupOnce(repo, paths, opts)
  } finally {
    opts.prewalk?.stop() // the walk stops it when it starts; a backup that failed before that does here
  }
}

async function backupOnce(repo: Repository, paths: string[], opts: BackupOptions): Promise<BackupSummary> {
  const started = performance.now()
  const requestsBefore = repo.requests()
  if (paths.length === 0) throw new InvalidOptionsError('give at least one path to back up')
  const sources = paths.map((p) => resolve(p))
  const names = new Set<string>()
  for (const s of sources) {
    const n = basename(s)
    if (n === '') throw new InvalidOptionsError(`cannot back up ${s} as a whole; give the folders inside it`)
    if (names.has(n)) throw new InvalidOptionsError(`two paths have the same name "${n}"; back them up in separate snapshots`, { name: n })
    names.add(n)
    try {
      lstatSync(s)
    } catch (e) {
      throw new SourceError(s, e)
    }
  }
  if (opts.recordedPaths && (opts.recordedPaths.length !== sources.length || opts.recordedPaths.some((p) => typeof p !== 'string' || p === ''))) {
    throw new InvalidOptionsError('recordedPaths must name one non-empty path for each path backed up')
  }
  const recorded = opts.recordedPaths ?? sources
  const excluder = new Excluder(opts.excludes, opts.excludeFiles, opts.excludeLargerThan, opts.includes)
  const host = opts.host ?? hostname()
  const skipDirs = ownRepositoryDirs(repo)

  let parent: Snapshot | undefined
  if (opts.parent !== false) {
    if (typeof opts.parent === 'string') parent = await repo.findSnapshot(opts.parent)
    else parent = (await repo.snapshots({ host, paths: recorded })).at(-1)
  }

  const index = await repo.index()
  const indexFilesAtLoad = repo.loadedIndexFiles()
  // The shared lock is taken before the first write, so a backup that finds nothing to store writes
  // nothing at all. A prune that ran before that point would have rewritten index files this backup
  // relied on for dedup: then it starts again.
  let lock: Lock | undefined
  let locking: Promise<void> | undefined
  const beforeWrite = () =>
    (locking ??= (async () => {
      lock = await Lock.acquire(repo, { exclusive: false, waitMs: opts.lockWaitMs ?? 0, onWait: opts.onLockWait, signal: opts.signal })
      const now = new Set<string>()
      for await (const f of repo.backend.list('index')) now.add(f.name)
      if (indexFilesAtLoad.some((n) => !now.has(n))) {
        await lock.release()
        lock = undefined
        throw new ConcurrentPruneError()
      }
    })())
  let summary: BackupSummary
  try {
    summary = await backupLocked(repo, sources, opts, index, beforeWrite, started, requestsBefore, excluder, host, skipDirs, parent)
  } finally {
    await lock?.release()
  }
  summary.requests = countsSince(repo.requests(), requestsBefore)
  return summary
}

async function backupLocked(
  repo: Repository,
  sources: string[],
  opts: BackupOptions,
  index: BlobIndex,
  beforeWrite: () => Promise<void>,
  started: number,
  requestsBefore: RequestCounts,
  excluder: Excluder,
  host: string,
  skipDirs: Set<string>,
  parent: Snapshot | undefined,
): Promise<BackupSummary> {
  // Packs that an interrupted backup stored but never indexed are looked for once this backup has a
  // file to read: a sync in which nothing changed lists no packs (on S3, one LIST per 1,000 packs).
  let resuming: Promise<number> | undefined
  const resume = () => (resuming ??= indexOrphanPacks(repo, index, beforeWrite, opts.signal))
  // A parent tree that no index names may lie in such a pack (its index file lost): look there first.
  const parentTree = async (id: Uint8Array) => {
    try {
      return await repo.loadTree(id)
    } catch (e) {
      if (!(e instanceof ObjectNotFoundError)) throw e
      await resume()
      return repo.loadTree(id)
    }
  }
  const stored: StoredPack[] = []
  const writtenIndexFiles: string[] = []
  let saver: BlobSaver | undefined
  const indexEvery = opts.indexEvery ?? 16
  const packer = new Packer({
    backend: repo.backend,
    encryptionKey: repo.keys.encryption,
    packSize: repo.config.packSize,
    maxInFlight: 3,
    beforeSave: beforeWrite,
    onStored: async (p) => {
      for (const [type, id, offset, length, raw, codec] of p.blobs) {
        index.add(type, id, p.id, offset, length, raw, codec)
        saver?.stored(type, id)
      }
      stored.push(p)
      if (stored.length >= indexEvery) await flushIndex()
    },
  })
  const flushIndex = async () => {
    if (stored.length === 0) return
    await beforeWrite()
    const packs = stored.splice(0)
    writtenIndexFiles.push(await repo.saveIndexFile(packs, [], { indexed: true })) // onStored added their blobs
  }
  saver = new BlobSaver(repo.keys.blobId, repo.keys.encryption, index, packer, writerCodec(repo.config.compression))
  const blobSaver = saver

  const codec = writerCodec(repo.config.compression)
  const threads = opts.threads ?? ChunkPool.defaultSize()
  const pool = threads > 0 ? ChunkPool.forKeys(repo.keys, repo.config.chunker, codec, () => index.idsOfType(BlobType.Data), threads) : undefined
  // Small files and the chunks read on this thread are sealed on a worker of their own while the
  // chunk workers are not running (see SealPool).
  if (threads > 0) saver.offloadTo(new SealPool({ encryptionKey: repo.keys.encryption, codec }, (blobs, run) => blobSaver.packSealed(blobs, run)), () => !pool?.started)
  // A first backup that is large starts its workers at once; a small one, or a re-backup (which
  // reads only what changed), runs on this thread until it has read INLINE_BYTES.
  const prewalk = opts.prewalk
  const scanned = opts.onProgress
    ? await scanSources(sources, skipDirs, excluder, prewalk)
    : pool && !parent && opts.threads === undefined
      ? await scanSources(sources, skipDirs, excluder, prewalk, INLINE_BYTES + 1, SCAN_ENTRIES, repo.config.chunker.min)
      : { files: 0, bytes: 0, largeBytes: 0 }
  // The walk starts: what the prewalk has not gathered by now, the walk asks the file system for.
  prewalk?.stop()
  // Only files of more than one chunk go to chunk workers (see Walker.file), so they start at once
  // only when such files make most of what the scan saw: a tree of small files (a notes repository)
  // keeps the chunk workers stopped and seals on its sealing worker instead.
  const eager = opts.threads !== undefined || (!parent && scanned.bytes > INLINE_BYTES && 2 * scanned.largeBytes > scanned.bytes)
  // The tree memo is written as the trees are stored (see Repository.finishTreeMemo).
  const memo = repo.treeMemoWriter()
  const w = new Walker(repo, index, saver, excluder, skipDirs, opts, { pool, eager, scanned, resume, parentTree, prewalk, memo })
  let rootId: Buffer
  try {
    // A first backup of small files with much to seal seals on the sealing worker from its first
    // blob, and starts it now: otherwise its first SEAL_INLINE_BYTES were compressed on this thread
    // while the worker was not running, and the first batch then waited for the worker to start.
    if (!parent && !eager && scanned.bytes > 2 * SEAL_INLINE_BYTES) saver.sealOffThreadNow()
    // A parent whose trees are gone (forgotten and pruned by another device since its file was read,
    // perhaps from the local cache) only costs change detection: everything is read again.
    const parentRoot = parent
      ? await parentTree(fromHex(parent.tree)).catch((e: unknown) => {
          if (e instanceof ObjectNotFoundError) return undefined
          throw e
        })
      : undefined
    const nodes: TreeNode[] = []
    for (const src of sources) {
      const name = Buffer.from(basename(src))
      const prev = parentRoot?.nodes.find((n) => Buffer.compare(n.name, name) === 0)
      const node = await w.node(Buffer.from(src), name, basename(src), prev, true, prewalk?.takeRoot(src))
      if (node) nodes.push(node)
    }
    nodes.sort((a, b) => Buffer.compare(a.name, b.name))
    rootId = await w.saveTree(nodes)
    await saver.flush()
    await packer.flush()
    await flushIndex()
  } catch (e) {
    memo?.abort()
    // Keep what already arrived: index the stored packs so the next backup reuses them.
    await saver.close()
    await packer.discard()
    await flushIndex().catch(() => {})
    // The cached index may now name blobs no index file names: read it from storage next time, so
    // the next backup adopts what arrived instead of relying on it unindexed.
    repo.invalidateIndex()
    throw e
  } finally {
    await pool?.close()
    await saver.close()
    w.report(true)
  }

  const tree = toHex(rootId)
  const skipped = !!opts.skipIfUnchanged && parent?.tree === tree
  const summary: SnapshotSummary = {
    ...w.counts,
    ...blobSaver.stats,
    durationMs: 0,
  }
  let snapshotId: string | undefined
  if (!skipped) {
    summary.durationMs = Math.round(performance.now() - started)
    try {
      throwIfAborted(opts.signal, 'backup')
      await beforeWrite()
      snapshotId = await repo.saveSnapshot({
        time: (opts.time ?? new Date()).toISOString(),
        ...((opts.timeGiven ?? opts.time !== undefined) ? { timeGiven: true } : {}),
        host,
        user: currentUser(),
        paths: opts.recordedPaths ?? sources,
        tags: opts.tags ?? [],
        tree: rootId,
        parents: parent ? [fromHex(parent.id)] : [],
        excludes: excluder.patterns,
        summary,
      })
    } catch (e) {
      memo?.abort() // a memo being written is dropped with the snapshot (its file is not left behind)
      throw e
    }
  }
  // The next process reads the parent's trees from the tree memo, and the index from the index
  // memo (see Repository.finishTreeMemo and rememberIndex); both are caches: without them it reads
  // the packs and the index files, as before.
  try {
    if (memo && snapshotId) repo.finishTreeMemo(memo, rootId)
    else memo?.abort()
    if (snapshotId && writtenIndexFiles.length > 0) await repo.rememberIndex(index)
  } catch {
    memo?.abort() // as without them
  }
  let indexFilesMerged = 0
  // A protected repository's writers never delete, so they never consolidate (that removes the merged files).
  if (writtenIndexFiles.length > 0 && opts.consolidateIndexes !== false && !repo.protected) {
    // Under this backup's shared lock, after its snapshot: a failure here loses nothing (the old
    // index files stay until the new ones are stored) and must not fail a backup that succeeded.
    indexFilesMerged = await consolidateIndexFiles(repo, opts.consolidateIndexes).then(
      (r) => r.replaced,
      () => 0,
    )
  }
  let retention: RetentionReport | undefined
  const warnings: string[] = []
  if (snapshotId && keepsRetention(repo)) {
    // The backup succeeded whatever happens here: what is left short is named for the owner's check.
    try {
      const snap = (await repo.snapshots()).find((s) => s.id === snapshotId)
      retention = snap ? await keepRetention(repo, [snap]) : undefined
      if (retention && retention.lapsing.length > 0) {
        warnings.push(`${retention.lapsing.length} objects this snapshot needs are locked for less than the repository's retention${retention.denied ? ` and this credential may not extend it (${retention.denied})` : ''}: run check with the owner's credential, which extends them`)
      }
    } catch (e) {
      warnings.push(`the retention of this snapshot's objects was not checked: ${(e as Error).message}; run check with the owner's credential`)
    }
  }
  return {
    ...summary,
    durationMs: Math.round(performance.now() - started),
    snapshotId,
    skipped,
    parent: parent?.id,
    tree,
    packsStored: packer.packsStored,
    packsResumed: resuming ? await resuming : 0,
    bytesRead: w.bytesRead,
    errors: w.errors,
    requests: countsSince(repo.requests(), requestsBefore),
    indexFilesMerged,
    ...(retention ? { retention } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  }
}

function currentUser(): string {
  try {
    return userInfo().username
  } catch {
    return ''
  }
}

/** The local repository's own folder, so a backup of its parent never includes it. */
function ownRepositoryDirs(repo: Repository): Set<string> {
  const out = new Set<string>()
  if (repo.storage instanceof LocalBackend) {
    try {
      out.add(realpathSync(repo.storage.root))
    } catch {
      // not there yet
    }
  }
  return out
}

/**
 * Reads a whole file, into `scratch` when it fits; a file that grew since its lstat is read to its
 * end all the same. A read that returns the lstat's size and less than it asked for is taken as the
 * end, without one more read to see 0 (one syscall less a file): a file that grew meanwhile has
 * another size or change time in the lstat after the read, and is read again (see changedWhileRead).
 * This takes a short read of a regular file to mean its end, as POSIX has it; a file system that
 * reports a size smaller than the content and also stops a read exactly there (a FUSE file system
 * with direct I/O could) would have the rest missed.
 */
export function readWhole(path: Buffer, size: number, scratch: Buffer): Buffer {
  const fd = openSync(path, 'r')
  try {
    let buf = size < scratch.length ? scratch : Buffer.allocUnsafe(size + 1)
    let got = 0
    for (;;) {
      if (got === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2)
        buf.copy(bigger, 0, 0, got)
        buf = bigger
      }
      const want = buf.length - got
      const n = readSync(fd, buf, got, want, null)
      if (n === 0) break
      got += n
      if (got === size && n < want) break
    }
    return buf.subarray(0, got)
  } finally {
    closeSync(fd)
  }
}

/** A time not recorded (BackupOptions.dirTimes false). */
const NO_TIME: [number, number] = [0, 0]

/** A node's metadata from its lstat (everything but type, size and content). */
function metadataOf(name: Buffer, st: EntryStat) {
  return {
    name,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: [st.mtimeSec, st.mtimeNsec] as [number, number],
    ctime: [st.ctimeSec, st.ctimeNsec] as [number, number],
    size: 0,
    inode: st.ino,
    dev: st.dev,
  }
}

/**
 * Whether a file changed between the lstat before a read and the one after it, or the read got
 * another size than the first said: any write moves its change time. (Two writes within one tick
 * of a coarse file-system clock that leave the size as it was look like none; restic and git's
 * change detection share that limit.)
 */
function changedWhileRead(before: EntryStat, after: EntryStat, read: number): boolean {
  return (
    before.size !== after.size ||
    read !== after.size ||
    before.mtimeSec !== after.mtimeSec ||
    before.mtimeNsec !== after.mtimeNsec ||
    before.ctimeSec !== after.ctimeSec ||
    before.ctimeNsec !== after.ctimeNsec ||
    before.ino !== after.ino ||
    before.dev !== after.dev
  )
}

/** A timespec in milliseconds, computed as Node computes a Stats object's `mtimeMs` and `ctimeMs`. */
function msOf(t: [number, number]): number {
  return t[0] * 1000 + t[1] / 1_000_000
}

function sameTime(a: [number, number], b: [number, number]): boolean {
  return a[0] === b[0] && a[1] === b[1]
}

/** A name's bytes as a latin1 string (one char per byte): a map key for any bytes, without a copy. */
function nameKey(name: Uint8Array): string {
  return Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString('latin1')
}

/** Files and bytes a scan of the sources found (see scanSources). */
interface ScanTotals {
  files: number
  bytes: number
  /** Of `bytes`, those in files larger than the scan's `largerThan`. */
  largeBytes: number
}

/** How a Walker runs: its chunk workers, whether they take files from the start, the scan's totals. */
interface WalkPlan {
  pool?: ChunkPool
  /** Workers take files from the start: asked for, or a first backup with more than INLINE_BYTES. */
  eager: boolean
  scanned: ScanTotals
  /** Indexes the packs an interrupted backup left (once; see backupLocked): awaited before a file is read. */
  resume: () => Promise<number>
  /** Loads a tree of the parent snapshot, looking in unindexed packs when no index names it. */
  parentTree: (id: Uint8Array) => Promise<Tree>
  /** Listings and lstats gathered before the walk (BackupOptions.prewalk). */
  prewalk?: Prewalk
  /** The tree memo being written (see Repository.finishTreeMemo), while the cache is in use. */
  memo?: TreeMemoWriter
}

/**
 * Counts files and bytes to be backed up, for the progress display's totals and ETA, and to decide
 * whether chunk workers pay. Stops early once it has seen `stopAtBytes` or `maxEntries` entries
 * (then more than `stopAtBytes` are reported).
 */
async function scanSources(sources: string[], skipDirs: Set<string>, excluder: Excluder, prewalk: Prewalk | undefined, stopAtBytes = Infinity, maxEntries = Infinity, largerThan = Infinity): Promise<ScanTotals> {
  const pacer = new Pacer()
  const totals: ScanTotals = { files: 0, bytes: 0, largeBytes: 0 }
  let entries = 0
  const visit = async (path: Buffer, rel: string, st: { isDirectory(): boolean; isFile(): boolean; size: number | bigint } | undefined): Promise<void> => {
    if (totals.bytes >= stopAtBytes || ++entries > maxEntries) return
    await pacer.maybe()
    try {
      st ??= lstatSync(path)
    } catch {
      return
    }
    if (st.isDirectory()) {
      if (skipDirs.has(path.toString())) return
      // What the prewalk gathered is read in place: the walk takes it afterwards.
      const listing: PrewalkListing | undefined = prewalk?.peekListing(path)
      if (listing) {
        for (let i = 0; i < listing.names.length; i++) {
          const name = listing.names[i]!
          const r = `${rel}/${name.toString()}`
          const s = EntryStat.at(listing.stats, i)
          if (!excluder.excludes(r, s ? s.isDirectory() : false)) await visit(joinPath(path, name), r, s)
        }
        return
      }
      let items
      try {
        items = readdirSync(path, { encoding: 'buffer', withFileTypes: true })
      } catch {
        return
      }
      for (const d of items) {
        const r = `${rel}/${d.name.toString()}`
        if (!excluder.excludes(r, d.isDirectory())) await visit(joinPath(path, d.name), r, undefined)
      }
    } else if (st.isFile()) {
      const size = Number(st.size)
      if (excluder.maxFileSize !== undefined && size > excluder.maxFileSize) return
      totals.files++
      totals.bytes += size
      if (size > largerThan) totals.largeBytes += size
    }
  }
  for (const s of sources) await visit(Buffer.from(s), basename(s), prewalk?.peekRoot(s))
  if (entries > maxEntries) totals.largeBytes = totals.bytes = Math.max(totals.bytes, stopAtBytes) // too many to count: call it large
  return totals
}

class Walker {
  readonly counts: Counts = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0, totalFiles: 0, totalBytes: 0 }
  readonly errors: BackupIssue[] = []
  bytesRead = 0
  private bytesDone = 0
  private dirsDone = 0
  private lastReport = 0
  private current?: string
  private readBuf?: Buffer
  private smallBuf?: Buffer
  /** Bytes of files larger than a chunk read on this thread so far (see INLINE_BYTES). */
  private inlineBytes = 0
  /** The walk gives the event loop a turn every few milliseconds (it runs in hosts that do other work). */
  private readonly pacer = new Pacer()

  constructor(
    private readonly repo: Repository,
    private readonly index: BlobIndex,
    private readonly saver: BlobSaver,
    private readonly excluder: Excluder,
    private readonly skipDirs: Set<string>,
    private readonly opts: BackupOptions,
    private readonly plan: WalkPlan,
  ) {}

  report(final = false): void {
    const cb = this.opts.onProgress
    if (!cb) return
    const now = performance.now()
    if (!final && now - this.lastReport < (this.opts.progressIntervalMs ?? 100)) return
    this.lastReport = now
    const done = this.counts.filesNew + this.counts.filesChanged + this.counts.filesUnmodified
    cb({
      filesDone: done,
      dirsDone: this.dirsDone,
      bytesDone: this.bytesDone,
      totalFiles: Math.max(this.plan.scanned.files, done),
      totalBytes: Math.max(this.plan.scanned.bytes, this.bytesDone),
      bytesAdded: this.saver.stats.bytesAdded,
      errors: this.errors.length,
      currentPath: this.current,
    })
  }

  /**
   * Backs up one path and returns its tree node, or undefined when it is skipped: at once for what
   * needs no reading (an unchanged file, a symlink: most of a walk), else a promise (a folder, a
   * file to read). Not an async function: one of those costs a promise and a frame on the heap for
   * every entry, a fifth of what a walk of unchanged files allocated.
   */
  node(path: Buffer, name: Buffer, rel: string, prev: TreeNode | undefined, isSource = false, gathered?: EntryStat): TreeNode | undefined | Promise<TreeNode | undefined> {
    if (this.opts.signal?.aborted) throw new AbortedError('backup')
    let st: EntryStat
    try {
      st = gathered ?? this.lstat(path, prev)
    } catch (e) {
      if (isSource) throw new SourceError(path.toString(), e)
      this.issue(path, e)
      return undefined
    }
    if (st.isDirectory()) {
      if (!isSource && this.excluder.excludes(rel, true)) return undefined
      if (this.skipDirs.has(path.toString())) return undefined
      return this.dirNode(path, rel, prev, metadataOf(name, st))
    }
    if (!isSource && this.excluder.excludes(rel, false)) return undefined
    if (st.isSymbolicLink()) {
      try {
        return { ...metadataOf(name, st), type: 'symlink', target: readlinkSync(path, { encoding: 'buffer' }) }
      } catch (e) {
        this.issue(path, e)
        return undefined
      }
    }
    if (!st.isFile()) return undefined // sockets, fifos and devices are not backed up
    if (this.excluder.maxFileSize !== undefined && st.size > this.excluder.maxFileSize) return undefined
    const size = st.size
    const unchanged =
      prev !== undefined &&
      prev.type === 'file' &&
      prev.content !== undefined &&
      prev.size === size &&
      prev.inode === st.ino &&
      prev.mtime[0] === st.mtimeSec &&
      prev.mtime[1] === st.mtimeNsec &&
      prev.ctime[0] === st.ctimeSec &&
      prev.ctime[1] === st.ctimeNsec &&
      this.allIndexed(prev.content)
    // A file to read that a prewalk lstat-ed a while ago is looked at again first: it may be a FIFO
    // or a link by now, and opening it for reading would hang or follow it.
    if (!unchanged && gathered) return this.node(path, name, rel, prev, isSource)
    this.current = rel
    this.counts.totalFiles++
    if (unchanged) {
      this.counts.filesUnmodified++
      this.opts.onFile?.({ path: rel, status: 'unmodified' })
      this.counts.totalBytes += size
      this.bytesDone += size
      this.report()
      // metadataOf's fields in its order, with the parent's times (equal to these): one object.
      return { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: prev.mtime, ctime: prev.ctime, size, inode: st.ino, dev: st.dev, type: 'file', content: prev.content }
    }
    return this.readFile(path, name, rel, prev, st, metadataOf(name, st))
  }

  /**
   * An entry's lstat. Compared against a parent node, a plain lstat first (no BigInts): when its
   * times are the parent's as Node computes milliseconds from a timespec (seconds × 1000 +
   * nanoseconds / 10^6, the same double for the same timespec; two timespecs give the same double
   * only within about 0.25 µs of each other), the parent's exact times are taken. Otherwise, and
   * without a parent, the nanosecond lstat. On the notes corpus the walk of an unchanged backup
   * allocated 9 MB less.
   */
  private lstat(path: Buffer, prev: TreeNode | undefined): EntryStat {
    if (prev) {
      const s = lstatSync(path)
      if (s.mtimeMs === msOf(prev.mtime) && s.ctimeMs === msOf(prev.ctime)) {
        return new EntryStat(s.mode, s.uid, s.gid, s.size, s.ino, s.dev, prev.mtime[0], prev.mtime[1], prev.ctime[0], prev.ctime[1])
      }
    }
    return EntryStat.of(lstatSync(path, { bigint: true }))
  }

  private async dirNode(path: Buffer, rel: string, prev: TreeNode | undefined, base: ReturnType<typeof metadataOf>): Promise<TreeNode | undefined> {
    const subtree = await this.dir(path, rel, prev?.type === 'dir' ? prev.subtree : undefined)
    if (!subtree) return undefined
    if (!prev || prev.type !== 'dir') this.counts.dirsNew++
    else if (prev.subtree && Buffer.compare(prev.subtree, subtree) === 0) this.counts.dirsUnmodified++
    else this.counts.dirsChanged++
    this.dirsDone++
    if (this.opts.dirTimes === false) return { ...base, mtime: NO_TIME, ctime: NO_TIME, type: 'dir', subtree }
    return { ...base, type: 'dir', subtree }
  }

  /** A new or changed file: read, chunked and stored (see node). */
  private async readFile(path: Buffer, name: Buffer, rel: string, prev: TreeNode | undefined, st: EntryStat, base: ReturnType<typeof metadataOf>): Promise<TreeNode | undefined> {
    await this.plan.resume()
    let content: Uint8Array
    let read: number
    try {
      const hints = prev?.type === 'file' ? this.hintsOf(prev.content) : undefined
      ;({ content, read } = await this.file(path, st.size, hints))
      // A file that changed while it was read may be stored as a mix of its old and new bytes: one
      // that did is read once more. If it changes again, the snapshot keeps the parent's version
      // when there is one, else what the second read got (it may be such a mix), and says so.
      let after = EntryStat.of(lstatSync(path, { bigint: true }))
      if (changedWhileRead(st, after, read)) {
        if (!after.isFile()) throw new Error('it stopped being a regular file while it was read')
        const before = after
        ;({ content, read } = await this.file(path, before.size, hints))
        after = EntryStat.of(lstatSync(path, { bigint: true }))
        base = metadataOf(name, before)
        if (changedWhileRead(before, after, read)) {
          if (prev?.type === 'file' && prev.content && this.allIndexed(prev.content)) {
            this.issue(path, new Error('changed while it was read, twice; the snapshot keeps its version from the previous snapshot'), 'changed')
            this.counts.filesUnmodified++
            this.opts.onFile?.({ path: rel, status: 'unmodified' })
            this.counts.totalBytes += prev.size
            this.report()
            return { ...prev, name }
          }
          this.issue(path, new Error('changed while it was read, twice; stored as read, which may mix old and new content (the next backup reads it again)'), 'changed')
          // No change time was ever 0: the next backup cannot take this version for the file as it is.
          base = { ...base, ctime: NO_TIME }
        }
      }
    } catch (e) {
      if (e instanceof SessionSyncError) throw e
      this.counts.totalFiles--
      this.issue(path, e)
      return undefined
    }
    if (prev && prev.type === 'file') this.counts.filesChanged++
    else this.counts.filesNew++
    this.opts.onFile?.({ path: rel, status: prev && prev.type === 'file' ? 'changed' : 'new' })
    this.counts.totalBytes += read
    this.report()
    return { ...base, type: 'file', size: read, content: content as TreeNode['content'] }
  }

  private issue(path: Buffer, e: unknown, kind: BackupIssue['kind'] = 'unreadable'): void {
    this.errors.push({ path: path.toString(), message: e instanceof Error ? e.message : String(e), kind })
  }

  private allIndexed(content: Uint8Array): boolean {
    for (let o = 0; o < content.length; o += ID_BYTES) if (!this.index.has(BlobType.Data, content.subarray(o, o + ID_BYTES))) return false
    return true
  }

  private async dir(path: Buffer, rel: string, prevTree: Uint8Array | undefined): Promise<Buffer | undefined> {
    const listing = this.plan.prewalk?.takeListing(path)
    let names: Buffer[]
    if (listing) names = listing.names
    else {
      try {
        names = readdirSync(path, { encoding: 'buffer' })
      } catch (e) {
        this.issue(path, e)
        return undefined
      }
      names.sort(Buffer.compare)
    }
    let prevNodes: Map<string, TreeNode> | undefined
    if (prevTree) {
      try {
        prevNodes = new Map((await this.plan.parentTree(prevTree)).nodes.map((n) => [nameKey(n.name), n]))
      } catch {
        prevNodes = undefined // the parent's tree is unreadable: read everything again
      }
    }
    const child = (n: Buffer, i: number) => this.node(joinPath(path, n), n, `${rel}/${n.toString()}`, prevNodes?.get(n.toString('latin1')), false, listing && EntryStat.at(listing.stats, i))
    // On this thread, one entry after another. Once workers run, files go to them all at once (the
    // pool queues them) and the tree waits for all.
    const pending: Array<TreeNode | undefined | Promise<TreeNode | undefined>> = []
    let waiting = false
    for (let i = 0; i < names.length; i++) {
      const turn = this.pacer.maybe()
      if (turn) await turn
      const node = child(names[i]!, i)
      if (!(node instanceof Promise)) pending.push(node)
      else if (this.plan.pool?.started) {
        // Settled later (Promise.all below, which rejects with the first failure): one that fails
        // while this loop still runs, or after another failed, must not count as unhandled.
        node.catch(() => {})
        pending.push(node)
        waiting = true
      } else pending.push(await node)
    }
    const nodes = (waiting ? await Promise.all(pending) : (pending as Array<TreeNode | undefined>)).filter((n): n is TreeNode => n !== undefined)
    // Nothing changed in this folder: its tree is the parent's, byte for byte (encoding is
    // deterministic), so skip encoding and hashing it again.
    if (prevTree && prevNodes && nodes.length === prevNodes.size && nodes.every((n) => sameNode(n, prevNodes.get(nameKey(n.name))))) {
      const id = Buffer.from(prevTree) // a copy: prevTree is a view of the parent tree's bytes
      this.plan.memo?.reuse(id)
      return id
    }
    return this.saveTree(nodes)
  }

  /** Stores one folder's tree (and notes it for the tree memo); returns its id. */
  async saveTree(nodes: TreeNode[]): Promise<Buffer> {
    const plain = encodeObject({ v: FORMAT_VERSION, nodes } satisfies Tree)
    const id = await this.saver.save(BlobType.Tree, plain)
    this.plan.memo?.add(toHex(id), id, plain)
    return id
  }

  /**
   * A changed file's chunks in the parent snapshot, to be checked before chunking again (see
   * chunkFile): only for files of more than one chunk whose every chunk the index still has.
   */
  private hintsOf(content: Uint8Array | undefined): ChunkHints | undefined {
    if (!content || content.length < 2 * ID_BYTES) return undefined
    const count = content.length / ID_BYTES
    const sizes = new Uint32Array(count)
    for (let i = 0; i < count; i++) {
      const loc = this.index.get(BlobType.Data, content.subarray(i * ID_BYTES, (i + 1) * ID_BYTES))
      if (!loc) return undefined
      sizes[i] = loc.rawLength
    }
    return { ids: new Uint8Array(content), sizes } // a copy of its own: it may be sent to a worker
  }

  /** Reads one file in large buffers, chunks it and stores its new chunks (on a worker when there are any). */
  private async file(path: Buffer, size: number, hints?: ChunkHints): Promise<{ content: Uint8Array; read: number }> {
    // Workers start only for a backup that reads more than INLINE_BYTES: starting one costs time and
    // tens of MiB, and a small backup does as well on this thread (measured on 2 cores, the 50 MB /
    // 2,000-file memory folder: 1.4–1.8 s and 98–115 MiB peak RSS here, 1.6–1.9 s and 176–212 MiB
    // with workers started at once). A large first backup starts them at once (the scan above): the
    // 1 GB mixed set took 4.0–4.2 s that way and 4.4–4.5 s with its first 64 MiB read here.
    //
    // Only files larger than a chunk count: read here, small files are as fast as on a worker (they
    // are sealed on the sealing worker), and starting the chunk workers for them stops that worker
    // (see SealPool). Measured on the notes corpus's first backup (16,000 files, 200 MB, median
    // 5 KiB; Node 24, raw key, 3 alternating runs, load average 7–11 on 2 cores): CPU user + system
    // 4.36 → 3.75 s (median), peak RSS 195–200 → 148–152 MiB, wall 9.4 → 7.8 s.
    const pooled = this.plan.pool !== undefined && (this.plan.pool.started || this.plan.eager || (size > this.repo.config.chunker.min && this.inlineBytes + size > INLINE_BYTES))
    // A one-chunk file is cheaper here than a round trip to a worker (measured: 2,000 files of 25 KB
    // back up in about 0.5 s on this thread against 0.85 s through the workers), unless a worker is
    // idle: then it goes there, so that both can work (a profile of the 2,000-file memory folder had
    // the worker idle 40% of the time). On 2 cores this made no measurable difference (memory
    // folder, 3 alternating runs on Node 20 and 24: 1.21–1.33 s either way); with more cores the
    // idle workers have more to give.
    if (size <= this.repo.config.chunker.min && !(pooled && size > 0 && this.plan.pool!.idle())) {
      // The read buffer is reused: save() uses the data only before its first await.
      const data = readWhole(path, size, (this.smallBuf ??= Buffer.allocUnsafe(this.repo.config.chunker.min + 1)))
      if (data.length === 0) return { content: Buffer.alloc(0), read: 0 }
      const id = await this.saver.save(BlobType.Data, data)
      this.bytesRead += data.length
      this.bytesDone += data.length
      this.report()
      return { content: id, read: data.length }
    }
    if (pooled) {
      let seen = 0
      return this.plan.pool!.file(path, async (_ids, blobs, read) => {
        throwIfAborted(this.opts.signal, 'backup')
        for (const b of blobs) await this.saver.addSealed(BlobType.Data, b.id, b.sealed, b.rawLength, b.codec)
        this.bytesRead += read - seen
        this.bytesDone += read - seen
        seen = read
        this.report()
      }, hints)
    }
    // Here one file at a time shares the read buffer: until workers run, dir() awaits every entry
    // before the next, and once they run every file larger than a chunk goes to them.
    this.inlineBytes += size
    const max = this.repo.config.chunker.max
    this.readBuf ??= Buffer.allocUnsafe(Math.max(2 * max, max + READ_SIZE))
    const ids: Buffer[] = []
    const fd = openSync(path, 'r')
    try {
      const idOf = (chunk: Buffer) => blobId(this.repo.keys.blobId, chunk)
      const read = await chunkFile(
        fd,
        this.readBuf,
        this.repo.chunker,
        async (chunk, id) => {
          throwIfAborted(this.opts.signal, 'backup')
          await this.pacer.maybe()
          ids.push(await this.saver.save(BlobType.Data, chunk, id))
          this.bytesRead += chunk.length
          this.bytesDone += chunk.length
          this.report()
        },
        hints && { ...hints, idOf },
      )
      return { content: Buffer.concat(ids), read }
    } finally {
      closeSync(fd)
    }
  }
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => (a === undefined || b === undefined ? a === b : Buffer.compare(a, b) === 0)

/** Whether two tree nodes encode to the same bytes: every field the format has is equal. */
function sameNode(a: TreeNode, b: TreeNode | undefined): boolean {
  return (
    b !== undefined &&
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.size === b.size &&
    a.inode === b.inode &&
    a.dev === b.dev &&
    sameTime(a.mtime, b.mtime) &&
    sameTime(a.ctime, b.ctime) &&
    sameBytes(a.name, b.name) &&
    sameBytes(a.target, b.target) &&
    sameBytes(a.content, b.content) &&
    sameBytes(a.subtree, b.subtree)
  )
}
