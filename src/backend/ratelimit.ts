import { stat } from 'node:fs/promises'
import { BackendDecorator } from './decorator.js'
import type { Backend, ByteRange, FileType, Handle, ListedFile } from './backend.js'

export interface RateLimitOptions {
  /** Upload limit in bytes per second (unset: none). */
  uploadBytesPerSec?: number
  /** Download limit in bytes per second (unset: none). */
  downloadBytesPerSec?: number
  /** The clock and the wait, for tests (default: Date.now and setTimeout). */
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

/**
 * Shares a rate among all transfers of one direction: each transfer reserves its bytes' time after
 * the transfers before it, and waits until its share is due. Over any stretch longer than one
 * transfer the average stays within the rate; a single transfer still goes at the link's speed.
 */
class Throttle {
  private next = 0
  constructor(
    private readonly bytesPerSec: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  async take(bytes: number): Promise<void> {
    const now = this.now()
    const start = Math.max(now, this.next)
    this.next = start + (bytes * 1000) / this.bytesPerSec
    const wait = start - now
    if (wait > 0) await this.sleep(wait)
  }
}

/**
 * Upload and download rate limits (restic's --limit-upload and --limit-download): an upload waits
 * for its share before it is sent, a download after it arrived, so the average rate of each
 * direction stays within its limit.
 */
export class RateLimitedBackend extends BackendDecorator {
  private readonly up?: Throttle
  private readonly down?: Throttle

  constructor(inner: Backend, opts: RateLimitOptions) {
    super(inner)
    const now = opts.now ?? Date.now
    const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
    for (const [name, v] of [['upload', opts.uploadBytesPerSec], ['download', opts.downloadBytesPerSec]] as const) {
      if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new RangeError(`the ${name} limit must be a positive number of bytes per second`)
    }
    if (opts.uploadBytesPerSec) this.up = new Throttle(opts.uploadBytesPerSec, now, sleep)
    if (opts.downloadBytesPerSec) this.down = new Throttle(opts.downloadBytesPerSec, now, sleep)
  }

  protected async aroundLoadInto(_h: Handle, range: ByteRange, next: () => Promise<void>): Promise<void> {
    await next()
    await this.down?.take(range.length)
  }

  protected async aroundSaveFile(_h: Handle, path: string, next: () => Promise<void>): Promise<void> {
    if (this.up) await this.up.take((await stat(path)).size)
    await next()
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    await this.up?.take(data.length)
    await this.inner.save(h, data, opts)
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const data = await this.inner.load(h, range)
    await this.down?.take(data.length)
    return data
  }

  stat(h: Handle): Promise<{ size: number }> {
    return this.inner.stat(h)
  }

  remove(h: Handle): Promise<void> {
    return this.inner.remove(h)
  }

  override list(type: FileType): AsyncIterable<ListedFile> {
    return this.inner.list(type)
  }
}

export function withRateLimit(backend: Backend, opts: RateLimitOptions): Backend {
  return opts.uploadBytesPerSec || opts.downloadBytesPerSec ? new RateLimitedBackend(backend, opts) : backend
}
