import { readSync } from 'node:fs'
import type { Chunker } from '../chunker/index.js'

/**
 * A changed file's chunks in its parent snapshot, in order: where one of them still lies at the same
 * place with the same bytes it is taken as it is, without running the chunker over it.
 */
export interface ChunkHints {
  /** The chunks' ids, 32 bytes each. */
  ids: Uint8Array
  /** Their sizes. */
  sizes: Uint32Array
}

/** The blob id of a chunk (needed to check a hint, and then handed on). */
export type ChunkIdOf = (chunk: Buffer) => Buffer

const ID_BYTES = 32

/**
 * Reads an open file in large buffers and calls `onChunk` for each content-defined chunk, in order.
 * The chunk is a view into `buf`, valid only until `onChunk` returns (or its promise settles).
 * Used by the main thread and by the chunk workers alike. Returns the number of bytes read.
 *
 * With `hints` (the file's chunks in its parent snapshot) and `idOf`, every chunk's id is computed
 * here and handed to `onChunk`, and where the next previous chunk starts at the current offset and
 * still has the same bytes, it is the next chunk: the chunker runs only over what changed. A file
 * edited in place (a database, a disk image) is then read and hashed, not chunked again: measured on
 * the benchmark's 2 GB file after its 20 small edits, on one thread, 3.2 s without hints and 1.6 s
 * with them, for the very same chunk list; its re-backup took 2.6 s instead of 5.2 s. After an
 * edited stretch the chunker's own cuts meet the previous ones again (a cut depends only on the
 * bytes just before it), and a chunk of the parent found again after an insertion or a deletion
 * moves the expected offsets with it. A hint shorter than the chunker's minimum is taken only at the
 * end of the file, so appending to a file does not leave a short chunk behind each time. Which cuts
 * are made changes only how well later versions deduplicate, never what is stored: the chunks always
 * cover the file exactly.
 */
export async function chunkFile(
  fd: number,
  buf: Buffer,
  chunker: Chunker,
  onChunk: (chunk: Buffer, id?: Buffer) => void | Promise<void>,
  hints?: ChunkHints & { idOf: ChunkIdOf },
): Promise<number> {
  const max = chunker.max
  if (buf.length < max * 2) throw new RangeError('read buffer must hold at least two maximal chunks')
  const follow = hints ? new HintCursor(hints, chunker.min, max) : undefined
  let read = 0
  let start = 0
  let end = 0
  let eof = false
  for (;;) {
    if (!eof && end - start < max) {
      if (start > 0) {
        buf.copy(buf, 0, start, end)
        end -= start
        start = 0
      }
      while (end < buf.length) {
        const n = readSync(fd, buf, end, buf.length - end, null)
        if (n === 0) {
          eof = true
          break
        }
        end += n
        read += n
      }
    }
    if (start === end && eof) return read
    let len = 0
    let id: Buffer | undefined
    if (follow) {
      ;[len, id] = follow.take(buf, start, end, eof)
      if (len === 0) {
        len = chunker.cut(buf, start, end, eof)
        if (len === 0) continue
        id = hints!.idOf(buf.subarray(start, start + len))
        follow.cut(len, id)
      }
    } else {
      len = chunker.cut(buf, start, end, eof)
      if (len === 0) continue
    }
    const r = onChunk(buf.subarray(start, start + len), id)
    if (r) await r
    start += len
  }
}

/** Where the parent's chunks are expected in the file being read, and which comes next. */
class HintCursor {
  /** The next parent chunk expected, and the file offset where it is expected. */
  private next = 0
  private nextAt = 0
  /** File offset of the current position. */
  private at = 0
  /** Where each id occurs in the parent's list, in ascending order. */
  private byId?: Map<string, number[]>

  constructor(
    private readonly hints: ChunkHints & { idOf: ChunkIdOf },
    private readonly min: number,
    private readonly max: number,
  ) {}

  /** The parent chunk at the current position if its bytes are unchanged: [length, id], else [0]. */
  take(buf: Buffer, start: number, end: number, eof: boolean): [number, Buffer?] {
    const { sizes, ids } = this.hints
    while (this.next < sizes.length && this.nextAt < this.at) this.nextAt += sizes[this.next++]
    if (this.next >= sizes.length || this.nextAt !== this.at) return [0]
    const len = sizes[this.next]
    const last = eof && len === end - start
    // Within the chunker's bounds only (a chunk worker's window holds one maximal chunk).
    if (len === 0 || len > this.max || len > end - start || (len < this.min && !last)) return [0]
    const id = this.hints.idOf(buf.subarray(start, start + len))
    const want = ids.subarray(this.next * ID_BYTES, (this.next + 1) * ID_BYTES)
    if (!id.equals(want)) return [0]
    this.next++
    this.nextAt += len
    this.at += len
    return [len, id]
  }

  /**
   * A chunk the chunker cut. If it is the parent's chunk expected here, or one the parent has further
   * on (the bytes before it grew or shrank), the parent's chunks after it come next. One the parent
   * had earlier (repeated content) moves nothing.
   */
  cut(len: number, id: Buffer): void {
    const { ids, sizes } = this.hints
    const expectedHere = this.next < sizes.length && this.nextAt === this.at
    this.at += len
    if (expectedHere && id.equals(ids.subarray(this.next * ID_BYTES, (this.next + 1) * ID_BYTES))) {
      this.nextAt += sizes[this.next++]
      return
    }
    const found = this.index()
      .get(id.toString('latin1'))
      ?.find((i) => i >= this.next)
    if (found !== undefined) {
      this.next = found + 1
      this.nextAt = this.at
    }
  }

  private index(): Map<string, number[]> {
    if (!this.byId) {
      const byId = new Map<string, number[]>()
      const { ids } = this.hints
      for (let i = 0; i < ids.length / ID_BYTES; i++) {
        const key = Buffer.from(ids.buffer, ids.byteOffset + i * ID_BYTES, ID_BYTES).toString('latin1')
        const list = byId.get(key)
        if (list) list.push(i)
        else byId.set(key, [i])
      }
      this.byId = byId
    }
    return this.byId
  }
}
