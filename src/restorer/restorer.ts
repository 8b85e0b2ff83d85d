import { chmodSync, closeSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeSync, constants, type BigIntStats } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { basename, dirname, resolve, sep } from 'node:path'
import { countsSince, type RequestCounts } from '../backend/counter.js'
import { fromHex, ID_BYTES, toHex } from '../crypto/ids.js'
import { BLOB_OVERHEAD } from '../crypto/seal.js'
import { CorruptObjectError, InvalidOptionsError, TargetError, throwIfAborted, UnsafePathError } from '../errors/index.js'
import type { BlobLocation } from '../repository/blob-index.js'
import { BlobType, type TreeNode } from '../repository/repofile.js'
import { BATCH_RAW_BYTES, BlobOpenFailed, BlobOpenPool, BlobWriteFailed, bufferAllocator, CREATE, defaultOpenThreads, isShared, type FileWrites, type FinishFailure } from '../repository/blob-open-pool.js'
import { fromErrorChain, replace, setMetadata, utimeOf, type ErrorChain, type FileMeta } from '../runtime/file-meta.js'
import { YoungGarbage } from '../runtime/young-gc.js'
import { Pacer } from '../runtime/pace.js'
import { mapLimit, type Repository, type Snapshot, type SnapshotFilter } from '../repository/repository.js'
import { checkTreeSize } from '../repository/tree-walk.js'

export interface RestoreProgress {
  filesDone: number
  bytesDone: number
  totalFiles: number
  totalBytes: number
}

export interface RestoreOptions {
  signal?: AbortSignal
  onProgress?: (p: RestoreProgress) => void
  progressIntervalMs?: number
  /** Restore only paths matching these globs (or below a matching folder); paths look like `memory/notes/a.md`. */
  include?: string[]
  /** Leave out paths matching these globs (and everything below them). */
  exclude?: string[]
  /** Narrows `latest` and time references. */
  filter?: SnapshotFilter
  /** Set file owners as recorded (default: only when running as root). */
  restoreOwnership?: boolean
  /**
   * Worker threads that decrypt, decompress and verify blobs alongside the calling thread (0: on the
   * calling thread only). Default: one per core but one (at least one, at most 4); none for restores
   * under 16 MiB.
   */
  threads?: number
  /**
   * Recompute every blob's id from its plaintext (HMAC-SHA256), as `check --read-data` does.
   * Default true. Every blob is sealed with AES-256-GCM under a key derived from its own id, so the
   * storage can neither change a blob nor put another in its place unnoticed; but any holder of the
   * repository key (another device, a writer's bug) can seal other bytes under an id, and other
   * devices then deduplicate against them. The id check catches that, at the cost of one HMAC over
   * every restored byte (measured in the README). `false` skips it for those who trust every writer.
   */
  verifyIds?: boolean
  /**
   * Restore the set-user-ID and set-group-ID bits of files as recorded (default false: dropped, so a
   * restore, which runs as root to set owners, never creates a set-ID program from repository data).
   * Folders keep theirs either way (on a folder they only pass its group on to new entries).
   */
  keepSetid?: boolean
  /**
   * What to do with a file or symlink that already exists in the target, with restic's meanings:
   * - `always` (the default): replace it;
   * - `if-changed`: replace it unless its size and modification time equal the snapshot's (the
   *   backup's own change test), which counts it as unchanged;
   * - `if-newer`: as `if-changed`, but a file modified later than the snapshot's copy is kept and
   *   listed in `RestoreSummary.kept` (reason `newer`);
   * - `never`: never replace an existing file (listed in `kept`, reason `exists`, unless unchanged).
   * A folder in the way of a file is an error under every policy (see RestoreSummary.errors). A
   * file or link in the way of a folder is replaced by it under `always` and `if-changed`; `never`
   * keeps it, and `if-newer` keeps it when it was modified after the snapshot's folder (listed in
   * `kept`; what the folder holds is then not restored).
   */
  overwrite?: OverwritePolicy
  /** Plan only: read the snapshot's trees and the target, write and delete nothing, download no data. */
  dryRun?: boolean
  /**
   * Remove what the target holds where the snapshot has nothing: entries of a restored folder that
   * the snapshot's folder lacks (folders with all they hold; symlinks themselves, never what they
   * point to). Only inside the target, and with include/exclude only where they select.
   */
  delete?: boolean
  /**
   * Restore the contents of this folder of the snapshot into the target itself, as restic's
   * `<snapshot>:<subfolder>`: a path as `ls` shows it (`ws/memory`), or relative to a backed-up
   * folder (`memory`) when no path from the top matches.
   */
  subfolder?: string
}

/** RestoreOptions.overwrite: what happens to a file that exists in the target. */
export type OverwritePolicy = 'always' | 'if-changed' | 'if-newer' | 'never'
export const OVERWRITE_POLICIES: readonly OverwritePolicy[] = ['always', 'if-changed', 'if-newer', 'never']

/** An existing file the restore left as it was (RestoreOptions.overwrite). */
export interface RestoreKept {
  /** The path in the target. */
  path: string
  /** `newer`: modified later than the snapshot's copy (`if-newer`); `exists`: any existing file (`never`). */
  reason: 'newer' | 'exists'
}

/** A place in the target that could not be restored; the restore went on with everything else. */
export interface RestoreIssue {
  /** The path in the target. */
  path: string
  message: string
}

export interface RestoreSummary {
  snapshotId: string
  target: string
  filesRestored: number
  dirsRestored: number
  symlinksRestored: number
  bytesRestored: number
  packsRead: number
  bytesDownloaded: number
  /** Whether every blob's id was recomputed from its plaintext (RestoreOptions.verifyIds). */
  idsVerified: boolean
  /** Requests made to storage by this restore. */
  requests: RequestCounts
  durationMs: number
  /**
   * What could not be restored (a folder in the way of a file, a name the target refuses…), in path
   * order; everything else was. Empty when the restore is complete. A full or read-only target
   * (ENOSPC, EDQUOT, EFBIG, EROFS, EIO) or too many open files stops the restore instead: every later
   * file would fail the same way. Such errors, and a damaged repository, are thrown.
   */
  errors: RestoreIssue[]
  /** Files written where nothing was (counted in filesRestored; in a dry run: would be). */
  filesNew: number
  /** Files written over an existing one (counted in filesRestored; in a dry run: would be). */
  filesReplaced: number
  /** Existing files and symlinks left alone because they equal the snapshot's (if-changed, if-newer, never). */
  filesUnchanged: number
  /** Existing files and symlinks left alone by the overwrite policy although they differ, in path order. */
  kept: RestoreKept[]
  /** Paths removed from the target (RestoreOptions.delete; in a dry run: would be), in path order. */
  deleted: string[]
  overwrite: OverwritePolicy
  dryRun: boolean
  /** A dry run's plan: the files and symlinks that would be written new and over existing ones. */
  planned?: { new: string[]; replaced: string[] }
  /**
   * Include patterns that matched nothing in the snapshot, as given (an include restores nothing
   * then: callers should say so, with a path as `ls` shows it).
   */
  unmatchedIncludes: string[]
}

