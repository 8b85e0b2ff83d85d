// A prewalk lists folders and lstat-s their entries while the repository opens (its key derives on
// another thread); the backup's walk takes what it gathered instead of asking the file system again.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, mkdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { Prewalk, type Repository } from '../src/index.js'
import { cleanup, memoryRepo, tempDir } from './helpers.js'

after(cleanup)

/** A tree of folders, files and a symlink: 3 folders deep, 40 files. */
function makeTree(root: string): void {
  for (let d = 0; d < 4; d++) {
    const dir = join(root, `d${d}`, `e${d % 2}`)
    mkdirSync(dir, { recursive: true })
    for (let f = 0; f < 10; f++) writeFileSync(join(dir, `note-${f}.md`), `# note ${d}/${f}\n`.repeat(f + 1))
  }
  symlinkSync('d0/e0/note-1.md', join(root, 'link'))
}

/** Every path of a snapshot with its type and size, in order. */
async function listing(repo: Repository, id: string): Promise<string[]> {
  const out: string[] = []
  for await (const e of repo.ls(id)) out.push(`${e.path} ${e.type} ${e.size ?? ''}`)
  return out
}

/** Gathers the whole of `root` and returns the prewalk, not stopped. */
async function gatheredAll(root: string, opts: { now?: () => number } = {}): Promise<Prewalk> {
  const pre = Prewalk.start([root], opts)
  await pre.gathered
  assert.ok(pre.entries > 40, `the prewalk gathered the tree (${pre.entries} entries)`)
  return pre
}

test('a backup given a prewalk stores the same snapshot as one without, and takes everything it gathered', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  const plain = await repo.backup([root])
  // First backup (the scan before it reads the prewalk in place), then one with a parent.
  const { repo: repo2 } = await memoryRepo()
  const pre1 = await gatheredAll(root)
  const first = await repo2.backup([root], { prewalk: pre1 })
  assert.equal(pre1.entries, 0, 'the walk took every folder gathered')
  assert.ok(pre1.isStopped)
  assert.deepEqual(await listing(repo2, first.snapshotId!), await listing(repo, plain.snapshotId!))
  assert.equal(first.filesNew, 40)

  const pre2 = await gatheredAll(root)
  const second = await repo2.backup([root], { prewalk: pre2 })
  assert.equal(second.filesUnmodified, 40, 'the gathered lstats match the parent')
  assert.equal(second.dirsUnmodified, first.dirsNew)
  assert.equal(second.tree, first.tree, 'the same tree, byte for byte')
  assert.equal(pre2.entries, 0)
})

test('the walk uses what was gathered: a file added after the prewalk waits for the next backup', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  await repo.backup([root])
  const pre = await gatheredAll(root)
  writeFileSync(join(root, 'd1', 'e1', 'late.md'), 'added after the prewalk')
  const withPre = await repo.backup([root], { prewalk: pre })
  assert.ok(!(await listing(repo, withPre.snapshotId ?? 'latest')).some((l) => l.includes('late.md')), 'the gathered listing was used')
  const next = await repo.backup([root])
  assert.equal(next.filesNew, 1)
  assert.ok((await listing(repo, next.snapshotId!)).some((l) => l.includes('late.md')))
})

test('a file changed between the prewalk and its read is stored as it is when read, without a warning', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  await repo.backup([root])
  const file = join(root, 'd2', 'e0', 'note-3.md')
  writeFileSync(file, 'changed before the prewalk\n')
  const pre = await gatheredAll(root)
  appendFileSync(file, 'and again after it\n') // the gathered lstat now says the wrong size and times
  const s = await repo.backup([root], { prewalk: pre })
  assert.deepEqual(s.errors, [])
  assert.equal(s.filesChanged, 1)
  const dump = await repo.dump(s.snapshotId!, 'notes/d2/e0/note-3.md')
  const parts: Uint8Array[] = []
  for await (const c of dump.chunks) parts.push(c)
  assert.equal(Buffer.concat(parts).toString(), 'changed before the prewalk\nand again after it\n')
  const line = (await listing(repo, s.snapshotId!)).find((l) => l.includes('d2/e0/note-3.md'))
  assert.equal(line, 'notes/d2/e0/note-3.md file 46', 'the size recorded is the one read')
  // The snapshot holds the file's lstat after the read: the next backup takes it as unchanged.
  const next = await repo.backup([root])
  assert.equal(next.filesChanged, 0)
})

