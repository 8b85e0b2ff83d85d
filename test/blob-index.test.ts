import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { BlobIndex } from '../src/repository/blob-index.js'

test('blob index finds every added blob by type and id, and nothing else', () => {
  const idx = new BlobIndex(4) // starts tiny, so growth and rehashing are exercised
  const pack = randomBytes(32)
  const ids = Array.from({ length: 20000 }, () => randomBytes(32))
  ids.forEach((id, i) => assert.equal(idx.add((i % 2) as 0 | 1, id, pack, i * 10, 100 + i, 200 + i, i % 3), true))
  assert.equal(idx.size, ids.length)
  ids.forEach((id, i) => {
    const loc = idx.get((i % 2) as 0 | 1, id)
    assert.ok(loc, `blob ${i} missing`)
    assert.equal(loc.offset, i * 10)
    assert.equal(loc.length, 100 + i)
    assert.equal(loc.rawLength, 200 + i)
    assert.equal(loc.codec, i % 3)
    assert.deepEqual(loc.packId, pack)
    assert.equal(idx.has(((i + 1) % 2) as 0 | 1, id), false, 'the other type must not match')
  })
  for (let i = 0; i < 1000; i++) assert.equal(idx.has(0, randomBytes(32)), false)
  // Ids back to back (a file node's content) are found at their offsets, as one by one.
  const run = Buffer.concat([Buffer.alloc(5), ...ids.slice(100, 140), randomBytes(32)])
  for (let k = 0; k < 40; k++) {
    const at = idx.findAt(((100 + k) % 2) as 0 | 1, run, 5 + k * 32)
    assert.equal(at, idx.find(((100 + k) % 2) as 0 | 1, ids[100 + k]))
    assert.ok(at >= 0)
    assert.equal(idx.rawLengthAt(at), 200 + 100 + k)
    assert.equal(idx.findAt(((101 + k) % 2) as 0 | 1, run, 5 + k * 32), -1, 'the other type must not match')
  }
  assert.equal(idx.findAt(0, run, 5 + 40 * 32), -1)
  assert.equal(idx.findAt(1, run, 5 + 40 * 32), -1)
  // A duplicate keeps its first location.
  assert.equal(idx.add(0, ids[0], randomBytes(32), 1, 2, 3, 0), false)
  assert.equal(idx.get(0, ids[0])!.offset, 0)
})

test('blob index sized for its blobs (as when loaded) stays under 64 bytes a blob', () => {
  const n = 100_000
  const idx = new BlobIndex(n)
  const pack = randomBytes(32)
  for (let i = 0; i < n; i++) idx.add(0, randomBytes(32), pack, 0, 1, 1, 0)
  assert.ok(idx.memoryBytes / n < 64, `bytes per blob ${idx.memoryBytes / n}`)
})
