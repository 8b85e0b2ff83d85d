// The index-file fast path (repository/index-decode.ts) against the general one (MessagePack, then
// the schema): on any bytes it either gives up or takes exactly what the general path takes, into
// the same index; index files a backup writes stay on it; and a repository whose index file it
// gives up on still opens with the same index.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { decode, encode } from '../src/codec/index.js'
import { BlobIndex } from '../src/repository/blob-index.js'
import { addIndexFile, scanIndexFile } from '../src/repository/index-decode.js'
import { decodeObject, indexFileSchema, type IndexFile } from '../src/repository/repofile.js'
import { memoryRepo, tempDir } from './helpers.js'
import { byteDamage, hostileValue } from './support/damage.js'

/** The general path's index of one file, or its error. */
function general(bytes: Uint8Array): { idx: BlobIndex; file: IndexFile } | { error: string } {
  let file: IndexFile
  try {
    file = decodeObject(indexFileSchema, bytes)
  } catch (e) {
    return { error: (e as Error).message }
  }
  const idx = new BlobIndex()
  for (const p of file.packs) {
    const packId = Buffer.from(p.id)
    for (const [type, id, offset, length, raw, codec] of p.blobs) idx.add(type, id, packId, offset, length, raw, codec)
  }
  return { idx, file }
}

/** The fast path's index of one file, or undefined where it gives up. */
function fast(bytes: Uint8Array): { idx: BlobIndex; packs: string[]; supersedes: Buffer[]; blobs: number } | undefined {
  const scanned = scanIndexFile(bytes)
  if (!scanned) return undefined
  const idx = new BlobIndex()
  const packs: string[] = []
  addIndexFile(bytes, idx, (p) => packs.push(p.toString('hex')))
  return { idx, packs, supersedes: scanned.supersedes, blobs: scanned.blobs }
}

/** Both paths took the bytes alike: the same supersedes, blob count, packs and locations. */
function assertSame(f: NonNullable<ReturnType<typeof fast>>, g: { idx: BlobIndex; file: IndexFile }): void {
  assert.deepStrictEqual(
    f.supersedes.map((s) => Buffer.from(s).toString('hex')),
    g.file.supersedes.map((s) => Buffer.from(s).toString('hex')),
  )
  assert.equal(f.blobs, g.file.packs.reduce((n, p) => n + p.blobs.length, 0))
  assert.deepStrictEqual(
    f.packs,
    g.file.packs.map((p) => Buffer.from(p.id).toString('hex')),
  )
  assert.equal(f.idx.size, g.idx.size)
  for (const p of g.file.packs) for (const [type, id] of p.blobs) assert.deepStrictEqual(f.idx.get(type, id), g.idx.get(type, id))
}

const u32 = fc.oneof(fc.nat(300), fc.nat(70_000), fc.integer({ min: 0, max: 0xffffffff }))
const id = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b))
const entry = fc.tuple(fc.constantFrom(0 as const, 1 as const), id, u32, u32, u32, fc.nat(255))
const indexFile: fc.Arbitrary<IndexFile> = fc.record({
  v: fc.constant(1 as const),
  supersedes: fc.array(id, { maxLength: 3 }),
  packs: fc.array(
    fc.record({
      id,
      size: fc.oneof(fc.nat(), fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER })),
      scheme: fc.nat(255),
      keyId: u32,
      // Duplicates too: the index keeps a blob's first location.
      blobs: fc.array(entry, { maxLength: 30 }).chain((bs) => (bs.length > 0 ? fc.constantFrom(bs, [...bs, bs[0]!]) : fc.constant(bs))),
    }),
    { maxLength: 5 },
  ),
})

test('valid index files, with integers of every width: the fast path takes them into the index the general path builds', () => {
  fc.assert(
    fc.property(indexFile, (file) => {
      const bytes = encode(file)
      const f = fast(bytes)
      assert.ok(f, 'the fast path gave up on a valid index file')
      const g = general(bytes)
      assert.ok('idx' in g)
      assertSame(f, g)
    }),
    { numRuns: 300 },
  )
})

