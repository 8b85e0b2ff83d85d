// The tree memo (src/repository/tree-memo.ts): a backup with a parent keeps its snapshot's trees in
// one sealed file of the local cache, and the next process's backup reads the folders' trees from it
// instead of their packs, writing the same snapshot. A memo that does not open, or whose tree does
// not match its id, is not used (and the backup writes a good one); a tree the index no longer names
// is not taken from it; a read without the cache (check's) does not use it.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, ObjectNotFoundError, Repository, type Handle } from '../src/index.js'
import { fromHex } from '../src/crypto/ids.js'
import { sealFileParts } from '../src/crypto/seal.js'
import { TREE_MEMO } from '../src/repository/cache.js'
import { TREE_MEMO_KIND, treeMemoParts } from '../src/repository/tree-memo.js'
import { BlobType } from '../src/repository/repofile.js'
import { cleanup, FAST_KDF, LoadTally, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const PW = 'memo'

/** A source of 4 folders (one nested) with 5 notes each, a repository with one backup of it, and its cache folder. */
async function setup() {
  const root = tempDir('memo')
  const src = join(root, 'notes')
  for (const d of ['a', 'b', 'c', join('c', 'deep')]) {
    mkdirSync(join(src, d), { recursive: true })
    for (let i = 0; i < 5; i++) writeFileSync(join(src, d, `note-${i}.md`), `# ${d} ${i}\n${'text of a note\n'.repeat(20 + i)}`)
  }
  const repoDir = join(root, 'repo')
  const cacheDir = join(root, 'cache')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, cacheDir })
  await repo.backup([src])
  const memo = join(cacheDir, repo.id, TREE_MEMO)
  const treePacks = join(cacheDir, repo.id, 'data')
  await repo.close()
  return { src, repoDir, cacheDir, memo, treePacks }
}

async function open(repoDir: string, cacheDir: string | false) {
  const tally = new LoadTally(new LocalBackend(repoDir))
  const repo = await Repository.open({ backend: tally, password: PW, cacheDir })
  return { repo, tally }
}

/** Removes the tree packs the cache holds, so that a tree not taken from the memo is read from storage. */
function dropCachedPacks(dir: string): void {
  for (const n of readdirSync(dir)) rmSync(join(dir, n))
}

test('a backup remembers its trees; the next process reads none from storage and writes the same snapshot', async () => {
  const { src, repoDir, cacheDir, memo, treePacks } = await setup()
  assert.ok(existsSync(memo), 'a first backup writes the memo')
  assert.equal(readFileSync(memo).includes(Buffer.from('note-1.md')), false, 'the memo is sealed: no name in it')

  // An edit: the next backup takes the unchanged folders' trees from the memo, and remembers its own.
  dropCachedPacks(treePacks)
  const { repo, tally } = await open(repoDir, cacheDir)
  writeFileSync(join(src, 'b', 'note-1.md'), 'edited\n')
  const second = await repo.backup([src])
  await repo.close()
  assert.equal(tally.of('data'), 0, "the first snapshot's trees came from the memo")

  dropCachedPacks(treePacks)
  writeFileSync(join(src, 'c', 'deep', 'note-2.md'), 'edited too\n')
  const withMemo = await open(repoDir, cacheDir)
  const third = await withMemo.repo.backup([src])
  await withMemo.repo.close()
  assert.equal(third.parent, second.snapshotId)
  assert.equal(third.filesChanged, 1)
  assert.equal(withMemo.tally.of('data'), 0, 'every tree of the parent came from the memo')

  // The same backup from the same parent without any cache: the same tree, byte for byte.
  const without = await open(repoDir, false)
  const again = await without.repo.backup([src], { parent: second.snapshotId! })
  await without.repo.close()
  assert.ok(without.tally.of('data') > 0, 'without the memo the trees come from their packs')
  assert.equal(again.tree, third.tree)

  // And the memo now holds the third snapshot: an unchanged backup reads no tree either.
  dropCachedPacks(treePacks)
  const later = await open(repoDir, cacheDir)
  const unchanged = await later.repo.backup([src], { parent: third.snapshotId! })
  await later.repo.close()
  assert.equal(unchanged.tree, third.tree)
  assert.equal(unchanged.filesUnmodified, 20)
  assert.equal(later.tally.of('data'), 0)
})

test('a memo that does not open, or whose tree is not its id, is not used; the backup replaces it', async () => {
  const { src, repoDir, cacheDir, memo, treePacks } = await setup()
  const first = await open(repoDir, cacheDir)
  writeFileSync(join(src, 'a', 'note-0.md'), 'edited\n')
  const second = await first.repo.backup([src])

  // A memo sealed with the repository's own key that gives the root's id another tree's bytes.
  const rootId = fromHex(second.tree)
  const other = await first.repo.loadTree(rootId)
  const sub = other.nodes.find((n) => n.type === 'dir')!
  const subPlain = await first.repo.loadBlob(BlobType.Tree, sub.subtree!)
  const chunks: Buffer[] = []
  sealFileParts(first.repo.keys.encryption, TREE_MEMO_KIND, treeMemoParts([{ id: rootId, plain: subPlain }]), (b) => chunks.push(Buffer.from(b)))
  await first.repo.close()

  for (const bytes of [Buffer.concat(chunks), Buffer.from('not a memo at all')]) {
    writeFileSync(memo, bytes)
    dropCachedPacks(treePacks)
    const { repo, tally } = await open(repoDir, cacheDir)
    const s = await repo.backup([src], { parent: second.snapshotId! })
    await repo.close()
    assert.equal(s.tree, second.tree, 'the same snapshot as from the packs')
    assert.equal(s.filesUnmodified, 20)
    assert.ok(tally.of('data') > 0, 'the trees were read from their packs')
    assert.equal(readFileSync(memo).equals(bytes), false, 'the bad memo is replaced by a good one')
    dropCachedPacks(treePacks)
    const next = await open(repoDir, cacheDir)
    assert.equal((await next.repo.backup([src], { parent: second.snapshotId! })).tree, second.tree)
    await next.repo.close()
    assert.equal(next.tally.of('data'), 0)
  }
})

