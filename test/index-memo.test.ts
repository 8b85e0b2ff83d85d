// The index memo (Repository.loadIndex, BlobIndex.memoParts/fromMemo): an index read back from its
// memo holds exactly what it held; a process whose index files are those a memo was written for
// reads none of them, and any other set of index files, or a damaged memo, is read from the files.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { LocalBackend, Repository, type Handle } from '../src/index.js'
import { BlobIndex } from '../src/repository/blob-index.js'
import { INDEX_MEMO } from '../src/repository/cache.js'
import { BlobType } from '../src/repository/repofile.js'
import { cleanup, FAST_KDF, LoadTally, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const PW = 'index memo'

/** Every blob of an index, as one line each, sorted: type, id, pack, offset, lengths, codec. */
function entries(idx: BlobIndex): string[] {
  const out: string[] = []
  for (const type of [BlobType.Data, BlobType.Tree]) {
    const { ids, count } = idx.idsOfType(type)
    for (let i = 0; i < count; i++) {
      const id = new Uint8Array(ids, i * 32, 32)
      const l = idx.get(type, id)!
      out.push(`${type} ${Buffer.from(id).toString('hex')} ${l.packId.toString('hex')} ${l.offset} ${l.length} ${l.rawLength} ${l.codec}`)
    }
  }
  return out.sort()
}

const joined = (idx: BlobIndex) => Buffer.concat(idx.memoParts())

test('an index read back from its memo holds exactly its blobs; bytes that are not a memo are refused', () => {
  const blob = fc.record({
    type: fc.constantFrom(BlobType.Data, BlobType.Tree),
    id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    pack: fc.nat(5),
    offset: fc.nat(),
    length: fc.nat(),
    raw: fc.nat(),
    codec: fc.nat(3),
  })
  fc.assert(
    fc.property(fc.array(blob, { maxLength: 300 }), (blobs) => {
      const idx = new BlobIndex(4)
      const packs = [0, 1, 2, 3, 4, 5].map((p) => Buffer.alloc(32, p + 1))
      for (const b of blobs) idx.add(b.type, b.id, packs[b.pack]!, b.offset, b.length, b.raw, b.codec)
      const back = BlobIndex.fromMemo(joined(idx))
      assert.equal(back.size, idx.size)
      assert.equal(back.packCount, idx.packCount)
      assert.deepEqual(entries(back), entries(idx))
      // It stays an index: a blob added after is found, one already there is refused.
      assert.equal(back.add(BlobType.Data, Buffer.alloc(32, 0xee), packs[0]!, 1, 2, 3, 0), !idx.has(BlobType.Data, Buffer.alloc(32, 0xee)))
      if (blobs.length > 0) assert.equal(back.add(blobs[0]!.type, blobs[0]!.id, packs[0]!, 0, 0, 0, 0), false)
    }),
    { numRuns: 60 },
  )

  const idx = new BlobIndex()
  const pack = Buffer.alloc(32, 7)
  for (let i = 0; i < 20; i++) idx.add(BlobType.Data, Buffer.alloc(32, i), pack, i * 10, 10, 20, 1)
  const good = joined(idx)
  assert.throws(() => BlobIndex.fromMemo(good.subarray(0, good.length - 1)), /wrong length/)
  assert.throws(() => BlobIndex.fromMemo(good.subarray(0, 5)), /cut short/)
  const outOfRange = Buffer.from(good)
  outOfRange.writeUInt32LE(1, 8 + 32 + 20 * 32) // the first entry's pack number: there is one pack
  assert.throws(() => BlobIndex.fromMemo(outOfRange), /does not list/)
  const twice = Buffer.from(good)
  twice.copy(twice, 8 + 32 + 32, 8 + 32, 8 + 32 + 32) // the second entry's id made the first's
  assert.throws(() => BlobIndex.fromMemo(twice), /twice/)
})

/** A folder of notes and a repository with one backup of it, with its own cache folder. */
async function setup() {
  const root = tempDir('index-memo')
  const src = join(root, 'notes')
  mkdirSync(src)
  for (let i = 0; i < 12; i++) writeFileSync(join(src, `n${i}.md`), `note ${i}\n`.repeat(50 + i))
  const repoDir = join(root, 'repo')
  const cacheDir = join(root, 'cache')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, cacheDir })
  await repo.backup([src])
  const dir = repo.cacheDir!
  await repo.close()
  return { src, repoDir, cacheDir, memo: join(dir, INDEX_MEMO), cachedIndexFiles: join(dir, 'index') }
}

async function open(repoDir: string, cacheDir: string | false) {
  const tally = new LoadTally(new LocalBackend(repoDir))
  return { repo: await Repository.open({ backend: tally, password: PW, cacheDir }), tally }
}

