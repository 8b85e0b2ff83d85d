// Property-based tests (fast-check): random file trees and random edit sequences must survive
// backup → restore exactly, and backing up an unchanged tree must add nothing.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import type { Repository } from '../src/index.js'
import { cleanup, describeTree, memoryRepo, randomBytesSeeded, tempDir, type TreeShape } from './helpers.js'

after(cleanup)

/**
 * Runs per property: modest, because every backup that reads files starts the chunk worker threads.
 * Set FC_NUM_RUNS (e.g. 500) for a longer hunt; a failure prints the seed and path to replay it.
 */
const runs = (n: number) => ({ numRuns: Number(process.env.FC_NUM_RUNS) || n })

// ---- tree model -----------------------------------------------------------------------------------

type Content =
  | { kind: 'random'; size: number; seed: number }
  | { kind: 'repeat'; size: number; pattern: Uint8Array }
  | { kind: 'zeros'; size: number }
  /** A random block followed by copies of itself: dedup inside one file, at shifted offsets. */
  | { kind: 'echo'; size: number; seed: number; block: number }
interface FileSpec {
  type: 'file'
  content: Content
  mode: number
  mtimeMs: number
}
interface LinkSpec {
  type: 'symlink'
  target: Buffer
}
interface DirSpec {
  type: 'dir'
  mode: number
  mtimeMs: number
  entries: Array<[Buffer, NodeSpec]>
}
type NodeSpec = FileSpec | LinkSpec | DirSpec

function materialize(c: Content): Buffer {
  switch (c.kind) {
    case 'random':
      return randomBytesSeeded(c.size, c.seed)
    case 'zeros':
      return Buffer.alloc(c.size)
    case 'repeat': {
      const b = Buffer.allocUnsafe(c.size)
      for (let i = 0; i < c.size; i++) b[i] = c.pattern[i % c.pattern.length]
      return b
    }
    case 'echo': {
      const block = randomBytesSeeded(Math.max(1, c.block), c.seed)
      const b = Buffer.allocUnsafe(c.size)
      for (let i = 0; i < c.size; i += block.length) block.copy(b, i, 0, Math.min(block.length, c.size - i))
      return b
    }
  }
}

/** Sizes from empty to ~200 KB: with SMALL_CHUNKS (max 64 KiB) the large ones span several chunks. */
const arbSize = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 64 }), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 8192 }), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 200_000 }), weight: 1 })
const arbContent: fc.Arbitrary<Content> = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), size: arbSize, seed: fc.integer({ min: 1, max: 0x7fffffff }) }),
  fc.record({ kind: fc.constant('repeat' as const), size: arbSize, pattern: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('zeros' as const), size: arbSize }),
  fc.record({ kind: fc.constant('echo' as const), size: arbSize, seed: fc.integer({ min: 1, max: 0x7fffffff }), block: fc.integer({ min: 1, max: 70_000 }) }),
)

const isDotName = (b: Buffer) => (b.length === 1 && b[0] === 0x2e) || (b.length === 2 && b[0] === 0x2e && b[1] === 0x2e)
/** Any bytes but '/' and NUL (mapped to neighbours), so many names are not valid UTF-8. */
const byteName = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.from(a.map((x) => (x === 0 ? 1 : x === 0x2f ? 0x30 : x))))
const unicodeName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 10 })
  .map((s) => Buffer.from(s.replace(/[/\0]/g, '_'), 'utf8'))
  .filter((b) => b.length <= 255)
const plainName = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).map((s) => Buffer.from(s))
const arbName: fc.Arbitrary<Buffer> = fc.oneof(plainName, unicodeName, byteName).filter((b) => !isDotName(b))

// Whole milliseconds, set with utimes: restores must give back the same millisecond.
const arbMtime = fc.integer({ min: Date.UTC(1960, 0, 1), max: Date.UTC(2100, 0, 1) })
/**
 * A folder's time, never exactly the epoch: a tree records [0, 0] for a folder whose time the backup
 * left out (BackupOptions.dirTimes false), so a folder dated 1970-01-01T00:00:00.000 is restored with
 * the time of the restore (the README says so).
 */
