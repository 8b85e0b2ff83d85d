/**
 * Compression of single blobs. Every blob records its codec in the pack header and the index, so a
 * reader never guesses. Writers use zstd: node:zlib's where it has it (Node 22.15+, 23.8+), else zstd
 * built to WebAssembly (see wasm-zstd.ts); brotli quality 1 only where neither loads. Readers decode
 * zstd the same way, or with the pure-JS `fzstd` as a last resort, so reading a repository never
 * needs a native addon.
 */
import { createRequire } from 'node:module'
import * as zlib from 'node:zlib'
import { MAX_REGION, wasmZstd } from './wasm-zstd.js'
import { reusedZstdWorks, ZstdCompressor, ZstdDecompressor } from './zstd-context.js'

export const Codec = { None: 0, Zstd: 1, Brotli: 2 } as const
export type Codec = (typeof Codec)[keyof typeof Codec]

export type CompressionSetting = 'auto' | 'zstd' | 'brotli' | 'off'

type ZstdZlib = {
  zstdCompressSync(b: Uint8Array, o?: unknown): Buffer
  zstdDecompressSync(b: Uint8Array, o?: unknown): Buffer
  constants: Record<string, number>
}
const z = zlib as unknown as ZstdZlib
const nativeZstd = typeof z.zstdCompressSync === 'function'

let fzstd: ((data: Uint8Array) => Uint8Array) | undefined
/**
 * The pure-JS zstd decoder, loaded on the first zstd blob read on a Node without native zstd (it
 * costs ~15 ms to load). decompress() is synchronous, hence require rather than import().
 */
function fzstdDecompress(data: Uint8Array): Uint8Array {
  fzstd ??= (createRequire(import.meta.url)('fzstd') as typeof import('fzstd')).decompress
  return fzstd(data)
}

/**
 * zstd levels. Blobs sealed where compression does not set the pace (the backup's calling thread and
 * its sealing worker: small backups, edits, trees) get ZSTD_LEVEL; the chunk workers of a large
 * backup, where zstd is most of the work, BULK_ZSTD_LEVEL. Measured on Node 24, 2 cores: the 50 MB
 * memory folder (small text files) stores 20.6 MB at level 1, 19.9 at 2, 19.4 at 3 (restic: 19.5),
 * its first backup 0.82 → 0.89 s at level 3; the 2 GB file stores 1,320–1,330 MB at level 1 and
 * 1,300 at level 2 (restic: 1,320); the 1 GB mixed set 668 → 656–662 MB at level 2. Its first
 * backup, 5 alternating runs: 3.18–3.52 s at level 1, 3.20–3.88 s at level 2 (user CPU medians 4.58
 * and 4.77 s); level 3 on the chunk workers, tried twice, took 3.40–3.41 s and stored 653–656 MB.
 */
export const ZSTD_LEVEL = 3
export const BULK_ZSTD_LEVEL = 2
/** Samples (see compress) only ask whether data compresses at all: the fastest level will do. */
const SAMPLE_LEVEL = 1

let reused: { compressors: Map<number, ZstdCompressor>; decompressor: ZstdDecompressor } | null | undefined
/** This thread's reused zstd contexts (see zstd-context.ts), or null where that path does not work. */
function reusedZstd(): { compressors: Map<number, ZstdCompressor>; decompressor: ZstdDecompressor } | null {
  if (reused === undefined) reused = nativeZstd && reusedZstdWorks() ? { compressors: new Map(), decompressor: new ZstdDecompressor() } : null
  return reused
}

function compressorFor(level: number): ZstdCompressor | undefined {
  const r = reusedZstd()
  if (!r) return undefined
  let c = r.compressors.get(level)
  if (!c) r.compressors.set(level, (c = new ZstdCompressor(level)))
  return c
}

/** Whether this runtime can write zstd (natively, or through WebAssembly: see wasm-zstd.ts). */
export function canWriteZstd(): boolean {
  return nativeZstd || wasmZstd() !== null
}

/** The codec the writer uses for a setting on this runtime. */
export function writerCodec(setting: CompressionSetting): Codec {
  if (setting === 'off') return Codec.None
  if (setting === 'brotli') return Codec.Brotli
  return canWriteZstd() ? Codec.Zstd : Codec.Brotli
}

/** log2 of a window that holds `n` bytes, within what both codecs accept (10–22). */
function windowLog(n: number): number {
  return Math.max(10, Math.min(22, Math.ceil(Math.log2(n + 1))))
}

function run(codec: Codec, data: Uint8Array, level: number): Uint8Array {
  if (codec === Codec.Zstd) {
    // Without node:zlib's zstd, through WebAssembly (compress() checked that it loaded on this thread).
    if (!nativeZstd) return wasmZstd()!.compress(data, level)
    const frame = compressorFor(level)?.compress(data)
    if (frame) return frame
    return z.zstdCompressSync(data, {
      pledgedSrcSize: data.length,
      params: { [z.constants.ZSTD_c_compressionLevel]: level, [z.constants.ZSTD_c_windowLog]: windowLog(data.length) },
    })
  }
  return zlib.brotliCompressSync(data, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 1,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      // A window no larger than the input: same ratio, and far less set-up for small blobs.
      [zlib.constants.BROTLI_PARAM_LGWIN]: windowLog(data.length),
    },
  })
}

const SAMPLE = 16 * 1024
/** One sample per this many bytes of a blob. */
const SAMPLE_EVERY = 128 * 1024

