/**
 * zstd through one reused node:zlib context per thread, writing into a buffer the caller gives (reused
 * for large blobs; small outputs, see decompress, get a fresh one: the context is what costs there).
 *
 * `zstdCompressSync` and `zstdDecompressSync` make a new zstd context for every call, and their
 * output lands in freshly allocated buffers: for blobs of about a megabyte the context's tables and
 * window and the output are new memory each time, and on a virtual machine every first touch of a
 * page is an expensive fault. Measured on Node 24 with 400 MB of the benchmark's mixed data in
 * 0.25–2 MiB blobs: compression 544–709 ms and ~2,500 page faults one-shot, 445–473 ms and ~45 here;
 * decompression of 262 MB 266–300 ms against 215–235 ms.
 *
 * node:zlib has no public call that compresses one buffer into another with a kept context, so this
 * drives the zlib object's handle the way node:zlib's own synchronous path does (`_handle.writeSync`
 * with `_writeState`). That is internal: it is checked once per thread by a round trip against the
 * public one-shot functions, and wherever it is missing or disagrees, or a call fails, callers fall
 * back to the one-shot functions. Nothing written depends on which path ran: both make standard
 * single-frame zstd.
 */
import * as zlib from 'node:zlib'

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void
}

interface ZstdEngine {
  _handle: ZlibHandle | null
  _writeState: Uint32Array
  destroyed: boolean
  reset(): void
  on(event: 'error', fn: () => void): void
  close(): void
}

type ZstdZlib = {
  ZstdCompress: new (opts: unknown) => ZstdEngine
  ZstdDecompress: new (opts?: unknown) => ZstdEngine
  zstdCompressSync(b: Uint8Array, o?: unknown): Buffer
  zstdDecompressSync(b: Uint8Array, o?: unknown): Buffer
  constants: Record<string, number>
}
const z = zlib as unknown as ZstdZlib

/** Output buffers up to this size are kept between calls; a larger blob gets one of its own. */
const KEEP_BYTES = 8 * 1024 * 1024

/** An upper bound of zstd's compressed size for `n` bytes (ZSTD_compressBound, with room to spare). */
function compressBound(n: number): number {
  return n + (n >>> 7) + 1024
}

function usable(engine: ZstdEngine): boolean {
  return typeof engine._handle?.writeSync === 'function' && engine._writeState instanceof Uint32Array && engine._writeState.length >= 2
}

/** Closes a zlib object that may already be destroyed (by a zstd error). */
function closeQuietly(engine: ZstdEngine | undefined): void {
  try {
    engine?.close()
  } catch {
    // already destroyed
  }
}

/** Runs one frame through `engine`; returns the output length, or undefined when it did not finish. */
function runFrame(engine: ZstdEngine, input: Uint8Array, out: Uint8Array, outLen: number): number | undefined {
  const handle = engine._handle
  if (!handle) return undefined
  handle.writeSync(z.constants.ZSTD_e_end, input, 0, input.length, out, 0, outLen)
  // A zstd error destroys the zlib object (and closes its handle) from inside writeSync.
  if (engine.destroyed || !engine._handle) return undefined
  const [outLeft, inLeft] = engine._writeState
  if (inLeft !== 0 || outLeft === 0) return undefined
  return outLen - outLeft
}

/** Compresses with zstd at one level, reusing one context and one output buffer. */
export class ZstdCompressor {
  private engine?: ZstdEngine
  private out = Buffer.alloc(0)

  constructor(private readonly level = 1) {}

  private make(): ZstdEngine {
    const engine = new z.ZstdCompress({ params: { [z.constants.ZSTD_c_compressionLevel]: this.level } })
    engine.on('error', () => {}) // reported by runFrame's checks, not as an event
    return engine
  }

