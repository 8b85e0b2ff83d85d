// Chunker throughput benchmark: node --import tsx bench/chunker.mjs
// 256 MiB of pseudo-random data (AES-256-CTR key stream), params min 256 KiB / avg 1 MiB / max 4 MiB,
// keyed table, 5 timed runs after one warm-up. Prints the median, then a JSON line as the last line.
import { createCipheriv } from 'node:crypto'
import { Chunker, keyedTable } from '../src/chunker/index.ts'

const MiB = 1024 * 1024
const SIZE = 256 * MiB
const RUNS = 5

function pseudoRandom(size, seedByte) {
  const key = new Uint8Array(32).fill(seedByte)
  const cipher = createCipheriv('aes-256-ctr', key, new Uint8Array(16))
  const out = new Uint8Array(size)
  const zeros = new Uint8Array(16 * MiB)
  for (let off = 0; off < size; off += zeros.length) {
    const n = Math.min(zeros.length, size - off)
    out.set(cipher.update(zeros.subarray(0, n)), off)
  }
  return out
}

function chunkAll(chunker, data) {
  const end = data.length
  let pos = 0
  let count = 0
  while (pos < end) {
    pos += chunker.cut(data, pos, end, true)
    count++
  }
  return count
}

const data = pseudoRandom(SIZE, 7)
const chunker = new Chunker({ min: 256 * 1024, avg: MiB, max: 4 * MiB }, keyedTable(pseudoRandom(32, 42)))

chunkAll(chunker, data.subarray(0, 32 * MiB)) // warm-up (JIT)

const runs = []
let chunks = 0
for (let r = 0; r < RUNS; r++) {
  const t0 = process.hrtime.bigint()
  chunks = chunkAll(chunker, data)
  const ns = Number(process.hrtime.bigint() - t0)
  runs.push(Math.round((SIZE / 1e6 / (ns / 1e9)) * 10) / 10)
}
const sorted = [...runs].sort((a, b) => a - b)
const median = sorted[Math.floor(RUNS / 2)]
console.log(`chunker: ${SIZE / MiB} MiB, ${chunks} chunks (mean ${(SIZE / chunks / MiB).toFixed(2)} MiB), median ${median} MB/s (1 MB = 10^6 bytes), runs ${runs.join(', ')}`)
console.log(JSON.stringify({ chunker_MBps: median, runs }))
