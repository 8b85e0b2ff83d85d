import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as zlib from 'node:zlib'
import fc from 'fast-check'
import { BULK_ZSTD_LEVEL, Codec, compress, decompress, decompressInto, writerCodec, ZSTD_LEVEL } from '../src/compression/index.js'
import { reusedZstdWorks, ZstdCompressor, ZstdDecompressor } from '../src/compression/zstd-context.js'
import { cleanup, memoryRepo, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

test('zstd frames decode on every supported Node version (a frame written by the zstd tool)', () => {
  // `printf 'hello hello hello hello zstd frame for the fixture test' | zstd -3 | base64`
  const frame = Buffer.from('KLUv/QRYZQEAVAJoZWxsbyB6c3RkIGZyYW1lIGZvciB0aGUgZml4dHVyZSB0ZXN0AQDxShG4E4KP', 'base64')
  const text = 'hello hello hello hello zstd frame for the fixture test'
  assert.equal(Buffer.from(decompress(Codec.Zstd, frame, text.length)).toString(), text)
  assert.throws(() => decompress(Codec.Zstd, frame, text.length + 1), /expected/)
  assert.throws(() => decompress(9, frame, text.length), /unknown compression codec/)
})

test('the writer codec compresses text, skips random data, and round-trips', () => {
  const codec = writerCodec('auto')
  assert.notEqual(codec, Codec.None)
  const text = Buffer.from('the agent wrote a note about the meeting. '.repeat(5000))
  const packed = compress(codec, text)
  assert.ok(packed && packed.length < text.length / 5)
  assert.deepEqual(Buffer.from(decompress(codec, packed, text.length)), text)
  assert.equal(compress(codec, randomBytesSeeded(300_000, 4)), undefined, 'random data must be stored raw')
  assert.equal(compress(Codec.None, text), undefined)
  const brotli = compress(Codec.Brotli, text)!
  assert.deepEqual(Buffer.from(decompress(Codec.Brotli, brotli, text.length)), text)
})

test('a blob with random bytes in its middle and text elsewhere is still compressed (samples spread over the whole blob)', () => {
  const codec = writerCodec('auto')
  const text = Buffer.from('the agent wrote a note about the meeting. '.repeat(8000)).subarray(0, 256 * 1024)
  const blob = Buffer.concat([text, randomBytesSeeded(768 * 1024, 21)])
  const packed = compress(codec, blob)
  assert.ok(packed, 'compressed')
  assert.ok(packed.length < blob.length * 0.8, `${packed.length} of ${blob.length} bytes`)
  assert.ok(Buffer.from(decompress(codec, Buffer.from(packed), blob.length)).equals(blob))
  // All random: stored raw (the samples decide without compressing the whole blob).
  assert.equal(compress(codec, randomBytesSeeded(1024 * 1024, 22)), undefined)
})

test('decompression returns exactly the recorded length for both codecs, small to beyond 16 MiB, and rejects a wrong length', () => {
  // The output lands in one chunk of rawLength + 1 bytes (at most 16 MiB): check both sides of it.
  const line = Buffer.from('an agent note, line after line, compressible. ')
  for (const codec of [Codec.Brotli, ...(writerCodec('zstd') === Codec.Zstd ? [Codec.Zstd] : [])]) {
    for (const size of [300, 301, 4095, 65_536, 1_000_003, 16 * 1024 * 1024 - 1, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, 20_000_000]) {
      const raw = Buffer.alloc(size)
      for (let o = 0; o < size; o += line.length) line.copy(raw, o)
      raw.writeUInt32LE(size, 0) // every size a different content
      const packed = compress(codec, raw)
      assert.ok(packed, `codec ${codec}, ${size} bytes: compressible`)
      const out = decompress(codec, packed, size)
      assert.equal(out.length, size)
      assert.ok(Buffer.from(out.buffer, out.byteOffset, out.length).equals(raw), `codec ${codec}, ${size} bytes round-trip`)
      assert.throws(() => decompress(codec, packed, size - 1), /expected|larger|output length|Cannot create a Buffer/i)
      assert.throws(() => decompress(codec, packed, size + 1), /expected/)
    }
  }
})

test('a backup stores compressible files compressed and random files raw', async () => {
  const src = join(tempDir('cmp'), 'data')
  mkdirSync(src)
  writeFileSync(join(src, 'notes.md'), '# meeting notes\n- decided to back up the memory folder\n'.repeat(4000))
  const { repo } = await memoryRepo()
  const text = await repo.backup([src])
  assert.ok(text.bytesStored < text.bytesAdded / 4, `text stored ${text.bytesStored} of ${text.bytesAdded}`)
  const src2 = join(tempDir('cmp'), 'rand')
  mkdirSync(src2)
  writeFileSync(join(src2, 'r.bin'), randomBytesSeeded(200_000, 8))
  const rand = await repo.backup([src2])
  assert.ok(rand.bytesStored >= 200_000 && rand.bytesStored < 200_000 + 200 * 28 + 5000, `random stored ${rand.bytesStored}`)
})

// ---- the reused zstd context (Node with zstd in node:zlib) ----------------------------------------

const nativeZstd = typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function'
const oneShot = zlib as unknown as { zstdCompressSync(b: Uint8Array): Buffer; zstdDecompressSync(b: Uint8Array): Buffer }
const noZstd = nativeZstd ? false : 'this Node has no zstd in node:zlib (the one-shot and fzstd paths are tested above)'

/** Text-like bytes (compressible) of `size`, different per seed. */
function textLike(size: number, seed: number): Buffer {
  const words = ['agent', 'memory', 'note', 'session', 'backup', 'restore', 'chunk', 'pack', String(seed)]
  const parts: string[] = []
  let n = 0
  for (let i = 0; n < size; i++) {
    const w = words[(i * 7 + seed) % words.length]
    parts.push(w)
    n += w.length + 1
  }
  const text = Buffer.from(parts.join(' ') + ' ')
  assert.ok(text.length >= size)
  return text.subarray(0, size)
}

test('the reused zstd context works on this Node (else every blob silently takes the slower one-shot path)', { skip: noZstd }, () => {
  assert.equal(reusedZstdWorks(), true)
})

test('the reused compressor makes frames the one-shot decoder reads back, blob after blob, at any size', { skip: noZstd }, () => {
  const c = new ZstdCompressor()
  const sizes = [0, 1, 63, 64, 16_384, 100_000, 1_048_576, 3_000_001, 5_000, 4 * 1024 * 1024 + 7, 12, 9 * 1024 * 1024]
  for (const [i, size] of sizes.entries()) {
    for (const input of [textLike(size, i), randomBytesSeeded(size, i + 1)]) {
      const frame = c.compress(input)
      assert.ok(frame, `${size} bytes: compressed`)
      assert.ok(oneShot.zstdDecompressSync(frame).equals(input), `${size} bytes round-trip`)
      // The frame names its size (the one-shot writer's pledgedSrcSize does the same): a decoder can
      // size its window to the blob.
      if (size > 0) assert.ok((frame[4] & 0xc0) !== 0 || (frame[4] & 0x20) !== 0, `${size} bytes: frame header has a content size`)
    }
  }
})

test('each zstd level compresses on its own reused context: higher levels store text smaller, every frame decodes', { skip: noZstd }, () => {
  const text = Buffer.concat(Array.from({ length: 400 }, (_, i) => Buffer.from(`{"role":"assistant","turn":${i},"note":"remembered ${(i * 7919) % 1000} things about ${i % 17}"}\n`)))
  const sizes = new Map<number, number>()
  // Interleaved, as a backup interleaves its thread's blobs with samples at level 1.
  for (let round = 0; round < 3; round++) {
    for (const level of [1, BULK_ZSTD_LEVEL, ZSTD_LEVEL]) {
      const frame = compress(Codec.Zstd, text, level)
      assert.ok(frame, `level ${level}: compressed`)
      assert.ok(Buffer.from(decompress(Codec.Zstd, frame, text.length)).equals(text), `level ${level}: round-trips`)
      const n = frame.length
      if (round > 0) assert.equal(sizes.get(level), n, `level ${level}: the same size every time (a context at another level would differ)`)
      sizes.set(level, n)
    }
  }
  assert.ok(sizes.get(ZSTD_LEVEL)! < sizes.get(1)!, `level ${ZSTD_LEVEL} (${sizes.get(ZSTD_LEVEL)}) smaller than level 1 (${sizes.get(1)})`)
  assert.ok(sizes.get(BULK_ZSTD_LEVEL)! <= sizes.get(1)!)
})

test('compress() results are views that the next call overwrites, and sealed before it they round-trip', { skip: noZstd }, () => {
  const a = textLike(200_000, 1)
  const b = textLike(200_000, 2)
  const pa = compress(Codec.Zstd, a)!
  const copyA = Buffer.from(pa)
  const pb = compress(Codec.Zstd, b)!
  assert.ok(Buffer.from(decompress(Codec.Zstd, copyA, a.length)).equals(a))
  assert.ok(Buffer.from(decompress(Codec.Zstd, pb, b.length)).equals(b))
  assert.equal(pa.buffer, pb.buffer, 'both results are views of the one reused output buffer')
})

test('the reused decompressor writes into the given buffer and rejects wrong lengths, trailing bytes and damage, then goes on', { skip: noZstd }, () => {
  const d = new ZstdDecompressor()
  const good = textLike(300_000, 3)
  const frame = oneShot.zstdCompressSync(good)
  const out = Buffer.alloc(good.length)
  const plain = d.decompressInto(frame, good.length, out)!
  assert.equal(plain.buffer, out.buffer)
  assert.ok(Buffer.from(plain).equals(good))
  const roomy = Buffer.alloc(good.length + 100)
  assert.throws(() => d.decompressInto(frame, good.length - 1, roomy), /more bytes than the expected/)
  assert.throws(() => d.decompressInto(frame, good.length - 1, Buffer.alloc(good.length - 1)), /more bytes than the expected/)
  assert.throws(() => d.decompressInto(frame, good.length + 1, roomy), /expected/)
  assert.throws(() => d.decompressInto(Buffer.concat([frame, Buffer.from([1, 2, 3])]), good.length, roomy), /past the end of its frame/)
  // (Damage inside a block may decode to wrong bytes of the right length: zstd frames here carry no
  // checksum, since the blob id, checked after every decompression, covers that. Damage to the
  // frame's header is an error of zstd's own.)
  const damaged = Buffer.from(frame)
  damaged[0] ^= 0xff
  assert.throws(() => d.decompressInto(damaged, good.length, roomy), /corrupt/)
  assert.throws(() => d.decompressInto(frame.subarray(0, frame.length - 10), good.length, roomy), /expected|corrupt/)
  assert.throws(() => d.decompressInto(Buffer.from('not a zstd frame at all'), good.length, roomy))
  // After every failure the next good frame still decodes.
  const again = d.decompressInto(frame, good.length, roomy)!
  assert.ok(Buffer.from(again).equals(good))
  // A buffer too small, and an empty blob, take the one-shot path (undefined here).
  assert.equal(d.decompressInto(frame, good.length, Buffer.alloc(10)), undefined)
  assert.equal(decompressInto(Codec.Zstd, frame, good.length, Buffer.alloc(10)).length, good.length)
})

test('property: any bytes round-trip through compress() and decompressInto() with the codec in use', () => {
  const codec = writerCodec('auto')
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300_000 }), fc.integer({ min: 1, max: 1 << 30 }), fc.boolean(), (size, seed, text) => {
      const input = text ? textLike(size, seed) : randomBytesSeeded(size, seed)
      const packed = compress(codec, input)
      if (!packed) return true // stored raw: nothing to decode
      const owned = Buffer.from(packed)
      const out = Buffer.alloc(size + (seed % 3))
      const plain = decompressInto(codec, owned, size, out)
      return Buffer.from(plain).equals(input) && Buffer.from(decompress(codec, owned, size)).equals(input)
    }),
    { numRuns: 60 },
  )
})
