import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { BackendError, MemoryBackend, Repository, type Backend, type ByteRange, type FileType, type Handle } from '../src/index.js'
import type { ListedFile } from '../src/backend/backend.js'
import { BlobSaver } from '../src/archiver/blob-saver.js'
import { Packer, type StoredPack } from '../src/repository/packer.js'
import { BlobType, encodeObject, type TreeNode } from '../src/repository/repofile.js'
import { toHex } from '../src/crypto/ids.js'

/** Cheap Argon2id settings so tests do not spend seconds in the KDF. */
export const FAST_KDF = { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 }
/** Small chunks so tests exercise multi-chunk files without megabytes of data. */
export const SMALL_CHUNKS = { min: 4 * 1024, avg: 16 * 1024, max: 64 * 1024 }

const dirs: string[] = []

export function tempDir(label = 'ssc'): string {
  const d = mkdtempSync(join(tmpdir(), `${label}-`))
  dirs.push(d)
  return d
}

export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
}

export async function memoryRepo(opts: { packSize?: number; compression?: 'auto' | 'off' } = {}): Promise<{ repo: Repository; backend: MemoryBackend }> {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'test', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: opts.packSize ?? 256 * 1024, compression: opts.compression })
  return { repo, backend }
}

/**
 * Deterministic pseudo-random bytes, incompressible: the AES-256-CTR key stream of a key made from
 * `seed`. (An xorshift generator was used before: all its seeds walk one cycle, so one seed's bytes
 * could run into another's start — two test files then shared a 1.8 MB span, and what deduplicated
 * depended on the repository's random chunker key.)
 */
export function randomBytesSeeded(n: number, seed: number): Buffer {
  const key = Buffer.alloc(32)
  key.writeUInt32BE(seed >>> 0, 0)
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n))
}

export interface TreeShape {
  [name: string]: { type: 'file'; mode: number; mtimeUs: number; data: string } | { type: 'dir'; mode: number; mtimeUs: number } | { type: 'symlink'; target: string }
}

/**
 * Everything a restore must reproduce: types, bytes, modes, link targets, and modification times in
 * whole microseconds (what utimes sets exactly on every Node; read as a bigint, since a double
 * rounds a time like x.208999999 s up to x.209 s while a restored x.208999 s stays below it).
 */
export function describeTree(root: string, withDirTimes = true): TreeShape {
  const out: TreeShape = {}
  const walk = (dir: Buffer, rel: string) => {
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from('/'), name])
      const r = rel ? `${rel}/${name.toString('hex')}` : name.toString('hex')
      const st = lstatSync(p, { bigint: true })
      const mtimeUs = Number(st.mtimeNs / 1000n)
      const mode = Number(st.mode) & 0o7777
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', target: readlinkSync(p, { encoding: 'buffer' }).toString('hex') }
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode, mtimeUs: withDirTimes ? mtimeUs : 0 }
        walk(p, r)
      } else out[r] = { type: 'file', mode, mtimeUs, data: readFileSync(p).toString('base64') }
    }
  }
  walk(Buffer.from(root), '')
  return out
}

/**
 * A test backend that passes every required call to `inner`; subclasses override what they change.
 * It offers none of the optional calls (staging files, `loadInto`), so every write a test decorator
 * should see goes through save() and every read through load().
 */
export class PassThrough implements Backend {
  constructor(readonly inner: Backend) {}
  get location(): string {
    return this.inner.location
  }
  save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    return this.inner.save(h, data, opts)
  }
  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.inner.load(h, range)
  }
  stat(h: Handle): Promise<{ size: number }> {
    return this.inner.stat(h)
  }
  remove(h: Handle): Promise<void> {
    return this.inner.remove(h)
  }
  list(type: FileType): AsyncIterable<ListedFile> {
    return this.inner.list(type)
  }
}

/** Whole-file and ranged loads by kind of file: what a repository read from storage. */
export class LoadTally extends PassThrough {
  loads: Record<string, number> = {}
  override load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.loads[h.type] = (this.loads[h.type] ?? 0) + 1
    return this.inner.load(h, range)
  }
  of(type: FileType): number {
    return this.loads[type] ?? 0
  }
}

