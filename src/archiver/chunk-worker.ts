/**
 * A chunk worker: reads whole files on its own thread, chunks them, names every chunk, and for
 * chunks the repository does not have yet compresses and seals them. It sends back, per window of
 * up to ~4 MiB, the chunk ids in order and the new sealed blobs in one transferred buffer. The main
 * thread hands each window buffer back with its acknowledgement, so a few buffers circulate (no
 * fresh memory per window) and the worker never runs more than a few windows ahead.
 */
import { closeSync, openSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { workerInit } from '../runtime/worker.js'
import { Chunker, keyedTable } from '../chunker/index.js'
import { BULK_ZSTD_LEVEL, compress, type Codec } from '../compression/index.js'
import { blobId } from '../crypto/ids.js'
import { BLOB_OVERHEAD, sealBlobInto } from '../crypto/seal.js'
import { BlobIndex } from '../repository/blob-index.js'
import { chunkFile } from './file-chunks.js'
import { YoungGarbage } from '../runtime/young-gc.js'
import type { WorkerInit, ToWorker, FromWorker, NewBlob } from './chunk-pool.js'

const init = workerInit<WorkerInit>()
const chunker = new Chunker(init.params, keyedTable(init.chunkerKey))
const idKey = Buffer.from(init.blobIdKey)
const encKey = Buffer.from(init.encryptionKey)
const codec = init.codec as Codec
// Windows of ~4 MiB, two per worker: one being filled, one being stored by the main thread (which
// writes a window to its pack file and hands it back at once). A third, spare one gained nothing once
// the main thread wrote synchronously: 1 GB mixed first backup, 4 alternating runs, 2.81-2.93 s both
// ways, peak RSS 185-187 MiB with three, 173-183 MiB with two. Larger windows only cost memory
// (8 MiB windows took the same CPU time and 6–14 MiB more peak RSS). A window holds one maximal
// sealed chunk; it is sent once it holds WINDOW bytes or the next blob does not fit.
const WINDOW = 4 * 1024 * 1024
const WINDOW_BUFFER = Math.max(WINDOW, chunker.max) + BLOB_OVERHEAD
const WINDOW_BUFFERS = 2
const MAX_IDS = 4096
const readBuf = Buffer.allocUnsafe(Math.max(chunker.max * 2, chunker.max + 4 * 1024 * 1024))

// Ids the repository has, plus those this worker sealed itself.
const known = new BlobIndex(init.knownCount + 1024)
const noPack = Buffer.alloc(32)
{
  const ids = Buffer.from(init.knownIds)
  for (let o = 0; o + 32 <= ids.length; o += 32) known.add(0, ids.subarray(o, o + 32), noPack, 0, 0, 0, 0)
}

/**
 * A young-generation collection after every window sent (~4 MiB): every sealed or compressed blob
 * leaves a garbage buffer behind. Measured on a 1 GB backup: without it this worker held 93 MiB of
 * ArrayBuffers at its peak; with it the backup took the same time and 40 MiB less peak RSS (a full
 * collection per window instead doubled its time).
 */
const garbage = new YoungGarbage(WINDOW / 2)

const port = parentPort!
const free: ArrayBuffer[] = Array.from({ length: WINDOW_BUFFERS }, () => new ArrayBuffer(WINDOW_BUFFER))
let wake: (() => void) | undefined
const queue: Array<Extract<ToWorker, { t: 'file' }>> = []

port.on('message', (m: ToWorker) => {
  if (m.t === 'ack') {
    if (m.buffer) free.push(m.buffer)
    wake?.()
  } else if (m.t === 'file') {
    queue.push(m)
    if (queue.length === 1) void drain()
  }
})

async function drain(): Promise<void> {
  while (queue.length > 0) {
    await processFile(queue[0])
    queue.shift()
  }
}

async function takeBuffer(): Promise<Uint8Array> {
  while (free.length === 0) await new Promise<void>((r) => (wake = r))
  wake = undefined
  return new Uint8Array(free.pop()!)
}

async function processFile(m: Extract<ToWorker, { t: 'file' }>): Promise<void> {
  let ids = Buffer.allocUnsafe(MAX_IDS * 32)
  let idCount = 0
  let blobs: NewBlob[] = []
  let window = await takeBuffer()
  let used = 0
  const flush = async (last: boolean, read: number) => {
    const idBuf = ids.buffer.slice(ids.byteOffset, ids.byteOffset + idCount * 32) as ArrayBuffer
    const data = window.buffer as ArrayBuffer
    const msg: FromWorker = { t: 'chunks', job: m.job, ids: idBuf, blobs, data, last, read }
    garbage.add(used)
    port.postMessage(msg, [data, idBuf])
    idCount = 0
    blobs = []
    used = 0
    if (!last) window = await takeBuffer()
  }
  let fd: number | undefined
  let readSoFar = 0
  try {
    fd = openSync(Buffer.from(m.path), 'r')
    const hints = m.hints && { ...m.hints, idOf: (chunk: Buffer) => blobId(idKey, chunk) }
    const read = await chunkFile(fd, readBuf, chunker, async (chunk, knownId) => {
      const id = knownId ?? blobId(idKey, chunk)
      if (!known.has(0, id)) {
        known.add(0, id, noPack, 0, 0, 0, 0)
        // `packed` is a view of this thread's compression buffer, valid until the next compress():
        // the await below cannot run one, since this thread chunks one file at a time and awaits
        // each chunk before the next.
        const packed = compress(codec, chunk, BULK_ZSTD_LEVEL)
        const plain = packed ?? chunk
        if (used + plain.length + BLOB_OVERHEAD > window.length) await flush(false, readSoFar)
        const length = sealBlobInto(encKey, id, plain, window, used)
        blobs.push({ index: idCount, offset: used, length, rawLength: chunk.length, codec: packed ? codec : 0 })
        used += length
      }
      id.copy(ids, idCount * 32)
      idCount++
      readSoFar += chunk.length
      if (used >= WINDOW || idCount === MAX_IDS) await flush(false, readSoFar)
    }, hints)
    await flush(true, read)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (window.buffer.byteLength > 0) free.push(window.buffer as ArrayBuffer) // not if already handed over
    port.postMessage({ t: 'error', job: m.job, message: err.message ?? String(e), code: err.code } satisfies FromWorker)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
