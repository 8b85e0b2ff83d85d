/**
 * A MessagePack reader for the fast decoders of the objects read most (trees, index files): it
 * reads the bytes straight into the caller's values, with no intermediate objects. It reads one
 * buffer at a time (`readWhole`); anything it does not expect makes the reader `bail()`, and the
 * caller then hands the bytes to the general decoder, which decides. So a fast decoder takes
 * exactly what our encoder writes, and both paths accept and reject the same bytes.
 */

const EMPTY = Buffer.alloc(0)
let src: Buffer = EMPTY
let pos = 0
const BAIL = new Error('not on the fast path')

/**
 * Runs `read` over the whole of `plain`: its result, or undefined when it bailed or left bytes
 * unread. Not reentrant (one buffer at a time, on this thread).
 */
export function readWhole<T>(plain: Uint8Array, read: () => T): T | undefined {
  src = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength)
  pos = 0
  try {
    const out = read()
    return pos === src.length ? out : undefined
  } catch (e) {
    if (e === BAIL) return undefined
    throw e
  } finally {
    src = EMPTY
  }
}

/** Gives up: the general decoder decides. */
export function bail(): never {
  throw BAIL
}

/** Bytes not read yet. */
export function left(): number {
  return src.length - pos
}

/** Where the next byte is read (for `at`-style lookups into the buffer, see binAt). */
export function position(): number {
  return pos
}

/** The buffer being read. */
export function source(): Buffer {
  return src
}

function byte(): number {
  if (pos >= src.length) bail()
  return src[pos++]!
}

function need(n: number): void {
  if (pos + n > src.length) bail()
}

/** A container's length: `fix` is its family's first fixed-size marker, `m16` its 16-bit one (then 32-bit). */
function lengthOf(fix: number, m16: number): number {
  const b = byte()
  if (b >= fix && b <= fix + 0x0f) return b & 0x0f
  if (b === m16) return u16()
  if (b === m16 + 1) return u32()
  return bail()
}

export const mapLength = (): number => lengthOf(0x80, 0xde)
export const arrayLength = (): number => lengthOf(0x90, 0xdc)

/** An `n`-byte big-endian integer (n ≤ 6), signed or not. */
function fixedInt(n: number, signed: boolean): number {
  need(n)
  const v = signed ? src.readIntBE(pos, n) : src.readUIntBE(pos, n)
  pos += n
  return v
}

const u16 = (): number => fixedInt(2, false)
const u32 = (): number => fixedInt(4, false)

/** An integer as the general decoder reads it (a float64 only when it holds a safe integer). */
export function integer(): number {
  const b = byte()
  if (b <= 0x7f) return b
  if (b >= 0xe0) return b - 0x100
  switch (b) {
    case 0xcc:
      return fixedInt(1, false)
    case 0xcd:
      return fixedInt(2, false)
    case 0xce:
      return fixedInt(4, false)
    case 0xd0:
      return fixedInt(1, true)
    case 0xd1:
      return fixedInt(2, true)
    case 0xd2:
      return fixedInt(4, true)
    case 0xcb: {
      need(8)
      const v = src.readDoubleBE(pos)
      pos += 8
      if (!Number.isSafeInteger(v)) bail()
      return v
    }
    default:
      // 64-bit integers decode to BigInt (which the schemas refuse), float32 is never written.
      return bail()
  }
}

export function intIn(min: number, max: number): number {
  const v = integer()
  if (v < min || v > max) bail()
  return v
}

/** A bin's length, its bytes then at `position()` (and skipped). */
function binLength(): number {
  const b = byte()
  let n: number
  if (b === 0xc4) n = byte()
  else if (b === 0xc5) n = u16()
  else if (b === 0xc6) n = u32()
  else return bail()
  need(n)
  return n
}

/** A bin's bytes, as a view of the buffer (as the general decoder gives them). */
export function bin(): Buffer {
  const n = binLength()
  const out = src.subarray(pos, pos + n)
  pos += n
  return out
}

/** Where a bin of exactly `n` bytes starts in `source()` (no view made); any other length bails. */
export function binAt(n: number): number {
  if (binLength() !== n) bail()
  const at = pos
  pos += n
  return at
}

/** A short string, skipped: its length (compare it with `was`). */
export function str(): number {
  const b = byte()
  let n: number
  if (b >= 0xa0 && b <= 0xbf) n = b & 0x1f
  else if (b === 0xd9) n = byte()
  else return bail()
  need(n)
  pos += n
  return n
}

/** Whether the last string read (`n` bytes) spells `word` (ASCII). */
export function was(n: number, word: string): boolean {
  if (n !== word.length) return false
  const at = pos - n
  for (let i = 0; i < n; i++) if (src[at + i] !== word.charCodeAt(i)) return false
  return true
}
