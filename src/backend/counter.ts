import { stat } from 'node:fs/promises'
import { BackendDecorator } from './decorator.js'
import type { Backend, ByteRange, FileType, Handle, ListedFile } from './backend.js'

/** Requests made to storage, by kind, and the bytes moved. */
export interface RequestCounts {
  GET: number
  PUT: number
  LIST: number
  DELETE: number
  HEAD: number
  bytesUp: number
  bytesDown: number
}

export function zeroCounts(): RequestCounts {
  return { GET: 0, PUT: 0, LIST: 0, DELETE: 0, HEAD: 0, bytesUp: 0, bytesDown: 0 }
}

/** The counts between two readings. */
export function countsSince(now: RequestCounts, before: RequestCounts): RequestCounts {
  const out = zeroCounts()
  for (const k of Object.keys(out) as Array<keyof RequestCounts>) out[k] = now[k] - before[k]
  return out
}

/** Counts every request that reaches the backend below it (retries included). */
export class CountingBackend extends BackendDecorator {
  readonly counts: RequestCounts = zeroCounts()

  protected async aroundLoadInto(_h: Handle, range: ByteRange, next: () => Promise<void>): Promise<void> {
    this.counts.GET++
    await next()
    this.counts.bytesDown += range.length
  }

  protected async aroundSaveFile(_h: Handle, path: string, next: () => Promise<void>): Promise<void> {
    this.counts.PUT++
    await next()
    this.counts.bytesUp += (await stat(path)).size
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    this.counts.PUT++
    await this.inner.save(h, data, opts)
    this.counts.bytesUp += data.length
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.counts.GET++
    const b = await this.inner.load(h, range)
    this.counts.bytesDown += b.length
    return b
  }

  stat(h: Handle): Promise<{ size: number }> {
    this.counts.HEAD++
    return this.inner.stat(h)
  }

  remove(h: Handle): Promise<void> {
    this.counts.DELETE++
    return this.inner.remove(h)
  }

  override list(type: FileType): AsyncIterable<ListedFile> {
    this.counts.LIST++
    return this.inner.list(type)
  }
}

export function withRequestCounter(backend: Backend): CountingBackend {
  return new CountingBackend(backend)
}
