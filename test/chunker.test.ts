import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createCipheriv } from 'node:crypto'
import fc from 'fast-check'
import {
  Chunker,
  chunkStream,
  keyedTable,
  unkeyedTable,
  validateChunkerParams,
  type ChunkerParams,
} from '../src/chunker/index.js'

const fixture = (name: string) => new URL(`./fixtures/chunker/${name}`, import.meta.url)

interface RonomonCase extends ChunkerParams {
  lengths: number[]
  hashes?: string[]
}
const reference = JSON.parse(readFileSync(fixture('reference-vectors.json'), 'utf8')) as {
  ronomon: { about: string; cases: RonomonCase[] }
}
const sekien = new Uint8Array(readFileSync(fixture('SekienAkashita.jpg')))

/** Deterministic pseudo-random bytes: AES-256-CTR key stream for a key derived from `seed`. */
function pseudoRandom(size: number, seed: number): Uint8Array {
  const key = new Uint8Array(32)
  new DataView(key.buffer).setUint32(0, seed >>> 0)
  const cipher = createCipheriv('aes-256-ctr', key, new Uint8Array(16))
  return new Uint8Array(cipher.update(new Uint8Array(size)))
}

/** Cut lengths and the chunker's hash at each cut. */
function cutAll(chunker: Chunker, data: Uint8Array): { lengths: number[]; hashes: number[] } {
  const lengths: number[] = []
  const hashes: number[] = []
  let pos = 0
  while (pos < data.length) {
    const len = chunker.cut(data, pos, data.length, true)
    lengths.push(len)
    hashes.push(chunker.lastHash)
    pos += len
  }
  return { lengths, hashes }
}

async function* pieces(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let pos = 0
  let k = 0
  while (pos < data.length) {
    const n = sizes.length === 0 ? data.length : Math.max(1, sizes[k++ % sizes.length]!)
    yield data.subarray(pos, Math.min(data.length, pos + n))
    pos += n
  }
}

async function collect(source: AsyncIterable<Uint8Array>, chunker: Chunker, bufferSize?: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of chunkStream(source, chunker, bufferSize)) out.push(chunk)
  return out
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

function assertSizes(lengths: number[], p: ChunkerParams, total: number): void {
  assert.equal(lengths.reduce((s, n) => s + n, 0), total)
  lengths.forEach((len, i) => {
    if (i < lengths.length - 1) {
      assert.ok(len >= p.min && len <= p.max, `chunk ${i} of ${len} bytes outside [${p.min}, ${p.max}]`)
    } else {
      assert.ok(len >= 1 && len <= p.max, `last chunk of ${len} bytes outside [1, ${p.max}]`)
    }
  })
}

/**
 * Straight transcription of the ronomon description, one byte per step, for cross-checking the
 * unrolled loop of Chunker.cut(). Returns the chunk length or 0 (more data needed).
 */
function naiveCut(table: Int32Array, p: ChunkerParams, data: Uint8Array, start: number, end: number, eof: boolean): number {
  let n = end - start
  if (n <= p.min) return eof ? n : 0
  if (n > p.max) n = p.max
  const bits = Math.round(Math.log2(p.avg))
  const maskS = 2 ** (bits + 1) - 1
  const maskL = 2 ** (bits - 1) - 1
  const center = Math.min(n, p.avg - Math.min(p.avg, p.min + Math.ceil(p.min / 2)))
  let hash = 0 // kept as an exact uint32 in a double
  for (let i = p.min; i < n; i++) {
    hash = Math.floor(hash / 2) + table[data[start + i]!]!
    assert.ok(hash < 2 ** 32)
    const mask = i < center ? maskS : maskL
    if (hash % (mask + 1) === 0) return i + 1
  }
  return eof || n === p.max ? n : 0
}