const arbDirMtime = arbMtime.filter((t) => t !== 0)
const arbFile: fc.Arbitrary<FileSpec> = fc.record({ type: fc.constant('file' as const), content: arbContent, mode: fc.constantFrom(0o644, 0o600, 0o755), mtimeMs: arbMtime })
/** Link targets: any bytes but NUL, slashes allowed; mostly dangling. */
const arbLink: fc.Arbitrary<LinkSpec> = fc.record({
  type: fc.constant('symlink' as const),
  target: fc.oneof(arbName, fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a.map((x) => (x === 0 ? 0x2f : x))))),
})
/** Most entries a directory holds, by how many levels of sub-directories may still nest below it. */
const WIDTH = [3, 3, 3, 4, 6]
/** A directory whose sub-directories nest `depth` more levels. */
function arbDir(depth: number): fc.Arbitrary<DirSpec> {
  const child: fc.Arbitrary<NodeSpec> =
    depth > 0 ? fc.oneof({ arbitrary: arbFile, weight: 4 }, { arbitrary: arbLink, weight: 1 }, { arbitrary: arbDir(depth - 1), weight: 2 }) : fc.oneof({ arbitrary: arbFile, weight: 4 }, { arbitrary: arbLink, weight: 1 })
  return fc.record({
    type: fc.constant('dir' as const),
    mode: fc.constantFrom(0o755, 0o700, 0o750),
    mtimeMs: arbDirMtime,
    entries: fc.uniqueArray(fc.tuple(arbName, child), { maxLength: WIDTH[Math.min(depth, WIDTH.length - 1)], selector: ([n]) => n.toString('hex') }),
  })
}

function bjoin(dir: Buffer, name: Uint8Array): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name])
}

function setMtime(path: Buffer, ms: number): void {
  utimesSync(path, ms / 1000, ms / 1000)
}

/** Writes the entries of a DirSpec into an existing directory (its own mode and mtime are the caller's). */
function build(dir: Buffer, spec: DirSpec): void {
  for (const [name, node] of spec.entries) {
    const p = bjoin(dir, name)
    if (node.type === 'file') {
      writeFileSync(p, materialize(node.content))
      chmodSync(p, node.mode)
      setMtime(p, node.mtimeMs)
    } else if (node.type === 'symlink') {
      symlinkSync(node.target, p)
    } else {
      mkdirSync(p)
      build(p, node)
      chmodSync(p, node.mode)
      setMtime(p, node.mtimeMs) // after the children: creating them changed it
    }
  }
}

/** Every blob the repository's index files list, by type, as hex ids (duplicates kept). */
async function storedBlobs(repo: Repository): Promise<{ data: string[]; tree: string[] }> {
  const out = { data: [] as string[], tree: [] as string[] }
  for await (const f of repo.backend.list('index')) {
    for (const p of (await repo.loadIndexFile(f.name)).packs) for (const [type, id] of p.blobs) (type === 0 ? out.data : out.tree).push(Buffer.from(id).toString('hex'))
  }
  return out
}

function countFiles(spec: DirSpec): { files: number; bytes: number } {
  let files = 0
  let bytes = 0
  for (const [, n] of spec.entries) {
    if (n.type === 'file') {
      files++
      bytes += n.content.size
    } else if (n.type === 'dir') {
      const c = countFiles(n)
      files += c.files
      bytes += c.bytes
    }
  }
  return { files, bytes }
}

/** A fresh source folder `<base>/src` holding the spec. */
function makeSource(spec: DirSpec): { base: string; src: string } {
  const base = tempDir('prop')
  const src = join(base, 'src')
  mkdirSync(src)
  build(Buffer.from(src), spec)
  return { base, src }
}

// ---- properties -----------------------------------------------------------------------------------

test('random file trees survive backup → restore unchanged', async () => {
  await fc.assert(
    fc.asyncProperty(arbDir(4), async (spec) => {
      const { base, src } = makeSource(spec)
      try {
        const { repo } = await memoryRepo()
        const s = await repo.backup([src])
        assert.deepEqual(s.errors, [])
        const { files, bytes } = countFiles(spec)
        assert.equal(s.filesNew, files)
        assert.equal(s.totalBytes, bytes)
        const out = join(base, 'out')
        const r = await repo.restore(s.snapshotId!, out)
        assert.equal(r.filesRestored, files)
        assert.equal(r.bytesRestored, bytes)
        assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
      } finally {
        rmSync(base, { recursive: true, force: true })
      }
    }),
    runs(12),
  )
})

