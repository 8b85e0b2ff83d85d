import { BackendError } from '../errors/index.js'
import { BackendDecorator } from './decorator.js'
import type { Backend, ByteRange, FileType, Handle, ListedFile } from './backend.js'

export type FaultKind = 'http500' | 'http503' | 'slowdown' | 'reset' | 'timeout'

export interface FaultOptions {
  /** Probability that a request fails (0..1). */
  rate: number
  kinds?: FaultKind[]
  /** Seed for a repeatable sequence of faults. */
  seed?: number
  /** For saves: fail after the write went through half of the time (the answer was lost). */
  failAfterWrite?: boolean
}

function fault(kind: FaultKind): Error {
  switch (kind) {
    case 'http500':
      return Object.assign(new Error('injected: internal error'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } })
    case 'http503':
      return Object.assign(new Error('injected: service unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } })
    case 'slowdown':
      return Object.assign(new Error('injected: slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } })
    case 'reset':
      return Object.assign(new Error('injected: socket hang up'), { code: 'ECONNRESET' })
    case 'timeout':
      return Object.assign(new Error('injected: request timed out'), { name: 'TimeoutError' })
  }
}

/** Fails a share of requests the way real storage does, for tests. */
export class FaultyBackend extends BackendDecorator {
  private state: number
  injected = 0

  constructor(
    inner: Backend,
    private readonly opts: FaultOptions,
  ) {
    super(inner)
    this.state = (opts.seed ?? 1) >>> 0 || 1
  }

  protected async aroundLoadInto(h: Handle, _range: ByteRange, next: () => Promise<void>): Promise<void> {
    this.maybe('load', h)
    await next()
  }

  protected async aroundSaveFile(h: Handle, _path: string, next: () => Promise<void>): Promise<void> {
    if (this.opts.failAfterWrite && this.random() < 0.5) {
      await next()
      this.maybe('save', h)
      return
    }
    this.maybe('save', h)
    await next()
  }

  private random(): number {
    let x = this.state
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    this.state = x
    return x / 0x100000000
  }

  private maybe(op: string, h: Handle | string): void {
    if (this.random() >= this.opts.rate) return
    const kinds = this.opts.kinds ?? ['http500', 'http503', 'slowdown', 'reset', 'timeout']
    this.injected++
    throw new BackendError(op, typeof h === 'string' ? h : `${h.type}/${h.name}`, fault(kinds[Math.floor(this.random() * kinds.length)]))
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    if (this.opts.failAfterWrite && this.random() < 0.5) {
      await this.inner.save(h, data, opts)
      this.maybe('save', h)
      return
    }
    this.maybe('save', h)
    await this.inner.save(h, data, opts)
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.maybe('load', h)
    return this.inner.load(h, range)
  }

  async stat(h: Handle): Promise<{ size: number }> {
    this.maybe('stat', h)
    return this.inner.stat(h)
  }

  async remove(h: Handle): Promise<void> {
    this.maybe('remove', h)
    return this.inner.remove(h)
  }

  override async *list(type: FileType): AsyncIterable<ListedFile> {
    this.maybe('list', type)
    yield* this.inner.list(type)
  }
}

export function withFaults(backend: Backend, opts: FaultOptions): FaultyBackend {
  return new FaultyBackend(backend, opts)
}
