/**
 * zstd through WebAssembly, for a Node whose node:zlib has none (Node 20; 22 before 22.15; 23
 * before 23.8): the zstd library as built by `@foxglove/wasm-zstd` (MIT; its .wasm ships in the
 * package, nothing is downloaded or compiled at install), instantiated here synchronously, once per
 * thread, on first use.
 *
 * Why: brotli at quality 1, the fallback before, stored the notes corpus 9% larger than zstd level 3
 * and took longer (202 MB, each file one blob, Node 20, medians of 3, every fourth file timed: brotli
 * q1 compressed in 0.38–0.45 s and decompressed in 0.21–0.23 s; this zstd level 3 in 0.30–0.34 s and
 * 0.08–0.09 s; the pure-JS fzstd decoder needs 0.43–0.62 s). Its frames are standard zstd, read by
 * node:zlib on a newer Node.
 *
 * The package's own loader is asynchronous and copies every input and output; this one is
 * synchronous (blobs are compressed and opened synchronously, on workers too) and reuses one input
 * and one output region in the module's memory. It depends on how that build names its imports and
 * exports (the package is pinned to one version); the shape and a round trip are checked when it
 * loads, and anything amiss leaves this thread without it: a process that cannot load it writes
 * brotli and reads zstd with fzstd, and a worker that cannot (while its process writes zstd) stores
 * its blobs uncompressed.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/** What is used of the WebAssembly API (its types are not in this project's TypeScript libraries). */
interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: unknown }
  Memory: abstract new (...args: never[]) => WasmMemory
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

interface Exports {
  /** The module's memory. */
  c: WasmMemory
  /** Static constructors (run once). */
  d: () => void
  /** malloc, free. */
  f: (n: number) => number
  g: (p: number) => void
  /** compress(dst, dstCapacity, src, srcSize, level): the frame's size, or -1. */
  i: (dst: number, cap: number, src: number, size: number, level: number) => number
  /** decompress(dst, dstCapacity, src, srcSize): the plaintext's size, or -1. */
  j: (dst: number, cap: number, src: number, size: number) => number
}

/** The largest memory the module may grow to (its build's own limit). */
const MAX_MEMORY = 2 ** 31
/**
 * The largest input or output region: far above a chunk (a few MiB) or the tree of a folder of a
 * million files, well below what the module can hold. A length above it is refused before anything
 * is allocated; callers take another way for such a blob (compression.ts: stored raw, or read with
 * fzstd).
 */
export const MAX_REGION = 256 * 1024 * 1024

export interface WasmZstd {
  /**
   * A frame of `data` at `level`: a view of this thread's output region, overwritten by the next
   * call (use it before compressing or decompressing again).
   */
  compress(data: Uint8Array, level: number): Uint8Array
  /**
   * The `rawLength` bytes a frame holds, as a view of this thread's output region (overwritten by
   * the next call: copy it out first); throws when the frame is not that, or rawLength is more than
   * a blob can be (see MAX_REGION).
   */
  decompress(frame: Uint8Array, rawLength: number): Uint8Array
}

let loaded: WasmZstd | null | undefined

/** This thread's zstd through WebAssembly, loaded on first use; null where it cannot load. */
export function wasmZstd(): WasmZstd | null {
  if (loaded === undefined) {
    try {
      loaded = load()
    } catch {
      loaded = null
    }
  }
  return loaded
}

function load(): WasmZstd {
  const path = createRequire(import.meta.url).resolve('@foxglove/wasm-zstd/dist/wasm-zstd.wasm')
  const module = new WA.Module(readFileSync(path))
  let memory: WasmMemory | undefined
  const imports = {
    a: {
      // emscripten_resize_heap: malloc asks for more memory.
      a: (requested: number): number => {
        requested >>>= 0
        const mem = memory!
        const old = mem.buffer.byteLength
        if (requested > MAX_MEMORY) return 0
        // 20% to spare where that fits, else exactly what is asked (as the build's own loader does).
        for (const target of [Math.min(MAX_MEMORY, Math.max(requested, Math.ceil(old * 1.2))), requested]) {
          try {
            mem.grow(Math.ceil((target - old) / 65536))
            return 1
          } catch {
            // try the smaller size
          }
        }
        return 0
      },
      // emscripten_memcpy_big.
      b: (dest: number, src: number, n: number): void => {
        new Uint8Array(memory!.buffer).copyWithin(dest, src, src + n)
      },
    },
  }
  const e = new WA.Instance(module, imports).exports as Exports
  for (const k of ['d', 'f', 'g', 'i', 'j'] as const) if (typeof e[k] !== 'function') throw new Error(`wasm-zstd: export ${k} is missing`)
  if (!(e.c instanceof WA.Memory)) throw new Error('wasm-zstd: no memory export')
  memory = e.c
  e.d()

  // One input and one output region, grown as needed (never shrunk: blobs are at most a few MiB).
  // A region is replaced only once its successor is allocated: a failed allocation leaves the old
  // one (or none) in place, never an address that is not the region's.
  const region = () => {
    let ptr = 0
    let cap = 0
    return (n: number): number => {
      if (n <= cap) return ptr
      if (n > MAX_REGION) throw new Error(`wasm-zstd: ${n} bytes is more than a blob can be`)
      const size = Math.max(n, 64 * 1024)
      const next = e.f(size)
      if (!next) throw new Error('wasm-zstd: out of memory')
      if (ptr) e.g(ptr)
      ptr = next
      cap = size
      return ptr
    }
  }
  const input = region()
  const output = region()

  const z: WasmZstd = {
    compress(data, level) {
      const cap = data.length + (data.length >>> 7) + 1024 // at least ZSTD_compressBound
      const dst = output(cap)
      const src = input(data.length)
      new Uint8Array(memory!.buffer, src, data.length).set(data)
      const n = e.i(dst, cap, src, data.length, level)
      if (n < 0) throw new Error('zstd compression failed')
      return new Uint8Array(memory!.buffer, dst, n)
    },
    decompress(frame, rawLength) {
      const dst = output(Math.max(rawLength, 1))
      const src = input(frame.length)
      new Uint8Array(memory!.buffer, src, frame.length).set(frame)
      const n = e.j(dst, Math.max(rawLength, 1), src, frame.length)
      if (n < 0) throw new Error(`zstd data is corrupt, or larger than the expected ${rawLength} bytes`)
      if (n !== rawLength) throw new Error(`decompressed to ${n} bytes, expected ${rawLength}`)
      return new Uint8Array(memory!.buffer, dst, rawLength)
    },
  }
  // A round trip before anything is written with it.
  const probe = Buffer.from('session-sync-cloud wasm-zstd probe '.repeat(8))
  const frame = Buffer.from(z.compress(probe, 3))
  if (!Buffer.from(z.decompress(frame, probe.length)).equals(probe)) throw new Error('wasm-zstd: round trip failed')
  return z
}