interface FileJob {
  node: TreeNode
  path: Buffer
  /** The folder it is restored into, and its number in the plan: its temporary name (see tmpOf) is made from them when first needed. */
  dir: Buffer
  n: number
  tmp?: Buffer
  remaining: number
  created: boolean
  /** Open while the file is being written (closed when done, or when too many are open and it is idle). */
  fd?: number
  /** Writes to this file run one after another on this chain; finishing the file comes last on it (none queued yet: undefined). */
  chain?: Promise<void>
  /** Writes queued or running on `fd`: a busy file is never closed to make room. */
  busy: number
  /** Renamed into place. */
  finished?: boolean
  /** Could not be restored (reported in RestoreSummary.errors): nothing more is written to it. */
  failed?: boolean
  /** Something was at its path before the restore. */
  replaces: boolean
  /** Written by one write (a file of one blob): a worker that makes it creates and finishes the file too. */
  single?: boolean
}

interface BlobTarget {
  file: FileJob
  offset: number
}

interface PackBlob {
  loc: BlobLocation
  id: Buffer
  targets: BlobTarget[]
}

/** What the overwrite policy does with an entry (see decide in restore). */
interface Decision {
  readonly write: boolean
  readonly replaces: boolean
}
/** The decision for an entry whose folder is new: one object for all of them. */
const NEW: Decision = Object.freeze({ write: true, replaces: false })

/** A settled promise: the start of every file's chain (FileJob.chain). */
const DONE = Promise.resolve()

const MAX_GAP = 4 * 1024 * 1024
/**
 * Where the backend reads into a given buffer (a local folder), one read covers at most this much
 * (or one maximal blob): measured on a 1 GB restore, two readers of whole 16 MiB packs took 40 MiB
 * more peak RSS than three of 4 MiB and no less time. Remote backends read whole runs, since each
 * read is a request.
 */
const LOCAL_RUN_BYTES = 4 * 1024 * 1024

/** Rejects names that could escape the target or are not plain names. */
export function checkName(name: Uint8Array): void {
  // Byte by byte, no string made: every entry of a restore passes here.
  const n = name.length
  const why =
    n === 0
      ? 'empty name'
      : name[0] === DOT && (n === 1 || (n === 2 && name[1] === DOT))
        ? 'dot name'
        : name.includes(SLASH)
          ? 'contains a slash'
          : name.includes(0)
            ? 'contains a NUL byte'
            : sep === '\\' && name.includes(BACKSLASH)
              ? 'contains a backslash'
              : undefined
  if (why) throw new UnsafePathError(Buffer.from(name).toString('latin1'), why)
}

const DOT = 0x2e
const SLASH = 0x2f
const BACKSLASH = 0x5c
const SEP = sep.charCodeAt(0)

function join(dir: Buffer, name: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(dir.length + 1 + name.length)
  out.set(dir, 0)
  out[dir.length] = SEP
  out.set(name, dir.length + 1)
  return out
}

/**
 * Restores a snapshot (or part of it) into a target folder. Plans every file first, then reads the
 * needed blobs pack by pack (one ranged read per run of nearby blobs), writes each file under a
 * temporary name and renames it into place once complete, then sets directory metadata bottom-up
 * and creates symlinks last, so nothing is ever written through a link.
 */
