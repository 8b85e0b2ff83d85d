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
