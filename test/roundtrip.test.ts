import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, chownSync, lstatSync, mkdirSync, symlinkSync, utimesSync, writeFileSync, lutimesSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, Repository } from '../src/index.js'
import { cleanup, describeTree, FAST_KDF, memoryRepo, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

function makeSource(root: string): void {
  mkdirSync(join(root, 'docs', 'deep', 'er'), { recursive: true })
  mkdirSync(join(root, 'empty-dir'))
  writeFileSync(join(root, 'docs', 'notes.md'), '# notes\n'.repeat(1000))
  writeFileSync(join(root, 'docs', 'deep', 'er', 'big.bin'), randomBytesSeeded(700_000, 7)) // > max chunk (64 KiB)
  writeFileSync(join(root, 'empty.txt'), '')
  writeFileSync(join(root, 'Ünïcödé 名前 🗂.txt'), 'unicode name')
  writeFileSync(Buffer.from(join(root, 'latin1-\xe9\xff.bin'), 'latin1'), 'not utf-8 name') // bytes E9 FF: not valid UTF-8
  writeFileSync(join(root, 'script.sh'), '#!/bin/sh\necho hi\n')
  chmodSync(join(root, 'script.sh'), 0o755)
  writeFileSync(join(root, 'private'), 'secret')
  chmodSync(join(root, 'private'), 0o600)
  symlinkSync('docs/notes.md', join(root, 'link-to-notes'))
  symlinkSync('/nonexistent/target', join(root, 'dangling'))
  const t = new Date('2021-03-04T05:06:07.891Z')
  utimesSync(join(root, 'docs', 'notes.md'), t, t)
  utimesSync(join(root, 'empty-dir'), t, t)
  lutimesSync(join(root, 'dangling'), t, t)
}

for (const threads of [0, 2]) {
test(`backup (${threads} worker threads) then restore reproduces bytes, modes, mtimes, symlinks, empty files and dirs, odd names`, async () => {
  const base = tempDir('rt')
  const src = join(base, 'src')
  mkdirSync(src)
  makeSource(src)
  const repo = await Repository.init({ backend: new LocalBackend(join(base, 'repo')), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS })
  const summary = await repo.backup([src], { threads })
  assert.equal(summary.filesNew, 7)
  assert.ok(summary.snapshotId)
  const target = join(base, 'out')
  // Restore on the calling thread and through blob-opening workers.
  const r = await repo.restore(summary.snapshotId!.slice(0, 10), target, { threads })
  assert.equal(r.filesRestored, 7)
  assert.equal(r.symlinksRestored, 2)
  assert.deepEqual(describeTree(join(target, 'src')), describeTree(src))
})
}

test('restore of a single included path, and of the newest snapshot at or before a time', async () => {
  const base = tempDir('rt')
  const src = join(base, 'memory')
  mkdirSync(join(src, 'a'), { recursive: true })
  writeFileSync(join(src, 'a', 'one.md'), 'version 1')
  writeFileSync(join(src, 'two.md'), 'two')
  const { repo } = await memoryRepo()
  const s1 = await repo.backup([src], { time: new Date('2025-01-01T00:00:00Z') })
  writeFileSync(join(src, 'a', 'one.md'), 'version 2')
  await repo.backup([src], { time: new Date('2025-02-01T00:00:00Z') })
  const out = join(base, 'out')
  const r = await repo.restore('2025-01-15T00:00:00Z', out, { include: ['memory/a/one.md'] })
  assert.equal(r.snapshotId, s1.snapshotId)
  assert.deepEqual(describeTree(out, false), describeTree(out, false))
  const shape = describeTree(join(out, 'memory'))
  assert.deepEqual(Object.keys(shape), [Buffer.from('a').toString('hex'), `${Buffer.from('a').toString('hex')}/${Buffer.from('one.md').toString('hex')}`])
  const latest = join(base, 'latest')
  await repo.restore('latest', latest)
  assert.equal(describeTree(latest)[`${Buffer.from('memory').toString('hex')}/${Buffer.from('a').toString('hex')}/${Buffer.from('one.md').toString('hex')}`].type, 'file')
})

test('excludes leave matching files and folders out', async () => {
  const base = tempDir('rt')
  const src = join(base, 'proj')
  mkdirSync(join(src, 'node_modules', 'x'), { recursive: true })
  writeFileSync(join(src, 'node_modules', 'x', 'i.js'), 'x')
  writeFileSync(join(src, 'keep.md'), 'k')
  writeFileSync(join(src, 'debug.log'), 'l')
  writeFileSync(join(src, 'large.bin'), Buffer.alloc(5000))
  writeFileSync(join(base, 'ignore-list'), '# comment\n*.log\n')
  const { repo } = await memoryRepo()
  const s = await repo.backup([src], { excludes: ['node_modules/'], excludeFiles: [join(base, 'ignore-list')], excludeLargerThan: 4096 })
  const paths: string[] = []
  for await (const e of repo.ls(s.snapshotId!)) paths.push(e.path)
  assert.deepEqual(paths, ['proj', 'proj/keep.md'])
})

test('an unreadable file is reported and skipped; the rest is backed up', { skip: process.getuid?.() === 0 ? 'root reads every file' : false }, async () => {
  const base = tempDir('rt')
  const src = join(base, 's')
  mkdirSync(src)
  writeFileSync(join(src, 'ok'), 'ok')
  writeFileSync(join(src, 'no'), 'no')
  chmodSync(join(src, 'no'), 0)
  const { repo } = await memoryRepo()
  const s = await repo.backup([src])
  assert.equal(s.errors.length, 1)
  assert.equal(s.filesNew, 1)
})

test('a missing source path is a clear error', async () => {
  const { repo } = await memoryRepo()
  await assert.rejects(repo.backup(['/nonexistent/path/xyz']), { code: 'SOURCE_ERROR' })
  await assert.rejects(repo.backup([]), { code: 'INVALID_OPTIONS' })
})

test('an aborted backup stores no snapshot', async () => {
  const base = tempDir('rt')
  const src = join(base, 's')
  mkdirSync(src)
  for (let i = 0; i < 50; i++) writeFileSync(join(src, `f${i}`), randomBytesSeeded(20_000, i + 1))
  const { repo } = await memoryRepo()
  const ac = new AbortController()
  let calls = 0
  await assert.rejects(
    repo.backup([src], {
      signal: ac.signal,
      progressIntervalMs: 0,
      onProgress: () => {
        if (++calls === 10) ac.abort()
      },
    }),
    { code: 'ABORTED' },
  )
  assert.equal((await repo.snapshots()).length, 0)
})

test('a local repository inside the backed-up folder is left out of its own backups', async () => {
  const base = tempDir('rt')
  const home = join(base, 'home')
  mkdirSync(home)
  writeFileSync(join(home, 'notes.md'), 'n')
  const repo = await Repository.init({ backend: new LocalBackend(join(home, 'backups')), password: 'pw', argon2: FAST_KDF })
  const s = await repo.backup([home])
  const paths: string[] = []
  for await (const e of repo.ls(s.snapshotId!)) paths.push(e.path)
  assert.deepEqual(paths, ['home', 'home/notes.md'])
})

test('a restore from a local folder reads packs in pieces of at most 4 MiB (or one blob); from other storage, whole runs', async () => {
  const src = join(tempDir('rt'), 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'big.bin'), randomBytesSeeded(12 * 1024 * 1024, 31)) // random: stored raw, ~12 chunks of ~1 MiB
  const local = await Repository.init({ backend: new LocalBackend(join(tempDir('rt'), 'repo')), password: 'pw', argon2: FAST_KDF })
  const { repo: memory } = await memoryRepo()
  for (const [repo, isLocal] of [[local, true], [memory, false]] as const) {
    const s = await repo.backup([src])
    const packs = new Set<string>()
    for await (const f of repo.backend.list('data')) packs.add(f.name)
    const r = await repo.restore(s.snapshotId!, join(tempDir('rt'), 'out'), { threads: 0 })
    assert.equal(r.bytesRestored, 12 * 1024 * 1024)
    if (isLocal) {
      assert.ok(r.packsRead >= 3, `local: ${r.packsRead} reads of ${r.bytesDownloaded} bytes`)
      assert.ok(r.bytesDownloaded / r.packsRead <= 4 * 1024 * 1024 + 64, `local: ${r.packsRead} reads of ${r.bytesDownloaded} bytes`)
    } else {
      assert.equal(r.packsRead, packs.size - 1, `memory: one read per data pack (${packs.size} packs, one of them of trees)`)
    }
  }
})