test('no blob is stored twice; backing up an unchanged tree again adds none, with the parent and when re-reading everything (parent: false)', async () => {
  await fc.assert(
    fc.asyncProperty(arbDir(3), async (spec) => {
      const { base, src } = makeSource(spec)
      try {
        const { files, bytes } = countFiles(spec)
        const { repo } = await memoryRepo()
        const first = await repo.backup([src])
        const stored = await storedBlobs(repo)
        assert.equal(new Set(stored.data).size, stored.data.length, 'a data blob is stored twice')
        assert.equal(new Set(stored.tree).size, stored.tree.length, 'a tree blob is stored twice')
        assert.equal(stored.data.length, first.dataBlobsAdded)
        assert.equal(stored.tree.length, first.treeBlobsAdded)
        const again = await repo.backup([src])
        assert.equal(again.parent, first.snapshotId)
        assert.equal(again.dataBlobsAdded, 0)
        assert.equal(again.treeBlobsAdded, 0)
        assert.equal(again.bytesAdded, 0)
        assert.equal(again.bytesRead, 0, 'unchanged files are not read again')
        assert.equal(again.filesUnmodified, files)
        assert.equal(again.tree, first.tree)
        const forced = await repo.backup([src], { parent: false })
        assert.equal(forced.parent, undefined)
        assert.equal(forced.bytesRead, bytes, 'every file is read again')
        assert.equal(forced.filesNew, files)
        assert.equal(forced.dataBlobsAdded, 0)
        assert.equal(forced.treeBlobsAdded, 0)
        assert.equal(forced.bytesAdded, 0)
        assert.equal(forced.tree, first.tree)
        assert.equal((await repo.snapshots()).length, 3)
        assert.deepEqual(await storedBlobs(repo), stored)
      } finally {
        rmSync(base, { recursive: true, force: true })
      }
    }),
    runs(8),
  )
})

// ---- edits between backups --------------------------------------------------------------------------

type Edit =
  /** Delete `del` bytes at a position and insert others there. */
  | { op: 'splice'; pick: number; at: number; del: number; ins: Uint8Array; keepMtime: boolean }
  /** Same size, one byte different: only ctime (and mtime unless kept) tell. */
  | { op: 'flip'; pick: number; at: number; keepMtime: boolean }
  | { op: 'append'; pick: number; content: Content }
  | { op: 'truncate'; pick: number; at: number }
  | { op: 'delete'; pick: number }
  /** Unlink and write a new file of the same size, mode and mtime under the same name (the inode may be reused). */
  | { op: 'recreate'; pick: number; seed: number }
  | { op: 'add'; dir: number; name: Buffer; content: Content; mode: number }
  | { op: 'mkdir'; dir: number; name: Buffer }
  | { op: 'symlink'; dir: number; name: Buffer; target: Buffer }
  | { op: 'rename'; pick: number; dir: number; name: Buffer }
  | { op: 'chmod'; pick: number; mode: number }
  | { op: 'fileToDir'; pick: number; child: Buffer; content: Content }
  | { op: 'dirToFile'; pick: number; content: Content }
  | { op: 'touch'; pick: number; mtimeMs: number }

const pick = fc.nat()
const frac = fc.integer({ min: 0, max: 1000 })
const editMtime = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2030, 0, 1) })
const arbEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('splice' as const), pick, at: frac, del: fc.integer({ min: 0, max: 5000 }), ins: fc.uint8Array({ maxLength: 3000 }), keepMtime: fc.boolean() }),
  fc.record({ op: fc.constant('flip' as const), pick, at: frac, keepMtime: fc.boolean() }),
  fc.record({ op: fc.constant('append' as const), pick, content: arbContent }),
  fc.record({ op: fc.constant('truncate' as const), pick, at: frac }),
  fc.record({ op: fc.constant('delete' as const), pick }),
  fc.record({ op: fc.constant('recreate' as const), pick, seed: fc.integer({ min: 1, max: 0x7fffffff }) }),
  fc.record({ op: fc.constant('add' as const), dir: pick, name: arbName, content: arbContent, mode: fc.constantFrom(0o644, 0o600, 0o755) }),
  fc.record({ op: fc.constant('mkdir' as const), dir: pick, name: arbName }),
  fc.record({ op: fc.constant('symlink' as const), dir: pick, name: arbName, target: arbName }),
  fc.record({ op: fc.constant('rename' as const), pick, dir: pick, name: arbName }),
  fc.record({ op: fc.constant('chmod' as const), pick, mode: fc.constantFrom(0o644, 0o600, 0o755, 0o700, 0o750) }),
  fc.record({ op: fc.constant('fileToDir' as const), pick, child: arbName, content: arbContent }),
  fc.record({ op: fc.constant('dirToFile' as const), pick, content: arbContent }),
  fc.record({ op: fc.constant('touch' as const), pick, mtimeMs: editMtime }),
)