test('a tree the index no longer names is not taken from the memo', async () => {
  const { src, repoDir, cacheDir, memo } = await setup()
  const { repo } = await open(repoDir, cacheDir)
  writeFileSync(join(src, 'a', 'note-0.md'), 'edited once\n')
  const remembered = await repo.backup([src])
  await repo.close()
  assert.ok(existsSync(memo))

  // A newer snapshot written without the cache (the memo still holds the older one's trees), then
  // the older snapshots forgotten and pruned: the older root tree is gone from the repository.
  const other = await open(repoDir, false)
  writeFileSync(join(src, 'a', 'note-0.md'), 'edited twice\n')
  const newer = await other.repo.backup([src])
  await other.repo.forgetSnapshots((await other.repo.snapshots()).filter((s) => s.id !== newer.snapshotId).map((s) => s.id))
  await other.repo.prune()
  await other.repo.close()

  const opened = await open(repoDir, cacheDir)
  await assert.rejects(opened.repo.loadTree(fromHex(remembered.tree)), ObjectNotFoundError)
  await opened.repo.close()
})

test('read without the cache (as check reads), a tree comes from storage, not from the memo', async () => {
  const { src, repoDir, cacheDir, memo } = await setup()
  const { repo } = await open(repoDir, cacheDir)
  writeFileSync(join(src, 'b', 'note-3.md'), 'edited\n')
  const s = await repo.backup([src])
  assert.ok(existsSync(memo))
  // The root tree damaged in storage (one byte of its sealed bytes), while the memo holds it intact.
  const root = fromHex(s.tree)
  const loc = (await repo.index()).get(BlobType.Tree, root)!
  const pack = Buffer.from(loc.packId).toString('hex')
  const path = join(repoDir, 'data', pack.slice(0, 2), pack)
  const bytes = readFileSync(path)
  bytes[loc.offset + 20] ^= 0xff
  writeFileSync(path, bytes)
  await repo.close()

  const opened = await open(repoDir, cacheDir)
  await assert.rejects(opened.repo.withoutCache(() => opened.repo.loadTree(root)), /tree blob/)
  assert.equal((await opened.repo.loadTree(root)).nodes.length, 1, 'with the cache, the memo gives it')
  const report = await opened.repo.check()
  await opened.repo.close()
  assert.equal(report.ok, false, 'check sees the damage')
})

test('a backup that fails leaves the memo as it was and no partial file', async () => {
  const { src, repoDir, cacheDir, memo } = await setup()
  const before = readFileSync(memo)
  const { repo } = await open(repoDir, cacheDir)
  writeFileSync(join(src, 'a', 'note-0.md'), 'edited\n')
  // Stopped in the middle of its walk, after it has stored the trees of its first folders.
  const stop = new AbortController()
  let files = 0
  await assert.rejects(repo.backup([src], { signal: stop.signal, onFile: () => void (++files === 12 && stop.abort()) }))
  assert.ok(files >= 12)
  await repo.close()
  assert.deepEqual(readFileSync(memo), before)
  assert.deepEqual(readdirSync(join(memo, '..')).filter((n) => n.endsWith('.tmp')), [])
})

test('a backup whose snapshot cannot be saved leaves the memo as it was and no partial file; an unchanged one leaves it as it is', async () => {
  const { src, repoDir, cacheDir, memo } = await setup()
  const before = readFileSync(memo)
  // Nothing changed since the snapshot the memo holds: its root tree is there, and the memo stays.
  const unchanged = await open(repoDir, cacheDir)
  assert.equal((await unchanged.repo.backup([src])).filesUnmodified, 20)
  await unchanged.repo.close()
  assert.deepEqual(readFileSync(memo), before)

  const refusing = new (class extends LoadTally {
    override save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
      if (h.type === 'snapshots') return Promise.reject(new Error('storage refused the snapshot'))
      return this.inner.save(h, data, opts)
    }
  })(new LocalBackend(repoDir))
  const repo = await Repository.open({ backend: refusing, password: PW, cacheDir })
  writeFileSync(join(src, 'a', 'note-0.md'), 'edited\n')
  await assert.rejects(repo.backup([src]), /refused the snapshot/)
  await repo.close()
  assert.deepEqual(readFileSync(memo), before)
  assert.deepEqual(readdirSync(join(memo, '..')).filter((n) => n.endsWith('.tmp')), [])
})
