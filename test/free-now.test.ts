import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, randomBytes } from 'node:crypto'
import { canFreeNow, freeNow } from '../src/runtime/free-now.js'
import { openBlobInto, sealBlobInto, BLOB_OVERHEAD } from '../src/crypto/seal.js'

const hadTransfer = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function'

test('freeNow releases a buffer that owns its memory at once, on every supported Node (20 through a flag, without showing it)', () => {
  assert.ok(canFreeNow(), `freeNow works on Node ${process.version}`)
  const input = Buffer.alloc(4 * 1024 * 1024, 7) // kept alive: only the output's memory is measured
  const before = process.memoryUsage().arrayBuffers
  const owned = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12)).update(input)
  assert.equal(owned.length, 4 * 1024 * 1024)
  assert.ok(process.memoryUsage().arrayBuffers >= before + 4 * 1024 * 1024)
  freeNow(owned)
  assert.equal(owned.buffer.byteLength, 0, 'detached')
  assert.equal(owned.length, 0)
  assert.ok(process.memoryUsage().arrayBuffers < before + 1024 * 1024, 'its memory is gone without a collection')
  assert.equal(input[0], 7)
  // Where the runtime keeps transfer behind a flag, it stays hidden from other code.
  assert.equal(typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function', hadTransfer)
})

test('freeNow leaves alone buffers that share their memory: pooled small buffers, views, and shared memory', () => {
  const pooled = Buffer.from('a small buffer from the pool')
  const neighbour = Buffer.from('its neighbour in the same pool')
  freeNow(pooled)
  assert.equal(pooled.toString(), 'a small buffer from the pool')
  assert.equal(neighbour.toString(), 'its neighbour in the same pool')

  const whole = Buffer.alloc(256 * 1024, 1)
  const view = whole.subarray(1024, 2048)
  freeNow(view)
  assert.equal(whole.length, 256 * 1024)
  assert.equal(view.length, 1024)
  assert.equal(whole[100_000], 1)

  const shared = Buffer.from(new SharedArrayBuffer(64 * 1024))
  shared[5] = 9
  freeNow(shared)
  assert.equal(shared.length, 64 * 1024)
  assert.equal(shared[5], 9)
})

test('sealing and opening in slices, with every slice freed at once, round-trips blobs of every size', () => {
  const key = randomBytes(32)
  for (const size of [0, 1, 65535, 65536, 65537, 3 * 65536 + 17, 1024 * 1024]) {
    const id = randomBytes(32)
    const plain = randomBytes(size)
    const sealed = Buffer.alloc(size + BLOB_OVERHEAD + 10)
    const n = sealBlobInto(key, id, plain, sealed, 10)
    assert.equal(n, size + BLOB_OVERHEAD)
    const out = Buffer.alloc(size + 5)
    const back = openBlobInto(key, id, sealed.subarray(10, 10 + n), out)
    assert.ok(Buffer.from(back).equals(plain), `size ${size}`)
  }
})