  /**
   * The compressed frame, as a view of a buffer the next call overwrites (use it before then), or
   * undefined when this path cannot run (the caller then uses the one-shot function).
   */
  compress(data: Uint8Array): Uint8Array | undefined {
    this.engine ??= this.make()
    const need = compressBound(data.length)
    let out = this.out
    if (out.length < need) {
      out = Buffer.allocUnsafeSlow(need)
      if (need <= KEEP_BYTES) this.out = out
    }
    // With the whole input and room for the whole output, zstd sizes the frame's parameters to the
    // input (as the one-shot call does with pledgedSrcSize) and ends the frame, leaving the context
    // ready for the next one; anything else leaves it mid-frame, so it is dropped.
    const n = runFrame(this.engine, data, out, need)
    if (n === undefined) {
      this.drop()
      return undefined
    }
    return out.subarray(0, n)
  }

  private drop(): void {
    closeQuietly(this.engine)
    this.engine = undefined
  }
}

/** Decompresses zstd frames into a buffer the caller gives, reusing one context. */
export class ZstdDecompressor {
  private engine?: ZstdEngine
  private readonly probe = Buffer.alloc(64)

  /**
   * Decompresses one frame of exactly `rawLength` bytes into `out` (at least that long) and returns
   * the view of `out` holding it; throws when the data is not such a frame. Undefined when this path
   * cannot run.
   */
  decompressInto(data: Uint8Array, rawLength: number, out: Uint8Array): Uint8Array | undefined {
    if (out.length < rawLength || rawLength === 0) return undefined
    if (!this.engine) {
      this.engine = new z.ZstdDecompress()
      this.engine.on('error', () => {})
    }
    const engine = this.engine
    engine.reset() // a clean context whatever the previous frame left behind
    const handle = engine._handle
    if (!handle) return this.drop()
    const outLen = Math.min(out.length, rawLength + 1)
    handle.writeSync(z.constants.ZSTD_e_end, data, 0, data.length, out, 0, outLen)
    if (engine.destroyed || !engine._handle) {
      this.drop()
      throw new Error('zstd data is corrupt')
    }
    const [outLeft] = engine._writeState
    let inLeft = engine._writeState[1]
    let produced = outLen - outLeft
    if (outLeft === 0) {
      // The output is full: more may be pending inside the context, or in the input left.
      handle.writeSync(z.constants.ZSTD_e_end, data, data.length - inLeft, inLeft, this.probe, 0, this.probe.length)
      if (engine.destroyed || !engine._handle) {
        this.drop()
        throw new Error('zstd data is corrupt')
      }
      produced += this.probe.length - engine._writeState[0]
      inLeft = engine._writeState[1]
    }
    if (produced > rawLength) throw new Error(`decompressed to more bytes than the expected ${rawLength}`)
    if (inLeft !== 0) throw new Error(`zstd data has ${inLeft} bytes past the end of its frame`)
    if (produced < rawLength) throw new Error(`decompressed to ${produced} bytes, expected ${rawLength}`)
    return out.subarray(0, rawLength)
  }

  private drop(): undefined {
    closeQuietly(this.engine)
    this.engine = undefined
    return undefined
  }
}

/**
 * Whether the reused-context path works on this runtime: the zlib internals it needs are there, and
 * a round trip agrees with the public one-shot functions in both directions.
 */
export function reusedZstdWorks(): boolean {
  if (typeof z.ZstdCompress !== 'function' || typeof z.ZstdDecompress !== 'function') return false
  try {
    const probe = new z.ZstdCompress({})
    probe.on('error', () => {})
    const ok = usable(probe)
    probe.close()
    if (!ok) return false
    const text = Buffer.from('a probe of the reused zstd context, a probe of the reused zstd context. '.repeat(40))
    const packed = new ZstdCompressor().compress(text)
    if (!packed || !z.zstdDecompressSync(packed).equals(text)) return false
    const oneShot = z.zstdCompressSync(text)
    const out = Buffer.alloc(text.length)
    const back = new ZstdDecompressor().decompressInto(oneShot, text.length, out)
    return !!back && Buffer.from(back).equals(text)
  } catch {
    return false
  }
}