test('any damage: the fast path gives up or takes exactly what the general path takes', () => {
  const samples = fc.sample(indexFile, { numRuns: 30, seed: 11 }).map((file) => encode(file))
  const values = samples.map((s) => decode(s) as IndexFile)
  const hostile = hostileValue([-1, 2, 2 ** 32, 2 ** 53, 1.5, -0, Number.NaN, '', null, [], [1], {}])
  const payload = fc.oneof(
    // bytes changed, cut short, or with bytes after them
    ...byteDamage(samples),
    // one field of one pack replaced, removed or added; the pack's keys in another order
    fc.tuple(fc.nat(values.length - 1), fc.nat(), fc.constantFrom('id', 'size', 'scheme', 'keyId', 'blobs', 'other'), hostile, fc.constantFrom('set', 'remove', 'reverse')).map(([w, i, key, value, how]) => {
      const t = values[w]!
      if (t.packs.length === 0) return encode({ ...t, [key]: value })
      const packs = t.packs.map((p) => ({ ...p }) as Record<string, unknown>)
      const k = i % packs.length
      if (how === 'remove') delete packs[k]![key]
      else if (how === 'reverse') packs[k] = Object.fromEntries(Object.entries(packs[k]!).reverse())
      else packs[k]![key] = value
      return encode({ ...t, packs })
    }),
    // one value of one blob entry replaced
    fc.tuple(fc.nat(values.length - 1), fc.nat(), fc.nat(5), hostile).map(([w, i, field, value]) => {
      const t = values[w]!
      const all = t.packs.flatMap((p, pi) => p.blobs.map((_, bi) => [pi, bi] as const))
      if (all.length === 0) return encode({ ...t, v: value })
      const [pi, bi] = all[i % all.length]!
      const packs = t.packs.map((p) => ({ ...p, blobs: p.blobs.map((b) => [...b] as unknown[]) }))
      packs[pi]!.blobs[bi]![field] = value
      return encode({ ...t, packs })
    }),
    fc.tuple(fc.nat(values.length - 1), fc.constantFrom('v', 'supersedes', 'packs', 'other'), hostile).map(([w, key, value]) => encode({ ...values[w], [key]: value })),
    hostile.map((v) => encode(v)),
  )
  let taken = 0
  fc.assert(
    fc.property(payload, (bytes) => {
      const f = fast(bytes)
      if (!f) return
      const g = general(bytes)
      assert.ok('idx' in g, `the fast path took bytes the general path refuses (${(g as { error: string }).error})`)
      assertSame(f, g)
      taken++
    }),
    { numRuns: 3000 },
  )
  assert.ok(taken > 100, `the damage left some files valid and on the fast path (${taken})`)
})

test('index files a backup writes stay on the fast path, and loading the index takes them from it', async () => {
  const { repo, backend } = await memoryRepo({ packSize: 64 * 1024 })
  const src = join(tempDir('index-decode'), 'memory')
  mkdirSync(join(src, 'daily'), { recursive: true })
  for (let i = 0; i < 40; i++) writeFileSync(join(src, 'daily', `${i}.md`), `note ${i}\n`.repeat(2000 + i))
  await repo.backup([src])
  writeFileSync(join(src, 'MEMORY.md'), 'more')
  await repo.backup([src])
  let files = 0
  const whole = new BlobIndex()
  const keys: Array<[0 | 1, Uint8Array]> = []
  for await (const f of backend.list('index')) {
    const plain = await repo.loadFile('index', f.name, 'index')
    const fa = fast(plain)
    assert.ok(fa, 'an index file a backup wrote left the fast path')
    const g = general(plain)
    assert.ok('idx' in g)
    assertSame(fa, g)
    for (const p of g.file.packs) {
      for (const [type, blobId, offset, length, raw, codec] of p.blobs) {
        whole.add(type, blobId, Buffer.from(p.id), offset, length, raw, codec)
        keys.push([type, blobId])
      }
    }
    files++
  }
  assert.equal(files, 2)
  // The repository's own loading, from storage.
  repo.invalidateIndex()
  const loaded = await repo.index()
  assert.ok(loaded.size > 40)
  assert.equal(loaded.size, whole.size)
  for (const [type, blobId] of keys) assert.deepStrictEqual(loaded.get(type, blobId), whole.get(type, blobId))
})