interface FsEntry {
  path: Buffer
  type: 'file' | 'dir' | 'symlink'
}

/** Every entry below root, in a stable order (so a pick index means the same entry on replay). */
function listEntries(root: Buffer): FsEntry[] {
  const out: FsEntry[] = []
  const walk = (dir: Buffer) => {
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = bjoin(dir, name)
      const st = lstatSync(p)
      if (st.isSymbolicLink()) out.push({ path: p, type: 'symlink' })
      else if (st.isDirectory()) {
        out.push({ path: p, type: 'dir' })
        walk(p)
      } else out.push({ path: p, type: 'file' })
    }
  }
  walk(root)
  return out
}

function exists(p: Buffer): boolean {
  try {
    lstatSync(p)
    return true
  } catch {
    return false
  }
}

const isUnder = (p: Buffer, dir: Buffer) => p.equals(dir) || (p.length > dir.length && p.subarray(0, dir.length).equals(dir) && p[dir.length] === 0x2f)

/** Runs fn and then, when asked, puts the file's atime and mtime back to the microsecond (utimes cannot set nanoseconds). */
function keepingMtime(p: Buffer, keep: boolean, fn: () => void): void {
  const st = statSync(p, { bigint: true })
  fn()
  if (!keep) return
  const toSeconds = (ns: bigint) => {
    const us = ns / 1000n
    return Number(us / 1_000_000n) + (Number(us % 1_000_000n) + 0.5) / 1e6 // +0.5 µs: libuv truncates
  }
  utimesSync(p, toSeconds(st.atimeNs), toSeconds(st.mtimeNs))
}

/** Applies one edit to the tree under root; edits that do not apply (no such entry, name taken) do nothing. */
function applyEdit(root: Buffer, e: Edit): void {
  const all = listEntries(root)
  const files = all.filter((x) => x.type === 'file')
  const dirs = [root, ...all.filter((x) => x.type === 'dir').map((x) => x.path)]
  const nth = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length])
  switch (e.op) {
    case 'splice':
    case 'flip':
    case 'append':
    case 'truncate':
    case 'recreate': {
      const f = nth(files, e.pick)
      if (!f) return
      const data = readFileSync(f.path)
      if (e.op === 'splice') {
        const at = Math.floor((data.length * e.at) / 1000)
        keepingMtime(f.path, e.keepMtime, () => writeFileSync(f.path, Buffer.concat([data.subarray(0, at), e.ins, data.subarray(Math.min(data.length, at + e.del))])))
      } else if (e.op === 'flip') {
        if (data.length === 0) return
        data[Math.min(data.length - 1, Math.floor((data.length * e.at) / 1000))] ^= 0xff
        keepingMtime(f.path, e.keepMtime, () => writeFileSync(f.path, data))
      } else if (e.op === 'append') {
        writeFileSync(f.path, materialize(e.content), { flag: 'a' })
      } else if (e.op === 'truncate') {
        writeFileSync(f.path, data.subarray(0, Math.floor((data.length * e.at) / 1000)))
      } else {
        const mode = statSync(f.path).mode & 0o7777
        keepingMtime(f.path, true, () => {
          unlinkSync(f.path)
          const fresh = randomBytesSeeded(data.length, e.seed)
          if (fresh.equals(data) && fresh.length > 0) fresh[0] ^= 1
          writeFileSync(f.path, fresh)
          chmodSync(f.path, mode)
        })
      }
      return
    }
    case 'delete': {
      const x = nth(
        all.filter((y) => y.type !== 'dir'),
        e.pick,
      )
      if (x) unlinkSync(x.path)
      return
    }
    case 'add':
    case 'mkdir':
    case 'symlink': {
      const p = bjoin(nth(dirs, e.dir)!, e.name)
      if (exists(p)) return
      if (e.op === 'add') {
        writeFileSync(p, materialize(e.content))
        chmodSync(p, e.mode)
      } else if (e.op === 'mkdir') mkdirSync(p)
      else symlinkSync(e.target, p)
      return
    }
    case 'rename': {
      const x = nth(all, e.pick)
      if (!x) return
      const dest = nth(
        dirs.filter((d) => !isUnder(d, x.path)),
        e.dir,
      )!
      const p = bjoin(dest, e.name)
      if (!exists(p)) renameSync(x.path, p)
      return
    }
    case 'chmod': {
      const x = nth(
        all.filter((y) => y.type !== 'symlink'),
        e.pick,
      )
      if (x) chmodSync(x.path, e.mode)
      return
    }
    case 'touch': {
      const x = nth(
        all.filter((y) => y.type !== 'symlink'),
        e.pick,
      )
      if (x) setMtime(x.path, e.mtimeMs)
      return
    }
    case 'fileToDir': {
      const f = nth(files, e.pick)
      if (!f) return
      unlinkSync(f.path)
      mkdirSync(f.path)
      writeFileSync(bjoin(f.path, e.child), materialize(e.content))
      return
    }
    case 'dirToFile': {
      const d = nth(
        all.filter((y) => y.type === 'dir'),
        e.pick,
      )
      if (!d) return
      rmSync(d.path, { recursive: true })
      writeFileSync(d.path, materialize(e.content))
      return
    }
  }
}