test('the unkeyed table is the public ronomon table', () => {
  const t = unkeyedTable()
  assert.equal(t.length, 256)
  assert.equal(t[0], 0x5c95c078)
  assert.equal(t[1], 0x22408989)
  assert.equal(t[255], 0x32e8ea7e)
  for (const v of t) assert.ok(v >= 0 && v < 2 ** 31)
  // A caller mutating its copy does not change the cached table.
  t[0] = 0
  assert.equal(unkeyedTable()[0], 0x5c95c078)
  // The all-zero key gives the unkeyed table.
  assert.deepEqual(keyedTable(new Uint8Array(32)), unkeyedTable())
})

test('keyedTable needs a 32-byte Uint8Array key', () => {
  assert.throws(() => keyedTable(new Uint8Array(31)), TypeError)
  assert.throws(() => keyedTable(new Uint8Array(33)), TypeError)
  assert.throws(() => keyedTable('x'.repeat(32) as unknown as Uint8Array), TypeError)
  const t = keyedTable(new Uint8Array(32).fill(1))
  assert.equal(t.length, 256)
  for (const v of t) assert.ok(v >= 0 && v < 2 ** 31)
  assert.notDeepEqual(t, unkeyedTable())
})

test('reference "ronomon" vectors: SekienAkashita.jpg lengths and hashes', () => {
  assert.equal(sekien.length, 109466)
  assert.ok(reference.ronomon.cases.length >= 3)
  for (const c of reference.ronomon.cases) {
    const chunker = new Chunker({ min: c.min, avg: c.avg, max: c.max }, unkeyedTable())
    const { lengths, hashes } = cutAll(chunker, sekien)
    assert.deepEqual(lengths, c.lengths, `lengths for min ${c.min} avg ${c.avg} max ${c.max}`)
    assert.deepEqual([...chunker.chunks(sekien)], c.lengths)
    if (c.hashes) assert.deepEqual(hashes.map(String), c.hashes, `hashes for min ${c.min} avg ${c.avg} max ${c.max}`)
  }
})

test('reference hashes of the larger cases (from the fastcdc crate test suite)', () => {
  const h32 = cutAll(new Chunker({ min: 16384, avg: 32768, max: 65536 }, unkeyedTable()), sekien).hashes
  assert.deepEqual(h32, [2772598784, 1651589120, 1121740051])
  const h64 = cutAll(new Chunker({ min: 32768, avg: 65536, max: 131072 }, unkeyedTable()), sekien).hashes
  assert.deepEqual(h64, [2772598784, 1121740051])
})

test('all zeros: max-size chunks (exercises the strict mask, center > min)', () => {
  // From the fastcdc crate's ronomon tests: 10240 zero bytes, 64/256/1024.
  const chunker = new Chunker({ min: 64, avg: 256, max: 1024 }, unkeyedTable())
  assert.equal(chunker.center, 160)
  const { lengths, hashes } = cutAll(chunker, new Uint8Array(10240))
  assert.deepEqual(lengths, new Array(10).fill(1024))
  assert.deepEqual(hashes, new Array(10).fill(3106636015))
})

test('masks and center size', () => {
  const c = new Chunker({ min: 8192, avg: 16384, max: 32768 }, unkeyedTable())
  assert.equal(c.bits, 14)
  assert.equal(c.maskS, 2 ** 15 - 1)
  assert.equal(c.maskL, 2 ** 13 - 1)
  assert.equal(c.center, 4096) // below min: the strict mask is never used here
  // logarithm2 rounds, it does not floor
  assert.equal(new Chunker({ min: 1024, avg: 12288, max: 65536 }, unkeyedTable()).bits, 14)
  assert.equal(new Chunker({ min: 256, avg: 1100, max: 4096 }, unkeyedTable()).bits, 10)
  const big = new Chunker({ min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 }, unkeyedTable())
  assert.equal(big.center, 1024 * 1024 - 384 * 1024)
})

