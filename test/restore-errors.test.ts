// A restore that meets an error at one place in the target goes on with everything else, like
// restic: each error is reported at the end (RestoreSummary.errors), every other file is restored,
// folders get their modes and times, and no temporary file is left behind.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, memoryRepo, randomBytesSeeded, tempDir, tempFilesUnder, writeTwoFolders } from './helpers.js'

after(cleanup)

for (const threads of [0, 2]) {
  test(`a folder in the way of one file (${threads} threads): the other files are restored, folders get their modes, the error is reported at the end`, async () => {
    const base = tempDir('partial')
    const src = join(base, 'memory')
    mkdirSync(join(src, 'notes'), { recursive: true })
    for (let i = 0; i < 20; i++) writeFileSync(join(src, 'notes', `n-${String(i).padStart(2, '0')}.md`), i === 7 ? randomBytesSeeded(300_000, i) : `note ${i}\n`.repeat(40))
    chmodSync(join(src, 'notes'), 0o751)
    chmodSync(src, 0o755)
    const { repo } = await memoryRepo()
    await repo.backup([src])
    const target = join(base, 'target')
    mkdirSync(join(target, 'memory', 'notes', 'n-03.md', 'inside'), { recursive: true }) // folders where a file goes
    mkdirSync(join(target, 'memory', 'notes', 'n-12.md'), { recursive: true })
    const s = await repo.restore('latest', target, { threads })
    assert.deepEqual(
      s.errors.map((e) => [e.path.slice(target.length), /directory is in the way/.test(e.message)]),
      [
        ['/memory/notes/n-03.md', true],
        ['/memory/notes/n-12.md', true],
      ],
      JSON.stringify(s.errors),
    )
    assert.equal(s.filesRestored, 18)
    for (let i = 0; i < 20; i++) {
      if (i === 3 || i === 12) continue
      const name = `n-${String(i).padStart(2, '0')}.md`
      assert.deepEqual(readFileSync(join(target, 'memory', 'notes', name)), readFileSync(join(src, 'notes', name)), name)
    }
    assert.ok(lstatSync(join(target, 'memory', 'notes', 'n-03.md', 'inside')).isDirectory(), 'the folder in the way is untouched')
    assert.equal(lstatSync(join(target, 'memory', 'notes')).mode & 0o7777, 0o751, 'folder modes are set (not left at 0700)')
    assert.equal(lstatSync(join(target, 'memory')).mode & 0o7777, 0o755)
    assert.equal(lstatSync(join(target, 'memory', 'notes'), { bigint: true }).mtimeNs / 1000n, lstatSync(join(src, 'notes'), { bigint: true }).mtimeNs / 1000n, 'folder times are set')
    assert.deepEqual(tempFilesUnder(target), [], 'no temporary file is left')
  })
}

for (const threads of [0, 2]) {
  test(`a folder replaced by a file while the restore writes (${threads} threads): its files are errors (ENOTDIR), the files after them are restored`, async () => {
    const base = tempDir('replaced')
    const src = join(base, 'memory')
    writeTwoFolders(src)
    const { repo, backend } = await memoryRepo()
    await repo.backup([src])
    const target = join(base, 'target')
    // The first read of data: the folders are made by then, no file is yet. One goes, a file in its place.
    let replaced = false
    const load = backend.load.bind(backend)
    backend.load = async (h, range) => {
      if (h.type === 'data' && range && !replaced) {
        replaced = true
        rmSync(join(target, 'memory', 'a'), { recursive: true })
        writeFileSync(join(target, 'memory', 'a'), 'not a folder')
      }
      return load(h, range)
    }
    const s = await repo.restore('latest', target, { threads })
    assert.ok(replaced)
    const files = s.errors.filter((e) => /a-\d\.md$/.test(e.path))
    assert.equal(files.length, 5, JSON.stringify(s.errors))
    for (const e of files) assert.match(e.message, /ENOTDIR|not a directory/i)
    for (let i = 0; i < 5; i++) assert.deepEqual(readFileSync(join(target, 'memory', 'b', `b-${i}.md`)), readFileSync(join(src, 'b', `b-${i}.md`)), `b-${i}.md`)
    assert.equal(s.filesRestored, 5)
    assert.deepEqual(tempFilesUnder(target), [], 'no temporary file is left')
  })
}

