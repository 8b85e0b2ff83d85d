/**
 * The sealing worker (see SealPool): compresses and seals batches of blobs that the backup's main
 * thread has named and deduplicated, and sends each batch back sealed, in the buffers it came in.
 */
import { parentPort } from 'node:worker_threads'
import { workerInit } from '../runtime/worker.js'
import { YoungGarbage } from '../runtime/young-gc.js'
import type { SealInit, SealReply, SealRequest } from './seal-pool.js'
import { sealBatch } from './seal-batch.js'

const init = workerInit<SealInit>()
const encKey = Buffer.from(init.encryptionKey)
/** Every compressed or sealed blob leaves a garbage buffer behind: collect them early (see YoungGarbage). */
const garbage = new YoungGarbage(4 * 1024 * 1024)
const port = parentPort!

port.on('message', (m: SealRequest) => {
  try {
    const sealed = sealBatch(init.codec, encKey, new Uint8Array(m.data), new Uint8Array(m.ids), m.blobs, new Uint8Array(m.out), (length) => garbage.add(length))
    port.postMessage({ t: 'sealed', job: m.job, data: m.data, ids: m.ids, out: m.out, sealed } satisfies SealReply, [m.data, m.ids, m.out])
  } catch (e) {
    port.postMessage({ t: 'error', job: m.job, message: (e as Error).message } satisfies SealReply)
  }
})
