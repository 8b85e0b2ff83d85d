import assert from 'node:assert/strict'
import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { IncludeMatcher } from '../src/archiver/excludes.js'
import { cleanup, memoryRepo, tempDir } from './helpers.js'

after(cleanup)

test('include globs keep a file when they match it or a folder above it, and walk only folders that could hold a match', () => {
  const m = new IncludeMatcher(['MEMORY.md', 'memory/**', 'skills/*/SKILL.md', 'notes'])
  const table: Array<[string, boolean, boolean]> = [
    ['MEMORY.md', false, true],
    ['memory', true, true],
    ['memory/a/b.md', false, true],
    ['memory/.hidden', false, true],
    ['skills', true, true],
    ['skills/weather', true, true],
    ['skills/weather/SKILL.md', false, true],
    ['skills/weather/other.md', false, false],
    ['skills/weather/deep', true, false],
    ['notes/x/y.md', false, true],
    ['random.txt', false, false],
    ['src', true, false],
    ['MEMORY.md.bak', false, false],
  ]
  for (const [path, isDir, kept] of table) assert.equal(m.keeps(path, isDir), kept, `${path} (${isDir ? 'folder' : 'file'})`)
  assert.throws(() => new IncludeMatcher(['../etc/**']), /invalid include pattern/)
})

test('a backup with includes stores only what they name; without folder times, a file created and removed outside the scope changes nothing', async () => {
  const { repo } = await memoryRepo()
  const src = join(tempDir('inc'), 'ws')
  mkdirSync(join(src, 'memory'), { recursive: true })
  mkdirSync(join(src, 'other'), { recursive: true })
  writeFileSync(join(src, 'MEMORY.md'), 'm')
  writeFileSync(join(src, 'memory', 'a.md'), 'a')
  writeFileSync(join(src, 'other', 'b.md'), 'b')
  writeFileSync(join(src, 'top.txt'), 't')
  const opts = { includes: ['MEMORY.md', 'memory/**'], excludes: ['*/memory/log.jsonl'], dirTimes: false, skipIfUnchanged: true }
  const first = await repo.backup([src], opts)
  const paths: string[] = []
  for await (const e of repo.ls(first.snapshotId!)) paths.push(e.path)
  assert.deepEqual(paths.sort(), ['ws', 'ws/MEMORY.md', 'ws/memory', 'ws/memory/a.md'])

  writeFileSync(join(src, 'memory', 'log.jsonl'), 'excluded, but it changes the folder')
  const t = new Date(Date.now() + 5000)
  utimesSync(join(src, 'memory'), t, t)
  assert.ok(Math.abs(statSync(join(src, 'memory')).mtimeMs - t.getTime()) < 1, 'the folder time changed')
  const second = await repo.backup([src], opts)
  assert.equal(second.skipped, true)
  const withTimes = await repo.backup([src], { ...opts, dirTimes: true })
  assert.equal(withTimes.skipped, false, 'with folder times the same change is a change')
})
