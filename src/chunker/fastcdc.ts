/**
 * FastCDC, 32-bit "ronomon" family (the algorithm of @ronomon/deduplication, also reproduced by the
 * `ronomon` module of the fastcdc Rust crate). Written from the published description.
 *
 * For a window of `n` bytes starting at `start` (n capped at `max`):
 *   - n <= min: no decision possible; at eof the whole window is the last chunk.
 *   - hash = 0; for i from start+min: hash = (hash >>> 1) + table[data[i]] (as uint32).
 *     Below `start + center` the strict mask `maskS` is used, from there on the eager mask
 *     `maskL`. The first i with (hash & mask) == 0 ends the chunk *after* byte i, so a cut chunk
 *     is min+1 .. max bytes long.
 *   - center = avg - min(avg, min + ceil(min / 2)), capped at n. It is an offset from the chunk
 *     start, not from `min`: with min >= avg / 2.5 it is at or below min and the strict mask is
 *     never used at all (the case for all published ronomon vectors).
 *   - no cut: the chunk is `n` bytes if n == max or at eof, otherwise more data is needed.
 *
 * bits = round(log2(avg)); maskS = 2^(bits+1) - 1; maskL = 2^(bits-1) - 1.
 */

/** Chunk size parameters in bytes. */
export interface ChunkerParams {
  min: number
  avg: number
  max: number
}

/** Smallest allowed `min`. */
export const CHUNKER_MIN_SIZE = 64
/** Largest allowed `max` (64 MiB). */
export const CHUNKER_MAX_SIZE = 64 * 1024 * 1024

const MiB = 1024 * 1024
const INITIAL_STREAM_BUFFER = 64 * 1024

/**
 * Checks chunk size parameters: integers with 64 <= min < avg < max <= 64 MiB.
 * Throws a RangeError naming the offending value otherwise.
 */
export function validateChunkerParams(p: ChunkerParams): void {
  if (p === null || typeof p !== 'object') throw new RangeError('chunker params must be an object { min, avg, max }')
  for (const name of ['min', 'avg', 'max'] as const) {
    const v = p[name]
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new RangeError(`chunker param ${name} must be an integer number of bytes, got ${String(v)}`)
    }
  }
  const { min, avg, max } = p
  if (min < CHUNKER_MIN_SIZE) throw new RangeError(`chunker param min must be >= ${CHUNKER_MIN_SIZE} bytes, got ${min}`)
  if (max > CHUNKER_MAX_SIZE) throw new RangeError(`chunker param max must be <= ${CHUNKER_MAX_SIZE} bytes (64 MiB), got ${max}`)
  if (!(min < avg)) throw new RangeError(`chunker params need min < avg, got min ${min}, avg ${avg}`)
  if (!(avg < max)) throw new RangeError(`chunker params need avg < max, got avg ${avg}, max ${max}`)
}

/**
 * Finds content-defined cut points with a given table (see `unkeyedTable()` / `keyedTable()`).
 * Stateless between calls apart from `lastHash`. `cut()` is synchronous, so one instance can serve
 * several streams at once (`lastHash` then belongs to whichever cut ran last).
 */
export class Chunker {
  readonly min: number
  readonly avg: number
  readonly max: number
  /** round(log2(avg)). */
  readonly bits: number
  /** Strict mask, used before the center: 2^(bits+1) - 1. */
  readonly maskS: number
  /** Eager mask, used from the center on: 2^(bits-1) - 1. */
  readonly maskL: number
  /** Offset from the chunk start where the strict mask gives way to the eager one (before capping at n). */
  readonly center: number
  /**
   * The rolling hash (uint32) at the end of the last `cut()` call: the ronomon "chunk hash".
   * 0 for a window of at most `min` bytes. Diagnostic only; the lengths are the contract.
   */
  lastHash = 0
  private readonly table: Int32Array

  constructor(params: ChunkerParams, table: Int32Array) {
    validateChunkerParams(params)
    if (!(table instanceof Int32Array) || table.length !== 256) {
      throw new TypeError('chunker table must be an Int32Array of 256 entries (see unkeyedTable / keyedTable)')
    }
    for (let i = 0; i < 256; i++) {
      if (table[i]! < 0) throw new TypeError(`chunker table entry ${i} has its high bit set; entries must be 31-bit`)
    }
    this.min = params.min
    this.avg = params.avg
    this.max = params.max
    this.bits = Math.round(Math.log2(params.avg))
    this.maskS = 2 ** (this.bits + 1) - 1
    this.maskL = 2 ** (this.bits - 1) - 1
    this.center = params.avg - Math.min(params.avg, params.min + Math.ceil(params.min / 2))
    // Own copy: later changes to the caller's array cannot move our cut points.
    this.table = table.slice()
  }

