/**
 * Regions of one buffer, handed out in order and given back in any order: the memory for files read
 * ahead and worked on meanwhile (check's packs). Many small files then fit where two large ones
 * would, so reading ahead is bounded by bytes rather than by a number of files, and the buffer is
 * the same memory throughout (first touches of memory are page faults, which cost more than the
 * reading on small files).
 *
 * A region is taken where the last one ended, or at the start of the buffer when the rest is too
 * short; it waits while that space is still in use. Regions come out in the order they were asked
 * for, and a region is free once it and every region before it are given back.
 */
export class ByteRing {
  /** Regions handed out and not yet free, oldest first. */
  private readonly live: Array<{ start: number; end: number; released: boolean }> = []
  /** Waiting requests, oldest first. */
  private readonly waiting: Array<{ length: number; grant: (r: Region) => void }> = []
  private head = 0

  constructor(readonly buffer: Uint8Array) {}

  /**
   * A region of `length` bytes (at most the buffer's length), once there is room for it and for the
   * requests before it.
   */
  take(length: number): Promise<Region> {
    if (length > this.buffer.length) return Promise.reject(new RangeError(`a region of ${length} bytes does not fit in a ring of ${this.buffer.length}`))
    return new Promise((grant) => {
      this.waiting.push({ length, grant })
      this.serve()
    })
  }

  private serve(): void {
    while (this.waiting.length > 0) {
      const { length, grant } = this.waiting[0]
      if (length === 0) {
        // Takes no bytes: not live, or a region placed where the ring is full would look unwrapped.
        this.waiting.shift()
        grant({ bytes: this.buffer.subarray(0, 0), release: () => {} })
        continue
      }
      const start = this.fit(length)
      if (start === undefined) return
      this.waiting.shift()
      const entry = { start, end: start + length, released: false }
      this.live.push(entry)
      this.head = entry.end
      grant({
        bytes: this.buffer.subarray(start, start + length),
        release: () => {
          if (entry.released) return
          entry.released = true
          while (this.live.length > 0 && this.live[0].released) this.live.shift()
          if (this.live.length === 0) this.head = 0
          this.serve()
        },
      })
    }
  }

  /** Where a region of `length` bytes can start now, or undefined. */
  private fit(length: number): number | undefined {
    if (this.live.length === 0) return 0
    const tail = this.live[0].start
    // Wrapped when the newest region lies before the oldest.
    if (this.live[this.live.length - 1].start >= tail) {
      // Live bytes lie in [tail, head): room after head, else before tail.
      if (this.head + length <= this.buffer.length) return this.head
      return length <= tail ? 0 : undefined
    }
    // Wrapped: live bytes lie in [tail, end) and [0, head): room between head and tail only.
    return this.head + length <= tail ? this.head : undefined
  }
}

/** A region taken from a ByteRing: its bytes, until released. */
export interface Region {
  bytes: Uint8Array
  release(): void
}