/** The error every simulated failure throws. */
export function simulatedCrash(op: string, h: Handle): BackendError {
  return new BackendError(op, `${h.type}/${h.name}`, new Error('simulated crash'))
}

/**
 * Lets the first `allowed` mutating requests through and fails every later one, as a process that
 * dies after k writes (lock files are exempt, so the operation's own lock handling still runs).
 */
export class CrashAfter extends PassThrough {
  writes = 0
  crashed = false
  constructor(
    inner: Backend,
    public allowed = Infinity,
  ) {
    super(inner)
  }
  /** From now on, let k more writes through and fail the rest (an instance that lives on after the failure). */
  arm(k: number): void {
    this.writes = 0
    this.allowed = k
    this.crashed = false
  }
  disarm(): void {
    this.allowed = Infinity
  }
  private gate(op: string, h: Handle): void {
    if (h.type === 'locks') return
    if (++this.writes > this.allowed) {
      this.crashed = true
      throw simulatedCrash(op, h)
    }
  }
  override async save(h: Handle, d: Uint8Array, o?: { ifAbsent?: boolean }): Promise<void> {
    this.gate('save', h)
    return this.inner.save(h, d, o)
  }
  override async remove(h: Handle): Promise<void> {
    this.gate('remove', h)
    return this.inner.remove(h)
  }
}

/** Refuses to store files of the kinds in `kinds` while they are there: storage failing for a while. */
export class FailSaves extends PassThrough {
  constructor(
    inner: Backend,
    public kinds: FileType[] = [],
  ) {
    super(inner)
  }
  override async save(h: Handle, d: Uint8Array, o?: { ifAbsent?: boolean }): Promise<void> {
    if (this.kinds.includes(h.type)) throw simulatedCrash('save', h)
    return this.inner.save(h, d, o)
  }
}

/** A backend wrapper that counts requests, for tests (the product's request counter comes with S3 support). */
export class CountingBackend extends PassThrough {
  readonly counts = { save: 0, load: 0, stat: 0, remove: 0, list: 0, bytesSaved: 0 }
  /** With `saveDelayMs`, every save takes that long, as over a network. */
  constructor(
    inner: Backend,
    readonly saveDelayMs = 0,
  ) {
    super(inner)
  }
  override save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    this.counts.save++
    this.counts.bytesSaved += data.length
    if (this.saveDelayMs > 0) return new Promise((r) => setTimeout(r, this.saveDelayMs)).then(() => this.inner.save(h, data, opts))
    return this.inner.save(h, data, opts)
  }
  override load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.counts.load++
    return this.inner.load(h, range)
  }
  override stat(h: Handle): Promise<{ size: number }> {
    this.counts.stat++
    return this.inner.stat(h)
  }
  override remove(h: Handle): Promise<void> {
    this.counts.remove++
    return this.inner.remove(h)
  }
  override list(type: FileType): AsyncIterable<ListedFile> {
    this.counts.list++
    return this.inner.list(type)
  }
}

/** A folder's files by relative path. */
export type Tree = Map<string, Buffer>

/** Makes `dir` hold exactly the files of `tree`, writing only what changed since `prev`. */
export function writeTree(dir: string, tree: Tree, prev?: Tree): void {
  for (const name of prev?.keys() ?? []) if (!tree.has(name)) unlinkSync(join(dir, name))
  for (const [name, bytes] of tree) {
    if (prev?.get(name) === bytes) continue
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), bytes)
  }
}

/** Every file below `dir`, as relative paths. */
/** Two folders of five small notes each, `a/a-0.md`… and `b/b-0.md`…, under `src`. */
export function writeTwoFolders(src: string): void {
  for (const d of ['a', 'b']) {
    mkdirSync(join(src, d), { recursive: true })
    for (let i = 0; i < 5; i++) writeFileSync(join(src, d, `${d}-${i}.md`), `in ${d} ${i}\n`.repeat(30))
  }
}

/** Temporary files (a restore's `.tmp` names) anywhere under `dir`. */
export function tempFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? tempFilesUnder(join(dir, d.name)) : d.name.includes('.tmp') ? [join(dir, d.name)] : []))
}

