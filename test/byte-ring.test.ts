import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ByteRing, type Region } from '../src/runtime/byte-ring.js'

/** Resolves to the region, or to 'waiting' when it is not granted by the next turn of the event loop. */
async function soon(p: Promise<Region>): Promise<Region | 'waiting'> {
  return Promise.race([p, new Promise<'waiting'>((r) => setImmediate(() => r('waiting')))])
}

const overlaps = (a: Region, b: Region) => {
  const [x, y] = [a.bytes, b.bytes]
  return x.byteOffset < y.byteOffset + y.length && y.byteOffset < x.byteOffset + x.length
}

test('a byte ring hands out regions in order, wraps to the start, and waits while the space is in use', async () => {
  const ring = new ByteRing(new Uint8Array(100))
  const a = await ring.take(40)
  const b = await ring.take(40)
  assert.equal(a.bytes.byteOffset, 0)
  assert.equal(b.bytes.byteOffset, 40)
  // 30 bytes do not fit after b (20 left) nor before a: the request waits.
  const c = ring.take(30)
  assert.equal(await soon(c), 'waiting')
  // A later, smaller request waits behind it: regions come out in the order asked for.
  const d = ring.take(5)
  assert.equal(await soon(d), 'waiting')
  // b given back first frees nothing: a, before it, is still in use.
  b.release()
  assert.equal(await soon(c), 'waiting')
  a.release()
  const cr = await c
  assert.equal(cr.bytes.byteOffset, 0, 'everything free: from the start again')
  const dr = await d
  assert.equal(dr.bytes.byteOffset, 30)
  // Wrapped: the space between the newest region and the oldest only.
  const e = await ring.take(60)
  assert.equal(e.bytes.byteOffset, 35)
  const f = ring.take(10)
  assert.equal(await soon(f), 'waiting', 'the ring is full to 95 of 100 bytes, and 5 remain at the end')
  cr.release()
  const fr = await f
  assert.equal(fr.bytes.byteOffset, 0, 'wrapped into the space c gave back')
  for (const [x, y] of [[dr, e], [dr, fr], [e, fr]] as const) assert.ok(!overlaps(x, y))
  // Too large for the ring at all: refused rather than waiting for ever.
  await assert.rejects(ring.take(101), RangeError)
  dr.release()
  e.release()
  fr.release()
  assert.equal((await ring.take(100)).bytes.length, 100)
})

test('a byte ring never hands out overlapping live regions (random sizes, release orders)', async () => {
  let seed = 7
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const ring = new ByteRing(new Uint8Array(1000))
  const live: Region[] = []
  const pending: Array<Promise<Region>> = []
  for (let step = 0; step < 3000; step++) {
    if (pending.length < 4 && rand(2) === 0) {
      const p = ring.take(rand(8) === 0 ? 0 : 1 + rand(400))
      pending.push(p)
      void p.then((r) => {
        for (const other of live) assert.ok(!overlaps(r, other), `step ${step}: [${r.bytes.byteOffset}, +${r.bytes.length}) overlaps a live region`)
        live.push(r)
        pending.splice(pending.indexOf(p), 1)
      })
    } else if (live.length > 0) {
      const [r] = live.splice(rand(live.length), 1)
      r.release()
    }
    await new Promise((r) => setImmediate(r))
  }
  while (live.length > 0) live.pop()!.release()
  await Promise.all(pending)
})

test('a byte ring gives an empty region for nothing, which does not make a full, wrapped ring look empty', async () => {
  const ring = new ByteRing(new Uint8Array(20))
  const a = await ring.take(10)
  const b = await ring.take(10)
  a.release()
  const c = await ring.take(10)
  assert.equal(c.bytes.byteOffset, 0, 'wrapped into the space a gave back: the ring is full')
  const z = await ring.take(0)
  assert.equal(z.bytes.length, 0)
  // Full: the next region waits for b rather than landing on it.
  const d = ring.take(4)
  assert.equal(await soon(d), 'waiting')
  z.release()
  b.release()
  const dr = await d
  assert.ok(!overlaps(dr, c))
})