test('folders the prewalk did not reach are listed by the walk', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  const plain = await repo.backup([root])
  const pre = Prewalk.start([root])
  pre.stop() // before its first turn: nothing gathered
  await pre.gathered
  assert.equal(pre.entries, 0)
  rmSync(join(root, 'd3'), { recursive: true })
  const s = await repo.backup([root], { prewalk: pre })
  assert.equal(s.filesUnmodified, 30)
  assert.notEqual(s.tree, plain.tree)
})

test('a prewalk more than a minute old is not used', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  await repo.backup([root])
  let clock = 0
  const pre = await gatheredAll(root, { now: () => clock })
  writeFileSync(join(root, 'd0', 'e0', 'late.md'), 'added after the prewalk')
  const old = join(root, 'd1', 'e1', 'note-2.md')
  utimesSync(old, new Date(2001, 1, 1), new Date(2001, 1, 1))
  clock = 61_000
  assert.equal(pre.usable, false)
  const s = await repo.backup([root], { prewalk: pre })
  assert.equal(s.filesNew, 1, 'the walk listed the folders itself')
  assert.equal(s.filesChanged, 1)
  assert.ok(pre.isStopped)
})

test('a backup that fails before its walk stops the prewalk', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  const pre = Prewalk.start([root, join(root, 'missing')])
  await assert.rejects(repo.backup([root, join(root, 'missing')], { prewalk: pre }), { code: 'SOURCE_ERROR' })
  assert.ok(pre.isStopped)
  await pre.gathered
})

test('a folder of many entries is gathered in slices: the event loop gets turns meanwhile', async () => {
  const root = join(tempDir(), 'big')
  mkdirSync(root)
  for (let f = 0; f < 1000; f++) writeFileSync(join(root, `n${f}.md`), '')
  // A clock that moves 1 ms each time it is read: a slice (4 ms) ends every few reads.
  let clock = 0
  const pre = Prewalk.start([root], { now: () => clock++ })
  let turns = 0
  let done = false
  void pre.gathered.then(() => (done = true))
  while (!done) {
    await new Promise((r) => setImmediate(r))
    turns++
  }
  assert.equal(pre.entries, 1000, 'the folder was kept whole')
  assert.ok(turns >= 5, `the loop had turns while one folder was lstat-ed (${turns})`)
})

test('gathering ends at its bound of entries, a folder kept whole or not at all; the backup walks the rest', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root) // the root's 5 entries, then d0 (1), d0/e0 (10), d1 (1), d1/e1 (10), ...
  const { repo } = await memoryRepo()
  const plain = await repo.backup([root])
  const pre = Prewalk.start([root], { maxEntries: 20 })
  await pre.gathered
  assert.equal(pre.entries, 17, 'the root, d0, d0/e0 and d1; not d1/e1, which would pass 20')
  const { repo: repo2 } = await memoryRepo()
  const s = await repo2.backup([root], { prewalk: pre })
  assert.deepEqual(await listing(repo2, s.snapshotId!), await listing(repo, plain.snapshotId!))
})

test('once a minute old, a prewalk gives nothing more to a walk under way', async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  let clock = 0
  const pre = await gatheredAll(root, { now: () => clock })
  assert.ok(pre.takeListing(Buffer.from(root)), 'fresh: its listing is taken')
  clock = 60_001
  assert.equal(pre.takeListing(Buffer.from(join(root, 'd0'))), undefined)
  assert.equal(pre.peekListing(Buffer.from(join(root, 'd1'))), undefined)
  assert.equal(pre.entries, 0, 'what it held is dropped')
  assert.ok(pre.isStopped)
})

test('a gathered file that became a FIFO before the walk reached it is not opened for reading', { timeout: 30_000 }, async () => {
  const root = join(tempDir(), 'notes')
  makeTree(root)
  const { repo } = await memoryRepo()
  await repo.backup([root])
  const file = join(root, 'd1', 'e1', 'note-4.md')
  writeFileSync(file, 'changed: to be read again\n')
  const pre = await gatheredAll(root)
  unlinkSync(file)
  execFileSync('mkfifo', [file])
  // Opening a FIFO for reading blocks this thread until a writer comes: one comes after 5 s, so
  // that a backup that opened it fails this test instead of hanging it.
  const writer = spawn('sh', ['-c', `sleep 5; echo written > '${file}'`], { stdio: 'ignore' })
  try {
    const s = await repo.backup([root], { prewalk: pre })
    assert.deepEqual(s.errors, [], 'not opened: no read that found a FIFO')
    assert.equal(s.filesUnmodified, 39)
    assert.ok(!(await listing(repo, s.snapshotId!)).some((l) => l.includes('d1/e1/note-4.md')), 'a FIFO is not backed up')
  } finally {
    writer.kill()
  }
})
