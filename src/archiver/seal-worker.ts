/**
 * The sealing worker (see SealPool): compresses and seals batches of blobs that the backup's main
 * thread has named and deduplicated, and sends each batch back sealed, in the buffers it came in.
 */
import { parentPort } from 'node:worker_threads'
import { workerInit } from '../runtime/worker.js'
import { compress } from '../compression/index.js'
import { sealBlobInto } from '../crypto/seal.js'
import { YoungGarbage } from '../runtime/young-gc.js'
import type { SealInit, SealReply, SealRequest } from './seal-pool.js'

const init = workerInit<SealInit>()
const encKey = Buffer.from(init.encryptionKey)
/** Every compressed or sealed blob leaves a garbage buffer behind: collect them early (see YoungGarbage). */
const garbage = new YoungGarbage(4 * 1024 * 1024)
const port = parentPort!

port.on('message', (m: SealRequest) => {
  try {
    const data = Buffer.from(m.data)
    const ids = Buffer.from(m.ids)
    const out = new Uint8Array(m.out)
    const sealed: Array<[number, number]> = []
    let at = 0
    for (let i = 0; i < m.blobs.length; i++) {
      const [offset, length, tryCompress] = m.blobs[i]
      const plain = data.subarray(offset, offset + length)
      // `packed` is a view of this thread's compression buffer: sealed before the next compress().
      const packed = tryCompress ? compress(init.codec, plain) : undefined
      const n = sealBlobInto(encKey, ids.subarray(i * 32, i * 32 + 32), packed ?? plain, out, at)
      sealed.push([n, packed ? init.codec : 0])
      at += n
      garbage.add(length)
    }
    port.postMessage({ t: 'sealed', job: m.job, data: m.data, ids: m.ids, out: m.out, sealed } satisfies SealReply, [m.data, m.ids, m.out])
  } catch (e) {
    port.postMessage({ t: 'error', job: m.job, message: (e as Error).message } satisfies SealReply)
  }
})
