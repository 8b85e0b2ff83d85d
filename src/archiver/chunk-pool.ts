import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { startWorker } from '../runtime/worker.js'
import type { ChunkerParams } from '../chunker/index.js'
import { Codec } from '../compression/index.js'
import type { RepositoryKeys } from '../crypto/keys.js'
import { InternalError } from '../errors/index.js'
import type { ChunkHints } from './file-chunks.js'

/** What a worker is started with. */
export interface WorkerInit {
  encryptionKey: Uint8Array
  blobIdKey: Uint8Array
  chunkerKey: Uint8Array
  params: ChunkerParams
  codec: number
  /** Data blob ids the repository has, 32 bytes each. */
  knownIds: ArrayBuffer
  knownCount: number
}

/** A new sealed blob inside a `chunks` message: `index` into its ids, `offset`/`length` into its data. */
export interface NewBlob {
  index: number
  offset: number
  length: number
  rawLength: number
  codec: number
}

/** `ack` hands a window's buffer back to the worker that sent it. */
export type ToWorker = { t: 'file'; job: number; path: Uint8Array; hints?: ChunkHints } | { t: 'ack'; buffer?: ArrayBuffer }

export type FromWorker =
  | { t: 'chunks'; job: number; ids: ArrayBuffer; blobs: NewBlob[]; data: ArrayBuffer; last: boolean; read: number }
  | { t: 'error'; job: number; message: string; code?: string }

/** Receives one window of a file's chunks: ids in order, and the sealed new ones. */
export type ChunkSink = (ids: Buffer, blobs: Array<{ id: Buffer; sealed: Buffer; rawLength: number; codec: number }>, read: number) => Promise<void>

interface Job {
  id: number
  path: Buffer
  hints?: ChunkHints
  sink: ChunkSink
  resolve: (r: { content: Buffer; read: number }) => void
  reject: (e: Error & { code?: string }) => void
  ids: Buffer[]
  chain: Promise<void>
}

interface Slot {
  worker: Worker
  busy: number
}

/** Files in flight per worker: one being read, one queued so the worker never idles. */
const PER_WORKER = 2

/**
 * Worker threads that read, chunk, hash, compress and seal files in parallel. The main thread keeps
 * the walk, dedup across workers, the packer and the trees. Started on first use, so a backup in
 * which nothing changed starts no thread at all.
 */
export class ChunkPool {
  private slots: Slot[] = []
  private readonly waiting: Job[] = []
  private readonly jobs = new Map<number, { job: Job; slot: Slot }>()
  private nextJob = 1
  private failed?: Error

  constructor(
    private readonly init: Omit<WorkerInit, 'knownIds' | 'knownCount'>,
    private readonly knownIds: () => { ids: ArrayBuffer; count: number },
    readonly size: number,
  ) {}

  /**
   * Workers for a backup by default: one per core, at most 8. An earlier version left one core to
   * the main thread with zstd (then measured on 2 cores, 1 GB: one worker 4.5–4.9 s, two 6.0–6.2 s).
   * Since the main thread stopped waiting on every small write and the workers collect their
   * garbage early, two workers are faster there: median 3.88 s (3.86–4.74) against 4.56 s
   * (4.32–5.62) for one (Node 24, 5 alternating runs), for 0.9 s more CPU and 65–80 MiB more peak
   * RSS. Only backups with more than 64 MiB to read in files larger than a chunk start workers at all (see the archiver), so the
   * memory goes to the large ones.
   */
  static defaultSize(): number {
    return Math.max(1, Math.min(availableParallelism(), 8))
  }

  static forKeys(keys: RepositoryKeys, params: ChunkerParams, codec: Codec, knownIds: () => { ids: ArrayBuffer; count: number }, size: number): ChunkPool {
    return new ChunkPool({ encryptionKey: keys.encryption, blobIdKey: keys.blobId, chunkerKey: keys.chunker, params, codec }, knownIds, size)
  }

  /** Whether the workers have been started. */
  get started(): boolean {
    return this.slots.length > 0
  }

  /** Whether a worker could take a file at once (started or not). */
  idle(): boolean {
    if (this.failed || this.waiting.length > 0) return false
    if (this.slots.length === 0) return true
    return this.slots.some((s) => s.busy === 0)
  }

