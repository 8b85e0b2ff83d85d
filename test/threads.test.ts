import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { InternalError, LocalBackend, Repository } from '../src/index.js'
import { Codec } from '../src/compression/index.js'
import { ChunkPool } from '../src/archiver/chunk-pool.js'
import { SealPool } from '../src/archiver/seal-pool.js'
import { assertSameFiles, cleanup, countStarts, FAST_KDF, memoryRepo, randomBytesSeeded, tempDir, writeTree, type Tree } from './helpers.js'

after(cleanup)

test('by default, workers start only for a backup with more than 64 MiB to read; every path gives the same files back', { timeout: 180_000 }, async () => {
  const starts = countStarts(ChunkPool)
  try {
    const root = tempDir('threads')
    const src = join(root, 'data')
    mkdirSync(src)
    const repo = await Repository.init({ backend: new LocalBackend(join(root, 'repo')), password: 'pw', argon2: FAST_KDF })
    const restoreAndCompare = async (tree: Tree, what: string) => {
      const out = join(root, `out-${what}`)
      await repo.restore('latest', out)
      assertSameFiles(join(out, 'data'), tree, what)
    }

    // A small first backup (files of several chunks, 12 MiB in all): no workers.
    const small: Tree = new Map()
    for (let i = 0; i < 4; i++) small.set(`small-${i}.bin`, randomBytesSeeded(3 * 1024 * 1024, i + 1))
    small.set('notes/a.md', Buffer.from('# note\n'.repeat(5000)))
    writeTree(src, small)
    await repo.backup([src])
    assert.equal(starts.count(), 0, 'a 12 MiB first backup starts no workers')
    await restoreAndCompare(small, 'small')

    // A first backup (no parent) of 80 MiB: the scan finds it large, so workers start at once.
    const large: Tree = new Map(small)
    for (let i = 0; i < 8; i++) large.set(`big/part-${i}.bin`, randomBytesSeeded(10 * 1024 * 1024, 100 + i))
    writeTree(src, large, small)
    await repo.backup([src], { parent: false })
    assert.equal(starts.count(), 1, 'an 80 MiB first backup starts the workers')
    await restoreAndCompare(large, 'large')

    // A re-backup with one small edit: read on this thread.
    const edited: Tree = new Map(large)
    edited.set('notes/a.md', Buffer.from('# note, edited\n'.repeat(5000)))
    writeTree(src, edited, large)
    await repo.backup([src])
    assert.equal(starts.count(), 1, 'a small re-backup starts no workers')
    await restoreAndCompare(edited, 'edited')

    // A re-backup in which all 80 MiB changed: the first 64 MiB are read here, then the workers
    // start in the middle of the folder and take the rest.
    const rewritten: Tree = new Map(edited)
    for (let i = 0; i < 8; i++) rewritten.set(`big/part-${i}.bin`, randomBytesSeeded(10 * 1024 * 1024, 200 + i))
    writeTree(src, rewritten, edited)
    const s = await repo.backup([src])
    assert.equal(starts.count(), 2, 'a re-backup reading more than 64 MiB starts the workers')
    assert.equal(s.filesChanged, 8)
    await restoreAndCompare(rewritten, 'rewritten')
    const check = await repo.check({ readData: true })
    assert.ok(check.ok, JSON.stringify(check.problems))
  } finally {
    starts.restore()
  }
})

