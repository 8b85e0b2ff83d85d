import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryBackend, Repository } from '../src/index.js'
import { cleanup, CountingBackend, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

async function countingRepo() {
  const backend = new CountingBackend(new MemoryBackend())
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 256 * 1024 })
  return { repo, backend }
}

test('an unchanged re-backup adds no blobs and writes only the snapshot; with skipIfUnchanged it writes nothing', async () => {
  const src = join(tempDir('dd'), 'data')
  mkdirSync(join(src, 'sub'), { recursive: true })
  for (let i = 0; i < 20; i++) writeFileSync(join(src, 'sub', `f${i}`), randomBytesSeeded(30_000 + i * 1000, i + 1))
  const { repo, backend } = await countingRepo()
  const first = await repo.backup([src])
  assert.ok(first.dataBlobsAdded > 20)
  const saves = backend.counts.save
  const second = await repo.backup([src])
  assert.equal(second.dataBlobsAdded, 0)
  assert.equal(second.treeBlobsAdded, 0)
  assert.equal(second.bytesRead, 0, 'unchanged files must not be read again')
  assert.equal(second.filesUnmodified, 20)
  assert.equal(backend.counts.save - saves, 2, 'only the lock and the snapshot file are written')
  const before = backend.counts.save
  const third = await repo.backup([src], { skipIfUnchanged: true })
  assert.equal(third.skipped, true)
  assert.equal(third.snapshotId, undefined)
  assert.equal(backend.counts.save - before, 0, 'a skipped backup writes nothing at all')
  assert.equal((await repo.snapshots()).length, 2)
})

test('re-reading everything (no parent) still stores nothing new', async () => {
  const src = join(tempDir('dd'), 'data')
  mkdirSync(src)
  writeFileSync(join(src, 'a'), randomBytesSeeded(500_000, 3))
  const { repo } = await countingRepo()
  await repo.backup([src])
  const again = await repo.backup([src], { parent: false })
  assert.equal(again.bytesRead, 500_000)
  assert.equal(again.dataBlobsAdded, 0)
  assert.equal(again.filesNew, 1)
})

test('inserting bytes in the middle of a large file re-uploads only the chunks around the insertion', async () => {
  const src = join(tempDir('dd'), 'data')
  mkdirSync(src)
  const original = randomBytesSeeded(4_000_000, 11)
  writeFileSync(join(src, 'big.bin'), original)
  const { repo } = await countingRepo()
  const first = await repo.backup([src])
  const edited = Buffer.concat([original.subarray(0, 2_000_000), Buffer.from('inserted bytes in the middle'), original.subarray(2_000_000)])
  writeFileSync(join(src, 'big.bin'), edited)
  const second = await repo.backup([src])
  assert.equal(second.filesChanged, 1)
  assert.ok(first.dataBlobsAdded > 100, `first backup stored ${first.dataBlobsAdded} chunks`)
  assert.ok(second.dataBlobsAdded <= 3, `re-uploaded ${second.dataBlobsAdded} chunks`)
  assert.ok(second.bytesAdded <= 3 * SMALL_CHUNKS.max, `re-uploaded ${second.bytesAdded} bytes`)
  const out = tempDir('dd')
  await repo.restore('latest', out)
  const { readFileSync } = await import('node:fs')
  assert.ok(readFileSync(join(out, 'data', 'big.bin')).equals(edited))
})

test('identical content in different files and folders is stored once', async () => {
  const src = join(tempDir('dd'), 'data')
  mkdirSync(join(src, 'x'), { recursive: true })
  const blob = randomBytesSeeded(200_000, 5)
  writeFileSync(join(src, 'one'), blob)
  writeFileSync(join(src, 'x', 'two'), blob)
  const { repo } = await countingRepo()
  const s = await repo.backup([src])
  assert.ok(s.bytesAdded <= 200_000 + 10_000, `stored ${s.bytesAdded} plaintext bytes for 400000 of files`)
})

test('many files chunked on worker threads into many small packs: every blob is stored and indexed', async () => {
  const src = join(tempDir('dd'), 'data')
  mkdirSync(src)
  const files = Array.from({ length: 150 }, (_, i) => randomBytesSeeded(10_000 + ((i * 7919) % 60_000), i + 1))
  files.forEach((b, i) => writeFileSync(join(src, `f${i}`), b))
  const backend = new CountingBackend(new MemoryBackend(), 5) // slow uploads: the packer must wait for slots
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024 })
  const first = await repo.backup([src], { threads: 2 })
  assert.ok(first.packsStored > 20, `only ${first.packsStored} packs`)
  // A fresh process's view: everything the snapshot references must be in the index files.
  const reopened = await Repository.open({ backend, password: 'pw' })
  const again = await reopened.backup([src], { threads: 2 })
  assert.equal(again.dataBlobsAdded, 0, 'blobs of the first backup were missing from its index')
  assert.equal(again.filesUnmodified, 150)
  const out = tempDir('dd')
  await reopened.restore(first.snapshotId!, out)
  const { readFileSync } = await import('node:fs')
  files.forEach((b, i) => assert.ok(readFileSync(join(out, 'data', `f${i}`)).equals(b), `file ${i} differs`))
})

test('an unchanged folder keeps its tree; a mode change deep inside makes new trees up to the root', async () => {
  const { chmodSync, statSync } = await import('node:fs')
  const src = tempDir('trees')
  mkdirSync(join(src, 'a', 'b', 'c'), { recursive: true })
  mkdirSync(join(src, 'x'))
  writeFileSync(join(src, 'a', 'b', 'c', 'f.txt'), 'deep')
  writeFileSync(join(src, 'x', 'g.txt'), 'side')
  const repo = await Repository.init({ backend: new MemoryBackend(), password: 'pw', argon2: FAST_KDF })
  const s1 = await repo.backup([src])
  const s2 = await repo.backup([src])
  const snaps = async () => Object.fromEntries((await repo.snapshots()).map((s) => [s.id, s.tree]))
  let trees = await snaps()
  assert.equal(trees[s2.snapshotId!], trees[s1.snapshotId!])
  assert.equal(s2.treeBlobsAdded, 0)
  chmodSync(join(src, 'a', 'b', 'c'), 0o700)
  const s3 = await repo.backup([src])
  trees = await snaps()
  assert.notEqual(trees[s3.snapshotId!], trees[s2.snapshotId!])
  // c's mode is recorded in b's tree: new trees for b, a, the source folder and the snapshot root.
  assert.equal(s3.treeBlobsAdded, 4)
  assert.equal(s3.dirsUnmodified, 2, 'c itself and x keep their trees')
  const out = tempDir('trees-out')
  await repo.restore(s3.snapshotId!, out)
  const { basename } = await import('node:path')
  assert.equal(statSync(join(out, basename(src), 'a', 'b', 'c')).mode & 0o777, 0o700)
})
