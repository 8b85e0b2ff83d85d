// A changed file is chunked with its parent's chunks as hints (chunkFile): unchanged chunks are taken
// as they are, the chunker runs only over what changed, and the chunks always cover the file exactly.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import fc from 'fast-check'
import { Chunker, keyedTable } from '../src/chunker/index.js'
import { chunkFile, type ChunkHints } from '../src/archiver/file-chunks.js'
import { Repository, LocalBackend } from '../src/index.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const idKey = Buffer.alloc(32, 9)
const idOf = (chunk: Buffer) => createHmac('sha256', idKey).update(chunk).digest()

/** A chunker over SMALL_CHUNKS that counts its cuts. */
function countingChunker(): { chunker: Chunker; cuts: () => number } {
  const chunker = new Chunker(SMALL_CHUNKS, keyedTable(Buffer.alloc(32, 3)))
  let n = 0
  const cut = chunker.cut.bind(chunker)
  chunker.cut = (...args: Parameters<Chunker['cut']>) => {
    n++
    return cut(...args)
  }
  return { chunker, cuts: () => n }
}

interface Chunked {
  chunks: Buffer[]
  ids: Buffer[]
  cuts: number
}

async function chunkBytes(bytes: Buffer, hints?: ChunkHints): Promise<Chunked> {
  const path = join(tempDir('hints'), 'f')
  writeFileSync(path, bytes)
  const { chunker, cuts } = countingChunker()
  const chunks: Buffer[] = []
  const ids: Buffer[] = []
  const fd = openSync(path, 'r')
  try {
    await chunkFile(fd, Buffer.alloc(4 * SMALL_CHUNKS.max), chunker, (chunk, id) => {
      chunks.push(Buffer.from(chunk))
      ids.push(id ?? idOf(chunk))
    }, hints && { ...hints, idOf })
  } finally {
    closeSync(fd)
  }
  return { chunks, ids, cuts: cuts() }
}

function hintsOf(c: Chunked): ChunkHints {
  return { ids: Buffer.concat(c.ids), sizes: Uint32Array.from(c.chunks.map((b) => b.length)) }
}

/** Every rule the chunks must keep: they cover the file, ids are right, sizes within bounds. */
function assertValid(bytes: Buffer, c: Chunked): void {
  assert.ok(Buffer.concat(c.chunks).equals(bytes), 'the chunks cover the file exactly')
  for (const [i, chunk] of c.chunks.entries()) {
    assert.ok(c.ids[i].equals(idOf(chunk)), `chunk ${i}: its id`)
    assert.ok(chunk.length <= SMALL_CHUNKS.max, `chunk ${i}: ${chunk.length} bytes, over the maximum`)
    if (i < c.chunks.length - 1) assert.ok(chunk.length >= SMALL_CHUNKS.min, `chunk ${i}: ${chunk.length} bytes, under the minimum before the end`)
  }
}

const shared = (a: Chunked, b: Chunked) => {
  const before = new Set(a.ids.map((id) => id.toString('hex')))
  return b.ids.filter((id) => before.has(id.toString('hex'))).length
}

test('an edit in place: the unchanged chunks are taken from the parent and the chunker runs only around the edit', async () => {
  const original = Buffer.concat([randomBytesSeeded(600_000, 1), Buffer.from('text that compresses, '.repeat(20_000))])
  const parent = await chunkBytes(original)
  assert.ok(parent.chunks.length > 20, `${parent.chunks.length} chunks`)
  const edited = Buffer.from(original)
  for (const at of [100_000, 400_123, 800_000]) edited.fill(0x55, at, at + 40)
  const plain = await chunkBytes(edited)
  const hinted = await chunkBytes(edited, hintsOf(parent))
  assertValid(edited, hinted)
  assert.deepEqual(hinted.ids, plain.ids, 'the same chunks as chunking the whole file again')
  assert.ok(hinted.cuts <= 3 * 4, `the chunker ran ${hinted.cuts} times (without hints: ${plain.cuts})`)
  assert.ok(plain.cuts >= parent.chunks.length)
})

