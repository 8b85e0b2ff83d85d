import { parentPort, receiveMessageOnPort, Worker, workerData } from 'node:worker_threads'

/** How long a worker started ahead waits to be taken before it stops. */
const SPARE_MS = 30_000

interface Spare {
  worker: Worker
  /** Set to 1 (and notified) once the worker's init is posted to it. */
  go: Int32Array
}

/** Workers started ahead (prestartWorker), by entry. */
const spares = new Map<string, Spare[]>()

/**
 * The worker module `name` (without extension) next to `base` (the caller's `import.meta.url`): from
 * the built package `dist/<name>.js` (every module lands in dist/); running from source (tests), the
 * TypeScript file, loaded through tsx.
 */
function entryOf(base: string, name: string): { entry: string | URL; key: string; fromSource: boolean } {
  const fromSource = base.endsWith('.ts')
  const url = new URL(`${name}${fromSource ? '.ts' : '.js'}`, base)
  const entry: string | URL = fromSource
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}) })`
    : url
  return { entry, key: url.href, fromSource }
}

/**
 * Starts a worker thread of this package (see entryOf) with `workerData`, or hands it to one started
 * ahead for the same module (prestartWorker).
 */
export function startWorker(base: string, name: string, workerData: unknown): Worker {
  const { entry, key, fromSource } = entryOf(base, name)
  const spare = spares.get(key)?.shift()
  if (spare) {
    // Posted before the worker is woken: it reads its init from its port at once (workerInit).
    spare.worker.postMessage({ init: workerData })
    Atomics.store(spare.go, 0, 1)
    Atomics.notify(spare.go, 0)
    spare.worker.ref()
    return spare.worker
  }
  return new Worker(entry, { workerData, eval: fromSource })
}

/**
 * Starts a worker of this package ahead of its use: it loads its module (about 100 ms of compiling
 * on its own thread) and then waits, so that the operation that takes it (startWorker) finds it
 * ready. For a thread that would otherwise sit idle meanwhile: opening a repository with a password
 * waits about 0.3 s for its key. The worker does not keep the process alive, and stops if it is not
 * taken within 30 s.
 */
export function prestartWorker(base: string, name: string): void {
  const { entry, key, fromSource } = entryOf(base, name)
  const go = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(entry, { workerData: { ahead: go.buffer }, eval: fromSource })
  worker.unref()
  const spare: Spare = { worker, go }
  const list = spares.get(key) ?? []
  spares.set(key, list)
  list.push(spare)
  const drop = () => {
    const i = list.indexOf(spare)
    if (i >= 0) list.splice(i, 1)
  }
  // A spare that fails is dropped (the operation starts a worker of its own); once taken, its errors
  // are its pool's.
  worker.on('error', drop)
  worker.once('exit', drop)
  setTimeout(() => {
    if (list.includes(spare)) {
      drop()
      void worker.terminate()
    }
  }, SPARE_MS).unref()
}

/** Workers started ahead and not taken yet (for tests). */
export function sparesWaiting(): number {
  let n = 0
  for (const list of spares.values()) n += list.length
  return n
}

/**
 * A worker module's init, for its first lines: its `workerData`, or in a worker started ahead
 * (prestartWorker), the init posted to it when it is taken, waited for here (the thread has
 * nothing else to do until then). Job messages posted after it stay queued on the port until the
 * module listens for them.
 */
export function workerInit<T>(): T {
  const ahead = (workerData as { ahead?: SharedArrayBuffer } | undefined)?.ahead
  if (!ahead) return workerData as T
  Atomics.wait(new Int32Array(ahead), 0, 0)
  const got = receiveMessageOnPort(parentPort!)
  if (!got) throw new Error('a worker started ahead was woken without its init')
  return (got.message as { init: T }).init
}