export function filesUnder(dir: string, rel = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) out.push(...filesUnder(dir, p))
    else out.push(p)
  }
  return out
}

/** `dir` holds exactly the files of `tree`, byte for byte. */
export function assertSameFiles(dir: string, tree: Tree, what: string): void {
  assert.deepEqual(filesUnder(dir).sort(), [...tree.keys()].sort(), `${what}: the file list differs`)
  for (const [name, bytes] of tree) assert.ok(readFileSync(join(dir, name)).equals(bytes), `${what}: ${name} differs`)
}

/** describeTree under the name the model and concurrency tests use. */
export const shapeOf = (root: string): TreeShape => describeTree(root)

/** A CLI failure: exit 1 and one clear line on stderr, `session-sync: …`, matching `message`. */
export function fails(r: { status: number | null; stdout: string; stderr: string }, message: RegExp): string {
  assert.equal(r.status, 1, `expected exit 1, got ${r.status}; stdout: ${r.stdout}; stderr: ${r.stderr}`)
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `one line on stderr expected, got: ${JSON.stringify(r.stderr)}`)
  assert.match(lines[0], /^session-sync: /)
  assert.doesNotMatch(lines[0], /unexpected error/, 'an expected error, not an internal one')
  assert.match(lines[0], message)
  return lines[0]
}

/** Tree-node metadata for forged trees. */
export const forgedMeta = { mode: 0o644, uid: 0, gid: 0, mtime: [1_600_000_000, 0] as [number, number], ctime: [1_600_000_000, 0] as [number, number], inode: 1, dev: 1 }

/** A forged file node whose content is `content` (blob ids) and whose recorded size is `size`. */
export const forgedFile = (name: string | Buffer, content: Buffer, size = 4): TreeNode => ({ ...forgedMeta, name: Buffer.from(name), type: 'file', size, content: content as TreeNode['content'] })

/**
 * Writes what a malicious repository could hold: an indexed data blob ("evil", 4 bytes), the trees
 * `build` makes with it, and a snapshot whose root tree is exactly the nodes `build` returns.
 */
export async function forgeSnapshot(
  repo: Repository,
  build: (fileContent: Buffer, dirTree: (nodes: TreeNode[]) => Promise<Buffer>) => Promise<TreeNode[]>,
  meta: { tags?: string[]; paths?: string[]; host?: string } = {},
): Promise<{ snapshot: string; root: string }> {
  const index = await repo.index()
  const stored: StoredPack[] = []
  const packer = new Packer({
    backend: repo.backend,
    encryptionKey: repo.keys.encryption,
    packSize: 1 << 20,
    maxInFlight: 1,
    onStored: (p) => {
      stored.push(p)
      for (const [type, id, offset, length, raw, codec] of p.blobs) index.add(type, id, p.id, offset, length, raw, codec)
    },
  })
  const saver = new BlobSaver(repo.keys.blobId, repo.keys.encryption, index, packer, 0)
  const content = await saver.save(BlobType.Data, Buffer.from('evil'))
  const nodes = await build(content, (n) => saver.save(BlobType.Tree, encodeObject({ v: 1, nodes: n })))
  const root = await saver.save(BlobType.Tree, encodeObject({ v: 1, nodes }))
  await packer.flush()
  await repo.saveIndexFile(stored)
  const snapshot = await repo.saveSnapshot({ time: new Date().toISOString(), host: meta.host ?? hostname(), user: 'x', paths: meta.paths ?? ['/x'], tags: meta.tags ?? [], tree: root, parents: [], excludes: [] })
  return { snapshot, root: toHex(root) }
}

/** Counts the calls of a class's (private) `start` method, e.g. how often a worker pool starts its workers. */
export function countStarts(cls: { prototype: object }): { count: () => number; restore: () => void } {
  const proto = cls.prototype as { start: (...a: unknown[]) => unknown }
  const original = proto.start
  let n = 0
  proto.start = function (this: unknown, ...a: unknown[]) {
    n++
    return original.apply(this, a)
  }
  return { count: () => n, restore: () => (proto.start = original) }
}
