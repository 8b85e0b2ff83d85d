// readWhole: a small file read whole, however its lstat's size has aged meanwhile.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readWhole } from '../src/archiver/archiver.js'
import { cleanup, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

test('a whole file is read whatever size its lstat gave: the same, smaller, larger, 0, more than the scratch buffer', () => {
  const dir = tempDir()
  const cases: Array<{ what: string; bytes: number; size: number; scratch: number }> = [
    { what: 'the size as lstat-ed', bytes: 100, size: 100, scratch: 1000 },
    { what: 'grown since its lstat', bytes: 300, size: 100, scratch: 1000 },
    { what: 'shrunk since its lstat', bytes: 50, size: 100, scratch: 1000 },
    { what: 'empty when lstat-ed', bytes: 70, size: 0, scratch: 1000 },
    { what: 'larger than the scratch buffer', bytes: 2000, size: 2000, scratch: 1000 },
    { what: 'grown past twice the buffer', bytes: 5000, size: 10, scratch: 11 },
    { what: 'exactly the scratch buffer', bytes: 1000, size: 1000, scratch: 1000 },
    { what: 'empty', bytes: 0, size: 0, scratch: 1000 },
  ]
  for (const [i, c] of cases.entries()) {
    const path = join(dir, `f${i}`)
    const content = randomBytesSeeded(c.bytes, i + 1)
    writeFileSync(path, content)
    const got = readWhole(Buffer.from(path), c.size, Buffer.alloc(c.scratch))
    assert.ok(Buffer.from(got).equals(content), `${c.what}: ${got.length} of ${c.bytes} bytes`)
  }
})
