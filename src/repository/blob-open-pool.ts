import { Worker } from 'node:worker_threads'
import type { RepositoryKeys } from '../crypto/keys.js'
import { InternalError } from '../errors/index.js'

/** What an opening worker starts with. */
export interface OpenInit {
  encryptionKey: Uint8Array
  blobIdKey: Uint8Array
}

/** One run of blobs read from a pack: [offset into data, sealed length, raw length, codec] each. */
export interface OpenRequest {
  job: number
  data: ArrayBuffer
  ids: ArrayBuffer
  blobs: Array<[number, number, number, number]>
}

export type OpenReply = { t: 'opened'; job: number; plains: ArrayBuffer[] } | { t: 'error'; job: number; index: number; message: string }

/** The bytes as a buffer of their own, to transfer to another thread (copied only when shared). */
export function transferable(b: Uint8Array): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer
  // A copy, not b.slice(): on a Buffer, slice() is a view of the same memory.
  const copy = new Uint8Array(b.byteLength)
  copy.set(b)
  return copy.buffer
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

interface Slot {
  worker: Worker
  busy: number
}

/**
 * Worker threads that open blobs (authenticate, decrypt, decompress, check the id) for restores, so
 * the main thread only reads packs and queues writes. Jobs go to the least busy worker.
 */
export class BlobOpenPool {
  private readonly slots: Slot[] = []
  private readonly pending = new Map<number, { slot: Slot; resolve: (p: Uint8Array[]) => void; reject: (e: Error) => void }>()
  private nextJob = 1
  private failed?: Error

  constructor(keys: RepositoryKeys, size: number) {
    const fromSource = import.meta.url.endsWith('.ts')
    const url = new URL(fromSource ? './blob-open-worker.ts' : './blob-open-worker.js', import.meta.url)
    const entry: string | URL = fromSource
      ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}) })`
      : url
    const workerData: OpenInit = { encryptionKey: keys.encryption, blobIdKey: keys.blobId }
    for (let i = 0; i < size; i++) {
      const worker = new Worker(entry, { workerData, eval: fromSource })
      const slot: Slot = { worker, busy: 0 }
      worker.on('message', (m: OpenReply) => this.onMessage(m))
      worker.on('error', (e) => this.fail(e))
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closed) this.fail(new Error(`blob worker exited with code ${code}`))
      })
      this.slots.push(slot)
    }
  }

  private closed = false

  /**
   * Opens the blobs of one run; `data` is handed over to the worker (unusable here afterwards).
   * Rejects with BlobOpenFailed naming the first blob that did not open.
   */
  open(data: Uint8Array, ids: Uint8Array[], blobs: OpenRequest['blobs']): Promise<Uint8Array[]> {
    if (this.failed) return Promise.reject(this.failed)
    let slot = this.slots[0]
    for (const s of this.slots) if (s.busy < slot.busy) slot = s
    const job = this.nextJob++
    const buf = transferable(data)
    const idBuf = new Uint8Array(ids.length * 32)
    ids.forEach((id, i) => idBuf.set(id, i * 32))
    slot.busy++
    return new Promise((resolve, reject) => {
      this.pending.set(job, { slot, resolve, reject })
      slot.worker.postMessage({ job, data: buf, ids: idBuf.buffer, blobs } satisfies OpenRequest, [buf, idBuf.buffer])
    })
  }

  private onMessage(m: OpenReply): void {
    const p = this.pending.get(m.job)
    if (!p) return
    this.pending.delete(m.job)
    p.slot.busy--
    if (m.t === 'opened') p.resolve(m.plains.map((b) => Buffer.from(b)))
    else p.reject(new BlobOpenFailed(m.index, m.message))
  }

  private fail(cause: Error): void {
    const e = new InternalError(`blob worker failed: ${cause.message}`, { cause })
    this.failed ??= e
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
  }
}
