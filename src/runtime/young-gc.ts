/**
 * Early collection of short-lived buffers. node:crypto and node:zlib allocate a fresh buffer for every
 * output, outside the JavaScript heap, and V8 collects those only once 64 MiB of them have piled up
 * (its external-memory limit), so a thread that seals or opens blobs carries tens of MiB of garbage
 * at any time. A young-generation collection (a scavenge) frees them in about a millisecond.
 *
 * V8 offers no way to ask for one without --expose-gc. The function is taken from a fresh context
 * with that flag on for the moment it takes, then the flag is turned off again, so no other code
 * sees a `gc` global. Where this fails, collecting is a no-op and V8 keeps its own schedule.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | undefined

function make(): () => void {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as ((o: { type: 'minor' }) => void) | undefined
    if (typeof gc === 'function') return () => gc({ type: 'minor' })
  } catch {
    // not available on this runtime
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
  return () => {}
}

/**
 * Counts bytes of short-lived output and runs a young-generation collection every `every` bytes.
 */
export class YoungGarbage {
  private since = 0
  constructor(private readonly every: number) {}

  /** Notes `bytes` more of garbage-to-be; collects when enough has accumulated. */
  add(bytes: number): void {
    this.since += bytes
    if (this.since < this.every) return
    this.since = 0
    ;(collect ??= make())()
  }
}
