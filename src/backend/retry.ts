import { AbortedError, BackendError, ObjectNotFoundError, RetriesExhaustedError } from '../errors/index.js'
import { BackendDecorator } from './decorator.js'
import { type Backend, type ByteRange, describe, type FileType, type Handle, type ListedFile } from './backend.js'

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
  /** Called before each wait: what failed, the attempt about to start (2 for the first retry), the wait and the time left. */
  onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown; remainingMs: number }) => void
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
    // A 403 RequestTimeTooSkewed is retried: the reader and the SDK correct their clock from the answer.
    if (status !== undefined) return status >= 500 || status === 429 || (status === 400 && x.name === 'RequestTimeout') || x.name === 'RequestTimeTooSkewed'
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
 * a deadline, so unreachable storage fails in bounded time: with a RetriesExhaustedError (code
 * STORAGE_UNREACHABLE) that carries the last error, when the failures were all worth retrying.
 * The deadline bounds when attempts start, not how long one runs: the request's own timeouts do.
 */
export class RetryBackend extends BackendDecorator {
  constructor(
    inner: Backend,
    private readonly opts: RetryOptions = {},
  ) {
    super(inner)
  }

  protected aroundLoadInto(h: Handle, _range: ByteRange, next: () => Promise<void>): Promise<void> {
    return this.run(`load ${describe(h)}`, next)
  }

  /** Safe to repeat: storing a name that already holds the same file counts as stored. */
  protected aroundSaveFile(h: Handle, _path: string, next: () => Promise<void>): Promise<void> {
    return this.run(`save ${describe(h)}`, next)
  }

  /** Set by close: the requests still failing then are not retried (their caller has gone). */
  private closed = new AbortController()

  override async close(): Promise<void> {
    this.closed.abort()
    await super.close()
  }

  private async run<T>(operation: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    const retries = this.opts.retries ?? 6
    const base = this.opts.baseDelayMs ?? 250
    const max = this.opts.maxDelayMs ?? 8000
    const started = Date.now()
    const deadline = started + (this.opts.deadlineMs ?? 60_000)
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt)
      } catch (e) {
        if (!isRetryable(e) || this.closed.signal.aborted) throw e
        const remainingMs = deadline - Date.now()
        if (attempt >= retries || remainingMs <= 0) throw retries === 0 ? e : new RetriesExhaustedError(operation, attempt + 1, Date.now() - started, e)
        // The last wait ends at the deadline, so the last attempt starts by it.
        const delayMs = Math.min(remainingMs, Math.round(Math.random() * Math.min(max, base * 2 ** attempt)))
        this.opts.onRetry?.({ operation, attempt: attempt + 2, delayMs, error: e, remainingMs })
        try {
          await sleep(delayMs, this.opts.signal ? AbortSignal.any([this.opts.signal, this.closed.signal]) : this.closed.signal)
        } catch (aborted) {
          if (this.closed.signal.aborted && !this.opts.signal?.aborted) throw e
          throw aborted
        }
      }
    }
  }

  save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    return this.run(`save ${describe(h)}`, async (attempt) => {
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
    return this.run(`load ${describe(h)}`, () => this.inner.load(h, range))
  }

  stat(h: Handle): Promise<{ size: number }> {
    return this.run(`stat ${describe(h)}`, () => this.inner.stat(h))
  }

  remove(h: Handle): Promise<void> {
    return this.run(`remove ${describe(h)}`, () => this.inner.remove(h))
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
