import { closeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { prestartWorker, startWorker } from '../runtime/worker.js'
import type { RepositoryKeys } from '../crypto/keys.js'
import { InternalError, InvalidOptionsError } from '../errors/index.js'
import type { ErrorChain, FileMeta } from '../runtime/file-meta.js'

/** What an opening worker starts with. */
export interface OpenInit {
  encryptionKey: Uint8Array
  blobIdKey: Uint8Array
  /** Check every blob's id against its plaintext (see RestoreOptions.verifyIds). */
  verifyIds: boolean
  /**
   * One Int32 slot: the descriptor of the file the worker has open (see FileFinish), or -1. Set
   * after the open and cleared before the close, so that one stopped mid-file can be closed for it.
   */
  held: SharedArrayBuffer
}

/**
 * One batch of blobs read from a pack. `data` and `out` are views of SharedArrayBuffers: the worker
 * reads the sealed blobs from `data` ([offset into data, sealed length, raw length, codec] each) and
 * writes their plaintexts into `out`, one after another; without `out` (a check) it only verifies
 * them, each opened into the same buffer of its own, so no more memory is touched than the largest
 * blob needs. With `writes` (which needs `out`), it also writes each
 * plaintext into files: `writes[i]` lists the writes of blob i, [file descriptor, position] (a
 * negative descriptor: leave that write out), or [CREATE, position, FileFinish] for a file that this
 * one write makes whole: the worker creates it, writes it and finishes it.
 */
export interface OpenRequest {
  job: number
  data: Uint8Array
  ids: Uint8Array
  blobs: Array<[number, number, number, number]>
  out?: Uint8Array
  writes?: FileWrites
}

/** Per blob of a batch: where its plaintext goes (see OpenRequest). */
export type FileWrites = Array<Array<[number, number] | [typeof CREATE, number, FileFinish]>>

/** The descriptor of a write whose file the worker creates (see FileFinish). */
export const CREATE = -2

/**
 * A file made whole by one write, which the worker creates (`tmp`, new, private: O_EXCL, mode
 * 0600, not through a symlink), writes, and finishes: owner, mode and times through its
 * descriptor, close, then the rename into place (see runtime/file-meta.ts).
 */
export interface FileFinish {
  tmp: Uint8Array
  path: Uint8Array
  meta: FileMeta
  chown: boolean
}

/** A file a worker wrote but could not finish: blob `index` of the request, its `target`th write, and why. */
export type FinishFailure = [index: number, target: number, error: ErrorChain]

export type OpenReply =
  | { t: 'opened'; job: number; finishFailures?: FinishFailure[] }
  | { t: 'error'; job: number; index: number; message: string }
  | { t: 'write-error'; job: number; index: number; target: number; code?: string; message: string; finishFailures?: FinishFailure[]; created?: boolean }

/** Plaintext bytes opened as one batch at most (a larger blob goes alone). */
export const BATCH_RAW_BYTES = 4 * 1024 * 1024

/** Below this many bytes to open, blobs are opened on the calling thread only (starting workers costs more). */
const POOL_MIN_BYTES = 16 * 1024 * 1024

/**
 * Opening workers for `bytes` of blobs (restore, check): one per core but one (at least one, at most
 * 4), none under 16 MiB. Measured on 2 cores (1 GB restore): one worker beside the main thread 2.85 →
 * 2.53 s; two no clearly faster, for 30 MiB more.
 */
export function defaultOpenThreads(bytes: number): number {
  return bytes < POOL_MIN_BYTES ? 0 : Math.min(4, Math.max(1, availableParallelism() - 1))
}

/**
 * Starts, ahead of a restore or of a check that reads data, the worker threads it uses by default
 * (one a core but one, at most 4; used when it has more than 16 MiB to open), so that it finds them
 * loaded instead of waiting about 100 ms for each to start (see prestartWorker). For time the
 * calling thread would otherwise wait: `Repository.open` with a password waits about 0.3 s for its
 * key on another thread (the CLI starts them then). Workers not taken within 30 s stop; they never
 * keep the process alive.
 */
export function prestartWorkers(operation: 'restore' | 'check'): void {
  if (operation !== 'restore' && operation !== 'check') throw new InvalidOptionsError(`prestartWorkers takes 'restore' or 'check', not ${JSON.stringify(operation)}`)
  const n = defaultOpenThreads(Number.POSITIVE_INFINITY)
  for (let i = 0; i < n; i++) prestartWorker(import.meta.url, './blob-open-worker')
}

/** Buffers for a pool (shared memory, so workers read and write them in place), or plain ones without. */
export function bufferAllocator(pool: BlobOpenPool | undefined): (n: number) => Buffer {
  return pool ? sharedBuffer : (n) => Buffer.allocUnsafeSlow(n)
}

/** ES2024's growable SharedArrayBuffer (Node 20 has it; the compiler's library here predates it). */
const GrowableShared = SharedArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => SharedArrayBuffer & { grow(length: number): void }

/**
 * Shared memory of `n` bytes, from pages the kernel hands out zeroed as they are first touched.
 * `new SharedArrayBuffer(n)` is zeroed by calloc, which in a process that has freed buffers of that
 * size takes them from the heap and clears them there, touching every page at once: three 20 MiB
 * buffers (an S3 restore's reads) took 160 ms in one round of six on 2 cores, and about one S3
 * restore in five to ten stalled 90-260 ms at the start of its reads. A growable one is reserved and
 * committed instead (under 1 ms).
 */
export function sharedBuffer(n: number): Buffer {
  const sab = new GrowableShared(0, { maxByteLength: n })
  sab.grow(n)
  return Buffer.from(sab, 0, n)
}

/** Lets worker replies (events) in between batches opened on this thread, so an idle worker gets more. */
export function yieldToEvents(): Promise<void> {
  return new Promise((r) => setImmediate(r))
}

/** Whether `b` lives in memory that can be shared with a worker. */
export function isShared(b: Uint8Array): boolean {
  return b.buffer instanceof SharedArrayBuffer
}

/** A blob that failed to open: `index` into the request, `message` why. */
export class BlobOpenFailed extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * A write into a file that failed on a worker: blob `index` of the request, its `target`th write
 * (for a file it creates, creating it is part of the write; `created`: it did create it, so the
 * temporary file is there). The writes before it were made, and the files they created finished
 * but for `finishFailures`.
 */
export class BlobWriteFailed extends Error {
  readonly code?: string
  constructor(
    readonly index: number,
    readonly target: number,
    message: string,
    code?: string,
    readonly finishFailures: FinishFailure[] = [],
    readonly created = false,
  ) {
    super(message)
    if (code !== undefined) this.code = code
  }
}

/** Batches queued on one worker at most. */
const QUEUE_DEPTH = 2

interface Slot {
  worker: Worker
  busy: number
  /** The descriptor the worker holds open (see OpenInit.held). */
  held: Int32Array
}

/**
 * Worker threads that open blobs (authenticate, decrypt, decompress, check the id) for restores, in
 * memory shared with the main thread. Jobs go to the least busy worker; the restorer opens a batch
 * itself when every worker has enough queued.
 */
export class BlobOpenPool {
  private readonly slots: Slot[] = []
  private readonly pending = new Map<number, { slot: Slot; resolve: (failures: FinishFailure[]) => void; reject: (e: Error) => void }>()
  private nextJob = 1
  private failed?: Error

  constructor(keys: RepositoryKeys, size: number, opts: { verifyIds?: boolean } = {}) {
    for (let i = 0; i < size; i++) {
      const held = new Int32Array(new SharedArrayBuffer(4)).fill(-1)
      const workerData: OpenInit = { encryptionKey: keys.encryption, blobIdKey: keys.blobId, verifyIds: opts.verifyIds ?? true, held: held.buffer as SharedArrayBuffer }
      const worker = startWorker(import.meta.url, './blob-open-worker', workerData)
      const slot: Slot = { worker, busy: 0, held }
      worker.on('message', (m: OpenReply) => this.onMessage(m))
      worker.on('error', (e) => this.fail(e))
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closed) this.fail(new Error(`blob worker exited with code ${code}`))
      })
      this.slots.push(slot)
    }
  }

  private closed = false

  /** Whether a worker can take a batch now (at most QUEUE_DEPTH each, so none waits for its next). */
  hasRoom(): boolean {
    return !this.failed && this.slots.some((s) => s.busy < QUEUE_DEPTH)
  }

  /**
   * Opens a batch of blobs on the least busy worker: their plaintexts land in `out`, one after
   * another (without `out` they are only verified), and with `writes` in those files too (see
   * OpenRequest). `data` and `out` must be shared
   * (isShared) and left alone until this settles, and every file descriptor in `writes` must stay
   * open until then. Rejects with BlobOpenFailed naming the first blob that did not open (no file
   * written), or BlobWriteFailed naming the first write that failed (the batch stops there; the
   * files created before it are finished, see BlobWriteFailed). Resolves with the files
   * (FileFinish) that could not be finished; the others are.
   */
  open(data: Uint8Array, ids: Uint8Array[], blobs: OpenRequest['blobs'], out?: Uint8Array, writes?: FileWrites): Promise<FinishFailure[]> {
    if (this.failed) return Promise.reject(this.failed)
    if (this.closed) return Promise.reject(new InternalError('the blob workers were stopped'))
    if (!isShared(data) || (out && !isShared(out))) return Promise.reject(new InternalError('blob worker buffers must be shared memory'))
    if (writes && !out) return Promise.reject(new InternalError('blobs written to files need an output buffer'))
    let slot = this.slots[0]
    for (const s of this.slots) if (s.busy < slot.busy) slot = s
    const job = this.nextJob++
    const idBuf = new Uint8Array(ids.length * 32)
    ids.forEach((id, i) => idBuf.set(id, i * 32))
    slot.busy++
    return new Promise((resolve, reject) => {
      this.pending.set(job, { slot, resolve, reject })
      slot.worker.postMessage({ job, data, ids: idBuf, blobs, out, writes } satisfies OpenRequest)
    })
  }

  private onMessage(m: OpenReply): void {
    const p = this.pending.get(m.job)
    if (!p) return
    this.pending.delete(m.job)
    p.slot.busy--
    if (m.t === 'opened') p.resolve(m.finishFailures ?? [])
    else if (m.t === 'write-error') p.reject(new BlobWriteFailed(m.index, m.target, m.message, m.code, m.finishFailures, m.created))
    else p.reject(new BlobOpenFailed(m.index, m.message))
  }

  private fail(cause: Error): void {
    const e = new InternalError(`blob worker failed: ${cause.message}`, { cause })
    this.failed ??= e
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
  }

  /**
   * Stops the workers; once this resolves none of them runs any more, so file descriptors handed to
   * them may be closed, and a file one was writing when it stopped is closed. Safe to call again.
   */
  async close(): Promise<void> {
    this.closed = true
    this.closing ??= Promise.all(this.slots.map((s) => s.worker.terminate())).then(() => {
      for (const s of this.slots) {
        const fd = Atomics.exchange(s.held, 0, -1)
        if (fd >= 0) {
          try {
            closeSync(fd)
          } catch {
            // already closed
          }
        }
      }
    })
    await this.closing
  }

  private closing?: Promise<void>
}