test('cut(): needs more data unless eof or max bytes are available', () => {
  const p = { min: 8192, avg: 16384, max: 32768 }
  const chunker = new Chunker(p, unkeyedTable())
  // at most min bytes: undecided without eof, whole rest at eof
  assert.equal(chunker.cut(sekien, 0, 8192, false), 0)
  assert.equal(chunker.cut(sekien, 0, 8192, true), 8192)
  assert.equal(chunker.cut(sekien, 0, 0, true), 0)
  // the first cut of the file is at 22366; a shorter window cannot decide without eof
  assert.equal(chunker.cut(sekien, 0, 22365, false), 0)
  assert.equal(chunker.cut(sekien, 0, 22365, true), 22365)
  assert.equal(chunker.cut(sekien, 0, 22366, false), 22366)
  // chunk 5 (offset 65647) has no cut point: with max bytes it is decided without eof
  assert.equal(chunker.cut(sekien, 65647, 65647 + 32767, false), 0)
  assert.equal(chunker.cut(sekien, 65647, 65647 + 32768, false), 32768)
  assert.equal(chunker.cut(sekien, 65647, sekien.length, false), 32768)
  // window checks
  assert.throws(() => chunker.cut(sekien, -1, 10, true), RangeError)
  assert.throws(() => chunker.cut(sekien, 10, 5, true), RangeError)
  assert.throws(() => chunker.cut(sekien, 0, sekien.length + 1, true), RangeError)
  assert.throws(() => chunker.cut(sekien, 0.5, 10, true), RangeError)
})

test('cut() agrees with a naive one-byte-per-step transcription (property)', () => {
  const table = keyedTable(new Uint8Array(32).fill(9))
  const params = fc
    .record({ min: fc.integer({ min: 64, max: 600 }), avgOver: fc.integer({ min: 1, max: 1500 }), maxOver: fc.integer({ min: 1, max: 3000 }) })
    .map(({ min, avgOver, maxOver }) => ({ min, avg: min + avgOver, max: min + avgOver + maxOver }))
  fc.assert(
    fc.property(params, fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 30_000 }), (p, seed, size) => {
      const chunker = new Chunker(p, table)
      const data = pseudoRandom(size, seed)
      let pos = 0
      while (pos < size) {
        // Windows ending mid-data (eof false) must agree too, including the 0 answers.
        const partial = Math.min(size, pos + ((seed + pos) % (p.max + 50)))
        assert.equal(chunker.cut(data, pos, partial, false), naiveCut(table, p, data, pos, partial, false))
        const len = chunker.cut(data, pos, size, true)
        assert.equal(len, naiveCut(table, p, data, pos, size, true), `at ${pos} with ${JSON.stringify(p)}`)
        pos += len
      }
    }),
    { numRuns: 300 },
  )
})

test('keyed tables: different keys give different cut points, the same key the same ones', () => {
  const data = pseudoRandom(4 * 1024 * 1024, 1234)
  const p = { min: 2048, avg: 8192, max: 65536 }
  const keyA = new Uint8Array(32).fill(0xa5)
  const keyB = new Uint8Array(32).fill(0x5a)
  const a1 = [...new Chunker(p, keyedTable(keyA)).chunks(data)]
  const a2 = [...new Chunker(p, keyedTable(new Uint8Array(keyA))).chunks(data)]
  const b = [...new Chunker(p, keyedTable(keyB)).chunks(data)]
  const u = [...new Chunker(p, unkeyedTable()).chunks(data)]
  assert.ok(a1.length > 100, `expected many chunks, got ${a1.length}`)
  assert.deepEqual(a1, a2)
  assert.notDeepEqual(a1, b)
  assert.notDeepEqual(a1, u)
  // not merely shifted: almost no cut offsets are shared
  const offsets = (lengths: number[]) => {
    const s = new Set<number>()
    let o = 0
    for (const l of lengths.slice(0, -1)) s.add((o += l))
    return s
  }
  const oa = offsets(a1)
  const shared = [...offsets(b)].filter((o) => oa.has(o)).length
  assert.ok(shared < oa.size / 10, `${shared} of ${oa.size} cut points shared between two keys`)
  assertSizes(a1, p, data.length)
  assertSizes(b, p, data.length)
})