test('restore as root sets recorded owners and, with keepSetid, keeps set-user-ID and set-group-ID bits (a chown after the mode would clear them)', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const base = tempDir('rt')
  const src = join(base, 'src')
  mkdirSync(join(src, 'bin'), { recursive: true })
  writeFileSync(join(src, 'bin', 'tool'), '#!/bin/sh\n')
  chownSync(join(src, 'bin', 'tool'), 1234, 2345)
  chmodSync(join(src, 'bin', 'tool'), 0o6755)
  writeFileSync(join(src, 'empty'), '')
  chownSync(join(src, 'empty'), 4321, 5432)
  chmodSync(join(src, 'empty'), 0o4700)
  chownSync(join(src, 'bin'), 1234, 2345)
  chmodSync(join(src, 'bin'), 0o2775)
  const { repo } = await memoryRepo()
  await repo.backup([src])
  const out = join(base, 'out')
  await repo.restore('latest', out, { keepSetid: true })
  for (const [rel, uid, gid, mode] of [['bin/tool', 1234, 2345, 0o6755], ['empty', 4321, 5432, 0o4700], ['bin', 1234, 2345, 0o2775]] as const) {
    const st = lstatSync(join(out, 'src', rel))
    assert.deepEqual([st.uid, st.gid, (st.mode & 0o7777).toString(8)], [uid, gid, mode.toString(8)], rel)
  }
  assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
})

test('restore through a worker from storage that cannot read into a buffer (the runs are copied into shared memory) reproduces the files', async () => {
  const base = tempDir('rt')
  const src = join(base, 'src')
  mkdirSync(src)
  makeSource(src)
  for (let i = 0; i < 6; i++) writeFileSync(join(src, `r${i}.bin`), randomBytesSeeded(300_000 + i * 7_000, 40 + i))
  const { repo, backend } = await memoryRepo({ packSize: 256 * 1024 })
  assert.equal((backend as { loadInto?: unknown }).loadInto, undefined, 'the memory backend reads whole buffers only')
  await repo.backup([src], { threads: 0 })
  for (const threads of [1, 2]) {
    const out = join(base, `out-${threads}`)
    const r = await repo.restore('latest', out, { threads })
    assert.ok(r.packsRead > 3, `several runs read: ${r.packsRead}`)
    assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
  }
})
