// Small files compressed while a password's key derives (Prewalk's compressAhead, CompressAhead):
// the first backup seals what was compressed ahead only when the bytes it reads are those bytes.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { lstatSync, mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, Prewalk, Repository } from '../src/index.js'
import { CompressAhead } from '../src/archiver/compress-ahead.js'
import { EntryStat } from '../src/archiver/entry-stat.js'
import { Codec, writerCodec } from '../src/compression/index.js'
import { assertSameFiles, cleanup, FAST_KDF, memoryRepo, randomBytesSeeded, tempDir, writeTree, type Tree } from './helpers.js'

after(cleanup)

/** `n` text notes of 1–3 KiB (one chunk each with the tests' small chunker) and `random` incompressible ones. */
function notes(n: number, random: number, seed = 1): Tree {
  const tree: Tree = new Map()
  for (let i = 0; i < n; i++) tree.set(`day-${i % 4}/note-${i}.md`, Buffer.from(`# note ${seed}/${i}\n${'a line of text that repeats. '.repeat(40 + (i % 60))}`))
  for (let i = 0; i < random; i++) tree.set(`bin/blob-${i}.bin`, randomBytesSeeded(2_000 + i, seed * 1000 + i))
  return tree
}

async function compressedAhead(root: string): Promise<Prewalk> {
  const pre = Prewalk.start([root], { compressAhead: true })
  await pre.gathered
  return pre
}

test('a first backup seals the files compressed ahead: the same files come back, and check reads every blob', async () => {
  const root = join(tempDir(), 'notes')
  const tree = notes(60, 5)
  writeTree(root, tree)
  const pre = await compressedAhead(root)
  assert.deepEqual(pre.compressedAhead, { files: 65, incompressible: 5, taken: 0 }, 'every file compressed ahead; the random ones found not to compress')
  const { repo } = await memoryRepo()
  const s = await repo.backup([root], { prewalk: pre })
  assert.equal(pre.compressedAhead.taken, 65, 'the backup took every one')
  assert.equal(s.filesNew, 65)
  assert.ok(s.bytesStored < s.bytesAdded / 2, `the notes are stored compressed (${s.bytesStored} of ${s.bytesAdded} bytes)`)
  const out = join(tempDir(), 'out')
  await repo.restore('latest', out)
  assertSameFiles(join(out, 'notes'), tree, 'restored')
  const c = await repo.check({ readData: true })
  assert.deepEqual(c.problems, [])
})

test('a file changed after it was compressed ahead is stored as the backup read it', async () => {
  const root = join(tempDir(), 'notes')
  const tree = notes(20, 0)
  writeTree(root, tree)
  const pre = await compressedAhead(root)
  // Same length, other bytes: what was compressed ahead is not of the bytes the backup reads.
  const name = 'day-1/note-5.md'
  const changed = Buffer.from(tree.get(name)!.toString().replace('# note', '# NOTE'))
  assert.equal(changed.length, tree.get(name)!.length)
  writeFileSync(join(root, name), changed)
  tree.set(name, changed)
  const { repo } = await memoryRepo()
  await repo.backup([root], { prewalk: pre })
  assert.equal(pre.compressedAhead.taken, 19, 'all but the changed file taken')
  const out = join(tempDir(), 'out')
  await repo.restore('latest', out)
  assertSameFiles(join(out, 'notes'), tree, 'restored')
  assert.deepEqual((await repo.check({ readData: true })).problems, [])
})

test('through the sealing worker: a first backup of more than 16 MiB hands the compressed files over to be sealed as they are', { timeout: 120_000 }, async () => {
  const root = join(tempDir(), 'notes')
  const tree: Tree = new Map()
  // 280 notes of 64 KiB (17.5 MiB): the sealing worker takes the blobs from the first one.
  for (let i = 0; i < 280; i++) tree.set(`d${i % 7}/n-${i}.md`, Buffer.from(`# ${i}\n${`line ${i} of a note, `.repeat(4000)}`.slice(0, 64 * 1024)))
  writeTree(root, tree)
  const repoDir = join(tempDir(), 'repo')
  mkdirSync(repoDir)
  const backend = new LocalBackend(repoDir)
  const repo = await Repository.init({ backend, password: 'test', argon2: FAST_KDF })
  const pre = Prewalk.start([root], { compressAhead: Prewalk.firstBackupInto(backend) })
  await pre.gathered
  assert.equal(pre.compressedAhead.files, 280)
  const s = await repo.backup([root], { prewalk: pre })
  assert.equal(pre.compressedAhead.taken, 280)
  assert.ok(s.bytesStored < s.bytesAdded / 4, `stored compressed (${s.bytesStored} of ${s.bytesAdded})`)
  const out = join(tempDir(), 'out')
  await repo.restore('latest', out)
  assertSameFiles(join(out, 'notes'), tree, 'restored')
  assert.deepEqual((await repo.check({ readData: true })).problems, [])
  // Not the first backup any more: nothing to compress ahead.
  assert.equal(await Prewalk.firstBackupInto(backend), false)
  const again = Prewalk.start([root], { compressAhead: Prewalk.firstBackupInto(backend) })
  await again.gathered
  assert.equal(again.compressedAhead.files, 0)
  again.stop()
  await repo.close()
})

test('a repository that does not compress takes nothing compressed ahead', async () => {
  const root = join(tempDir(), 'notes')
  const tree = notes(10, 0)
  writeTree(root, tree)
  const pre = await compressedAhead(root)
  assert.equal(pre.compressedAhead.files, 10)
  const { repo } = await memoryRepo({ compression: 'off' })
  const s = await repo.backup([root], { prewalk: pre })
  assert.equal(pre.compressedAhead.taken, 0)
  assert.ok(s.bytesStored > s.bytesAdded, 'stored raw, as the repository says')
  const out = join(tempDir(), 'out')
  await repo.restore('latest', out)
  assertSameFiles(join(out, 'notes'), tree, 'restored')
})

test('a link or a FIFO put in place of a gathered file is not read ahead, nor is a file that grew', { timeout: 30_000 }, () => {
  const dir = tempDir()
  const file = (n: string) => join(dir, n)
  for (const n of ['a.md', 'b.md', 'c.md', 'target.md']) writeFileSync(file(n), `${n} `.repeat(500))
  const gathered = (n: string) => ({ path: Buffer.from(file(n)), st: EntryStat.of(lstatSync(file(n), { bigint: true })) })
  const a = gathered('a.md')
  const b = gathered('b.md')
  const c = gathered('c.md')
  unlinkSync(file('a.md'))
  symlinkSync(file('target.md'), file('a.md'))
  unlinkSync(file('b.md'))
  execFileSync('mkfifo', [file('b.md')]) // opened for reading without O_NONBLOCK, this would hang
  writeFileSync(file('c.md'), `${'c.md '.repeat(500)}more`)
  const ahead = new CompressAhead(writerCodec('auto'))
  for (const x of [a, b, c]) assert.equal(ahead.add(x), true)
  assert.equal(ahead.compressed, 0, 'none of them read')
  const d = gathered('target.md')
  ahead.add(d)
  assert.equal(ahead.compressed, 1)
  const bytes = Buffer.from('target.md '.repeat(500))
  assert.equal(ahead.take(d.path, bytes, Codec.None), undefined, 'another codec: nothing')
  ahead.add(d)
  assert.ok(ahead.take(d.path, bytes, writerCodec("auto")) instanceof Uint8Array)
  assert.equal(ahead.take(d.path, bytes, writerCodec('auto')), undefined, 'once')
})