export async function restore(repo: Repository, ref: string, target: string, opts: RestoreOptions = {}): Promise<RestoreSummary> {
  const started = performance.now()
  const requestsBefore = repo.requests()
  const snap: Snapshot = await repo.findSnapshot(ref, opts.filter)
  const index = await repo.index()
  const root = Buffer.from(resolve(target))
  const overwrite = opts.overwrite ?? 'always'
  if (!OVERWRITE_POLICIES.includes(overwrite)) throw new InvalidOptionsError(`overwrite must be one of ${OVERWRITE_POLICIES.join(', ')}, not "${String(overwrite)}"`)
  const dryRun = opts.dryRun === true
  // Patterns as users write them: relative to a backed-up folder (`notes/**`), or starting with its
  // name as `ls` shows paths (`memory/notes/**`), or relative to the restored subfolder.
  const rootNames = [...new Set(snap.paths.map((p) => basename(p)))]
  const subParts = (opts.subfolder ?? '').split('/').filter((p) => p !== '' && p !== '.')
  const subPrefix = subParts.join('/')
  const variants = (p: string): string[] => {
    const q = p.replace(/^(\.\/)+/, '').replace(/^\/+/, '')
    return [...new Set([q, ...rootNames.map((n) => `${n}/${q}`), ...(subPrefix ? [`${subPrefix}/${q}`] : [])])]
  }
  // picomatch loads only when globs are given (start-up time of every other restore).
  const pm = opts.include?.length || opts.exclude?.length ? (await import('picomatch')).default : undefined
  const includes = pm && opts.include?.length ? opts.include.map((p) => ({ pattern: p, match: pm(variants(p), { dot: true }), matched: false })) : undefined
  const isExcluded = pm && opts.exclude?.length ? pm(opts.exclude.flatMap(variants), { dot: true }) : undefined
  const filtered = isExcluded !== undefined || includes !== undefined
  const isIncluded = includes
    ? (rel: string) => {
        let yes = false
        for (const inc of includes) {
          if ((!yes || !inc.matched) && inc.match(rel)) {
            inc.matched = true
            yes = true
          }
        }
        return yes
      }
    : undefined
  const chown = opts.restoreOwnership ?? process.getuid?.() === 0
  const modeMask = opts.keepSetid ? 0o7777 : 0o1777
  const errors: RestoreIssue[] = []
  const kept: RestoreKept[] = []
  let filesUnchanged = 0

  const files: FileJob[] = []
  const dirs: Array<{ node: TreeNode; path: Buffer }> = []
  const links: Array<{ node: TreeNode; path: Buffer; replaces: boolean }> = []
  /** Folders of the target that existed before, with the names the snapshot has in them, for `delete`. */
  const existingDirs: Array<{ path: Buffer; rel: string; names: Set<string> }> = []
  /** The blobs to read, by pack (the index's pack id objects, one per pack), and by index entry. */
  const byPack = new Map<Uint8Array, PackBlob[]>()
  const planned = new Map<number, PackBlob>()
  let totalBytes = 0
  // The event loop gets a turn every few milliseconds: restores run in hosts that do other work.
  const pacer = new Pacer()
  // Temporary names: one random tag per restore and a counter (created with O_EXCL all the same).
  const tmpTag = randomBytes(6).toString('hex')
  const tmpOf = (f: FileJob): Buffer => (f.tmp ??= join(f.dir, Buffer.from(`.session-sync-${tmpTag}-${f.n}.tmp`)))

  const wanted = (rel: string, isDir: boolean): 'yes' | 'no' | 'descend' => {
    if (isExcluded && isExcluded(rel)) return 'no'
    if (!isIncluded || isIncluded(rel)) return 'yes'
    return isDir ? 'descend' : 'no'
  }

  /** A snapshot entry's modification time in whole microseconds: what a restore sets (see utimeOf). */
  const snapshotUs = (node: TreeNode) => BigInt(node.mtime[0]) * 1_000_000n + BigInt(Math.floor(node.mtime[1] / 1000))
  /**
   * Whether the policy keeps what is at `path` (`st`: its lstat) rather than replace it with a
   * different `node`: `never` keeps anything, `if-newer` what was modified after the snapshot's copy.
   * A kept path is listed in `kept`.
   */
  const keeps = (node: TreeNode, path: Buffer, st: BigIntStats): boolean => {
    if (overwrite !== 'never' && !(overwrite === 'if-newer' && st.mtimeNs / 1000n > snapshotUs(node))) return false
    kept.push({ path: path.toString(), reason: overwrite === 'never' ? 'exists' : 'newer' })
    return true
  }

  /**
   * What the overwrite policy does with an existing entry at `path`: `write` (new or replaced),
   * `unchanged` or `kept` (left alone). Only looked at inside folders that existed before.
   */
  const decide = (node: TreeNode, path: Buffer, exists: boolean): Decision => {
    if (!exists) return NEW
    let st: BigIntStats | undefined
    try {
      st = lstatSync(path, { bigint: true })
    } catch {
      return { write: true, replaces: false }
    }
    // A folder in the way is the write's error (reported), under every policy.
    if (st.isDirectory() || overwrite === 'always') return { write: true, replaces: true }
    const same =
      node.type === 'symlink'
        ? st.isSymbolicLink() && readlinkOr(path)?.equals(Buffer.from(node.target!)) === true
        : st.isFile() && st.size === BigInt(node.size) && st.mtimeNs / 1000n === snapshotUs(node)
    if (same) {
      filesUnchanged++
      return { write: false, replaces: true }
    }
    return { write: !keeps(node, path, st), replaces: true }
  }

  // Plan: walk the tree, validate every name, collect files and the blobs they need. `exists`: the
  // folder `dir` is in the target already (so its entries may be).
  const walk = async (treeId: Uint8Array, dir: Buffer, rel: string, all: boolean, exists: boolean): Promise<boolean> => {
    throwIfAborted(opts.signal, 'restore')
    const tree = await repo.loadTree(treeId)
    const names = exists && opts.delete ? new Set<string>() : undefined
    if (names) existingDirs.push({ path: dir, rel, names })
    let any = false
    /** An entry's path as patterns and messages name it (made only where one is needed). */
    const relOf = (name: Uint8Array) => (rel === '' ? Buffer.from(name).toString() : `${rel}/${Buffer.from(name).toString()}`)
    for (const node of tree.nodes) {
      // Awaited only when the slice is used up: no turn of the microtask queue for every entry.
      const turn = pacer.maybe()
      if (turn) await turn
      checkName(node.name)
      names?.add(Buffer.from(node.name).toString('latin1'))
      const r = filtered || node.type === 'dir' ? relOf(node.name) : undefined
      const w = r === undefined ? 'yes' : all ? (isExcluded?.(r) ? 'no' : 'yes') : wanted(r, node.type === 'dir')
      if (w === 'no') continue
      const path = join(dir, node.name)
      if (node.type === 'dir') {
        // Something other than a folder where the snapshot has one (a file, a link) is replaced by
        // the folder only where the policy would replace a file there (see keeps); what a kept
        // path's folder holds is not restored.
        let st: BigIntStats | undefined
        if (exists) {
          try {
            st = lstatSync(path, { bigint: true })
          } catch {
            // nothing there
          }
        }
        if (st && !st.isDirectory() && keeps(node, path, st)) {
          any = true
          continue
        }
        const has = await walk(node.subtree!, path, r!, w === 'yes', st?.isDirectory() === true)
        if (w === 'yes' || has) {
          dirs.push({ node, path })
          any = true
        }
      } else if (node.type === 'symlink') {
        any = true
        const d = decide(node, path, exists)
        if (d.write) links.push({ node, path, replaces: d.replaces })
      } else {
        any = true
        const d = decide(node, path, exists)
        if (!d.write) continue
        const content = node.content!
        // Its temporary name is made when the file is created (see tmpOf), its chain when its first
        // write is queued (both fields are here from the start: one object shape for every file).
        const job: FileJob = { node, path, dir, n: files.length, tmp: undefined, remaining: 0, created: false, chain: undefined, busy: 0, replaces: d.replaces }
        files.push(job)
        let offset = 0
        for (let o = 0; o < content.length; o += ID_BYTES) {
          // By the index's entry number: no copy of the id, no string made for it, unless it is new here.
          const entry = index.findAt(BlobType.Data, content, o)
          if (entry < 0) throw repo.missingBlob('data blob', `${toHex(content.subarray(o, o + ID_BYTES))} (of ${r ?? relOf(node.name)})`)
          const rawLength = index.rawLengthAt(entry)
          // Plaintext buffers are sized from the index: a length no chunk can have is an error, not an allocation.
          if (rawLength > repo.config.chunker.max) throw new CorruptObjectError('index', `entry of data blob ${toHex(content.subarray(o, o + ID_BYTES))}`, `says ${rawLength} bytes, more than the largest chunk (${repo.config.chunker.max})`)
          let pb = planned.get(entry)
          if (!pb) {
            const loc = index.at(entry)
            // One pack id object per pack in the index: the plan groups by it.
            let blobs = byPack.get(loc.packId)
            if (!blobs) byPack.set(loc.packId, (blobs = []))
            pb = { loc, id: Buffer.from(content.subarray(o, o + ID_BYTES)), targets: [] }
            blobs.push(pb)
            planned.set(entry, pb)
          }
          pb.targets.push({ file: job, offset })
          job.remaining++
          offset += rawLength
        }
        if (offset !== node.size) throw new CorruptObjectError('tree', r ?? relOf(node.name), `file size ${node.size} does not match its content (${offset} bytes)`)
        job.single = job.remaining === 1
        totalBytes += offset
      }
    }
    return any
  }

  /** Entries of folders that existed before and are not in the snapshot (RestoreOptions.delete). */
  const extras = (): Buffer[] => {
    const out: Buffer[] = []
    for (const d of existingDirs) {
      let entries: Buffer[]
      try {
        entries = readdirSync(d.path, { encoding: 'buffer' })
      } catch {
        continue
      }
      for (const name of entries) {
        if (d.names.has(name.toString('latin1'))) continue
        const path = join(d.path, name)
        const r = d.rel === '' ? name.toString() : `${d.rel}/${name.toString()}`
        // Within what include/exclude select: a folder only when wholly included.
        if (wanted(r, false) !== 'yes') continue
        out.push(path)
      }
    }
    return out.sort(Buffer.compare)
  }

  // The subfolder as `ls` shows it (ws/memory), or relative to a backed-up folder (memory).
  let rootTree: Uint8Array = fromHex(snap.tree)
  let rootRel = ''
  if (subParts.length > 0) {
    const found = (await findFolder(repo, rootTree, subParts)) ?? (await firstFolder(repo, rootTree, rootNames.map((n) => [n, ...subParts])))
    if (!found) {
      const top = (await repo.loadTree(rootTree)).nodes.map((n) => Buffer.from(n.name).toString())
      throw new InvalidOptionsError(`snapshot ${snap.shortId} has no folder "${subPrefix}"; paths in it start with ${top.map((t) => `"${t}"`).join(', ')} (see ls)`, { subfolder: subPrefix })
    }
    rootTree = found.tree
    rootRel = found.rel
  }
  // The plan holds every entry: a tree that expands beyond the bound (a forged DAG) is refused first.
  await checkTreeSize(repo, rootTree, opts.signal)
  const rootExists = isDir(root)
  if (!dryRun && !rootExists) makeTargetDir(root)
  await walk(rootTree, root, rootRel, false, rootExists)
  const unmatchedIncludes = includes?.filter((i) => !i.matched).map((i) => i.pattern) ?? []
  const base = {
    snapshotId: snap.id,
    target: root.toString(),
    idsVerified: opts.verifyIds ?? false,
    filesUnchanged,
    kept: kept.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    overwrite,
    dryRun,
    unmatchedIncludes,
  }
  if (dryRun) {
    const entries = [...files, ...links].map((f) => ({ path: f.path.toString(), replaces: f.replaces })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    const planned = { new: entries.filter((e) => !e.replaces).map((e) => e.path), replaced: entries.filter((e) => e.replaces).map((e) => e.path) }
    return {
      ...base,
      filesRestored: files.length,
      dirsRestored: dirs.length,
      symlinksRestored: links.length,
      bytesRestored: totalBytes,
      packsRead: 0,
      bytesDownloaded: 0,
      requests: countsSince(repo.requests(), requestsBefore),
      durationMs: Math.round(performance.now() - started),
      errors,
      filesNew: files.filter((f) => !f.replaces).length,
      filesReplaced: files.filter((f) => f.replaces).length,
      deleted: opts.delete ? extras().map((p) => p.toString()) : [],
      planned,
    }
  }
  // Parents before children: `dirs` was filled bottom-up. A folder that cannot be made is one error;
  // what lies in it is skipped and counted in that error.
  const blocked = new Map<string, { issue: RestoreIssue; skipped: number }>()
  const blockedBy = (path: Buffer) => blocked.get(parentKey(path))
  const failedDirs = new Set<Buffer>()
  for (const d of [...dirs].reverse()) {
    const up = blockedBy(d.path)
    if (up) {
      up.skipped++
      blocked.set(d.path.toString('latin1'), up)
      failedDirs.add(d.path)
      continue
    }
    try {
      makeDir(d.path, false)
    } catch (e) {
      const err = e instanceof TargetError ? e : new TargetError(d.path.toString(), e)
      if (stopsRestore(err)) throw err
      const issue = issueOf(d.path, err)
      errors.push(issue)
      blocked.set(d.path.toString('latin1'), { issue, skipped: 0 })
      failedDirs.add(d.path)
    }
    await pacer.maybe()
  }
  if (blocked.size > 0) {
    for (const f of files) {
      const up = blockedBy(f.path)
      if (up) {
        up.skipped++
        f.failed = true
      }
    }
    for (const l of links) {
      const up = blockedBy(l.path)
      if (up) up.skipped++
    }
    for (const b of new Set(blocked.values())) if (b.skipped > 0) b.issue.message += `; the ${b.skipped} entries in it were not restored`
  }

  const progress: RestoreProgress = { filesDone: 0, bytesDone: 0, totalFiles: files.length, totalBytes }
  let lastReport = 0
  const report = (final = false) => {
    if (!opts.onProgress) return
    const now = performance.now()
    if (!final && now - lastReport < (opts.progressIntervalMs ?? 100)) return
    lastReport = now
    opts.onProgress({ ...progress })
  }

  // A batch opened on this thread is written from here, each file's writes in order (see
  // FileWriter), at most WRITE_BYTES_IN_FLIGHT of plaintext waiting; a batch a worker opens, the
  // worker writes into the files itself (FileWriter.lease keeps them open until it is done).
  const writer = new FileWriter(WRITE_BYTES_IN_FLIGHT, (f, e) => errors.push(issueOf(f.path, e)), tmpOf)
  const finishFile = (f: FileJob) => {
    writer.then(f, async () => {
      await pacer.maybe()
      if (f.failed) return // its temporary file goes at the end (a worker may still hold it open)
      try {
        // Owner, mode and times through the descriptor the writes used (an empty file's is opened
        // here): no path lookups through the folders for each. A file whose descriptor was closed
        // early (too many open) is set by its path instead of being opened again.
        const fd = writer.detach(f) ?? (f.created ? undefined : openSync(tmpOf(f), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600))
        f.created = true
        if (fd === undefined) {
          // The owner before the mode: a chown clears the set-user-ID and set-group-ID bits.
          if (chown) lchownSync(tmpOf(f), f.node.uid, f.node.gid)
          chmodSync(tmpOf(f), f.node.mode & modeMask)
          utimesSync(tmpOf(f), utimeOf(f.node.mtime), utimeOf(f.node.mtime))
        } else {
          try {
            setMetadata(fd, metaOf(f), chown)
          } finally {
            closeSync(fd)
          }
        }
        replace(tmpOf(f), f.path)
        f.finished = true
        if (f.replaces) filesReplaced++
        else filesNew++
      } catch (e) {
        throw new TargetError(f.path.toString(), e)
      }
      progress.filesDone++
      report()
    }, true)
  }
  const metaOf = (f: FileJob): FileMeta => ({ uid: f.node.uid, gid: f.node.gid, mode: f.node.mode & modeMask, mtime: f.node.mtime })
  /** A file a worker created, wrote and finished (see FileFinish), or could not finish (`failure`). */
  const finishedOnWorker = (f: FileJob, failure: ErrorChain | undefined) => {
    writer.then(f, async () => {
      if (f.failed) return
      if (failure) throw new TargetError(f.path.toString(), fromErrorChain(failure))
      f.finished = true
      if (f.replaces) filesReplaced++
      else filesNew++
      progress.filesDone++
      report()
    }, true)
  }

  let packsRead = 0
  let bytesDownloaded = 0
  let filesNew = 0
  let filesReplaced = 0
  const threads = opts.threads ?? defaultOpenThreads(totalBytes)
  const verifyIds = opts.verifyIds ?? true
  const pool = threads > 0 ? new BlobOpenPool(repo.keys, threads, { verifyIds }) : undefined
  // With workers, every buffer they read from or write into is shared memory: nothing is copied or
  // transferred between threads.
  const alloc = bufferAllocator(pool)
  const outs = new BufferPool(alloc)
  const readsInto = repo.backend.loadInto !== undefined
  const runBytes = readsInto && !repo.backend.remote ? Math.max(LOCAL_RUN_BYTES, repo.config.chunker.max + BLOB_OVERHEAD) : Infinity
  const ranges = new BufferPool(alloc, Math.min(runBytes, repo.config.packSize + MAX_GAP))

  // Blobs opened on this thread leave node:crypto's output buffers behind: a young-generation
  // collection every 4 MiB keeps them from piling up (1 GB restore on 2 cores: 30 MiB less peak RSS).
  const garbage = new YoungGarbage(4 * 1024 * 1024)
  /**
   * Queues the writes of a batch's plaintexts; `out` goes back to its pool once all are written.
   * After a worker's failed write, `written` says which writes the worker made and `failed` which
   * one failed: the rest are made here.
   */
  const queueWrites = async (batch: PackBlob[], plains: Uint8Array[], out: Buffer, written?: (k: number, n: number) => boolean, failed?: (k: number, n: number) => boolean, finish: (f: FileJob, k: number, n: number) => void = finishFile) => {
    let uses = 1
    const release = () => {
      if (--uses === 0) outs.give(out)
    }
    for (let k = 0; k < batch.length; k++) {
      const targets = batch[k].targets
      for (let n = 0; n < targets.length; n++) {
        const t = targets[n]
        if (written?.(k, n)) progress.bytesDone += plains[k].length
        else if (!failed?.(k, n)) {
          uses++
          await writer.write(t.file, plains[k], t.offset, release)
          await pacer.maybe()
          progress.bytesDone += plains[k].length
        }
        if (--t.file.remaining === 0) finish(t.file, k, n)
      }
    }
    release()
  }

  try {
    for (const f of files) if (f.remaining === 0) finishFile(f)
    const packs = [...byPack.entries()]
    planned.clear()
    // Runs read at once: one more than the threads opening blobs (this one included). Measured on a
    // 1 GB restore with one worker: four took 17 MiB more peak RSS than three and were no faster.
    await mapLimit(packs, 2 + Math.max(1, threads), async ([packIdBytes, blobs]) => {
      throwIfAborted(opts.signal, 'restore')
      const packId = toHex(packIdBytes)
      blobs.sort((a, b) => a.loc.offset - b.loc.offset)
      // Group into runs so one read covers nearby blobs.
      let i = 0
      while (i < blobs.length) {
        let j = i + 1
        const start = blobs[i].loc.offset
        let end = start + blobs[i].loc.length
        while (j < blobs.length && blobs[j].loc.offset - end <= MAX_GAP && blobs[j].loc.offset + blobs[j].loc.length - start <= runBytes) {
          end = Math.max(end, blobs[j].loc.offset + blobs[j].loc.length)
          j++
        }
        // Runs are read into reused buffers where the backend can (fresh ones cost page faults on
        // every read), shared memory the workers open blobs from; what a backend that cannot returns
        // is copied there. (S3 reads into it as the response arrives: copying a whole 16 MiB run into
        // shared memory afterwards held the event loop for tens of milliseconds.)
        const into = readsInto ? ranges.take(end - start) : undefined
        let data = await repo.loadRange(packId, start, end - start, into)
        packsRead++
        bytesDownloaded += data.length
        throwIfAborted(opts.signal, 'restore')
        let copied: Buffer | undefined
        if (pool && !isShared(data)) {
          copied = ranges.take(data.length)
          copied.set(data)
          data = copied.subarray(0, data.length)
        }
        // Opened in batches of at most BATCH_RAW_BYTES of plaintext (or one blob) and BATCH_TARGETS
        // writes, each into a reused buffer: on a worker when one has room (which then also writes
        // the plaintexts into their files), else on this thread.
        const opens: Array<Promise<void>> = []
        const writes: Array<Promise<void>> = []
        let a = i
        while (a < j) {
          let b = a + 1
          let raw = blobs[a].loc.rawLength
          let targets = blobs[a].targets.length
          // A batch opened on this thread is smaller, so the event loop gets a turn between batches.
          const limit = pool?.hasRoom() ? BATCH_RAW_BYTES : HERE_RAW_BYTES
          while (b < j && raw + blobs[b].loc.rawLength <= limit && targets + blobs[b].targets.length <= BATCH_TARGETS) {
            raw += blobs[b].loc.rawLength
            targets += blobs[b++].targets.length
          }
          const batch = blobs.slice(a, b)
          const out = outs.take(raw)
          if (pool?.hasRoom()) {
            // A file that failed gets no descriptor (-1): the worker leaves its writes out. A file
            // of one blob the worker creates, writes and finishes itself (CREATE, see FileFinish):
            // for a small file, creating it, setting its owner, mode and times and renaming it
            // into place cost more system time than its write. Leasing creates the other files on
            // this thread, and creating a file can take milliseconds on a busy disk: a turn
            // whenever the slice is used up, between one file and the next (a leased file is
            // busy: nothing closes it meanwhile).
            // A restore that has stopped (a full disk, say) sends no more files to create.
            writer.check()
            const fileWrites: FileWrites = []
            const leased: number[][] = []
            for (const blob of batch) {
              const writes: FileWrites[number] = []
              const fds: number[] = []
              for (const t of blob.targets) {
                const f = t.file
                if (f.single && !f.created && !f.failed) {
                  // From here its temporary file may exist: a restore that stops removes it.
                  f.created = true
                  writes.push([CREATE, t.offset, { tmp: tmpOf(f), path: f.path, meta: metaOf(f), chown }])
                  fds.push(-1)
                } else {
                  const fd = writer.lease(f)
                  writes.push([fd, t.offset])
                  fds.push(fd)
                  await pacer.maybe()
                }
              }
              fileWrites.push(writes)
              leased.push(fds)
            }
            const byWorker = (k: number, n: number) => fileWrites[k][n][0] === CREATE
            const opened = openOnPool(pool, batch, data, start, out, fileWrites).finally(() => {
              batch.forEach((blob, k) => blob.targets.forEach((t, n) => writer.unlease(t.file, leased[k][n])))
            })
            opens.push(opened.then(() => undefined))
            const written = opened.then(async (result) => {
              const unfinished = new Map(result.finishFailures.map(([k, n, why]) => [`${k}:${n}`, why]))
              const finish = (f: FileJob, k: number, n: number) => (byWorker(k, n) ? finishedOnWorker(f, unfinished.get(`${k}:${n}`)) : finishFile(f))
              if (!result.failedWrite) {
                outs.give(out)
                batch.forEach((blob, k) =>
                  blob.targets.forEach((t, n) => {
                    progress.bytesDone += blob.loc.rawLength
                    if (--t.file.remaining === 0) finish(t.file, k, n)
                  }),
                )
                return
              }
              // The worker stopped at a write that failed: that file fails (or the restore stops,
              // for a full disk), and the writes after it are made here (the files it was to
              // create after that one it never touched).
              const { index, target, error, created } = result.failedWrite
              const before = (k: number, n: number) => k < index || (k === index && n < target)
              batch.forEach((blob, k) =>
                blob.targets.forEach((t, n) => {
                  // Whatever is at a temporary name the worker did not create is not the restore's to remove.
                  if (byWorker(k, n) && !before(k, n) && !(k === index && n === target && created)) t.file.created = false
                }),
              )
              writer.fail(batch[index].targets[target].file, error)
              await queueWrites(batch, views(batch, out), out, before, (k, n) => k === index && n === target, (f, k, n) => (before(k, n) ? finish(f, k, n) : finishFile(f)))
            })
            written.catch(() => {}) // a failed open or write is reported through `opens`
            writes.push(written)
            await pacer.maybe()
          } else {
            // Runs of other packs open batches here too: each starts in a slice of the shared pacer,
            // so they do not follow each other in one turn of the event loop.
            await pacer.maybe()
            const plains = openHere(repo, batch, data, start, out, verifyIds)
            garbage.add(raw)
            await queueWrites(batch, plains, out)
            // With workers, a turn after every batch: their answers wait for it.
            if (pool) await pacer.yield()
            else await pacer.maybe()
          }
          a = b
        }
        await Promise.all(opens)
        // Every blob of the run is opened: its bytes are no longer needed.
        if (into) ranges.give(into)
        if (copied) ranges.give(copied)
        await Promise.all(writes)
        report()
        i = j
      }
    })
    await writer.drain(files)
  } catch (e) {
    // Workers may still be writing into open files: they stop before any file is closed, and
    // nothing else starts meanwhile (runs still in flight find the writer stopped).
    writer.stop()
    await pool?.close()
    await writer.abort(files)
    for (const f of files) {
      if (!f.created || f.finished) continue
      try {
        rmSync(tmpOf(f), { force: true })
      } catch {
        // its folder is gone or replaced: the error that stopped the restore is the one to report
      }
    }
    throw e
  } finally {
    await pool?.close()
  }
  // The files that failed leave no temporary file behind (no worker holds one open any more).
  await writer.abort(files)
  for (const f of files) {
    if (f.created && !f.finished) {
      try {
        rmSync(tmpOf(f), { force: true })
      } catch {
        // reported with the file's own error
      }
    }
  }

  // Past this point an error is one entry's: it is reported, and the rest goes on.
  const attempt = (path: Buffer, fn: () => void): boolean => {
    try {
      fn()
      return true
    } catch (e) {
      const err = e instanceof TargetError ? e : new TargetError(path.toString(), e)
      if (stopsRestore(err)) throw err
      errors.push(issueOf(path, err))
      return false
    }
  }
  let linksRestored = 0
  for (const l of links) {
    await pacer.maybe()
    if (blockedBy(l.path)) continue
    const done = attempt(l.path, () => {
      removeIfNotDir(l.path)
      symlinkSync(Buffer.from(l.node.target!), l.path)
      if (chown) lchownSync(l.path, l.node.uid, l.node.gid)
      lutimesSync(l.path, utimeOf(l.node.mtime), utimeOf(l.node.mtime))
    })
    if (done) linksRestored++
  }
  const deleted: string[] = []
  if (opts.delete) {
    for (const p of extras()) {
      await pacer.maybe()
      if (attempt(p, () => rmSync(p, { recursive: true, force: true }))) deleted.push(p.toString())
    }
  }
  // Directory metadata last, deepest first, so writing inside does not change it again: also for a
  // folder some of whose entries failed.
  let dirsRestored = 0
  for (const d of dirs) {
    await pacer.maybe()
    if (failedDirs.has(d.path)) continue
    const done = attempt(d.path, () => {
      if (chown) lchownSync(d.path, d.node.uid, d.node.gid)
      chmodSync(d.path, d.node.mode & 0o7777)
      // [0, 0]: the backup did not record folder times (BackupOptions.dirTimes).
      if (d.node.mtime[0] !== 0 || d.node.mtime[1] !== 0) utimesSync(d.path, utimeOf(d.node.mtime), utimeOf(d.node.mtime))
    })
    if (done) dirsRestored++
  }
  report(true)
  return {
    ...base,
    filesNew,
    filesReplaced,
    deleted,
    filesRestored: progress.filesDone,
    dirsRestored,
    symlinksRestored: linksRestored,
    bytesRestored: progress.bytesDone,
    packsRead,
    bytesDownloaded,
    idsVerified: verifyIds,
    requests: countsSince(repo.requests(), requestsBefore),
    durationMs: Math.round(performance.now() - started),
    // In path order: files finish in whatever order their packs are read.
    errors: errors.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  }
}

/**
 * Errors after which every later file would fail the same way (the target is full or read-only, the
 * disk fails, no descriptor is left): they stop the restore. Any other error of the target is one
 * entry's, and the restore goes on. EFBIG is a file larger than the target takes, or past a
 * file-size limit; it is what a full disk looks like under `ulimit -f`, and taken as one.
 */
const STOPS_RESTORE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO', 'EMFILE', 'ENFILE'])

/** Whether `e` stops the whole restore: anything but a TargetError, or one whose cause STOPS_RESTORE. */
function stopsRestore(e: unknown): boolean {
  if (!(e instanceof TargetError)) return true
  for (let c: unknown = e.cause; c instanceof Error; c = c.cause) {
    if (STOPS_RESTORE.has((c as NodeJS.ErrnoException).code ?? '')) return true
  }
  return false
}

/** A TargetError as a report entry: the path, and why without the path again. */
function issueOf(path: Buffer, e: unknown): RestoreIssue {
  const cause = e instanceof TargetError ? e.cause : e
  return { path: path.toString(), message: cause instanceof Error ? cause.message : String(cause) }
}

/** The folder a path lies in, as a map key (latin1 keeps every byte of a name). */
function parentKey(path: Buffer): string {
  return path.subarray(0, path.lastIndexOf(sep)).toString('latin1')
}

/**
 * Reused buffers in power-of-two size classes (64 KiB up), so a small blob waiting to be written
 * holds a small buffer: with one size for all (a sealed maximal chunk, 4 MiB), restoring 2,000 small
 * files held ~90 MiB of scratch for 16 MiB of writes in flight. Kept: as many of each class as were
 * ever in use at once, which the writer's bytes-in-flight limit bounds.
 */
class BufferPool {
  private readonly free = new Map<number, Buffer[]>()
  /** `fixed`: every buffer has this size (requests above it get a buffer of their own, not kept). */
  constructor(
    private readonly alloc: (n: number) => Buffer,
    private readonly fixed?: number,
  ) {}
  take(need: number): Buffer {
    const size = this.fixed ?? sizeClass(need)
    if (need > size) return this.alloc(need)
    return this.free.get(size)?.pop() ?? this.alloc(size)
  }
  give(b: Buffer): void {
    if (this.fixed !== undefined && b.length !== this.fixed) return
    if (this.fixed === undefined && b.length !== sizeClass(b.length)) return
    let list = this.free.get(b.length)
    if (!list) this.free.set(b.length, (list = []))
    list.push(b)
  }
}

/** The smallest power of two of at least 64 KiB that holds `n` bytes. */
function sizeClass(n: number): number {
  return Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, n))))
}