test('chunk sizes stay within [min, max], the last within [1, max]', () => {
  const table = keyedTable(new Uint8Array(32).fill(7))
  const paramSets: ChunkerParams[] = [
    { min: 64, avg: 256, max: 1024 },
    { min: 64, avg: 4096, max: 8192 }, // center far above min: the strict mask dominates
    { min: 2048, avg: 4096, max: 5000 }, // tight max: many forced cuts
    { min: 8192, avg: 16384, max: 32768 },
  ]
  for (const [k, p] of paramSets.entries()) {
    const chunker = new Chunker(p, table)
    for (const size of [1, p.min - 1, p.min, p.min + 1, p.max, p.max + 1, 300_001]) {
      const data = pseudoRandom(size, 1000 * k + size)
      assertSizes([...chunker.chunks(data)], p, size)
    }
    assertSizes([...chunker.chunks(new Uint8Array(100_000))], p, 100_000)
  }
})

test('streaming and whole-buffer agree for any split (property)', async () => {
  const paramSets: ChunkerParams[] = [
    { min: 64, avg: 256, max: 1024 },
    { min: 64, avg: 1024, max: 4096 },
    { min: 512, avg: 1024, max: 2048 },
  ]
  const table = keyedTable(new Uint8Array(32).fill(3))
  const chunkers = paramSets.map((p) => new Chunker(p, table))
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: 0, max: 40_000 }),
      fc.array(fc.integer({ min: 1, max: 9000 }), { maxLength: 12 }),
      fc.integer({ min: 1, max: 6000 }),
      fc.integer({ min: 0, max: paramSets.length - 1 }),
      async (seed, size, splits, bufferSize, which) => {
        const chunker = chunkers[which]!
        const data = pseudoRandom(size, seed)
        const expected = [...chunker.chunks(data)]
        const got = await collect(pieces(data, splits), chunker, bufferSize)
        assert.deepEqual(
          got.map((c) => c.length),
          expected,
        )
        assert.deepEqual(concat(got), data)
        assertSizes(expected, paramSets[which]!, size)
      },
    ),
    { numRuns: 150 },
  )
})

test('streaming and whole-buffer agree on larger input (buffer growth and refill)', async () => {
  const p = { min: 2048, avg: 8192, max: 65536 }
  const chunker = new Chunker(p, keyedTable(new Uint8Array(32).fill(11)))
  const data = pseudoRandom(2 * 1024 * 1024 + 123, 77)
  const expected = [...chunker.chunks(data)]
  assertSizes(expected, p, data.length)
  for (const splits of [[], [4096], [3 * 65536 + 1], [777, 100_003]]) {
    for (const bufferSize of [1, 1000, 100_000, 8 * 1024 * 1024]) {
      const got = await collect(pieces(data, splits), chunker, bufferSize)
      assert.deepEqual(got.map((c) => c.length), expected, `splits ${splits} bufferSize ${bufferSize}`)
      assert.deepEqual(concat(got), data)
    }
  }
})

test('streaming reproduces the reference vectors', async () => {
  for (const c of reference.ronomon.cases) {
    const chunker = new Chunker({ min: c.min, avg: c.avg, max: c.max }, unkeyedTable())
    for (const splits of [[], [1], [4096], [7, 65536, 13], [100_000]]) {
      for (const bufferSize of [1, 1000, 8 * 1024 * 1024]) {
        if (splits.length === 1 && splits[0] === 1 && bufferSize !== 1000) continue // keep it quick
        const got = await collect(pieces(sekien, splits), chunker, bufferSize)
        assert.deepEqual(got.map((x) => x.length), c.lengths)
        assert.deepEqual(concat(got), sekien)
      }
    }
  }
})

test('chunkStream yields independent copies', async () => {
  const chunker = new Chunker({ min: 64, avg: 256, max: 1024 }, unkeyedTable())
  const data = pseudoRandom(20_000, 99)
  const got = await collect(pieces(data, [333]), chunker, 100)
  const buffers = new Set(got.map((c) => c.buffer))
  assert.equal(buffers.size, got.length)
  assert.deepEqual(concat(got), data)
})

