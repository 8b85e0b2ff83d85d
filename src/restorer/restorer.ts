import { chmodSync, closeSync, ftruncateSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeSync, constants } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { resolve, sep } from 'node:path'
import picomatch from 'picomatch'
import { countsSince, type RequestCounts } from '../backend/counter.js'
import { fromHex, ID_BYTES, toHex } from '../crypto/ids.js'
import { CorruptObjectError, TargetError, throwIfAborted, UnsafePathError } from '../errors/index.js'
import type { BlobLocation } from '../repository/blob-index.js'
import { BlobType, type TreeNode } from '../repository/repofile.js'
import { mapLimit, type Repository, type Snapshot, type SnapshotFilter } from '../repository/repository.js'

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
  /** Requests made to storage by this restore. */
  requests: RequestCounts
  durationMs: number
}

interface FileJob {
  node: TreeNode
  path: Buffer
  tmp: Buffer
  remaining: number
  created: boolean
  /** Open descriptor while the file is being written (closed when done or when too many are open). */
  fd?: number
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

const MAX_GAP = 4 * 1024 * 1024

/** Rejects names that could escape the target or are not plain names. */
export function checkName(name: Uint8Array): void {
  const s = Buffer.from(name).toString('latin1')
  if (name.length === 0) throw new UnsafePathError(s, 'empty name')
  if (s === '.' || s === '..') throw new UnsafePathError(s, 'dot name')
  if (s.includes('/')) throw new UnsafePathError(s, 'contains a slash')
  if (s.includes('\0')) throw new UnsafePathError(s, 'contains a NUL byte')
  if (sep === '\\' && s.includes('\\')) throw new UnsafePathError(s, 'contains a backslash')
}

function join(dir: Buffer, name: Uint8Array): Buffer {
  return Buffer.concat([dir, Buffer.from(sep), name])
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
  const isIncluded = opts.include?.length ? picomatch(opts.include, { dot: true }) : undefined
  const isExcluded = opts.exclude?.length ? picomatch(opts.exclude, { dot: true }) : undefined
  const chown = opts.restoreOwnership ?? process.getuid?.() === 0

  const files: FileJob[] = []
  const dirs: Array<{ node: TreeNode; path: Buffer }> = []
  const links: Array<{ node: TreeNode; path: Buffer }> = []
  const byPack = new Map<string, Map<string, PackBlob>>()
  let totalBytes = 0

  const wanted = (rel: string, isDir: boolean): 'yes' | 'no' | 'descend' => {
    if (isExcluded && isExcluded(rel)) return 'no'
    if (!isIncluded || isIncluded(rel)) return 'yes'
    return isDir ? 'descend' : 'no'
  }

  // Plan: walk the tree, validate every name, collect files and the blobs they need.
  const walk = async (treeId: Uint8Array, dir: Buffer, rel: string, all: boolean): Promise<boolean> => {
    throwIfAborted(opts.signal, 'restore')
    const tree = await repo.loadTree(treeId)
    let any = false
    for (const node of tree.nodes) {
      checkName(node.name)
      const r = rel === '' ? Buffer.from(node.name).toString() : `${rel}/${Buffer.from(node.name).toString()}`
      const w = all ? (isExcluded?.(r) ? 'no' : 'yes') : wanted(r, node.type === 'dir')
      if (w === 'no') continue
      const path = join(dir, node.name)
      if (node.type === 'dir') {
        const has = await walk(node.subtree!, path, r, w === 'yes')
        if (w === 'yes' || has) {
          dirs.push({ node, path })
          any = true
        }
      } else if (node.type === 'symlink') {
        links.push({ node, path })
        any = true
      } else {
        any = true
        const content = node.content!
        const job: FileJob = { node, path, tmp: join(dir, Buffer.from(`.session-sync-${randomBytes(6).toString('hex')}.tmp`)), remaining: 0, created: false }
        files.push(job)
        let offset = 0
        for (let o = 0; o < content.length; o += ID_BYTES) {
          const id = Buffer.from(content.subarray(o, o + ID_BYTES))
          const loc = index.get(BlobType.Data, id)
          if (!loc) throw repo.missingBlob('data blob', `${toHex(id)} (of ${r})`)
          const packKey = toHex(loc.packId)
          let blobs = byPack.get(packKey)
          if (!blobs) byPack.set(packKey, (blobs = new Map()))
          const idKey = id.toString('latin1')
          let pb = blobs.get(idKey)
          if (!pb) blobs.set(idKey, (pb = { loc, id, targets: [] }))
          pb.targets.push({ file: job, offset })
          job.remaining++
          offset += loc.rawLength
        }
        if (offset !== node.size) throw new CorruptObjectError('tree', r, `file size ${node.size} does not match its content (${offset} bytes)`)
        totalBytes += offset
      }
    }
    return any
  }

  const rootTree = fromHex(snap.tree)
  makeDir(root, true)
  await walk(rootTree, root, '', false)
  // Parents before children: `dirs` was filled bottom-up.
  for (const d of [...dirs].reverse()) makeDir(d.path, false)

  const progress: RestoreProgress = { filesDone: 0, bytesDone: 0, totalFiles: files.length, totalBytes }
  let lastReport = 0
  const report = (final = false) => {
    if (!opts.onProgress) return
    const now = performance.now()
    if (!final && now - lastReport < (opts.progressIntervalMs ?? 100)) return
    lastReport = now
    opts.onProgress({ ...progress })
  }

  const finishFile = (f: FileJob) => {
    try {
      closeFile(f)
      if (!f.created) {
        const fd = openSync(f.tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        closeSync(fd)
      }
      chmodSync(f.tmp, f.node.mode & 0o7777)
      if (chown) lchownSync(f.tmp, f.node.uid, f.node.gid)
      utimesSync(f.tmp, toDate(f.node.mtime), toDate(f.node.mtime))
      replace(f.tmp, f.path)
    } catch (e) {
      throw new TargetError(f.path.toString(), e)
    }
    progress.filesDone++
    report()
  }

  let packsRead = 0
  let bytesDownloaded = 0
  try {
    for (const f of files) if (f.remaining === 0) finishFile(f)
    const packs = [...byPack.entries()]
    await mapLimit(packs, 2, async ([packId, blobMap]) => {
      throwIfAborted(opts.signal, 'restore')
      const blobs = [...blobMap.values()].sort((a, b) => a.loc.offset - b.loc.offset)
      // Group into runs so one read covers nearby blobs.
      let i = 0
      while (i < blobs.length) {
        let j = i + 1
        let end = blobs[i].loc.offset + blobs[i].loc.length
        while (j < blobs.length && blobs[j].loc.offset - end <= MAX_GAP) {
          end = Math.max(end, blobs[j].loc.offset + blobs[j].loc.length)
          j++
        }
        const start = blobs[i].loc.offset
        const data = await repo.loadRange(packId, start, end - start)
        packsRead++
        bytesDownloaded += data.length
        throwIfAborted(opts.signal, 'restore')
        for (const b of blobs.slice(i, j)) {
          const sealed = data.subarray(b.loc.offset - start, b.loc.offset - start + b.loc.length)
          const plain = repo.openBlob(BlobType.Data, b.id, sealed, b.loc.rawLength, b.loc.codec, b.loc.packId)
          for (const t of b.targets) {
            writeAt(t.file, plain, t.offset)
            progress.bytesDone += plain.length
            if (--t.file.remaining === 0) finishFile(t.file)
          }
        }
        report()
        i = j
      }
    })
  } catch (e) {
    for (const f of files) {
      if (f.created && f.remaining > 0) {
        closeFile(f)
        rmSync(f.tmp, { force: true })
      }
    }
    throw e
  }

  for (const l of links) {
    try {
      removeIfNotDir(l.path)
      symlinkSync(Buffer.from(l.node.target!), l.path)
      if (chown) lchownSync(l.path, l.node.uid, l.node.gid)
      lutimesSync(l.path, toDate(l.node.mtime), toDate(l.node.mtime))
    } catch (e) {
      throw new TargetError(l.path.toString(), e)
    }
  }
  // Directory metadata last, deepest first, so writing inside does not change it again.
  for (const d of dirs) {
    try {
      chmodSync(d.path, d.node.mode & 0o7777)
      if (chown) lchownSync(d.path, d.node.uid, d.node.gid)
      utimesSync(d.path, toDate(d.node.mtime), toDate(d.node.mtime))
    } catch (e) {
      throw new TargetError(d.path.toString(), e)
    }
  }
  report(true)
  return {
    snapshotId: snap.id,
    target: root.toString(),
    filesRestored: files.length,
    dirsRestored: dirs.length,
    symlinksRestored: links.length,
    bytesRestored: progress.bytesDone,
    packsRead,
    bytesDownloaded,
    requests: countsSince(repo.requests(), requestsBefore),
    durationMs: Math.round(performance.now() - started),
  }
}

/**
 * Seconds as a float for utimes. libuv truncates to whole microseconds, and sec + nsec/1e9 can land
 * just below the intended microsecond; aiming at the middle of it gives back the recorded time.
 */
function toDate([sec, nsec]: [number, number]): number {
  return sec + (Math.floor(nsec / 1000) + 0.5) / 1e6
}

/** Files kept open between writes; past this many the least recently written one is closed. */
const MAX_OPEN = 128
const openFiles = new Set<FileJob>()

function writeAt(f: FileJob, data: Uint8Array, offset: number): void {
  try {
    if (f.fd === undefined) {
      if (!f.created) {
        f.fd = openSync(f.tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        ftruncateSync(f.fd, f.node.size)
        f.created = true
      } else {
        f.fd = openSync(f.tmp, constants.O_RDWR | constants.O_NOFOLLOW)
      }
      if (openFiles.size >= MAX_OPEN) closeFile(openFiles.values().next().value!)
    }
    openFiles.delete(f)
    openFiles.add(f) // most recently used last
    let done = 0
    while (done < data.length) done += writeSync(f.fd, data, done, data.length - done, offset + done)
  } catch (e) {
    throw new TargetError(f.path.toString(), e)
  }
}

function closeFile(f: FileJob): void {
  if (f.fd === undefined) return
  openFiles.delete(f)
  const fd = f.fd
  f.fd = undefined
  closeSync(fd)
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

/** Renames a finished temporary file over the final name (which must not be a directory). */
function replace(tmp: Buffer, final: Buffer): void {
  try {
    const st = lstatSync(final)
    if (st.isDirectory()) throw new Error('a directory is in the way')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  renameSync(tmp, final)
}
