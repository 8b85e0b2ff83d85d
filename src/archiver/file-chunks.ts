import { readSync } from 'node:fs'
import type { Chunker } from '../chunker/index.js'

/**
 * Reads an open file in large buffers and calls `onChunk` for each content-defined chunk, in order.
 * The chunk is a view into `buf`, valid only until `onChunk` returns (or its promise settles).
 * Used by the main thread and by the chunk workers alike. Returns the number of bytes read.
 */
export async function chunkFile(fd: number, buf: Buffer, chunker: Chunker, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<number> {
  const max = chunker.max
  if (buf.length < max * 2) throw new RangeError('read buffer must hold at least two maximal chunks')
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
    const len = chunker.cut(buf, start, end, eof)
    if (len === 0) continue
    const r = onChunk(buf.subarray(start, start + len))
    if (r) await r
    start += len
  }
}
