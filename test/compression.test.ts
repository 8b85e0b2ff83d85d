import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Codec, compress, decompress, writerCodec } from '../src/compression/index.js'
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
