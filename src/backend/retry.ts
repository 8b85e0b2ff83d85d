import { AbortedError, BackendError, ObjectNotFoundError } from '../errors/index.js'
import { BackendDecorator } from './decorator.js'
import type { Backend, ByteRange, FileType, Handle, ListedFile } from './backend.js'

export interface RetryOptions {
  /** Attempts after the first (default 6). */
  retries?: number
  /** First backoff in ms (default 250); doubles each attempt, with full jitter. */
  baseDelayMs?: number
  /** Largest backoff in ms (default 8000). */
  maxDelayMs?: number
  /** Total time in ms after which no new attempt starts (default 60 s). */
  deadlineMs?: number
  signal?: AbortSignal
  onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown }) => void
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET'])
const RETRYABLE_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'ServiceUnavailable', 'InternalError', 'RequestTimeTooSkewed'])

/** True for errors a later attempt may not hit: 5xx, throttling, timeouts, dropped connections. Never 4xx like 403/404. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ObjectNotFoundError || e instanceof AbortedError) return false
  let cur: unknown = e
  for (let depth = 0; cur && depth < 5; depth++) {
    const x = cur as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; retryable?: boolean }
    const status = x.$metadata?.httpStatusCode
    if (status !== undefined) return status >= 500 || status === 429 || (status === 400 && x.name === 'RequestTimeout')
    if (x.retryable === true || x.$retryable) return true
    if (x.code && RETRYABLE_CODES.has(x.code)) return true
    if (x.name && RETRYABLE_NAMES.has(x.name)) return true
    cur = (cur as { cause?: unknown }).cause
  }
  return false
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError())
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(new AbortedError())
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Retries failed requests that may succeed later, with exponential backoff and full jitter, within
 * a deadline, so unreachable storage fails in bounded time with the last error.
 */
export class RetryBackend extends BackendDecorator {
  constructor(
    inner: Backend,
    private readonly opts: RetryOptions = {},
  ) {
    super(inner)
  }

  protected aroundLoadInto(h: Handle, _range: ByteRange, next: () => Promise<void>): Promise<void> {
    return this.run(`load ${h.type}/${h.name}`, next)
  }

  /** Safe to repeat: storing a name that already holds the same file counts as stored. */
  protected aroundSaveFile(h: Handle, _path: string, next: () => Promise<void>): Promise<void> {
    return this.run(`save ${h.type}/${h.name}`, next)
  }

  private async run<T>(operation: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    const retries = this.opts.retries ?? 6
    const base = this.opts.baseDelayMs ?? 250
    const max = this.opts.maxDelayMs ?? 8000
    const deadline = Date.now() + (this.opts.deadlineMs ?? 60_000)
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt)
      } catch (e) {
        if (attempt >= retries || !isRetryable(e)) throw e
        const delayMs = Math.round(Math.random() * Math.min(max, base * 2 ** attempt))
        if (Date.now() + delayMs > deadline) throw e
        this.opts.onRetry?.({ operation, attempt: attempt + 1, delayMs, error: e })
        await sleep(delayMs, this.opts.signal)
      }
    }
  }

  save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    return this.run(`save ${h.type}/${h.name}`, async (attempt) => {
      try {
        await this.inner.save(h, data, opts)
      } catch (e) {
        // An earlier attempt may have stored the file before its answer was lost.
        if (attempt > 0 && opts?.ifAbsent && e instanceof BackendError && /already exists/.test(e.message)) {
          const st = await this.inner.stat(h)
          if (st.size === data.length) return
        }
        throw e
      }
    })
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.run(`load ${h.type}/${h.name}`, () => this.inner.load(h, range))
  }

  stat(h: Handle): Promise<{ size: number }> {
    return this.run(`stat ${h.type}/${h.name}`, () => this.inner.stat(h))
  }

  remove(h: Handle): Promise<void> {
    return this.run(`remove ${h.type}/${h.name}`, () => this.inner.remove(h))
  }

  /** Lists completely or retries the whole listing, so callers never see a partial one. */
  override async *list(type: FileType): AsyncIterable<ListedFile> {
    const all = await this.run(`list ${type}`, async () => {
      const out: ListedFile[] = []
      for await (const f of this.inner.list(type)) out.push(f)
      return out
    })
    yield* all
  }
}

export function withRetry(backend: Backend, opts?: RetryOptions): RetryBackend {
  return new RetryBackend(backend, opts)
}
