import type { Backend, ByteRange, FileType, Handle, ListedFile } from './backend.js'

/** Lets at most `limit` requests run at once; the rest wait in order. */
export class LimitedBackend implements Backend {
  private running = 0
  private readonly waiting: Array<() => void> = []

  /** Forwarded only when the backend below has them (see Backend.saveFile). */
  readonly loadInto?: (h: Handle, range: ByteRange, out: Uint8Array) => Promise<void>
  readonly stagingPath?: () => string
  readonly saveFile?: (h: Handle, path: string) => Promise<void>

  constructor(
    readonly inner: Backend,
    readonly limit: number,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('the connection limit must be a positive integer')
    if (inner.loadInto) this.loadInto = (h, range, out) => this.slot(() => inner.loadInto!(h, range, out))
    if (inner.stagingPath && inner.saveFile) {
      this.stagingPath = () => inner.stagingPath!()
      this.saveFile = (h, path) => this.slot(() => inner.saveFile!(h, path))
    }
  }

  get location(): string {
    return this.inner.location
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r))
    else this.running++
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.running--
    }
  }

  save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    return this.slot(() => this.inner.save(h, data, opts))
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.slot(() => this.inner.load(h, range))
  }

  stat(h: Handle): Promise<{ size: number }> {
    return this.slot(() => this.inner.stat(h))
  }

  remove(h: Handle): Promise<void> {
    return this.slot(() => this.inner.remove(h))
  }

  list(type: FileType): AsyncIterable<ListedFile> {
    return this.inner.list(type)
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve()
  }
}

export function withConcurrencyLimit(backend: Backend, limit: number): LimitedBackend {
  return new LimitedBackend(backend, limit)
}
