/**
 * A chunk worker: reads whole files on its own thread, chunks them, names every chunk, and for
 * chunks the repository does not have yet compresses and seals them. It sends back, per window of
 * up to ~8 MiB, the chunk ids in order and the new sealed blobs in one transferred buffer, and waits
 * for the main thread's acknowledgement before running more than two windows ahead (bounded memory).
 */
import { closeSync, openSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { Chunker, keyedTable } from '../chunker/index.js'
import { compress, type Codec } from '../compression/index.js'
import { blobId } from '../crypto/ids.js'
import { sealBlob } from '../crypto/seal.js'
import { BlobIndex } from '../repository/blob-index.js'
import { chunkFile } from './file-chunks.js'
import type { WorkerInit, ToWorker, FromWorker, NewBlob } from './chunk-pool.js'

const init = workerData as WorkerInit
const chunker = new Chunker(init.params, keyedTable(init.chunkerKey))
const idKey = Buffer.from(init.blobIdKey)
const encKey = Buffer.from(init.encryptionKey)
const codec = init.codec as Codec
const WINDOW = 8 * 1024 * 1024
const buf = Buffer.allocUnsafe(Math.max(chunker.max * 2, chunker.max + 4 * 1024 * 1024))

// Ids the repository has, plus those this worker sealed itself.
const known = new BlobIndex(init.knownCount + 1024)
const noPack = Buffer.alloc(32)
{
  const ids = Buffer.from(init.knownIds)
  for (let o = 0; o + 32 <= ids.length; o += 32) known.add(0, ids.subarray(o, o + 32), noPack, 0, 0, 0, 0)
}

const port = parentPort!
let acked = 0
let sent = 0
let wake: (() => void) | undefined

port.on('message', (m: ToWorker) => {
  if (m.t === 'ack') {
    acked++
    wake?.()
  } else if (m.t === 'file') {
    queue.push(m)
    if (queue.length === 1) void drain()
  } else if (m.t === 'known') {
    const ids = Buffer.from(m.ids)
    for (let o = 0; o + 32 <= ids.length; o += 32) known.add(0, ids.subarray(o, o + 32), noPack, 0, 0, 0, 0)
  }
})

const queue: Array<Extract<ToWorker, { t: 'file' }>> = []

async function drain(): Promise<void> {
  while (queue.length > 0) {
    await processFile(queue[0])
    queue.shift()
  }
}

async function processFile(m: Extract<ToWorker, { t: 'file' }>): Promise<void> {
  let ids: Buffer[] = []
  let blobs: Array<{ meta: NewBlob; sealed: Buffer }> = []
  let pendingBytes = 0
  const flush = async (last: boolean, read: number) => {
    const size = blobs.reduce((n, b) => n + b.sealed.length, 0)
    const data = new ArrayBuffer(size)
    const view = new Uint8Array(data)
    let off = 0
    const metas: NewBlob[] = []
    for (const b of blobs) {
      view.set(b.sealed, off)
      metas.push({ ...b.meta, offset: off })
      off += b.sealed.length
    }
    const idBuf = new ArrayBuffer(ids.length * 32)
    const idView = new Uint8Array(idBuf)
    ids.forEach((id, i) => idView.set(id, i * 32))
    const msg: FromWorker = { t: 'chunks', job: m.job, ids: idBuf, blobs: metas, data, last, read }
    port.postMessage(msg, [data, idBuf])
    sent++
    ids = []
    blobs = []
    pendingBytes = 0
    while (sent - acked > 2) await new Promise<void>((r) => (wake = r))
    wake = undefined
  }
  let fd: number | undefined
  try {
    fd = openSync(Buffer.from(m.path), 'r')
    let readSoFar = 0
    const read = await chunkFile(fd, buf, chunker, async (chunk) => {
      const id = blobId(idKey, chunk)
      ids.push(id)
      readSoFar += chunk.length
      if (!known.has(0, id)) {
        known.add(0, id, noPack, 0, 0, 0, 0)
        const packed = compress(codec, chunk)
        const sealed = sealBlob(encKey, id, packed ?? chunk)
        blobs.push({ meta: { index: ids.length - 1, offset: 0, length: sealed.length, rawLength: chunk.length, codec: packed ? codec : 0 }, sealed })
        pendingBytes += sealed.length
      }
      if (pendingBytes >= WINDOW || ids.length >= 4096) await flush(false, readSoFar)
    })
    await flush(true, read)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    port.postMessage({ t: 'error', job: m.job, message: err.message ?? String(e), code: err.code } satisfies FromWorker)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