/** The index as read from the index files themselves (no cache, so no memo). */
async function fromFiles(repoDir: string): Promise<string[]> {
  const { repo } = await open(repoDir, false)
  const e = entries(await repo.index())
  await repo.close()
  return e
}

test("a backup leaves its index in the memo: the next process reads no index file and has the same index", async () => {
  const { src, repoDir, cacheDir, memo, cachedIndexFiles } = await setup()
  assert.ok(existsSync(memo))
  writeFileSync(join(src, 'n3.md'), 'edited\n')
  const second = await open(repoDir, cacheDir)
  await second.repo.backup([src])
  await second.repo.close()

  // Without the cached index files, an index read from them would come from storage.
  for (const n of readdirSync(cachedIndexFiles)) rmSync(join(cachedIndexFiles, n))
  const third = await open(repoDir, cacheDir)
  const idx = await third.repo.index()
  assert.equal(third.tally.of('index'), 0, 'the index came from the memo')
  assert.deepEqual(entries(idx), await fromFiles(repoDir))
  // And it serves: an unchanged backup finds every file's blobs and stores none.
  const s = await third.repo.backup([src])
  assert.equal(s.dataBlobsAdded, 0)
  assert.equal(s.filesUnmodified, 12)
  await third.repo.close()
})

test('another set of index files, or a damaged memo, is read from the files', async () => {
  const { src, repoDir, cacheDir, memo, cachedIndexFiles } = await setup()
  // A backup by a process without this cache adds an index file the memo was not written for.
  writeFileSync(join(src, 'new.md'), 'a new note\n')
  const other = await open(repoDir, false)
  await other.repo.backup([src])
  await other.repo.close()
  const want = await fromFiles(repoDir)

  const after = await open(repoDir, cacheDir)
  assert.deepEqual(entries(await after.repo.index()), want, 'the new file was read')
  assert.ok(after.tally.of('index') > 0)
  await after.repo.close()

  // That load wrote the memo for the files as they are now; damaged, it is removed and not used.
  for (const n of readdirSync(cachedIndexFiles)) rmSync(join(cachedIndexFiles, n))
  writeFileSync(memo, Buffer.from('not a memo'))
  const damaged = await open(repoDir, cacheDir)
  assert.deepEqual(entries(await damaged.repo.index()), want)
  assert.ok(damaged.tally.of('index') > 0, 'read from the files')
  await damaged.repo.close()
})

test('an index that is not exactly what its files give is not kept: a consolidation that merged another process\'s file', async () => {
  const { src, repoDir, cacheDir } = await setup()
  const kept = await open(repoDir, cacheDir)
  await kept.repo.index() // this process's index, loaded now
  // Another process (without this cache) adds an index file this one never reads.
  writeFileSync(join(src, 'elsewhere.md'), 'written by another device\n')
  const other = await open(repoDir, false)
  await other.repo.backup([src])
  await other.repo.close()
  // This process backs up and merges every index file there is, the other's too; then once more.
  writeFileSync(join(src, 'n1.md'), 'edited here\n')
  await kept.repo.backup([src], { consolidateIndexes: 1 })
  writeFileSync(join(src, 'n2.md'), 'edited here too\n')
  await kept.repo.backup([src])
  await kept.repo.close()
  // A new process with this cache has every blob the files name, the other process's included.
  const fresh = await open(repoDir, cacheDir)
  assert.deepEqual(entries(await fresh.repo.index()), await fromFiles(repoDir))
  await fresh.repo.close()
})

test('after a prune that failed half way, a backup in the same process keeps no index memo the files do not give', async () => {
  const { src, repoDir, cacheDir } = await setup()
  // A first snapshot whose own blob (n0 as it was) the second does not have, then forgotten.
  const first = await open(repoDir, false)
  writeFileSync(join(src, 'n0.md'), 'n0 rewritten\n'.repeat(30))
  await first.repo.backup([src])
  const snaps = await first.repo.snapshots()
  await first.repo.forgetSnapshots([snaps[0]!.id])
  await first.repo.close()

  // This process prunes, and its storage refuses to delete the old index files: the prune has
  // written its new index file (superseding them) and fails.
  const refusing = new (class extends LoadTally {
    override remove(h: Handle): Promise<void> {
      if (h.type === 'index') return Promise.reject(new Error('storage refused the delete'))
      return this.inner.remove(h)
    }
  })(new LocalBackend(repoDir))
  const repo = await Repository.open({ backend: refusing, password: PW, cacheDir })
  await repo.index()
  await assert.rejects(repo.prune(), /refused/)
  writeFileSync(join(src, 'n5.md'), 'edited after the prune\n')
  await repo.backup([src], { consolidateIndexes: false })
  await repo.close()

  const fresh = await open(repoDir, cacheDir)
  assert.deepEqual(entries(await fresh.repo.index()), await fromFiles(repoDir))
  await fresh.repo.close()
})