  /** Chunks one file on a worker (see ChunkHints for `hints`); `sink` receives its windows in order. */
  file(path: Buffer, sink: ChunkSink, hints?: ChunkHints): Promise<{ content: Buffer; read: number }> {
    if (this.failed) return Promise.reject(this.failed)
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextJob++, path, hints, sink, resolve, reject, ids: [], chain: Promise.resolve() })
      this.dispatch()
    })
  }

  /** Starts the pool: its first worker (the others start as files wait for them, see dispatch). */
  private start(): Slot {
    return this.addWorker()
  }

  private addWorker(): Slot {
    const { ids, count } = this.knownIds()
    const workerData: WorkerInit = { ...this.init, knownIds: ids, knownCount: count }
    const worker = startWorker(import.meta.url, './chunk-worker', workerData)
    const slot: Slot = { worker, busy: 0 }
    worker.on('message', (m: FromWorker) => this.onMessage(slot, m))
    worker.on('error', (e) => this.fail(e))
    worker.on('exit', (code) => {
      if (code !== 0 && !this.closing) this.fail(new Error(`chunk worker exited with code ${code}`))
    })
    this.slots.push(slot)
    return slot
  }

  private closing = false

  /**
   * Hands waiting files to workers. Another worker starts only when a file waits and every started
   * one already has a file: a backup of one large file (a disk image, a database) keeps to one
   * thread and one worker's memory, since a file is never split between workers. Measured on the
   * 2 GB file's first backup (Node 24, raw key, 3 alternating runs): both workers started at once,
   * 7.02–8.64 s and 134–138 MiB peak RSS; started as needed (one), 6.91–7.23 s and 117–122 MiB. The
   * 1 GB mixed set starts both within its first files, as before (2.91–3.16 s against 2.93–3.11 s).
   */
  private dispatch(): void {
    if (this.waiting.length === 0) return
    for (;;) {
      const job = this.waiting[0]
      if (!job) return
      let best: Slot | undefined
      for (const s of this.slots) if (s.busy < PER_WORKER && (!best || s.busy < best.busy)) best = s
      if (this.slots.length === 0) best = this.start()
      else if ((!best || best.busy > 0) && this.slots.length < this.size) best = this.addWorker()
      if (!best) return
      this.waiting.shift()
      best.busy++
      this.jobs.set(job.id, { job, slot: best })
      best.worker.postMessage({ t: 'file', job: job.id, path: job.path, hints: job.hints } satisfies ToWorker)
    }
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    const entry = this.jobs.get(m.job)
    if (!entry) return
    const { job } = entry
    if (m.t === 'error') {
      this.jobs.delete(m.job)
      slot.busy--
      // A file that cannot be read (ENOENT, EACCES, …) is the backup's issue to report; an error
      // without a system code is a fault in the worker and fails the backup.
      const e = m.code ? Object.assign(new Error(m.message), { code: m.code }) : new InternalError(`chunk worker failed on ${job.path.toString()}: ${m.message}`)
      job.chain = job.chain.then(() => job.reject(e))
      this.dispatch()
      return
    }
    const ids = Buffer.from(m.ids)
    const data = Buffer.from(m.data)
    job.ids.push(ids)
    const blobs = m.blobs.map((b) => ({ id: ids.subarray(b.index * 32, b.index * 32 + 32), sealed: data.subarray(b.offset, b.offset + b.length), rawLength: b.rawLength, codec: b.codec }))
    if (m.last) {
      this.jobs.delete(m.job)
      slot.busy--
    }
    // The sink copies what it keeps, so the window buffer can go back to the worker afterwards.
    const giveBack = () => slot.worker.postMessage({ t: 'ack', buffer: m.data } satisfies ToWorker, [m.data])
    job.chain = job.chain
      .then(() => job.sink(ids, blobs, m.read))
      .then(() => {
        giveBack()
        if (m.last) job.resolve({ content: Buffer.concat(job.ids), read: m.read })
      })
      .catch((e: Error) => {
        giveBack()
        job.reject(e)
      })
    if (m.last) this.dispatch()
  }

  private fail(cause: Error): void {
    const e = new InternalError(`chunk worker failed: ${cause.message}`, { cause })
    this.failed ??= e
    for (const { job } of this.jobs.values()) job.reject(e)
    for (const job of this.waiting.splice(0)) job.reject(e)
    this.jobs.clear()
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.closing = true
    const err = new Error('chunk pool closed')
    for (const job of this.waiting.splice(0)) job.reject(err)
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
    this.slots = []
  }
}