test('a file a worker cannot read is that file’s issue (its system code), not a failure of the pool', async () => {
  const { repo } = await memoryRepo()
  const pool = ChunkPool.forKeys(repo.keys, repo.config.chunker, Codec.None, () => ({ ids: new ArrayBuffer(0), count: 0 }), 1)
  try {
    const missing = join(tempDir('threads'), 'gone.bin')
    await assert.rejects(pool.file(Buffer.from(missing), async () => {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ENOENT')
      assert.ok(!(e instanceof InternalError), 'an unreadable file is not an internal error')
      return true
    })
    // The pool goes on with the next file.
    const ok = join(tempDir('threads'), 'ok.bin')
    writeFileSync(ok, randomBytesSeeded(100_000, 9))
    const r = await pool.file(Buffer.from(ok), async () => {})
    assert.equal(r.read, 100_000)
  } finally {
    await pool.close()
  }
})

test('a restore whose workers write the files gives back many small files, repeated content and empty files exactly, as the calling thread alone does', { timeout: 120_000 }, async () => {
  const root = tempDir('worker-writes')
  const src = join(root, 'data')
  mkdirSync(src)
  const tree: Tree = new Map()
  // 300 small files (more writes than one batch takes), a third of them with the same content as
  // another (one blob, several files), some empty, and large files that repeat a chunk.
  for (let i = 0; i < 300; i++) tree.set(`notes/n-${i}.md`, i % 3 === 0 ? Buffer.from('the same note\n'.repeat(40)) : i % 50 === 1 ? Buffer.alloc(0) : randomBytesSeeded(2_000 + i * 37, 500 + i))
  const chunk = randomBytesSeeded(3 * 1024 * 1024, 7)
  tree.set('big/repeated.bin', Buffer.concat([chunk, chunk, randomBytesSeeded(1_000_000, 8), chunk]))
  tree.set('big/copy.bin', Buffer.concat([chunk, chunk, randomBytesSeeded(1_000_000, 8), chunk]))
  writeTree(src, tree)
  const repo = await Repository.init({ backend: new LocalBackend(join(root, 'repo')), password: 'pw', argon2: FAST_KDF })
  await repo.backup([src])
  for (const threads of [1, 2, 0]) {
    const out = join(root, `out-${threads}`)
    const s = await repo.restore('latest', out, { threads })
    assert.equal(s.filesRestored, tree.size)
    assertSameFiles(join(out, 'data'), tree, `${threads} threads`)
  }
})

test('chunk workers start as files wait for them: one large file keeps to one worker, several files start them all', { timeout: 120_000 }, async () => {
  const proto = ChunkPool.prototype as unknown as { addWorker: () => unknown }
  const original = proto.addWorker
  let started = 0
  proto.addWorker = function (this: unknown) {
    started++
    return original.apply(this)
  }
  try {
    const root = tempDir('lazy-workers')
    const repo = await Repository.init({ backend: new LocalBackend(join(root, 'repo')), password: 'pw', argon2: FAST_KDF })
    const one: Tree = new Map([['disk.img', randomBytesSeeded(12 * 1024 * 1024, 31)]])
    writeTree(join(root, 'one'), one)
    await repo.backup([join(root, 'one')], { threads: 2 })
    assert.equal(started, 1, 'one file: one worker')

    const many: Tree = new Map()
    for (let i = 0; i < 6; i++) many.set(`part-${i}.bin`, randomBytesSeeded(3 * 1024 * 1024, 40 + i))
    writeTree(join(root, 'many'), many)
    started = 0
    await repo.backup([join(root, 'many')], { threads: 2 })
    assert.equal(started, 2, 'several files: both workers')

    for (const [name, tree] of [['one', one], ['many', many]] as const) {
      const out = join(root, `out-${name}`)
      await repo.restore('latest', out, { filter: { paths: [join(root, name)] } })
      assertSameFiles(join(out, name), tree, name)
    }
  } finally {
    proto.addWorker = original
  }
})

test('a first backup of more than 64 MiB in small files (each at most a chunk) starts no chunk workers: it seals on the sealing worker', { timeout: 180_000 }, async () => {
  const chunkStarts = countStarts(ChunkPool)
  const sealStarts = countStarts(SealPool)
  try {
    const root = tempDir('threads-small')
    const src = join(root, 'data')
    mkdirSync(src)
    // 2,200 files of 32 KiB (70 MiB in all, far below the 256 KiB minimum chunk), and a few larger
    // ones (600 KiB: more than one chunk, 1.8 MiB in all).
    const tree: Tree = new Map()
    for (let i = 0; i < 2200; i++) tree.set(`notes/d-${i % 40}/n-${i}.md`, randomBytesSeeded(32 * 1024, 1000 + i))
    for (let i = 0; i < 3; i++) tree.set(`big/b-${i}.bin`, randomBytesSeeded(600 * 1024, 5000 + i))
    writeTree(src, tree)
    const repo = await Repository.init({ backend: new LocalBackend(join(root, 'repo')), password: 'pw', argon2: FAST_KDF })
    const s = await repo.backup([src])
    assert.equal(chunkStarts.count(), 0, 'no chunk workers for a tree of small files')
    assert.equal(sealStarts.count(), 1, 'the sealing worker sealed them')
    assert.equal(s.filesNew, 2203)
    const out = join(root, 'out')
    await repo.restore('latest', out)
    assertSameFiles(join(out, 'data'), tree, 'small files')
  } finally {
    chunkStarts.restore()
    sealStarts.restore()
  }
})