/** The plaintext views of a batch opened into `out`: one after another, rawLength each. */
function views(batch: PackBlob[], out: Buffer): Uint8Array[] {
  let at = 0
  return batch.map((b) => out.subarray(at, (at += b.loc.rawLength)))
}

/**
 * Opens a batch on this thread into `out` (one plaintext after another); a blob the runtime cannot
 * decompress in place (brotli, or zstd without node:zlib's) gets a buffer of its own.
 */
function openHere(repo: Repository, batch: PackBlob[], data: Uint8Array, start: number, out: Buffer, verifyIds: boolean): Uint8Array[] {
  return views(batch, out).map((target, k) => {
    const b = batch[k]
    const sealed = data.subarray(b.loc.offset - start, b.loc.offset - start + b.loc.length)
    return repo.openBlob(BlobType.Data, b.id, sealed, b.loc.rawLength, b.loc.codec, b.loc.packId, target, verifyIds)
  })
}

/**
 * Opens a batch on a worker into `out`, and writes it into its files. A blob that fails is thrown
 * like Repository.openBlob does; a write that fails is returned (every blob is opened into `out` by
 * then): which one, and a TargetError naming its file. The worker made the writes before it.
 */
async function openOnPool(pool: BlobOpenPool, batch: PackBlob[], data: Uint8Array, start: number, out: Buffer, writes: FileWrites): Promise<{ finishFailures: FinishFailure[]; failedWrite?: { index: number; target: number; error: TargetError; created: boolean } }> {
  try {
    const finishFailures = await pool.open(
      data,
      batch.map((b) => b.id),
      batch.map((b) => [b.loc.offset - start, b.loc.length, b.loc.rawLength, b.loc.codec]),
      out,
      writes,
    )
    return { finishFailures }
  } catch (e) {
    if (e instanceof BlobWriteFailed) {
      const cause = Object.assign(new Error(e.message), { code: e.code })
      return { finishFailures: e.finishFailures, failedWrite: { index: e.index, target: e.target, error: new TargetError(batch[e.index].targets[e.target].file.path.toString(), cause), created: e.created } }
    }
    if (!(e instanceof BlobOpenFailed)) throw e
    const b = batch[e.index]
    throw new CorruptObjectError('data blob', `${toHex(b.id)} in pack ${toHex(b.loc.packId)}`, e.message, { cause: e })
  }
}

