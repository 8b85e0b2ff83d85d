/**
 * A blob-opening worker: authenticates, decrypts, decompresses and (unless told not to) checks the id
 * of every blob of a batch read from a pack, off the main thread. The sealed bytes and the plaintexts
 * live in memory shared with the main thread: nothing is copied or transferred, and this thread's
 * garbage stays on its own heap.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { workerInit } from '../runtime/worker.js'
import { AuthenticationFailed } from '../crypto/seal.js'
import { errorChain, replace, setMetadata, type ErrorChain } from '../runtime/file-meta.js'
import { YoungGarbage } from '../runtime/young-gc.js'
import { CompressedScratch, openSealedBlob } from './blob-open.js'
import type { FileFinish, FinishFailure, OpenInit, OpenReply, OpenRequest } from './blob-open-pool.js'

const init = workerInit<OpenInit>()
const keys = { encryption: Buffer.from(init.encryptionKey), blobId: Buffer.from(init.blobIdKey) }
const scratch = new CompressedScratch()
/**
 * Decryption leaves garbage buffers behind (node:crypto allocates every output): a young-generation
 * collection every few MiB opened keeps them from piling up to V8's 64 MiB external-memory limit.
 */
const garbage = new YoungGarbage(4 * 1024 * 1024)
const port = parentPort!
const held = new Int32Array(init.held)
const CREATE_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

const view = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)

/** Where blobs only verified (no `out`) are opened, one after another; grown to the largest. */
let sink = Buffer.alloc(0)

port.on('message', (m: OpenRequest) => {
  const data = view(m.data)
  const out = m.out ? view(m.out) : undefined
  const ids = view(m.ids)
  let at = 0
  for (let i = 0; i < m.blobs.length; i++) {
    const [offset, length, rawLength, codec] = m.blobs[i]
    try {
      if (offset + length > data.length) throw new AuthenticationFailed('blob lies outside the data read')
      let target: Buffer
      if (out) {
        if (at + rawLength > out.length) throw new RangeError('output buffer too small for the batch')
        target = out.subarray(at, at + rawLength)
      } else {
        if (sink.length < rawLength) sink = Buffer.allocUnsafeSlow(rawLength)
        target = sink.subarray(0, rawLength)
      }
      const plain = openSealedBlob(keys, ids.subarray(i * 32, i * 32 + 32), data.subarray(offset, offset + length), rawLength, codec, scratch, target, init.verifyIds)
      if (plain.buffer !== target.buffer || plain.byteOffset !== target.byteOffset) target.set(plain)
      at += rawLength
      garbage.add(length)
    } catch (e) {
      port.postMessage({ t: 'error', job: m.job, index: i, message: (e as Error).message } satisfies OpenReply)
      return
    }
  }
  // The plaintexts go into their files from here: the thread that opened them, so that the system
  // time of writing is spread over both threads instead of all falling on the main one. A file one
  // write makes whole is created and finished here too: its creation, owner, mode, times and rename
  // cost more system time than its write.
  const finishFailures: FinishFailure[] = []
  if (m.writes && out) {
    at = 0
    for (let i = 0; i < m.blobs.length; i++) {
      const rawLength = m.blobs[i][2]
      const targets = m.writes[i]
      for (let k = 0; k < targets.length; k++) {
        const [fd, position, finish] = targets[k]
        if (fd < 0 && !finish) continue // a file that already failed
        // Whether this write created its file (then its temporary file exists, whatever follows).
        let created = false
        try {
          if (finish) {
            const made = create(finish)
            created = true
            const failure = writeWhole(made, finish, out.subarray(at, at + rawLength), position)
            if (failure) finishFailures.push([i, k, failure])
          } else {
            let done = 0
            while (done < rawLength) done += writeSync(fd, out, at + done, rawLength - done, position + done)
          }
        } catch (e) {
          const err = e as NodeJS.ErrnoException
          port.postMessage({ t: 'write-error', job: m.job, index: i, target: k, code: err.code, message: err.message, created, ...(finishFailures.length > 0 ? { finishFailures } : {}) } satisfies OpenReply)
          return
        }
      }
      at += rawLength
    }
  }
  port.postMessage({ t: 'opened', job: m.job, ...(finishFailures.length > 0 ? { finishFailures } : {}) } satisfies OpenReply)
})

/** Creates a file's temporary name (new, private, not through a symlink) and records its descriptor in `held`. */
function create(finish: FileFinish): number {
  const fd = openSync(view(finish.tmp), CREATE_FLAGS, 0o600)
  Atomics.store(held, 0, fd)
  return fd
}

/**
 * Writes `data` into a file `create` made and finishes it (see FileFinish). Throws when it cannot be
 * written (the file is closed); returns why it could not be finished.
 */
function writeWhole(fd: number, finish: FileFinish, data: Buffer, position: number): ErrorChain | undefined {
  let failure: unknown
  try {
    let done = 0
    while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done)
    try {
      setMetadata(fd, finish.meta, finish.chown)
    } catch (e) {
      failure = e
    }
  } finally {
    // Cleared before the close: after it, the number may belong to anything else in the process.
    Atomics.store(held, 0, -1)
    try {
      closeSync(fd)
    } catch (e) {
      failure ??= e
    }
  }
  if (failure === undefined) {
    try {
      replace(view(finish.tmp), view(finish.path))
    } catch (e) {
      failure = e
    }
  }
  return failure === undefined ? undefined : errorChain(failure)
}
