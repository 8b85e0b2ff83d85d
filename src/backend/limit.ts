import { BackendDecorator } from './decorator.js'
import type { Backend, ByteRange, Handle } from './backend.js'

/** Lets at most `limit` requests run at once; the rest wait in order. */
export class LimitedBackend extends BackendDecorator {
  private running = 0
  private readonly waiting: Array<() => void> = []

  constructor(
    inner: Backend,
    readonly limit: number,
  ) {
    super(inner)
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('the connection limit must be a positive integer')
  }

  protected aroundLoadInto(_h: Handle, _range: ByteRange, next: () => Promise<void>): Promise<void> {
    return this.slot(next)
  }

  protected aroundSaveFile(_h: Handle, _path: string, next: () => Promise<void>): Promise<void> {
    return this.slot(next)
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
}

export function withConcurrencyLimit(backend: Backend, limit: number): LimitedBackend {
  return new LimitedBackend(backend, limit)
}