/** Files kept open between writes; past this many an idle one is closed (reopened when needed). */
const MAX_OPEN = 128
/**
 * Writes in one batch at most: a worker's batch keeps every file it writes into open until it is
 * done, so a batch of many small files must not hold more descriptors than MAX_OPEN allows for.
 */
const BATCH_TARGETS = 32
/** Plaintext of one batch opened on the calling thread (a worker's batch may hold BATCH_RAW_BYTES). */
const HERE_RAW_BYTES = 1024 * 1024
/**
 * Plaintext bytes queued for writing and not yet written, before the reader waits. Writes run as soon
 * as their file's chain reaches them, so this is rarely reached; it bounds what a slow target piles up.
 */
const WRITE_BYTES_IN_FLIGHT = 8 * 1024 * 1024

/**
 * Writes blobs into the restored files: each file's writes run in order on its own promise chain,
 * synchronously on this thread (writeSync) once the chain reaches them; `write` returns as soon as
 * the write is queued (it waits only while too many bytes are in flight). A file whose write or
 * finish fails is marked failed and reported, and gets no more writes; an error that stops the
 * restore (a full disk, see stopsRestore) stops everything and is rethrown.
 *
 * Writing through the libuv thread pool instead (FileHandle.write, so that this thread could open
 * blobs meanwhile) was as fast or slower and held 15–35 MiB more at the peak: four threads copying
 * into the page cache compete for the same cores as the blob workers, and each write's buffer stays
 * in use until a pool thread gets to it. Measured on Node 24, raw key, alternating runs: the 1 GB
 * mixed set 1.66–1.85 s and 147–151 MiB through the pool, 1.51–2.01 s and 130–133 MiB here; the 2 GB
 * file 2.80–2.94 s and 164–177 MiB, 2.47–2.73 s and 135–140 MiB; the 2,000-file memory folder
 * 1.36–1.62 s and 143–146 MiB, 1.31–1.54 s and 124–125 MiB.
 *
 * A worker that opened a batch writes it too (lease/unlease): the system time of writing, the larger
 * part of a restore's CPU time, is then shared by both threads, and no plaintext waits for this one.
 * Measured on Node 24, raw key, 1 GB mixed set, alternating runs: 1.70–2.54 s all written here,
 * 1.50–1.86 s shared, with 12 s between restores (when writing cost the most system time here);
 * 1.54–1.90 s and 1.45–1.88 s one right after another.
 *
 * Creating the files and renaming them into place on the thread pool (fs.open, fs.rename) instead,
 * so that a busy disk's journal waits do not hold this thread, made the 16,000-file notes corpus
 * restore 20% slower (Node 24, alternating runs, medians of 3: 5.0 s here, 6.2 s on the pool) with
 * the same largest loop delays (110–190 ms here, 108–143 ms there): kept here.
 */
