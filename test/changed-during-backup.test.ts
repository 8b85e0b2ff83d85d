// A file that changes while a backup reads it (a log rewritten, a note saved during a sync) must not
// be stored as a mix of bytes that never existed on disk without a word. The writes here are real
// writes to the file, made from the backup's progress callback: it runs on the calling thread
// between two chunks of the file (threads 0), or while a chunk worker waits for the main thread to
// take its window (threads 2, which then has read at most ~12 MiB of the 32 MiB file), so the read
// is deterministically in the middle of the file when the file changes.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BackupProgress } from '../src/index.js'
import { cleanup, memoryRepo, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

const SIZE = 32 * 1024 * 1024
// Two versions of different sizes, so a torn read is told apart by its size too.
const A = randomBytesSeeded(SIZE, 1)
const B = randomBytesSeeded(SIZE + 4096, 2)

/** A progress callback that rewrites `file` once the backup has read 1 byte, then (with `again`) every 4 MiB read. */
function writer(file: string, again: boolean): { onProgress: (p: BackupProgress) => void; writes: () => number; stop: () => void } {
  let writes = 0
  let lastAt = -1
  let stopped = false
  return {
    onProgress: (p) => {
      if (stopped || p.bytesDone === 0) return
      if (lastAt >= 0 && (!again || p.bytesDone - lastAt < 4 * 1024 * 1024)) return
      lastAt = p.bytesDone
      writeFileSync(file, writes++ % 2 === 0 ? B : A)
    },
    writes: () => writes,
    stop: () => {
      stopped = true
    },
  }
}

async function restored(repo: Awaited<ReturnType<typeof memoryRepo>>['repo'], base: string, ref = 'latest'): Promise<Buffer> {
  const out = join(base, `out-${Math.random().toString(36).slice(2)}`)
  await repo.restore(ref, out)
  return readFileSync(join(out, 'src', 'log.bin'))
}

for (const threads of [0, 2]) {
  test(`a file rewritten once while it is read is read again and stored as it is now (${threads} threads)`, async () => {
    const base = tempDir('torn')
    const src = join(base, 'src')
    mkdirSync(src)
    const file = join(src, 'log.bin')
    writeFileSync(file, A)
    const { repo } = await memoryRepo({ compression: 'off' })
    const w = writer(file, false)
    const s = await repo.backup([src], { threads, progressIntervalMs: 0, onProgress: w.onProgress })
    assert.equal(w.writes(), 1)
    assert.deepEqual(s.errors, [])
    const got = await restored(repo, base)
    assert.equal(got.length, B.length, 'not a mix of the two versions')
    assert.ok(got.equals(B), 'the version on disk after the change')
    // Its metadata is the version's: the next backup finds it unchanged.
    const again = await repo.backup([src], { threads })
    assert.equal(again.filesUnmodified, 1)
  })

  test(`a file that keeps changing while it is read twice, with no earlier version, is stored as read with a warning; the next backup reads it again (${threads} threads)`, async () => {
    const base = tempDir('torn')
    const src = join(base, 'src')
    mkdirSync(src)
    const file = join(src, 'log.bin')
    writeFileSync(file, A)
    const { repo } = await memoryRepo({ compression: 'off' })
    const w = writer(file, true)
    const s = await repo.backup([src], { threads, progressIntervalMs: 0, onProgress: w.onProgress })
    w.stop()
    assert.ok(w.writes() >= 2)
    assert.equal(s.errors.length, 1, JSON.stringify(s.errors))
    assert.equal(s.errors[0].path, file)
    assert.equal(s.errors[0].kind, 'changed')
    assert.match(s.errors[0].message, /changed while it was read/)
    // Quiet now: the next backup does not take the torn version for the file as it is.
    const next = await repo.backup([src], { threads })
    assert.deepEqual(next.errors, [])
    assert.equal(next.filesChanged, 1)
    assert.ok((await restored(repo, base)).equals(readFileSync(file)))
  })

  test(`a file that keeps changing while it is read twice keeps the version of the parent snapshot, with a warning (${threads} threads)`, async () => {
    const base = tempDir('torn')
    const src = join(base, 'src')
    mkdirSync(src)
    const file = join(src, 'log.bin')
    writeFileSync(file, A)
    const { repo } = await memoryRepo({ compression: 'off' })
    const first = await repo.backup([src], { threads })
    writeFileSync(file, B) // changed since the parent
    const w = writer(file, true)
    const s = await repo.backup([src], { threads, progressIntervalMs: 0, onProgress: w.onProgress })
    w.stop()
    assert.equal(s.errors.length, 1, JSON.stringify(s.errors))
    assert.equal(s.errors[0].kind, 'changed')
    assert.match(s.errors[0].message, /previous snapshot/)
    assert.ok((await restored(repo, base)).equals(A), 'the parent snapshot\'s version')
    assert.ok((await restored(repo, base, first.snapshotId!)).equals(A))
  })
}
