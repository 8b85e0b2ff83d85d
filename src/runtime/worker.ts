import { Worker } from 'node:worker_threads'

/**
 * Starts a worker thread of this package. `base` is the caller's `import.meta.url` and `name` the
 * worker's module next to it, without extension: from the built package that is `dist/<name>.js`
 * (every module lands in dist/); running from source (tests), the TypeScript file, loaded through tsx.
 */
export function startWorker(base: string, name: string, workerData: unknown): Worker {
  const fromSource = base.endsWith('.ts')
  const url = new URL(`${name}${fromSource ? '.ts' : '.js'}`, base)
  const entry: string | URL = fromSource
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}) })`
    : url
  return new Worker(entry, { workerData, eval: fromSource })
}