interface State {
  /** describeTree with every mtime zeroed … */
  shape: TreeShape
  /** … and the mtimes of files and dirs in whole microseconds. */
  timesUs: Record<string, number>
}

function stateOf(root: string): State {
  const shape = describeTree(root)
  const timesUs: Record<string, number> = {}
  for (const [k, v] of Object.entries(shape)) {
    if (v.type === 'symlink') continue
    timesUs[k] = v.mtimeUs
    v.mtimeUs = 0
  }
  return { shape, timesUs }
}

/** Compares a restored tree with the recorded one; modification times to the microsecond (utimes' precision). */
function assertSameState(actual: State, expected: State, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, what)
  for (const [k, us] of Object.entries(expected.timesUs)) {
    const got = actual.timesUs[k]
    assert.equal(got, us, `${what}: mtime of ${Buffer.from(k.split('/').at(-1)!, 'hex').toString()} is ${got} µs, recorded ${us} µs`)
  }
}

test('random edits between backups: every snapshot restores to what it captured', async () => {
  await fc.assert(
    fc.asyncProperty(arbDir(3), fc.array(fc.array(arbEdit, { minLength: 1, maxLength: 6 }), { minLength: 3, maxLength: 6 }), async (spec, steps) => {
      const { base, src } = makeSource(spec)
      try {
        const { repo } = await memoryRepo()
        const recorded: Array<{ id: string; state: State }> = []
        const snap = async () => {
          const s = await repo.backup([src])
          assert.deepEqual(s.errors, [])
          recorded.push({ id: s.snapshotId!, state: stateOf(src) })
        }
        await snap()
        // No pause anywhere: edits land within the same millisecond as the backup before them.
        for (const edits of steps) {
          for (const e of edits) applyEdit(Buffer.from(src), e)
          await snap()
        }
        for (const [i, { id, state }] of recorded.entries()) {
          const out = join(base, `out-${i}`)
          await repo.restore(id, out)
          assertSameState(stateOf(join(out, 'src')), state, `snapshot ${i}`)
        }
      } finally {
        rmSync(base, { recursive: true, force: true })
      }
    }),
    runs(7),
  )
})

// ---- modification-time precision ---------------------------------------------------------------------

test(
  'restored mtimes equal the recorded ones to the microsecond (including a time just past a millisecond)',
  async () => {
    const base = tempDir('prop')
    const src = join(base, 'src')
    mkdirSync(src)
    const touch = spawnSync('touch', ['-m', '-d', '@1795513265.129000009', join(src, 'exact')])
    assert.equal(touch.status, 0, 'touch -d sets nanoseconds')
    for (let i = 0; i < 200; i++) writeFileSync(join(src, `f${i}`), `${i}`) // kernel times, with nanoseconds
    const { repo } = await memoryRepo()
    const s = await repo.backup([src])
    const out = join(base, 'out')
    await repo.restore(s.snapshotId!, out)
    for (const name of readdirSync(src)) {
      const want = statSync(join(src, name), { bigint: true }).mtimeNs / 1000n
      const got = statSync(join(out, 'src', name), { bigint: true }).mtimeNs / 1000n
      assert.equal(got, want, `${name}: restored mtime ${got} µs, source ${want} µs`)
    }
    assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
  },
)