/**
 * Compresses a blob when that pays: returns undefined to store it raw. A blob larger than 64 KiB is
 * first judged by 16 KiB samples spread evenly over it, one per 128 KiB, and stored raw only when
 * none of them compresses, so random data costs little. (One sample from the middle missed the
 * compressible parts of blobs that mix random and text: a 2 GB disk-image-like file, chunked with a
 * fixed key, stored 1,342.4 MB that way, 1,323.2 MB with a sample per 128 KiB and 1,322.8 MB
 * compressing every blob; the 1 GB mixed set and the memory folder stored the same either way, and
 * the compression time was within the noise of the three.) The result may be a view of a buffer that
 * the next call on this thread overwrites: use it (seal it) before compressing or decompressing again.
 */
export function compress(codec: Codec, data: Uint8Array, level = ZSTD_LEVEL): Uint8Array | undefined {
  if (codec === Codec.None || data.length < 64) return undefined
  // A worker whose WebAssembly zstd did not load, in a process that writes zstd (or a blob larger
  // than its memory takes): stored raw.
  if (codec === Codec.Zstd && !nativeZstd && (wasmZstd() === null || data.length > MAX_REGION)) return undefined
  if (data.length > 4 * SAMPLE && !anySampleCompresses(codec, data)) return undefined
  const out = run(codec, data, level)
  return out.length < data.length * 0.97 ? out : undefined
}

function anySampleCompresses(codec: Codec, data: Uint8Array): boolean {
  const samples = Math.ceil(data.length / SAMPLE_EVERY)
  for (let i = 1; i <= samples; i++) {
    const start = Math.floor((data.length * i) / (samples + 1)) - (SAMPLE >> 1)
    if (run(codec, data.subarray(start, start + SAMPLE), SAMPLE_LEVEL).length <= SAMPLE * 0.95) return true
  }
  return false
}

/**
 * node:zlib's output chunk size for a blob of `rawLength` bytes: one byte more than the blob, so the
 * whole output lands in one buffer (no list of 64 KiB pieces to concatenate, half the garbage), and
 * at most 16 MiB, so a lying length in the index cannot make it allocate gigabytes.
 */
function outputChunk(rawLength: number): number {
  return Math.max(64, Math.min(rawLength + 1, 16 * 1024 * 1024))
}

/**
 * Decompresses; throws when the codec is unknown or the output has the wrong length. The output is a
 * buffer of its own. Larger outputs are decompressed one-shot: through the reused context into a
 * fresh buffer was measured on a 1 GB restore: no faster, and 20 MiB more peak RSS, as fewer objects
 * on V8's heap meant fewer collections of the plaintext buffers.
 */
export function decompress(codec: number, data: Uint8Array, rawLength: number): Uint8Array {
  if (codec === Codec.Zstd && !nativeZstd) {
    const wasm = rawLength <= MAX_REGION ? wasmZstd() : null
    // Copied out of the module's memory, into a buffer of its own (not a view of Node's pool), once
    // it decompressed to the recorded length.
    if (wasm) return ownCopy(wasm.decompress(data, rawLength))
  }
  if (codec === Codec.Zstd && rawLength <= SMALL_OUTPUT) {
    const plain = reusedZstd()?.decompressor.decompressInto(data, rawLength, Buffer.allocUnsafeSlow(rawLength))
    if (plain) return plain
  }
  return decompressOneShot(codec, data, rawLength)
}

/**
 * Outputs up to this size (trees, small files' blobs) are decompressed through the
 * reused context, into a buffer of their own: a one-shot call creates a zstd context each time, which
 * costs more than decompressing a few KiB (1,000 tree-sized blobs, Node 24: 50 ms one-shot, 16 ms
 * reused, in a fresh process).
 */
const SMALL_OUTPUT = 256 * 1024

/**
 * Decompresses into `out` where it can (zstd, `out` at least `rawLength` bytes), through this
 * thread's reused context: the result is then a view of `out`. Otherwise as decompress(). A codec of
 * None returns `data` itself.
 */
export function decompressInto(codec: number, data: Uint8Array, rawLength: number, out: Uint8Array): Uint8Array {
  if (codec === Codec.Zstd && !nativeZstd) {
    const wasm = rawLength <= MAX_REGION ? wasmZstd() : null
    if (wasm) {
      const plain = wasm.decompress(data, rawLength)
      if (out.length < rawLength) return ownCopy(plain)
      const view = out.subarray(0, rawLength)
      view.set(plain)
      return view
    }
  }
  if (codec === Codec.Zstd && out.length >= rawLength) {
    const plain = reusedZstd()?.decompressor.decompressInto(data, rawLength, out)
    if (plain) return plain
  }
  return decompressOneShot(codec, data, rawLength)
}

function decompressOneShot(codec: number, data: Uint8Array, rawLength: number): Uint8Array {
  let out: Uint8Array
  switch (codec) {
    case Codec.None:
      out = data
      break
    case Codec.Zstd:
      out = nativeZstd ? z.zstdDecompressSync(data, { chunkSize: outputChunk(rawLength), maxOutputLength: Math.max(rawLength, 1) }) : fzstdDecompress(data)
      break
    case Codec.Brotli:
      out = zlib.brotliDecompressSync(data, { chunkSize: outputChunk(rawLength), maxOutputLength: Math.max(rawLength, 1) })
      break
    default:
      throw new Error(`unknown compression codec ${codec}`)
  }
  if (out.length !== rawLength) throw new Error(`decompressed to ${out.length} bytes, expected ${rawLength}`)
  return out
}

/** `b` copied into a buffer of its own. */
function ownCopy(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length)
  out.set(b)
  return out
}
