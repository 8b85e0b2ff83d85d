/**
 * libsodium's Argon2id on a short-lived worker thread, for Node without node:crypto's Argon2id
 * (before 24.7), and a worker of that kind started ahead (`warmArgon2idWorker`).
 *
 * This module imports nothing of the library: the CLI's entry point loads it (and starts the worker)
 * before it loads the rest, and a separate bundle of it (`dist/kdf-warm.js`) lets the benchmark do
 * the same. The worker started ahead is handed over through a slot on `globalThis`, so a copy of this
 * module in another bundle of the package finds it.
 */
import * as nodeCrypto from 'node:crypto'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** The job: a password, a salt and Argon2id's cost. */
interface Job {
  password: Uint8Array
  salt: Uint8Array
  ops: number
  mem: number
}

/**
 * The worker: loads libsodium, then derives the key of the job in its workerData; or, started ahead,
 * touches `warm` bytes of libsodium's memory (an allocation, a write a page, freed: the
 * derivation's allocation then reuses the pages) 4 MiB at a time, and derives the key of the first
 * job posted to it as soon as it comes: a job that comes early (a cheap key) does not wait for the
 * rest of the touching. libsodium's own module (`libsodium`) has the allocator and the heap; touching
 * is best effort, and a libsodium without them only derives more slowly.
 */
const WORKER_CODE = [
  "const { parentPort, receiveMessageOnPort, workerData: d } = require('node:worker_threads')",
  'const s = require(d.path)',
  'const derive = (j) => parentPort.postMessage(s.crypto_pwhash(32, j.password, j.salt, j.ops, j.mem, s.crypto_pwhash_ALG_ARGON2ID13))',
  's.ready.then(() => {',
  '  if (d.job) return derive(d.job)',
  '  let m, p = 0, at = 0, end = 0',
  '  try {',
  '    m = s.libsodium',
  '    p = m._malloc(d.warm)',
  '    if (p) { at = p; end = p + d.warm }',
  '  } catch {}',
  '  const step = () => {',
  '    const got = receiveMessageOnPort(parentPort)',
  '    if (got || at >= end) {',
  '      if (p) m._free(p)',
  '      if (got) derive(got.message)',
  '      else parentPort.once("message", derive)',
  '      return',
  '    }',
  '    const h = m.HEAPU8',
  '    for (const stop = Math.min(end, at + 4194304); at < stop; at += 4096) h[at] = 0',
  '    setImmediate(step)',
  '  }',
  '  step()',
  '})',
].join('\n')

/** Memory touched ahead: the default cost's 64 MiB, and what libsodium allocates beside it. */
const WARM_BYTES = 64 * 1024 * 1024 + 64 * 1024
/** How long a worker started ahead waits to be taken before it stops. */
const SPARE_MS = 30_000
/**
 * Where a worker started ahead waits to be taken (see the module's comment). The name carries the
 * worker's protocol (a job posted, a key posted back): a copy of this module that speaks another
 * finds nothing.
 */
const SLOT = Symbol.for('session-sync-cloud.argon2id-worker.v1')

type Slot = { [SLOT]?: unknown }

/** For tests: workers started for a derivation (not ahead), and workers started ahead whose thread has ended (taken or not). */
export const argon2WorkerCounts = { fresh: 0, aheadExited: 0 }

function libsodiumPath(): string {
  return createRequire(import.meta.url).resolve('libsodium-wrappers-sumo')
}

/** Whether this Node derives Argon2id keys itself (node:crypto's argon2, Node >= 24.7). */
export function hasNativeArgon2id(): boolean {
  return typeof (nodeCrypto as { argon2?: unknown }).argon2 === 'function'
}

/**
 * Starts the worker that `argon2idOnWorker` will take, so that it loads libsodium and touches the
 * memory of the default cost while the caller does something else: most of a password's key
 * derivation on a Node without node:crypto's Argon2id (see docs/SMALL-FILES.md, "Node 20"). For a
 * process about to open a repository with a password (the CLI guesses from its arguments); it does
 * nothing where Node derives Argon2id itself (24.7 and later), or when one is started already. The
 * worker does not keep the process alive, and stops if it is not taken within 30 s.
 */
