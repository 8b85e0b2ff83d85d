import { createHash } from 'node:crypto'
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'
import { compress, type Codec } from '../compression/index.js'
import { EntryStat } from './entry-stat.js'

/** Files of up to this size are compressed ahead: most are one chunk (the default chunker's average). */
export const AHEAD_FILE_BYTES = 1024 * 1024
/** Compressed bytes kept at most (the backup takes them within a second or so). */
export const AHEAD_KEPT_BYTES = 16 * 1024 * 1024

/** A file compressed ahead: its plaintext's SHA-256 and its compressed bytes (null: it did not compress). */
interface Ahead {
  size: number
  digest: Buffer
  packed: Uint8Array | null
}

/** A file to compress ahead: its path and its lstat as gathered. */
export interface AheadCandidate {
  path: Buffer
  st: EntryStat
}

/**
 * Small files compressed while a password's key derives, for the first backup into a repository
 * (see Prewalk's `compressAhead`). A blob's id and its sealing need the key; its compression does
 * not. On 2 cores the calling thread has nothing to do for the 0.3–0.6 s of the derivation (Node's
 * pool derives), and after it compression is what the backup waits for (the sealing worker's zstd).
 * So the calling thread compresses what fits in that time, keeping each file's compressed bytes
 * and its plaintext's SHA-256; the backup, which reads and names each file after the key as always,
 * takes the compressed bytes only when the bytes it read hash to the same SHA-256, and hands them to
 * the sealing worker to be sealed as they are. A file that changed in between is compressed again.
 *
 * Only regular files are opened (no-follow and non-blocking: a FIFO or a link put in a file's place
 * is not read), and only while their fstat is the lstat gathered. Whatever is kept uses the
 * compression of the repository's default setting; a backup whose repository compresses
 * otherwise takes nothing (`take` asks for its codec).
 */
export class CompressAhead {
  private readonly kept = new Map<string, Ahead>()
  private keptBytes = 0
  private buf = Buffer.alloc(0)
  /** Files compressed so far, of those how many did not compress, and how many a backup took. */
  compressed = 0
  incompressible = 0
  taken = 0

  constructor(
    readonly codec: Codec,
    private readonly maxKept = AHEAD_KEPT_BYTES,
    /** Files larger than this are not compressed ahead. */
    readonly maxFile = AHEAD_FILE_BYTES,
  ) {}

  /** Whether more may be kept. */
  get full(): boolean {
    return this.keptBytes >= this.maxKept
  }

  /** Reads and compresses one file unless it is no longer as gathered; false once full. */
  add(c: AheadCandidate): boolean {
    if (this.full) return false
    const data = this.read(c)
    if (!data) return true
    // `packed` is a view of this thread's compression buffer (or of a node:zlib output of 16–64
    // KiB): kept as a copy of its own length. A context made for each file instead of the thread's
    // kept one was measured: slower (a third as many files in the same time), and no less memory.
    const packed = compress(this.codec, data)
    const own = packed ? Buffer.allocUnsafeSlow(packed.length) : null
    if (packed && own) own.set(packed)
    const digest = createHash('sha256').update(data).digest()
    this.kept.set(c.path.toString('latin1'), { size: data.length, digest, packed: own })
    this.keptBytes += (own?.length ?? 0) + 64
    this.compressed++
    if (!own) this.incompressible++
    return true
  }

  /**
   * The compressed form of `data`, read by the backup from `path`, once: a buffer of its own, or
   * null when it does not compress; undefined when nothing was kept for it, or what was kept is
   * not of these bytes (the file changed) or not in `codec`.
   */
  take(path: Buffer, data: Uint8Array, codec: Codec): Uint8Array | null | undefined {
    if (this.kept.size === 0) return undefined
    const key = path.toString('latin1')
    const a = this.kept.get(key)
    if (!a) return undefined
    this.kept.delete(key)
    this.keptBytes -= (a.packed?.length ?? 0) + 64
    if (codec !== this.codec || a.size !== data.length) return undefined
    if (!createHash('sha256').update(data).digest().equals(a.digest)) return undefined
    this.taken++
    return a.packed
  }

  /** Drops everything kept. */
  clear(): void {
    this.kept.clear()
    this.keptBytes = 0
  }

  /** A file's bytes, if it is still the regular file gathered and reads whole at its size. */
  private read({ path, st }: AheadCandidate): Buffer | undefined {
    let fd: number
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    } catch {
      return undefined
    }
    try {
      if (!sameFile(fstatSync(fd, { bigint: true }), st)) return undefined
      if (this.buf.length < st.size + 1) this.buf = Buffer.allocUnsafeSlow(Math.max(st.size + 1, 64 * 1024))
      let n = 0
      for (;;) {
        const want = this.buf.length - n
        const r = readSync(fd, this.buf, n, want, null)
        if (r === 0) break
        n += r
        if (n > st.size) return undefined // it grew
        if (n === st.size && r < want) break // the end (a file that grew meanwhile fails the fstat below)
      }
      if (n !== st.size || !sameFile(fstatSync(fd, { bigint: true }), st)) return undefined
      return this.buf.subarray(0, n)
    } catch {
      return undefined
    } finally {
      closeSync(fd)
    }
  }
}

function sameFile(s: import('node:fs').BigIntStats, st: EntryStat): boolean {
  const now = EntryStat.of(s)
  return (
    now.isFile() &&
    now.ino === st.ino &&
    now.dev === st.dev &&
    now.size === st.size &&
    now.mtimeSec === st.mtimeSec &&
    now.mtimeNsec === st.mtimeNsec &&
    now.ctimeSec === st.ctimeSec &&
    now.ctimeNsec === st.ctimeNsec
  )
}