class FileWriter {
  private inFlight = 0
  private waiters: Array<() => void> = []
  private failure: unknown
  private readonly openFiles = new Set<FileJob>()

  /** `onFileError`: a file failed (and is marked so); the restore goes on without it. */
  constructor(
    private readonly limit: number,
    private readonly onFileError: (f: FileJob, e: unknown) => void,
    /** A file's temporary name. */
    private readonly tmpOf: (f: FileJob) => Buffer,
  ) {}

  /** Queues a write; `release` runs once it is done (or skipped: its file or the restore failed). */
  async write(f: FileJob, data: Uint8Array, offset: number, release?: () => void): Promise<void> {
    if (this.failure !== undefined || f.failed) release?.()
    this.rethrow()
    if (f.failed) return
    while (this.inFlight >= this.limit) {
      await new Promise<void>((r) => this.waiters.push(r))
      this.rethrow()
    }
    this.inFlight += data.length
    f.busy++
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      f.busy--
      this.inFlight -= data.length
      release?.()
      for (const w of this.waiters.splice(0)) w()
    }
    this.then(
      f,
      async () => {
        try {
          if (f.failed) return
          const fd = this.handle(f)
          let done = 0
          while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done)
        } catch (e) {
          throw new TargetError(f.path.toString(), e)
        } finally {
          settle()
        }
      },
      true,
    )
    // A write skipped because the restore failed first still gives its buffer back.
    void f.chain!.then(settle)
  }

  /**
   * Runs `fn` after everything queued for `f`, unless the restore failed, or `f` did (unless
   * `always`). A TargetError fails `f` only (see fail); any other error stops the restore and is
   * rethrown by later calls.
   */
  then(f: FileJob, fn: () => Promise<void>, always = false): void {
    f.chain = (f.chain ?? DONE).then(async () => {
      if (this.failure === undefined && (always || !f.failed)) await fn()
    })
    f.chain = f.chain.catch((e: unknown) => this.fail(f, e))
  }

  /**
   * An error writing or finishing `f`: `f` fails and is reported, and nothing more is written to it;
   * an error that stops the restore (see stopsRestore) is kept and rethrown by later calls instead.
   */
  fail(f: FileJob, e: unknown): void {
    if (stopsRestore(e)) {
      this.failure ??= e
      for (const w of this.waiters.splice(0)) w()
    } else if (!f.failed) {
      f.failed = true
      this.onFileError(f, e)
    }
  }

  /**
   * The open descriptor of `f` for a worker to write into, or -1 when `f` failed (the worker leaves
   * its writes out); `f` counts as busy (it stays open) until unlease. Writes queued here for `f` may
   * run at the same time: they cover other bytes.
   */
  lease(f: FileJob): number {
    this.rethrow()
    if (f.failed) return -1
    let fd: number
    try {
      fd = this.handle(f)
    } catch (e) {
      this.fail(f, new TargetError(f.path.toString(), e))
      this.rethrow()
      return -1
    }
    f.busy++
    return fd
  }

  unlease(f: FileJob, fd: number): void {
    if (fd >= 0) f.busy--
  }

  private handle(f: FileJob): number {
    if (f.fd === undefined) {
      if (this.openFiles.size >= MAX_OPEN) {
        for (const other of this.openFiles) {
          if (other.busy === 0) {
            this.close(other)
            break
          }
        }
      }
      if (!f.created) {
        f.fd = openSync(this.tmpOf(f), constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        f.created = true // new and empty: the writes cover every byte, so no truncate
      } else {
        f.fd = openSync(this.tmpOf(f), constants.O_RDWR | constants.O_NOFOLLOW)
      }
    }
    this.openFiles.delete(f)
    this.openFiles.add(f) // most recently used last
    return f.fd
  }

  /** Takes `f`'s open descriptor out of the writer's hands (the caller closes it), or undefined when it is not open. */
  detach(f: FileJob): number | undefined {
    const fd = f.fd
    if (fd === undefined) return undefined
    this.openFiles.delete(f)
    f.fd = undefined
    return fd
  }

  close(f: FileJob): void {
    const fd = f.fd
    if (fd === undefined) return
    this.openFiles.delete(f)
    f.fd = undefined
    closeSync(fd)
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure
  }

  /** Throws the error that stopped the restore, if one did. */
  check(): void {
    this.rethrow()
  }

  /** Waits for every queued write and file finish; throws an error that stopped the restore. */
  async drain(files: FileJob[]): Promise<void> {
    for (const f of files) await f.chain
    this.rethrow()
  }

  /** After a failure: nothing more is written, queued or leased from now on. */
  stop(): void {
    this.failure ??= new Error('restore aborted')
    for (const w of this.waiters.splice(0)) w()
  }

  /**
   * Lets queued work stop, then closes every file still open (those that failed, or all after an
   * error that stopped the restore). No worker may hold a lease any more.
   */
  async abort(files: FileJob[]): Promise<void> {
    this.stop()
    for (const f of files) await f.chain
    for (const f of [...this.openFiles]) {
      try {
        this.close(f)
      } catch {
        // already failed
      }
    }
  }
}

