import { fromHex, ID_BYTES } from '../crypto/ids.js'
import { CorruptObjectError, InvalidOptionsError, throwIfAborted } from '../errors/index.js'
import { BlobType, type TreeNode } from '../repository/repofile.js'
import type { Repository } from '../repository/repository.js'
import { toEntry, walkTree, type Entry } from '../repository/tree-walk.js'

export interface DumpOptions {
  signal?: AbortSignal
  /** How a folder is written: a POSIX tar stream (default, restic's) or a zip archive (deflated). */
  archive?: 'tar' | 'zip'
}

/** What `dump` found at a path: the entry, and its bytes (a file's content, or a folder as a tar archive). */
export interface Dump {
  entry: Entry
  /** The file's content blob by blob (each verified), or the folder and all below it as a tar or zip stream. */
  chunks: AsyncIterable<Uint8Array>
}

/**
 * The node at `path` in a snapshot: a path as `ls` prints it (`notes/todo.md`, with or without a
 * leading `/`), or relative to the backed-up folder when the snapshot holds one (`todo.md`); `""`
 * or `/` is the whole snapshot.
 */
async function findNode(repo: Repository, root: Uint8Array, path: string): Promise<{ path: string; node: TreeNode } | undefined> {
  const parts = path.split('/').filter(Boolean)
  const walk = async (tree: Uint8Array, names: string[], prefix: string[]): Promise<{ path: string; node: TreeNode } | undefined> => {
    let nodes = (await repo.loadTree(tree)).nodes
    for (let i = 0; i < names.length; i++) {
      const node = nodes.find((n) => Buffer.from(n.name).toString() === names[i])
      if (!node) return undefined
      if (i === names.length - 1) return { path: [...prefix, ...names].join('/'), node }
      if (node.type !== 'dir' || !node.subtree) return undefined
      nodes = (await repo.loadTree(node.subtree)).nodes
    }
    return undefined
  }
  const found = await walk(root, parts, [])
  if (found) return found
  // Relative to the one backed-up folder.
  const top = (await repo.loadTree(root)).nodes
  if (top.length === 1 && top[0].type === 'dir' && top[0].subtree) return walk(top[0].subtree, parts, [Buffer.from(top[0].name).toString()])
  return undefined
}

/**
 * Dumps one file of a snapshot, or a folder as a tar archive (restic's `dump`): every blob is read
 * through the repository, so it is authenticated and its id verified. Names in the archive are the
 * paths `ls` prints.
 */
export async function dump(repo: Repository, snapshot: string, path: string, opts: DumpOptions = {}): Promise<Dump> {
  const snap = await repo.findSnapshot(snapshot)
  const root = fromHex(snap.tree)
  const whole = path.split('/').filter(Boolean).length === 0
  const found = whole ? undefined : await findNode(repo, root, path)
  if (!whole && !found) throw new InvalidOptionsError(`"${path}" is not in snapshot ${snap.shortId}; list its paths with "session-sync ls ${snap.shortId}"`)
  if (found && found.node.type === 'file') return { entry: toEntry(found.path, found.node), chunks: fileChunks(repo, found.node, opts.signal) }
  if (found && found.node.type === 'symlink') throw new InvalidOptionsError(`"${found.path}" is a symbolic link (to ${Buffer.from(found.node.target ?? []).toString()}); dump its target or the folder holding it`)
  const entry: Entry = found ? toEntry(found.path, found.node) : { path: '', type: 'dir', size: 0, mode: 0o755, mtime: snap.time, uid: 0, gid: 0 }
  const tree = found ? found.node.subtree! : root
  const archive = opts.archive ?? 'tar'
  if (archive !== 'tar' && archive !== 'zip') throw new InvalidOptionsError(`archive "${String(archive)}" is not known: use tar or zip`)
  return { entry, chunks: archive === 'zip' ? zipOf(repo, tree, found, opts.signal) : tarOf(repo, tree, found, opts.signal) }
}

async function* fileChunks(repo: Repository, node: TreeNode, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const content = node.content ?? new Uint8Array(0)
  for (let o = 0; o < content.length; o += ID_BYTES) {
    throwIfAborted(signal, 'dump')
    yield await repo.loadBlob(BlobType.Data, content.subarray(o, o + ID_BYTES))
  }
}

async function* tarOf(repo: Repository, tree: Uint8Array, top: { path: string; node: TreeNode } | undefined, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  if (top) yield tarHeader(top.path, top.node)
  for await (const { path, node } of walkTree(repo, tree, top?.path ?? '', signal)) {
    throwIfAborted(signal, 'dump')
    yield tarHeader(path, node)
    if (node.type !== 'file') continue
    let written = 0
    for await (const chunk of fileChunks(repo, node, signal)) {
      written += chunk.length
      yield chunk
    }
    if (written !== node.size) throw new CorruptObjectError('file', path, `its content is ${written} bytes, its tree entry says ${node.size}`)
    if (written % 512 !== 0) yield new Uint8Array(512 - (written % 512))
  }
  yield new Uint8Array(1024) // two zero blocks end the archive
}

/** The most a zip without ZIP64 records holds (per file and in offsets), which fflate writes. */
const ZIP_LIMIT = 0xffff_ffff