test('a folder that cannot be created is one error; what lies in it is skipped, everything else is restored', async () => {
  const base = tempDir('partial')
  const src = join(base, 'memory')
  mkdirSync(join(src, 'blocked', 'deeper'), { recursive: true })
  writeFileSync(join(src, 'blocked', 'a.md'), 'a')
  writeFileSync(join(src, 'blocked', 'deeper', 'b.md'), 'b')
  writeFileSync(join(src, 'fine.md'), 'fine')
  const { repo } = await memoryRepo()
  await repo.backup([src])
  const target = join(base, 'target')
  mkdirSync(join(target, 'memory'), { recursive: true })
  execFileSync('mkfifo', [join(target, 'memory', 'blocked')]) // neither a folder nor a file: left alone
  const s = await repo.restore('latest', target)
  assert.equal(s.errors.length, 1, JSON.stringify(s.errors))
  assert.equal(s.errors[0].path, join(target, 'memory', 'blocked'))
  assert.match(s.errors[0].message, /not a directory/)
  assert.match(s.errors[0].message, /3 entries in it were not restored/)
  assert.equal(readFileSync(join(target, 'memory', 'fine.md'), 'utf8'), 'fine')
  assert.ok(lstatSync(join(target, 'memory', 'blocked')).isFIFO())
  assert.equal(s.filesRestored, 1)
  assert.deepEqual(tempFilesUnder(target), [])
  assert.ok(!existsSync(join(target, 'memory', 'blocked', 'a.md')))
})

test('a file where the snapshot has a folder is kept under overwrite never, and under if-newer when newer; replaced under always', async () => {
  const { repo } = await memoryRepo()
  const src = join(tempDir('in-the-way'), 'src')
  mkdirSync(join(src, 'notes', 'deep'), { recursive: true })
  writeFileSync(join(src, 'notes', 'a.md'), 'note a\n')
  writeFileSync(join(src, 'notes', 'deep', 'b.md'), 'note b\n')
  writeFileSync(join(src, 'top.md'), 'top\n')
  await repo.backup([src], { dirTimes: true })
  const target = (policy: string) => {
    const t = join(tempDir('in-the-way'), policy)
    mkdirSync(join(t, 'src'), { recursive: true })
    writeFileSync(join(t, 'src', 'notes'), 'the user wrote this file after the backup\n')
    return t
  }
  for (const overwrite of ['never', 'if-newer'] as const) {
    const t = target(overwrite)
    const s = await repo.restore('latest', t, { overwrite })
    assert.equal(readFileSync(join(t, 'src', 'notes'), 'utf8'), 'the user wrote this file after the backup\n', `${overwrite}: the file is kept`)
    assert.deepEqual(s.kept, [{ path: join(t, 'src', 'notes'), reason: overwrite === 'never' ? 'exists' : 'newer' }])
    assert.equal(readFileSync(join(t, 'src', 'top.md'), 'utf8'), 'top\n', `${overwrite}: the rest is restored`)
    assert.equal(s.filesRestored, 1)
    assert.deepEqual(s.errors, [])
  }
  // Older than the snapshot's folder: if-newer replaces it, as it would a file.
  const old = target('if-newer-old')
  execFileSync('touch', ['-d', '2001-01-01', join(old, 'src', 'notes')])
  const o = await repo.restore('latest', old, { overwrite: 'if-newer' })
  assert.equal(readFileSync(join(old, 'src', 'notes', 'deep', 'b.md'), 'utf8'), 'note b\n')
  assert.deepEqual([o.kept, o.filesRestored], [[], 3])
  const always = target('always')
  const a = await repo.restore('latest', always, { overwrite: 'always' })
  assert.equal(readFileSync(join(always, 'src', 'notes', 'a.md'), 'utf8'), 'note a\n')
  assert.deepEqual([a.kept, a.filesRestored], [[], 3])
})