/** The folder at `parts` below `root`, or undefined when a part is missing or not a folder. */
async function findFolder(repo: Repository, root: Uint8Array, parts: string[]): Promise<{ tree: Uint8Array; rel: string } | undefined> {
  let tree = root
  for (const part of parts) {
    const node = (await repo.loadTree(tree)).nodes.find((n) => Buffer.from(n.name).toString() === part)
    if (!node || node.type !== 'dir') return undefined
    tree = node.subtree!
  }
  return { tree, rel: parts.join('/') }
}

async function firstFolder(repo: Repository, root: Uint8Array, candidates: string[][]): Promise<{ tree: Uint8Array; rel: string } | undefined> {
  for (const parts of candidates) {
    const f = await findFolder(repo, root, parts)
    if (f) return f
  }
  return undefined
}

/** Whether `path` is a folder (not a link to one). */
function isDir(path: Buffer): boolean {
  try {
    return lstatSync(path).isDirectory()
  } catch {
    return false
  }
}

function readlinkOr(path: Buffer): Buffer | undefined {
  try {
    return readlinkSync(path, { encoding: 'buffer' })
  } catch {
    return undefined
  }
}

/**
 * Creates the target folder and the missing folders above it, one at a time: Node's recursive
 * mkdir loops for ever on a parent that refuses new entries with ENOENT (/proc), so it is not used.
 */
