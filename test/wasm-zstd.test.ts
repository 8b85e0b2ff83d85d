import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as zlib from 'node:zlib'
import { decompress as fzstdDecompress } from 'fzstd'
import { MAX_REGION, wasmZstd } from '../src/compression/wasm-zstd.js'
import { Codec, compress, decompress, decompressInto, writerCodec } from '../src/compression/index.js'
import { randomBytesSeeded } from './helpers.js'

const native = zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Buffer; zstdDecompressSync?: (b: Uint8Array) => Buffer }
const nativeZstd = typeof native.zstdCompressSync === 'function'

/** Text of `size` bytes, different per seed, compressible about 3×. */
function notes(size: number, seed: number): Buffer {
  const parts: string[] = []
  let n = 0
  for (let i = 0; n < size; i++) {
    const s = `## note ${(i * 31 + seed) % 97}\n- [link](../day-${(i * 7) % 13}.md) the agent decided ${(i * seed) % 1009}\n`
    parts.push(s)
    n += s.length
  }
  return Buffer.from(parts.join('')).subarray(0, size)
}

test('zstd through WebAssembly loads on every supported Node, and its frames are standard zstd', () => {
  const z = wasmZstd()
  assert.ok(z, 'the WebAssembly build loads')
  for (const size of [1, 100, 4096, 70_000, 1_500_000]) {
    const raw = notes(size, size)
    const frame = Buffer.from(z.compress(raw, 3))
    assert.ok(size < 4096 || frame.length < raw.length / 2, `${size} bytes compress`)
    // Read by the pure-JS decoder, by node:zlib where it has zstd, and by itself.
    assert.ok(Buffer.from(fzstdDecompress(frame)).equals(raw), `fzstd reads ${size}`)
    if (nativeZstd) assert.ok(native.zstdDecompressSync!(frame).equals(raw), `node:zlib reads ${size}`)
    const view = z.decompress(frame, size)
    assert.equal(view.length, size)
    assert.ok(Buffer.from(view).equals(raw))
  }
  // And it reads node:zlib's frames.
  if (nativeZstd) {
    const raw = notes(300_000, 5)
    const frame = native.zstdCompressSync!(raw)
    assert.ok(Buffer.from(z.decompress(frame, raw.length)).equals(raw))
  }
})

test('zstd through WebAssembly rejects damaged frames and wrong lengths with an error, not a crash', () => {
  const z = wasmZstd()!
  const raw = notes(200_000, 9)
  const frame = Buffer.from(z.compress(raw, 3))
  assert.throws(() => z.decompress(frame, raw.length - 1), /expected 199999 bytes/)
  assert.throws(() => z.decompress(frame, raw.length + 1), /expected 200001/)
  assert.throws(() => z.decompress(frame.subarray(0, frame.length - 10), raw.length), /corrupt|expected/)
  assert.throws(() => z.decompress(randomBytesSeeded(5000, 3), 5000), /corrupt/)
  const flipped = Buffer.from(frame)
  flipped[flipped.length >> 1] ^= 0xff
  assert.throws(() => z.decompress(flipped, raw.length), /corrupt|expected/)
  // A length no blob has (a lying index) is refused before anything is allocated for it.
  assert.throws(() => z.decompress(frame, 3_000_000_000), /more than a blob can be/)
  assert.throws(() => z.decompress(frame, MAX_REGION + 1), /more than a blob can be/)
  // Still usable after the errors.
  const a = Buffer.from(z.compress(raw, 3))
  assert.ok(Buffer.from(z.decompress(a, raw.length)).equals(raw))
})

test('a Node without zstd in node:zlib writes zstd through WebAssembly, not brotli', { skip: nativeZstd ? 'this Node has zstd in node:zlib' : false }, () => {
  assert.equal(writerCodec('auto'), Codec.Zstd)
  assert.equal(writerCodec('zstd'), Codec.Zstd)
  assert.equal(writerCodec('brotli'), Codec.Brotli)
  const raw = notes(500_000, 2)
  const packed = Buffer.from(compress(Codec.Zstd, raw)!)
  assert.ok(Buffer.from(fzstdDecompress(packed)).equals(raw))
  assert.ok(Buffer.from(decompress(Codec.Zstd, packed, raw.length)).equals(raw))
  // A small output is a buffer of its own (kept in caches), not a view of a shared pool.
  const small = notes(300, 1)
  const out = decompress(Codec.Zstd, Buffer.from(compress(Codec.Zstd, small)!), small.length)
  assert.equal(out.byteLength, out.buffer.byteLength)
  assert.ok(Buffer.from(decompressInto(Codec.Zstd, packed, raw.length, Buffer.alloc(raw.length))).equals(raw))
  // A buffer too small for it: a buffer of its own.
  assert.ok(Buffer.from(decompressInto(Codec.Zstd, packed, raw.length, Buffer.alloc(10))).equals(raw))
  // A recorded length beyond what the WebAssembly memory takes is read the other way (fzstd), and
  // refused when the frame does not hold that many bytes.
  assert.throws(() => decompress(Codec.Zstd, packed, 3_000_000_000), /expected 3000000000/)
  assert.ok(Buffer.from(decompress(Codec.Zstd, packed, raw.length)).equals(raw))
})
