/**
 * A blob-opening worker: authenticates, decrypts, decompresses and checks the id of every blob in a
 * run read from a pack, off the main thread. Plaintexts go back as transferred buffers.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { decompress } from '../compression/index.js'
import { blobId } from '../crypto/ids.js'
import { AuthenticationFailed, openBlob } from '../crypto/seal.js'
import { transferable, type OpenInit, type OpenRequest, type OpenReply } from './blob-open-pool.js'

const init = workerData as OpenInit
const encKey = Buffer.from(init.encryptionKey)
const idKey = Buffer.from(init.blobIdKey)
const port = parentPort!

port.on('message', (m: OpenRequest) => {
  const data = new Uint8Array(m.data)
  const ids = Buffer.from(m.ids)
  const plains: ArrayBuffer[] = []
  for (let i = 0; i < m.blobs.length; i++) {
    const [offset, length, rawLength, codec] = m.blobs[i]
    const id = ids.subarray(i * 32, i * 32 + 32)
    try {
      if (offset + length > data.length) throw new AuthenticationFailed('blob lies outside the data read')
      const plain = decompress(codec, openBlob(encKey, id, data.subarray(offset, offset + length)), rawLength)
      if (!blobId(idKey, plain).equals(id)) throw new AuthenticationFailed('content does not match its id')
      plains.push(transferable(plain))
    } catch (e) {
      port.postMessage({ t: 'error', job: m.job, index: i, message: (e as Error).message } satisfies OpenReply)
      return
    }
  }
  port.postMessage({ t: 'opened', job: m.job, plains } satisfies OpenReply, plains)
})