function makeTargetDir(path: Buffer): void {
  const missing: string[] = []
  for (let p = path.toString(); ; ) {
    try {
      if (!statSync(p).isDirectory()) throw new TargetError(path.toString(), new Error(`${p} exists and is not a folder`))
      break
    } catch (e) {
      if (e instanceof TargetError) throw e
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TargetError(path.toString(), e)
      missing.push(p)
      const up = dirname(p)
      if (up === p) break
      p = up
    }
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m, { mode: 0o700 })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue
      throw new TargetError(path.toString(), new Error(`cannot create the folder ${m} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): choose a target where you can create folders`, { cause: e }))
    }
  }
}

/** Creates a directory; an existing one is kept, but never a symlink or a file in its place. */
function makeDir(path: Buffer, isRoot: boolean): void {
  try {
    mkdirSync(path, { recursive: isRoot, mode: 0o700 })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new TargetError(path.toString(), e)
  }
  const st = isRoot ? undefined : lstatSync(path)
  if (st && !st.isDirectory()) {
    if (st.isSymbolicLink() || st.isFile()) {
      unlinkSync(path)
      mkdirSync(path, { mode: 0o700 })
    } else throw new TargetError(path.toString(), new Error('exists and is not a directory'))
  }
}

function removeIfNotDir(path: Buffer): void {
  try {
    const st = lstatSync(path)
    if (st.isDirectory()) throw new Error('a directory is in the way')
    unlinkSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}