export function warmArgon2idWorker(opts: WarmOptions = {}): void {
  const slot = globalThis as Slot
  if ((hasNativeArgon2id() && !opts.evenWithNative) || warmArgon2idWaiting()) return
  let worker: Worker
  try {
    worker = new Worker(WORKER_CODE, { eval: true, workerData: { path: opts.libsodium ?? libsodiumPath(), warm: WARM_BYTES } })
  } catch {
    return // the derivation starts a worker of its own
  }
  worker.unref()
  slot[SLOT] = worker
  // One that fails or stops before it is taken leaves the slot (the derivation starts a new one).
  const leave = () => {
    if (slot[SLOT] === worker) delete slot[SLOT]
  }
  worker.once('error', leave)
  worker.once('exit', () => {
    leave()
    argon2WorkerCounts.aheadExited++
  })
  setTimeout(() => {
    if (slot[SLOT] === worker) void worker.terminate()
  }, opts.spareMs ?? SPARE_MS).unref()
}

/** For tests: how a worker is started ahead (see warmArgon2idWorker). */
export interface WarmOptions {
  /** Start one even where node:crypto derives Argon2id itself. */
  evenWithNative?: boolean
  /** The libsodium module the worker loads (default: the package's). */
  libsodium?: string
  /** How long it waits to be taken (default 30 s). */
  spareMs?: number
}

/** Whether a worker started ahead waits to be taken. */
export function warmArgon2idWaiting(): boolean {
  return (globalThis as Slot)[SLOT] instanceof Worker
}

/** Stops a worker started ahead that nothing will take (a raw key opened the repository). */
export function discardWarmArgon2idWorker(): void {
  void takeWarm()?.terminate()
}

/** The worker started ahead, once, if there is one. */
function takeWarm(): Worker | undefined {
  const slot = globalThis as Slot
  const worker = slot[SLOT]
  if (worker === undefined) return undefined
  delete slot[SLOT]
  return worker instanceof Worker ? worker : undefined
}

/**
 * Derives an Argon2id key with libsodium on a worker thread: the one started ahead
 * (`warmArgon2idWorker`) if there is one, else a new one. The WebAssembly memory the derivation
 * needs (as large as its cost's memory) never shrinks while its isolate lives: on the calling thread
 * it would stay with the process for good (measured: +68 MiB resident for the rest of a backup); the
 * worker's is freed when it ends.
 */
export async function argon2idOnWorker(password: Uint8Array, salt: Uint8Array, p: { opsLimit: number; memLimitBytes: number }): Promise<Uint8Array> {
  // Copies of their own: a view posted to a worker takes its whole buffer along (a password's
  // bytes often lie in Node's shared pool of small buffers, beside others).
  const job: Job = { password: new Uint8Array(password), salt: new Uint8Array(salt), ops: p.opsLimit, mem: p.memLimitBytes }
  const warm = takeWarm()
  if (warm) {
    // One that failed meanwhile (it could not load libsodium, say) leaves the job to a new one.
    const key = await derive(job, warm).catch(() => undefined)
    if (key) return key
  }
  return derive(job)
}

/** The job's key from `warm`, or from a new worker. */
function derive(job: Job, warm?: Worker): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (!warm) argon2WorkerCounts.fresh++
    const worker = warm ?? new Worker(WORKER_CODE, { eval: true, workerData: { path: libsodiumPath(), job } })
    let done = false
    worker.once('message', (key: Uint8Array) => {
      done = true
      resolve(Buffer.from(key))
      void worker.terminate()
    })
    worker.once('error', (e) => {
      done = true
      reject(e)
    })
    worker.once('exit', (code) => {
      if (!done) reject(new Error(`the Argon2id worker stopped (exit code ${code})`))
    })
    if (warm) {
      warm.ref()
      warm.postMessage(job)
    }
  })
}