test('an insertion and a deletion: the parent chunks after them are found again', async () => {
  const original = randomBytesSeeded(1_500_000, 2)
  const parent = await chunkBytes(original)
  const changed = Buffer.concat([original.subarray(0, 300_000), Buffer.from('inserted bytes'), original.subarray(300_000, 900_000), original.subarray(905_000)])
  const hinted = await chunkBytes(changed, hintsOf(parent))
  assertValid(changed, hinted)
  assert.ok(shared(parent, hinted) >= parent.chunks.length - 6, `${shared(parent, hinted)} of ${parent.chunks.length} parent chunks kept`)
  assert.ok(hinted.cuts < parent.chunks.length / 2, `the chunker ran ${hinted.cuts} times for ${hinted.chunks.length} chunks`)
})

test('appending to a file does not keep its short last chunk in the middle', async () => {
  let bytes = randomBytesSeeded(200_000, 3)
  let prev = await chunkBytes(bytes)
  for (let day = 0; day < 5; day++) {
    bytes = Buffer.concat([bytes, randomBytesSeeded(1_000 + day, 10 + day)])
    const next = await chunkBytes(bytes, hintsOf(prev))
    assertValid(bytes, next)
    prev = next
  }
})

test('a hint longer than the chunker allows is not taken, even where its bytes match', async () => {
  const bytes = randomBytesSeeded(3 * SMALL_CHUNKS.max, 41)
  const hinted = await chunkBytes(bytes, { ids: idOf(bytes), sizes: Uint32Array.of(bytes.length) })
  assertValid(bytes, hinted)
})

test('property: with any parent as hints, the chunks cover the changed file and keep the size rules', async () => {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 5000 }), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 70_000 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 70_000 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  )
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 400_000 }), fc.integer({ min: 1, max: 1 << 30 }), fc.array(edit, { maxLength: 4 }), async (size, seed, edits) => {
      // Half random, half repeated text: repeated chunks test the cursor's choice among equal ids.
      const original = Buffer.concat([randomBytesSeeded(size >> 1, seed), Buffer.from('a repeated line\n'.repeat(size >> 5))])
      const parent = await chunkBytes(original)
      let changed = original
      for (const e of edits) {
        const at = changed.length === 0 ? 0 : e.at % changed.length
        if (e.kind === 'overwrite') (changed = Buffer.from(changed)).fill(e.byte, at, Math.min(changed.length, at + e.len))
        else if (e.kind === 'insert') changed = Buffer.concat([changed.subarray(0, at), randomBytesSeeded(e.len, seed + at), changed.subarray(at)])
        else if (e.kind === 'delete') changed = Buffer.concat([changed.subarray(0, at), changed.subarray(at + e.len)])
        else changed = changed.subarray(0, at)
      }
      assertValid(changed, await chunkBytes(changed, hintsOf(parent)))
    }),
    { numRuns: 40 },
  )
})

for (const threads of [0, 2]) {
  test(`a re-backup of a large file edited in place (${threads} worker threads) stores only the edited chunks and restores exactly`, async () => {
    const base = tempDir('hints')
    const src = join(base, 'src')
    const file = join(src, 'disk.img')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(src)
    // Numbered log lines, not one line repeated: in a periodic region a new cut (which the edit can
    // make, depending on the repository's random chunker key) shifts every later maximal chunk to a
    // new phase of the period, and the file's tail is then stored again in up to seven new chunks.
    const log = Array.from({ length: 40_000 }, (_, i) => `log line ${i} that repeats a bit\n`).join('')
    writeFileSync(file, Buffer.concat([randomBytesSeeded(3_000_000, 5), Buffer.from(log)]))
    const repo = await Repository.init({ backend: new LocalBackend(join(base, 'repo')), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS })
    const first = await repo.backup([src], { threads })
    const bytes = readFileSync(file)
    for (const at of [10_000, 1_500_000, 3_500_000]) bytes.fill(0x41, at, at + 100)
    writeFileSync(file, bytes)
    const second = await repo.backup([src], { threads })
    assert.equal(second.filesChanged, 1)
    assert.ok(second.bytesAdded <= 3 * 2 * SMALL_CHUNKS.max, `${second.bytesAdded} bytes added for 3 small edits (first backup: ${first.bytesAdded})`)
    const out = join(base, 'out')
    await repo.restore(second.snapshotId!, out)
    assert.ok(readFileSync(join(out, 'src', 'disk.img')).equals(bytes))
  })
}