test('out-of-range values: the fast path leaves each to the general path, which refuses it', () => {
  const base: IndexFile = { v: 1, supersedes: [], packs: [{ id: Buffer.alloc(32, 1), size: 100, scheme: 1, keyId: 7, blobs: [[0, Buffer.alloc(32, 2), 0, 50, 60, 1]] }] }
  assert.ok(fast(encode(base)))
  const bad: Array<[string, (f: Record<string, any>) => void]> = [
    ['v 2', (f) => (f.v = 2)],
    ['a supersedes id of 31 bytes', (f) => (f.supersedes = [Buffer.alloc(31)])],
    ['a pack id of 33 bytes', (f) => (f.packs[0].id = Buffer.alloc(33))],
    ['size -1', (f) => (f.packs[0].size = -1)],
    ['size 1.5', (f) => (f.packs[0].size = 1.5)],
    ['size 2^53', (f) => (f.packs[0].size = 2 ** 53)],
    ['scheme 256', (f) => (f.packs[0].scheme = 256)],
    ['scheme -1', (f) => (f.packs[0].scheme = -1)],
    ['keyId 2^32', (f) => (f.packs[0].keyId = 2 ** 32)],
    ['keyId -1', (f) => (f.packs[0].keyId = -1)],
    ['type 2', (f) => (f.packs[0].blobs[0][0] = 2)],
    ['type -1', (f) => (f.packs[0].blobs[0][0] = -1)],
    ['a blob id of 31 bytes', (f) => (f.packs[0].blobs[0][1] = Buffer.alloc(31))],
    ['offset 2^32', (f) => (f.packs[0].blobs[0][2] = 2 ** 32)],
    ['offset -1', (f) => (f.packs[0].blobs[0][2] = -1)],
    ['length 2^32', (f) => (f.packs[0].blobs[0][3] = 2 ** 32)],
    ['raw -1', (f) => (f.packs[0].blobs[0][4] = -1)],
    ['codec 256', (f) => (f.packs[0].blobs[0][5] = 256)],
    ['an entry of 5', (f) => f.packs[0].blobs[0].pop()],
    ['an entry of 7', (f) => f.packs[0].blobs[0].push(0)],
    ['no blobs', (f) => delete f.packs[0].blobs],
    ['no packs', (f) => delete f.packs],
    ['a string id', (f) => (f.packs[0].blobs[0][1] = 'x'.repeat(32))],
  ]
  for (const [what, change] of bad) {
    const f = structuredClone(base) as Record<string, any>
    f.packs[0].id = Buffer.alloc(32, 1)
    f.packs[0].blobs[0][1] = Buffer.alloc(32, 2)
    change(f)
    const bytes = encode(f)
    assert.equal(fast(bytes), undefined, `${what}: the fast path took it`)
    assert.ok('error' in general(bytes), `${what}: the general path refuses it`)
  }
})

test('a repository with an index file the fast path gives up on (another key order) opens with the same index', async () => {
  const { repo } = await memoryRepo()
  const src = join(tempDir('index-decode'), 'memory')
  mkdirSync(src, { recursive: true })
  for (let i = 0; i < 10; i++) writeFileSync(join(src, `${i}.md`), `note ${i}\n`.repeat(100))
  await repo.backup([src])
  repo.invalidateIndex()
  const before = await repo.index() // from storage, on the fast path
  assert.ok(before.size >= 10)
  const names = repo.loadedIndexFiles()
  assert.equal(names.length, 1)
  const file = await repo.loadIndexFile(names[0]!)
  // The same content, each pack's keys written in reverse order (blobs before the id).
  const reordered = { v: file.v, supersedes: [Buffer.from(names[0]!, 'hex')], packs: file.packs.map((p) => Object.fromEntries(Object.entries(p).reverse())) }
  assert.equal(scanIndexFile(encode(reordered)), undefined, 'the fast path gives this one to the general path')
  await repo.saveFile('index', 'index', reordered)
  repo.invalidateIndex()
  const after = await repo.index()
  assert.equal(after.size, before.size)
  for (const p of file.packs) for (const [type, id] of p.blobs) assert.deepStrictEqual(after.get(type, id), before.get(type, id))
  assert.equal(repo.loadedIndexFiles().length, 2)
})
