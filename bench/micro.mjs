// Micro benchmarks, from the TypeScript sources: node --import tsx bench/micro.mjs
// (bench/run.mjs runs it once per Node binary it measures; the chunker has its own bench/chunker.mjs).
//
//   hashing and encryption: MB/s over 1 MiB buffers already in memory, node:crypto alone and through
//     the library's own functions (blob id = HMAC-SHA256; sealBlobInto = per-blob key by HMAC, then
//     AES-256-GCM into a reused buffer, as the packer does; openBlob = the reverse)
//   index: a repository whose index files name BENCH_MICRO_BLOBS blobs (default 1,000,000; 16 blobs
//     a pack, as 1 MiB chunks in 16 MiB packs give), laid out as backups write them (16 packs an
//     index file) and as prune rewrites them (2,000 packs a file); then the time Repository takes to
//     load them (list, read, decrypt, decode, build), the in-memory bytes per blob, and lookups/s.
//
// Prints a human line per figure on stderr and one JSON line on stdout. Env: BENCH_MICRO_MB (MiB
// hashed/encrypted per timed run, default 256), BENCH_MICRO_BLOBS, BENCH_MICRO_RUNS (default 5).
import { createCipheriv, createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { blobId } from '../src/crypto/ids.ts'
import { BLOB_OVERHEAD, openBlob, sealBlobInto } from '../src/crypto/seal.ts'
import { LocalBackend } from '../src/backend/index.ts'
import { Repository } from '../src/repository/repository.ts'
import { BlobType } from '../src/repository/repofile.ts'

const MiB = 1024 * 1024
const MB = 1e6
const positive = (name, fallback) => {
  const v = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`)
  return v
}
const totalMiB = positive('BENCH_MICRO_MB', 256)
const blobCount = positive('BENCH_MICRO_BLOBS', 1_000_000)
const runs = positive('BENCH_MICRO_RUNS', 5)
const BLOBS_PER_PACK = 16
const say = (s) => console.error(`[micro ${process.version}] ${s}`)

function median(xs) {
  const v = [...xs].sort((a, b) => a - b)
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d

/** MB/s of `fn` over `totalMiB` MiB in 1 MiB calls: one warm-up pass of 16 calls, then `runs` timed runs. */
function throughput(label, fn) {
  for (let i = 0; i < 16; i++) fn()
  const rates = []
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < totalMiB; i++) fn()
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    rates.push(round((totalMiB * MiB) / MB / s))
  }
  const out = { MBps: round(median(rates)), runs: rates }
  say(`${label}: ${out.MBps} MB/s (runs ${rates.join(', ')})`)
  return out
}

function cryptoFigures() {
  const buf = randomBytes(MiB)
  const key = randomBytes(32)
  const id = randomBytes(32)
  const iv = randomBytes(12)
  const out = Buffer.allocUnsafe(MiB + BLOB_OVERHEAD)
  const sealed = Buffer.allocUnsafe(MiB + BLOB_OVERHEAD)
  const sealedLength = sealBlobInto(key, id, buf, sealed, 0)
  return {
    hmacSha256: throughput('HMAC-SHA256 (node:crypto)', () => createHmac('sha256', key).update(buf).digest()),
    blobId: throughput('blob id (library: HMAC-SHA256)', () => blobId(key, buf)),
    // One update() of the whole MiB, as a naive caller writes it: Node allocates the 1 MiB output each
    // time, and those fresh pages cost more than the cipher (sealBlobInto avoids that; see seal.ts).
    aes256gcm: throughput('AES-256-GCM encrypt (node:crypto, one 1 MiB update)', () => {
      const c = createCipheriv('aes-256-gcm', key, iv)
      c.update(buf)
      c.final()
      c.getAuthTag()
    }),
    sealBlob: throughput('seal blob (library: HMAC key + AES-256-GCM into a buffer)', () => sealBlobInto(key, id, buf, out, 0)),
    openBlob: throughput('open blob (library: AES-256-GCM decrypt + verify)', () => openBlob(key, id, sealed.subarray(0, sealedLength))),
  }
}

/**
 * A local backend that writes index files without the temp-file + fsync + rename dance: only to
 * build the test repository quickly (thousands of index files); loading goes through LocalBackend.
 */
class QuickIndexBackend extends LocalBackend {
  async save(h, data, opts) {
    if (h.type !== 'index') return super.save(h, data, opts)
    mkdirSync(join(this.root, 'index'), { recursive: true })
    writeFileSync(join(this.root, 'index', h.name), data)
  }
}

/** Index entries of `count` blobs in packs of 16, with made-up ids, offsets and lengths. */
function makePacks(ids, count) {
  const packs = []
  for (let b = 0; b < count; b += BLOBS_PER_PACK) {
    const blobs = []
    let offset = 0
    for (let i = b; i < Math.min(count, b + BLOBS_PER_PACK); i++) {
      const length = 700_000 + (i % 4096) * 100
      blobs.push([BlobType.Data, ids.subarray(i * 32, (i + 1) * 32), offset, length, length + 300_000, 1])
      offset += length
    }
    packs.push({ id: randomBytes(32), size: offset + 2000, scheme: 1, keyId: 0, blobs })
  }
  return packs
}

function dirBytes(dir) {
  return readdirSync(dir).reduce((a, name) => a + statSync(join(dir, name)).size, 0)
}

/** Builds a repository whose index files name every blob, `packsPerFile` packs a file. */
async function buildIndexRepo(dir, key, packs, packsPerFile) {
  const repo = await Repository.init({ backend: new QuickIndexBackend(dir), key })
  for (let i = 0; i < packs.length; i += packsPerFile) await repo.saveIndexFile(packs.slice(i, i + packsPerFile))
  await repo.close()
}

/** Median time to load the whole index from the files (a fresh Repository each time, so nothing is cached but the OS's page cache). */
async function loadTimes(dir, key) {
  const times = []
  let idx
  for (let r = 0; r < Math.min(runs, 3); r++) {
    const repo = await Repository.open({ backend: new LocalBackend(dir), key })
    const t0 = performance.now()
    idx = await repo.index()
    times.push(performance.now() - t0)
    await repo.close()
  }
  return { ms: round(median(times)), runs: times.map((t) => round(t)), idx }
}

/** Lookups per second: every id once in a shuffled order (hits), then as many random ids (misses). */
function lookupRates(idx, ids, count) {
  const order = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = i
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const views = Array.from(order, (i) => ids.subarray(i * 32, (i + 1) * 32))
  const misses = Array.from({ length: count }, () => randomBytes(32))
  const rate = (list) => {
    let found = 0
    const t0 = process.hrtime.bigint()
    for (const id of list) if (idx.has(BlobType.Data, id)) found++
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    return { perSecond: Math.round(list.length / s), found }
  }
  rate(views.slice(0, 100_000)) // warm-up (JIT)
  return { hits: rate(views), misses: rate(misses) }
}

async function indexFigures() {
  const tmp = mkdtempSync(join(os.tmpdir(), 'session-sync-micro-'))
  try {
    const key = randomBytes(32)
    const ids = randomBytes(blobCount * 32)
    const packs = makePacks(ids, blobCount)
    const layouts = {}
    let loaded
    for (const [name, packsPerFile] of [
      ['asBackupWrites', 16],
      ['asPruneWrites', 2000],
    ]) {
      const dir = join(tmp, name)
      const t0 = performance.now()
      await buildIndexRepo(dir, key, packs, packsPerFile)
      const built = performance.now() - t0
      const files = readdirSync(join(dir, 'index')).length
      const bytes = dirBytes(join(dir, 'index'))
      const load = await loadTimes(dir, key)
      layouts[name] = { packsPerFile, indexFiles: files, indexFileBytes: bytes, bytesOnDiskPerBlob: round(bytes / blobCount), loadMs: load.ms, loadRuns: load.runs, buildMs: Math.round(built) }
      say(`index of ${blobCount} blobs, ${packsPerFile} packs a file (${files} files, ${(bytes / MB).toFixed(1)} MB): loads in ${load.ms} ms (runs ${load.runs.join(', ')})`)
      loaded = load.idx
      rmSync(dir, { recursive: true, force: true })
    }
    if (loaded.size !== blobCount) throw new Error(`the loaded index has ${loaded.size} blobs, not ${blobCount}`)
    const lookups = lookupRates(loaded, ids, blobCount)
    if (lookups.hits.found !== blobCount) throw new Error(`only ${lookups.hits.found} of ${blobCount} ids were found`)
    const bytesPerBlob = round(loaded.memoryBytes / loaded.size)
    say(`index in memory: ${bytesPerBlob} bytes a blob; lookups ${lookups.hits.perSecond}/s (hits), ${lookups.misses.perSecond}/s (misses)`)
    return { blobs: blobCount, blobsPerPack: BLOBS_PER_PACK, memoryBytesPerBlob: bytesPerBlob, lookupsPerSecondHit: lookups.hits.perSecond, lookupsPerSecondMiss: lookups.misses.perSecond, layouts }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

const crypto = cryptoFigures()
const index = await indexFigures()
console.log(JSON.stringify({ node: process.version, bufferMiB: 1, totalMiB, runs, crypto, index }))