test('empty input yields no chunks', async () => {
  const chunker = new Chunker({ min: 64, avg: 256, max: 1024 }, unkeyedTable())
  assert.deepEqual([...chunker.chunks(new Uint8Array(0))], [])
  assert.deepEqual(await collect(pieces(new Uint8Array(0), []), chunker), [])
  async function* emptyPieces() {
    yield new Uint8Array(0)
    yield new Uint8Array(0)
  }
  assert.deepEqual(await collect(emptyPieces(), chunker), [])
})

test('param validation', () => {
  const ok = { min: 64, avg: 128, max: 256 }
  validateChunkerParams(ok)
  validateChunkerParams({ min: 16 * 1024 * 1024, avg: 32 * 1024 * 1024, max: 64 * 1024 * 1024 })
  const bad: unknown[] = [
    { min: 63, avg: 128, max: 256 },
    { min: 128, avg: 128, max: 256 },
    { min: 200, avg: 128, max: 256 },
    { min: 64, avg: 256, max: 256 },
    { min: 64, avg: 256, max: 64 * 1024 * 1024 + 1 },
    { min: 64.5, avg: 128, max: 256 },
    { min: 64, avg: Number.NaN, max: 256 },
    { min: 64, avg: 128, max: Number.POSITIVE_INFINITY },
    { min: '64', avg: 128, max: 256 },
    { min: 64, avg: 128 },
    null,
  ]
  for (const p of bad) {
    assert.throws(() => validateChunkerParams(p as ChunkerParams), RangeError, JSON.stringify(p))
    assert.throws(() => new Chunker(p as ChunkerParams, unkeyedTable()), RangeError)
  }
  assert.throws(() => new Chunker(ok, new Int32Array(255)), TypeError)
  assert.throws(() => new Chunker(ok, new Uint32Array(256) as unknown as Int32Array), TypeError)
  assert.throws(() => new Chunker(ok, new Int32Array(256).fill(-1)), TypeError)
})

test('chunkStream rejects a bad bufferSize', async () => {
  const chunker = new Chunker({ min: 64, avg: 256, max: 1024 }, unkeyedTable())
  await assert.rejects(collect(pieces(new Uint8Array(10), []), chunker, 0), RangeError)
  await assert.rejects(collect(pieces(new Uint8Array(10), []), chunker, 1.5), RangeError)
})

test('chunkFile (a file read in blocks) cuts exactly where the whole-buffer chunker does, for any buffer size (property)', async () => {
  const { chunkFile } = await import('../src/archiver/file-chunks.js')
  const { mkdtempSync, openSync, closeSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'chunkfile-'))
  const paramSets: ChunkerParams[] = [
    { min: 64, avg: 256, max: 1024 },
    { min: 512, avg: 1024, max: 2048 },
    { min: 2048, avg: 8192, max: 65536 },
  ]
  const table = keyedTable(new Uint8Array(32).fill(5))
  const chunkers = paramSets.map((p) => new Chunker(p, table))
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 300_000 })),
        fc.integer({ min: 1, max: 70_000 }),
        fc.integer({ min: 0, max: paramSets.length - 1 }),
        async (seed, size, readSize, which) => {
          const chunker = chunkers[which]!
          const data = pseudoRandom(size, seed)
          const path = join(dir, 'f')
          writeFileSync(path, data)
          const fd = openSync(path, 'r')
          const got: Buffer[] = []
          let read: number
          try {
            const buf = Buffer.alloc(Math.max(2 * chunker.max, chunker.max + readSize))
            read = await chunkFile(fd, buf, chunker, async (c) => {
              got.push(Buffer.from(c)) // a copy: the view is reused after this returns
              await Promise.resolve()
            })
          } finally {
            closeSync(fd)
          }
          assert.equal(read, size)
          assert.deepEqual(
            got.map((c) => c.length),
            [...chunker.chunks(data)],
          )
          assert.deepEqual(new Uint8Array(Buffer.concat(got)), data)
        },
      ),
      { numRuns: 120 },
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