  /**
   * Length of the next chunk starting at `start`, looking at `data[start..end)`.
   * Returns 0 when more data is needed to decide: not `eof`, fewer than `max` bytes available and
   * no cut point found (or at most `min` bytes available). At `eof` a window of at most `min`
   * bytes is returned whole, and 0 only for an empty window.
   */
  cut(data: Uint8Array, start: number, end: number, eof: boolean): number {
    if (!(start >= 0 && start <= end && end <= data.length) || (start | 0) !== start || (end | 0) !== end) {
      throw new RangeError(`chunker cut window [${start}, ${end}) is not inside data of ${data.length} bytes`)
    }
    let n = end - start
    const min = this.min
    if (n <= min) {
      this.lastHash = 0
      return eof ? n : 0
    }
    const max = this.max
    if (n > max) n = max
    const center = this.center < n ? this.center : n
    const table = this.table
    const end2 = start + n
    let i = start + min
    let h = 0
    // Two phases over the same loop: strict mask up to start+center (empty when center <= min),
    // then the eager mask up to start+n. The inner loop takes 16 bytes per step and checks them all
    // with one branch: (x & mask) - 1 is negative exactly when x & mask is 0. When a block holds a
    // cut, it is dropped and rescanned byte by byte by the tail loop, which returns the first cut.
    let mask = this.maskS
    let lim = start + center
    let cutLength = 0
    // (The single store to this.lastHash after the loop, rather than a store-and-return inside it,
    // measurably helps V8 keep the loop tight.)
    scan: for (let phase = 0; phase < 2; phase++) {
      const lim16 = lim - 15
      while (i < lim16) {
        const h1 = ((h >>> 1) + table[data[i]!]!) | 0
        const h2 = ((h1 >>> 1) + table[data[i + 1]!]!) | 0
        const h3 = ((h2 >>> 1) + table[data[i + 2]!]!) | 0
        const h4 = ((h3 >>> 1) + table[data[i + 3]!]!) | 0
        const h5 = ((h4 >>> 1) + table[data[i + 4]!]!) | 0
        const h6 = ((h5 >>> 1) + table[data[i + 5]!]!) | 0
        const h7 = ((h6 >>> 1) + table[data[i + 6]!]!) | 0
        const h8 = ((h7 >>> 1) + table[data[i + 7]!]!) | 0
        const h9 = ((h8 >>> 1) + table[data[i + 8]!]!) | 0
        const h10 = ((h9 >>> 1) + table[data[i + 9]!]!) | 0
        const h11 = ((h10 >>> 1) + table[data[i + 10]!]!) | 0
        const h12 = ((h11 >>> 1) + table[data[i + 11]!]!) | 0
        const h13 = ((h12 >>> 1) + table[data[i + 12]!]!) | 0
        const h14 = ((h13 >>> 1) + table[data[i + 13]!]!) | 0
        const h15 = ((h14 >>> 1) + table[data[i + 14]!]!) | 0
        const h16 = ((h15 >>> 1) + table[data[i + 15]!]!) | 0
        if (
          (((h1 & mask) - 1) | ((h2 & mask) - 1) | ((h3 & mask) - 1) | ((h4 & mask) - 1) |
            ((h5 & mask) - 1) | ((h6 & mask) - 1) | ((h7 & mask) - 1) | ((h8 & mask) - 1) |
            ((h9 & mask) - 1) | ((h10 & mask) - 1) | ((h11 & mask) - 1) | ((h12 & mask) - 1) |
            ((h13 & mask) - 1) | ((h14 & mask) - 1) | ((h15 & mask) - 1) | ((h16 & mask) - 1)) < 0
        ) break
        h = h16
        i += 16
      }
      while (i < lim) {
        h = ((h >>> 1) + table[data[i]!]!) | 0
        i++
        if ((h & mask) === 0) {
          cutLength = i - start
          break scan
        }
      }
      mask = this.maskL
      lim = end2
    }
    this.lastHash = h >>> 0
    if (cutLength !== 0) return cutLength
    return eof || n === max ? n : 0
  }

  /** Chunk lengths over a whole buffer (treated as the end of the input). Empty input: none. */
  *chunks(data: Uint8Array): Generator<number> {
    const end = data.length
    let pos = 0
    while (pos < end) {
      const len = this.cut(data, pos, end, true)
      yield len
      pos += len
    }
  }
}

/**
 * Chunks a stream. Yields the content of each chunk as a fresh copy (its own ArrayBuffer, safe to
 * keep, queue or transfer). The cut points are exactly those of `chunker.chunks()` over the
 * concatenated input, whatever the split of `source` into pieces. Empty input yields nothing.
 *
 * Works on a rolling buffer of `chunker.max + bufferSize` bytes: fill it from the source, emit
 * every chunk that can be decided, move the undecided rest (< max bytes) to the front, repeat.
 * The bytes of that rest are scanned again on the next round, so a larger `bufferSize` wastes
 * less (8 MiB default). The buffer starts at 64 KiB and doubles up to that size only as the
 * input demands, so small files do not pay for allocating (and zeroing) the full buffer.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  chunker: Chunker,
  bufferSize: number = 8 * MiB,
): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
    throw new RangeError(`chunkStream bufferSize must be a positive integer, got ${String(bufferSize)}`)
  }
  const cap = chunker.max + bufferSize
  let buf = new Uint8Array(Math.min(cap, INITIAL_STREAM_BUFFER))
  let pos = 0 // first undecided byte
  let fill = 0 // end of valid data

  for await (const piece of source) {
    if (!(piece instanceof Uint8Array)) throw new TypeError('chunkStream source must yield Uint8Array pieces')
    let off = 0
    while (off < piece.length) {
      if (fill === buf.length) {
        if (buf.length < cap) {
          // Not at full size yet: grow instead of cutting (cut points do not depend on buffering).
          const grown = new Uint8Array(Math.min(cap, buf.length * 2))
          grown.set(buf.subarray(pos, fill))
          fill -= pos
          pos = 0
          buf = grown
        } else {
          // Full: emit what can be decided, then move the rest (< max bytes) to the front.
          for (;;) {
            const len = chunker.cut(buf, pos, fill, false)
            if (len === 0) break
            yield buf.slice(pos, pos + len)
            pos += len
          }
          if (pos > 0) {
            buf.copyWithin(0, pos, fill)
            fill -= pos
            pos = 0
          }
        }
      }
      const take = Math.min(buf.length - fill, piece.length - off)
      buf.set(piece.subarray(off, off + take), fill)
      fill += take
      off += take
    }
  }
  while (pos < fill) {
    const len = chunker.cut(buf, pos, fill, true)
    yield buf.slice(pos, pos + len)
    pos += len
  }
}
