import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryBackend, Repository, type Backend, type ByteRange, type FileType, type Handle } from '../src/index.js'

/** Cheap Argon2id settings so tests do not spend seconds in the KDF. */
export const FAST_KDF = { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 }
/** Small chunks so tests exercise multi-chunk files without megabytes of data. */
export const SMALL_CHUNKS = { min: 4 * 1024, avg: 16 * 1024, max: 64 * 1024 }

const dirs: string[] = []

export function tempDir(label = 'ssc'): string {
  const d = mkdtempSync(join(tmpdir(), `${label}-`))
  dirs.push(d)
  return d
}

export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
}

export async function memoryRepo(opts: { packSize?: number; compression?: 'auto' | 'off' } = {}): Promise<{ repo: Repository; backend: MemoryBackend }> {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'test', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: opts.packSize ?? 256 * 1024, compression: opts.compression })
  return { repo, backend }
}

/** Deterministic pseudo-random bytes (xorshift), incompressible. */
export function randomBytesSeeded(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    b[i] = x & 0xff
  }
  return b
}

export interface TreeShape {
  [name: string]: { type: 'file'; mode: number; mtimeMs: number; data: string } | { type: 'dir'; mode: number; mtimeMs: number } | { type: 'symlink'; target: string }
}

/** Everything a restore must reproduce: types, bytes (as sha-free hex), modes, mtimes, link targets. */
export function describeTree(root: string, withDirTimes = true): TreeShape {
  const out: TreeShape = {}
  const walk = (dir: Buffer, rel: string) => {
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from('/'), name])
      const r = rel ? `${rel}/${name.toString('hex')}` : name.toString('hex')
      const st = lstatSync(p)
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', target: readlinkSync(p, { encoding: 'buffer' }).toString('hex') }
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777, mtimeMs: withDirTimes ? Math.floor(st.mtimeMs) : 0 }
        walk(p, r)
      } else out[r] = { type: 'file', mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), data: readFileSync(p).toString('base64') }
    }
  }
  walk(Buffer.from(root), '')
  return out
}

/** A backend wrapper that counts requests, for tests (the product's request counter comes with S3 support). */
export class CountingBackend implements Backend {
  readonly counts = { save: 0, load: 0, stat: 0, remove: 0, list: 0, bytesSaved: 0 }
  /** With `saveDelayMs`, every save takes that long, as over a network. */
  constructor(
    readonly inner: Backend,
    readonly saveDelayMs = 0,
  ) {}
  get location(): string {
    return this.inner.location
  }
  save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    this.counts.save++
    this.counts.bytesSaved += data.length
    if (this.saveDelayMs > 0) return new Promise((r) => setTimeout(r, this.saveDelayMs)).then(() => this.inner.save(h, data, opts))
    return this.inner.save(h, data, opts)
  }
  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.counts.load++
    return this.inner.load(h, range)
  }
  stat(h: Handle): Promise<{ size: number }> {
    this.counts.stat++
    return this.inner.stat(h)
  }
  remove(h: Handle): Promise<void> {
    this.counts.remove++
    return this.inner.remove(h)
  }
  list(type: FileType): AsyncIterable<{ name: string; size: number }> {
    this.counts.list++
    return this.inner.list(type)
  }
}