/**
 * The folder as a zip stream (fflate's streaming writer, deflate level 6): files deflated, folders and
 * symbolic links stored, each with its Unix mode in the external attributes (as Info-ZIP writes them,
 * so `unzip` restores modes and links). Fails with what to do past the 4 GiB a zip without ZIP64 holds.
 */
async function* zipOf(repo: Repository, tree: Uint8Array, top: { path: string; node: TreeNode } | undefined, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  // Loaded here: its tables take ~15 ms to build, at the start of every process that imports it.
  const { Zip, ZipDeflate, ZipPassThrough } = await import('fflate')
  const out: Uint8Array[] = []
  let failure: Error | undefined
  let written = 0
  const zip = new Zip((err, data) => {
    if (err) failure = err
    else {
      out.push(data)
      written += data.length
    }
  })
  const drain = function* () {
    if (failure) throw failure
    if (written > ZIP_LIMIT) throw new InvalidOptionsError('the zip archive would pass 4 GiB, more than a zip without ZIP64 holds: dump it as tar (--archive tar) or restore it')
    yield* out.splice(0)
  }
  const entries = async function* () {
    if (top) yield top
    yield* walkTree(repo, tree, top?.path ?? '', signal)
  }
  for await (const { path, node } of entries()) {
    throwIfAborted(signal, 'dump')
    const kind = node.type === 'dir' ? 0o040000 : node.type === 'symlink' ? 0o120000 : 0o100000
    const entry = node.type === 'file' ? new ZipDeflate(path, { level: 6 }) : new ZipPassThrough(node.type === 'dir' ? `${path}/` : path)
    entry.os = 3 // Unix: the attributes' high half is st_mode
    entry.attrs = ((kind | (node.mode & 0o7777)) << 16) >>> 0
    entry.mtime = new Date(Math.max(Date.UTC(1980, 0, 2), Math.floor(node.mtime[0]) * 1000))
    zip.add(entry)
    if (node.type === 'file') {
      if (node.size >= ZIP_LIMIT) throw new InvalidOptionsError(`"${path}" is ${node.size} bytes, more than a zip without ZIP64 holds: dump it as tar (--archive tar)`)
      let size = 0
      for await (const chunk of fileChunks(repo, node, signal)) {
        size += chunk.length
        entry.push(chunk)
        yield* drain()
      }
      if (size !== node.size) throw new CorruptObjectError('file', path, `its content is ${size} bytes, its tree entry says ${node.size}`)
      entry.push(new Uint8Array(0), true)
    } else entry.push(node.type === 'symlink' ? Uint8Array.from(node.target ?? []) : new Uint8Array(0), true)
    yield* drain()
  }
  zip.end()
  yield* drain()
}

/** One ustar header block, after a PAX extended header when a name or size does not fit ustar's fields. */
function tarHeader(path: string, node: TreeNode): Uint8Array {
  const type = node.type === 'dir' ? '5' : node.type === 'symlink' ? '2' : '0'
  const name = node.type === 'dir' ? `${path}/` : path
  const link = node.type === 'symlink' ? Buffer.from(node.target ?? []) : Buffer.alloc(0)
  const size = node.type === 'file' ? node.size : 0
  const mtime = Math.max(0, Math.floor(node.mtime[0]))
  const pax: Array<[string, string]> = []
  const nameBytes = Buffer.from(name)
  if (nameBytes.length > 100) pax.push(['path', name])
  if (link.length > 100) pax.push(['linkpath', link.toString()])
  if (size > 0o77777777777) pax.push(['size', String(size)])
  const blocks: Uint8Array[] = []
  if (pax.length > 0) {
    const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)))
    blocks.push(ustar(`PaxHeaders/${nameBytes.subarray(0, 80).toString('latin1')}`, 'x', Buffer.alloc(0), body.length, mtime, 0o644, 0, 0))
    blocks.push(Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]))
  }
  blocks.push(ustar(name, type, link, size, mtime, node.mode & 0o7777, node.uid, node.gid))
  return Buffer.concat(blocks)
}

/** A PAX record: "<length> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: string): Buffer {
  const rest = Buffer.byteLength(` ${key}=${value}\n`)
  let len = rest + String(rest).length
  if (String(len).length !== String(rest).length) len = rest + String(len).length
  return Buffer.from(`${len} ${key}=${value}\n`)
}

function ustar(name: string, type: string, link: Buffer, size: number, mtime: number, mode: number, uid: number, gid: number): Buffer {
  const h = Buffer.alloc(512)
  const nameBytes = Buffer.from(name)
  // Too long names go in the PAX header; the ustar field keeps their last 100 bytes for old readers.
  nameBytes.subarray(Math.max(0, nameBytes.length - 100)).copy(h, 0)
  const octal = (v: number, at: number, width: number) => {
    const text = Math.min(v, 8 ** (width - 1) - 1).toString(8).padStart(width - 1, '0')
    h.write(`${text}\0`, at, width, 'latin1')
  }
  octal(mode, 100, 8)
  octal(uid, 108, 8)
  octal(gid, 116, 8)
  octal(size, 124, 12)
  octal(mtime, 136, 12)
  h.fill(' ', 148, 156)
  h.write(type, 156, 1, 'latin1')
  link.subarray(0, 100).copy(h, 157)
  h.write('ustar\0', 257, 6, 'latin1')
  h.write('00', 263, 2, 'latin1')
  let sum = 0
  for (const b of h) sum += b
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
  return h
}
