// The walk compares each entry against the parent snapshot's node with a plain lstat first (times as
// Node's milliseconds) and takes the parent's exact nanosecond times when they agree; anything else
// goes through the nanosecond lstat. These pin what that must keep: unchanged entries give the
// parent's tree byte for byte, and a change the milliseconds might hide is still seen.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { lstatSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, memoryRepo, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

function makeTree(root: string): string[] {
  const files: string[] = []
  for (let d = 0; d < 3; d++) {
    const dir = join(root, `d${d}`)
    mkdirSync(dir, { recursive: true })
    for (let f = 0; f < 5; f++) {
      const file = join(dir, `f${f}.md`)
      writeFileSync(file, `note ${d}/${f}\n`)
      files.push(file)
    }
  }
  return files
}

test('an unchanged tree, times with nanoseconds included, backs up to the same tree, byte for byte', async () => {
  const root = join(tempDir(), 'notes')
  const files = makeTree(root)
  // Times with nanoseconds that milliseconds cannot hold (utimes takes seconds as a double).
  utimesSync(files[0]!, 1_700_000_000.123456, 1_700_000_000.987654)
  const { repo } = await memoryRepo()
  const first = await repo.backup([root])
  const second = await repo.backup([root])
  assert.equal(second.filesUnmodified, 15)
  assert.equal(second.dirsUnmodified, 4)
  assert.equal(second.tree, first.tree, 'the same tree, byte for byte')
  // The first backup had no parent: its nodes came from the nanosecond lstat alone.
  assert.notEqual(lstatSync(files[0]!, { bigint: true }).mtimeNs % 1_000_000n, 0n, 'the test file has sub-millisecond times')
})

test('a file rewritten with the same size and its old modification time set back is read again (its change time moved)', async () => {
  const root = join(tempDir(), 'notes')
  const files = makeTree(root)
  const file = files[7]!
  utimesSync(file, 1_700_000_000, 1_700_000_000)
  const { repo } = await memoryRepo()
  await repo.backup([root])
  const before = lstatSync(file)
  writeFileSync(file, 'NOTE 1/2\n') // same length as "note 1/2\n"
  utimesSync(file, 1_700_000_000, 1_700_000_000)
  assert.equal(lstatSync(file).mtimeMs, before.mtimeMs)
  const s = await repo.backup([root])
  assert.equal(s.filesChanged, 1)
  assert.equal(s.filesUnmodified, 14)
  const parts: Uint8Array[] = []
  for await (const c of (await repo.dump(s.snapshotId!, 'notes/d1/f2.md')).chunks) parts.push(c)
  assert.equal(Buffer.concat(parts).toString(), 'NOTE 1/2\n')
})

test('a backup aborted while files wait on a worker rejects with ABORTED and leaves no unhandled rejection', async () => {
  const root = join(tempDir(), 'notes')
  mkdirSync(root, { recursive: true })
  // Files of more than one chunk go to the worker (threads given: it takes them from the start),
  // and smaller ones when it is idle.
  for (let f = 0; f < 2000; f++) writeFileSync(join(root, `f${String(f).padStart(5, '0')}.md`), randomBytesSeeded(f % 4 === 0 ? 9000 : 100, f + 1))
  const { repo } = await memoryRepo()
  const unhandled: unknown[] = []
  const onUnhandled = (e: unknown) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    const ac = new AbortController()
    let calls = 0
    await assert.rejects(
      repo.backup([root], {
        threads: 1,
        signal: ac.signal,
        progressIntervalMs: 0,
        onProgress: () => {
          if (++calls === 100) ac.abort()
        },
      }),
      { code: 'ABORTED' },
    )
    await new Promise((r) => setTimeout(r, 300)) // the worker's files settle
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})
