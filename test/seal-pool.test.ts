import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, MemoryBackend, Repository } from '../src/index.js'
import { Codec, writerCodec } from '../src/compression/index.js'
import { blobId } from '../src/crypto/ids.js'
import { SealPool, type SealedBlob } from '../src/archiver/seal-pool.js'
import { openSealedBlob, CompressedScratch } from '../src/repository/blob-open.js'
import { BlobType } from '../src/repository/repofile.js'
import { assertSameFiles, cleanup, countStarts, FAST_KDF, randomBytesSeeded, tempDir, writeTree, type Tree } from './helpers.js'

after(cleanup)

/** Many small files, text and random, `total` bytes in all, a few of them duplicates. */
function smallFiles(total: number, seed: number): Tree {
  const tree: Tree = new Map()
  let bytes = 0
  for (let i = 0; bytes < total; i++) {
    const size = 2_000 + ((i * 7919) % 30_000)
    const content =
      i % 3 === 0
        ? randomBytesSeeded(size, seed * 100_000 + i)
        : Buffer.from(`memory ${seed} note ${i}: `.repeat(Math.ceil(size / 20)).slice(0, size))
    tree.set(`day-${i % 13}/note-${i}.${i % 3 === 0 ? 'bin' : 'md'}`, content)
    if (i % 50 === 0) tree.set(`copies/copy-${i}.md`, content) // dedup inside one backup
    bytes += size
  }
  return tree
}

for (const kind of ['local', 'memory'] as const) {
  test(`a backup of many small files seals on the sealing worker (${kind} storage, packs of 64 KiB): the same files come back and check reads every blob`, { timeout: 120_000 }, async () => {
    const starts = countStarts(SealPool)
    try {
      const root = tempDir('seal')
      const src = join(root, 'data')
      mkdirSync(src)
      const backend = kind === 'local' ? new LocalBackend(join(root, 'repo')) : new MemoryBackend()
      // Small packs, so the batches the worker returns are split over pack boundaries.
      const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, packSize: 64 * 1024 })
      const tree = smallFiles(12 * 1024 * 1024, 1)
      writeTree(src, tree)
      const s = await repo.backup([src])
      assert.equal(starts.count(), 1, 'the sealing worker started once')
      const unique = new Set([...tree.values()].map((b) => b.toString('latin1')))
      assert.equal(s.dataBlobsAdded, unique.size, 'every distinct file stored once')
      const uniqueBytes = [...unique].reduce((n, c) => n + c.length, 0)
      assert.ok(s.bytesAdded >= uniqueBytes && s.bytesAdded - uniqueBytes < 512 * 1024, `bytes added: the distinct files plus their trees (${s.bytesAdded} for ${uniqueBytes})`)
      assert.ok(s.bytesStored < s.bytesAdded, 'the text files are stored compressed')
      assert.ok(s.packsStored > 20, `many packs (${s.packsStored})`)
      const out = join(root, 'out')
      await repo.restore('latest', out)
      assertSameFiles(join(out, 'data'), tree, kind)
      const report = await repo.check({ readData: true })
      assert.deepEqual(report.problems, [])
      assert.ok(report.ok)

      // A small edit afterwards seals on this thread: no worker.
      const edited: Tree = new Map(tree)
      edited.set('day-1/new.md', Buffer.from('one more line\n'))
      writeTree(src, edited, tree)
      await repo.backup([src])
      assert.equal(starts.count(), 1, 'a small re-backup starts no sealing worker')
      await repo.restore('latest', join(root, 'out2'))
      assertSameFiles(join(root, 'out2', 'data'), edited, `${kind} edited`)
    } finally {
      starts.restore()
    }
  })
}

test('threads: 0 seals everything on the calling thread', async () => {
  const starts = countStarts(SealPool)
  try {
    const root = tempDir('seal0')
    const src = join(root, 'data')
    mkdirSync(src)
    const repo = await Repository.init({ backend: new MemoryBackend(), password: 'pw', argon2: FAST_KDF })
    const tree = smallFiles(10 * 1024 * 1024, 2)
    writeTree(src, tree)
    await repo.backup([src], { threads: 0 })
    assert.equal(starts.count(), 0)
    await repo.restore('latest', join(root, 'out'))
    assertSameFiles(join(root, 'out', 'data'), tree, 'threads 0')
  } finally {
    starts.restore()
  }
})

