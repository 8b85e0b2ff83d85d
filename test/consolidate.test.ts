// A backup merges many small index files into few (BackupOptions.consolidateIndexes): every blob
// stays findable, check --read-data stays clean, a backup running elsewhere on the old files goes
// on; with consolidateIndexes false a backup deletes nothing.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, Repository } from '../src/index.js'
import { cleanup, FAST_KDF, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const PW = 'consolidate'

async function setup(backups: number) {
  const root = tempDir('consolidate')
  const src = join(root, 'notes')
  mkdirSync(src, { recursive: true })
  const repoDir = join(root, 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, cacheDir: false })
  for (let i = 0; i < backups; i++) {
    writeFileSync(join(src, `note-${i}.md`), `note ${i}\n`.repeat(50 + i))
    await repo.backup([src], { consolidateIndexes: false })
  }
  return { root, src, repoDir, repo }
}

const indexFiles = (repoDir: string) => readdirSync(join(repoDir, 'index'))

test('a backup merges index files past the threshold; every blob stays findable', async () => {
  const { src, repoDir, repo } = await setup(8)
  assert.equal(indexFiles(repoDir).length, 8)
  const before = await repo.snapshots()

  // Another process loaded the index before the merge and backs up after it.
  const other = await Repository.open({ backend: new LocalBackend(repoDir), password: PW, cacheDir: false })
  await other.index()

  writeFileSync(join(src, 'note-8.md'), 'one more\n')
  const s = await repo.backup([src], { consolidateIndexes: 5 })
  assert.equal(s.indexFilesMerged, 9)
  assert.equal(indexFiles(repoDir).length, 1)

  writeFileSync(join(src, 'note-9.md'), 'and another\n')
  const o = await other.backup([src])
  assert.equal(o.indexFilesMerged, 0, 'two index files: under the default threshold')
  assert.equal(indexFiles(repoDir).length, 2)

  // The merging process keeps working with its in-memory index (no restart needed).
  writeFileSync(join(src, 'note-10.md'), 'a third\n')
  await repo.backup([src], { consolidateIndexes: 5 })

  const fresh = await Repository.open({ backend: new LocalBackend(repoDir), password: PW, cacheDir: false })
  const report = await fresh.check({ readData: true })
  assert.deepEqual(report.problems, [])
  const snaps = await fresh.snapshots()
  assert.equal(snaps.length, before.length + 3)
  for (const snap of snaps) {
    const target = tempDir('restore')
    const r = await fresh.restore(snap.id, target)
    assert.deepEqual(r.errors, [])
  }
  await Promise.all([repo.close(), other.close(), fresh.close()])
})

test('consolidateIndexes false: a backup deletes no index file', async () => {
  const { src, repoDir, repo } = await setup(6)
  writeFileSync(join(src, 'note-6.md'), 'one more\n')
  const s = await repo.backup([src], { consolidateIndexes: false })
  assert.equal(s.indexFilesMerged, 0)
  assert.equal(indexFiles(repoDir).length, 7)
  // The same backup with a threshold under the count merges them.
  writeFileSync(join(src, 'note-7.md'), 'and another\n')
  const m = await repo.backup([src], { consolidateIndexes: 5 })
  assert.equal(m.indexFilesMerged, 8)
  await repo.close()
})