test('the sealing worker and, while it is busy, the calling thread seal batches that open with the repository keys, each blob once, large blobs alone', async () => {
  const encryption = randomBytesSeeded(32, 7)
  const idKey = randomBytesSeeded(32, 8)
  const codec = writerCodec('auto')
  const got = new Map<string, { blob: SealedBlob; sealed: Buffer }>()
  let runs = 0
  const pool = new SealPool({ encryptionKey: encryption, codec }, async (blobs, run) => {
    runs++
    // As the packer may: the run is read after a turn of the event loop (its buffers are not reused before this settles).
    await new Promise((resolve) => setImmediate(resolve))
    let at = 0
    for (const b of blobs) {
      const key = b.id.toString('hex')
      assert.ok(!got.has(key), `blob ${key} handed over once`)
      got.set(key, { blob: b, sealed: Buffer.from(run.subarray(at, at + b.length)) })
      at += b.length
    }
    assert.equal(at, run.length, 'the run holds exactly the batch')
  })
  const inputs: Buffer[] = []
  // About 12 batches: the worker (starting, then busy) is given AT_WORKER of them at a time.
  for (let i = 0; i < 1200; i++) inputs.push(i % 2 ? randomBytesSeeded(5_000 + i, i) : Buffer.from(`text ${i} `.repeat(500 + i)))
  inputs.push(randomBytesSeeded(3 * 1024 * 1024, 999)) // more than a batch: goes alone
  inputs.push(Buffer.alloc(0))
  const reused = Buffer.alloc(4 * 1024 * 1024)
  const idBuf = Buffer.alloc(32)
  for (const [i, data] of inputs.entries()) {
    // The caller may reuse its buffers as soon as add() is called, before it settles.
    data.copy(reused)
    blobId(idKey, data).copy(idBuf)
    const added = pool.add(i % 7 === 0 ? BlobType.Tree : BlobType.Data, idBuf, reused.subarray(0, data.length), data.length > 0)
    reused.fill(0xff)
    idBuf.fill(0xee)
    await added
  }
  await pool.flush()
  await pool.close()
  assert.equal(got.size, inputs.length)
  assert.ok(pool.sealed.worker > 0 && pool.sealed.here > 0, `both threads sealed batches (${JSON.stringify(pool.sealed)})`)
  assert.equal(runs, pool.sealed.worker + pool.sealed.here)
  const scratch = new CompressedScratch()
  let compressed = 0
  for (const [i, data] of inputs.entries()) {
    const id = blobId(idKey, data)
    const entry = got.get(id.toString('hex'))
    assert.ok(entry, `blob ${i} handed over`)
    const { blob, sealed } = entry
    assert.equal(blob.type, i % 7 === 0 ? BlobType.Tree : BlobType.Data)
    assert.equal(blob.rawLength, data.length)
    if (blob.codec !== Codec.None) compressed++
    const plain = openSealedBlob({ encryption, blobId: idKey }, blob.id, sealed, blob.rawLength, blob.codec, scratch)
    assert.ok(Buffer.from(plain).equals(data), `blob ${i} round-trips`)
  }
  assert.ok(compressed >= 600, `the text blobs are compressed (${compressed})`)
})

test('a failure of the packer behind the sealing worker fails the next add or flush, and close drops the rest', async () => {
  let calls = 0
  const pool = new SealPool({ encryptionKey: randomBytesSeeded(32, 1), codec: Codec.None }, async () => {
    calls++
    throw new Error('disk full (simulated)')
  })
  const idKey = randomBytesSeeded(32, 2)
  await assert.rejects(async () => {
    for (let i = 0; i < 200; i++) {
      const data = randomBytesSeeded(100_000, i)
      await pool.add(BlobType.Data, blobId(idKey, data), data, false)
    }
    await pool.flush()
  }, /disk full \(simulated\)/)
  assert.ok(calls >= 1)
  await pool.close()
  await assert.rejects(pool.flush(), /closed|disk full/)
})

test('a first backup of many small files starts the sealing worker before its first batch; a re-backup starts it only for a batch, after sealing its first 8 MiB itself', { timeout: 120_000 }, async () => {
  const proto = SealPool.prototype as unknown as { start: (...a: unknown[]) => unknown; send: (...a: unknown[]) => unknown }
  const { start, send } = proto
  const log: string[] = []
  proto.start = function (this: unknown, ...a: unknown[]) {
    log.push('start')
    return start.apply(this, a)
  }
  proto.send = function (this: unknown, ...a: unknown[]) {
    log.push('send')
    return send.apply(this, a)
  }
  try {
    const root = tempDir('seal-prestart')
    const src = join(root, 'data')
    mkdirSync(src)
    const repo = await Repository.init({ backend: new MemoryBackend(), password: 'pw', argon2: FAST_KDF })
    writeTree(src, smallFiles(20 * 1024 * 1024, 3))
    await repo.backup([src])
    assert.deepEqual(log.slice(0, 2), ['start', 'send'], `first backup: ${log.slice(0, 4).join(', ')}`)
    // A re-backup with changed files: the worker starts when its first batch is sent.
    writeTree(src, smallFiles(12 * 1024 * 1024, 4))
    log.length = 0
    await repo.backup([src])
    assert.deepEqual(log.slice(0, 2), ['send', 'start'], `re-backup: ${log.slice(0, 4).join(', ')}`)
  } finally {
    proto.start = start
    proto.send = send
  }
})
