import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AbortedError, BackendError, CorruptObjectError, InvalidOptionsError, MemoryBackend, Repository, type ByteRange, type Handle } from '../src/index.js'
import { adviceFor, check, parseDataSubset, selectPacks, type CheckReport, type Problem, type ProblemKind } from '../src/check/index.js'
import { BlobSaver } from '../src/archiver/blob-saver.js'
import { Packer, type StoredPack } from '../src/repository/packer.js'
import { BlobType } from '../src/repository/repofile.js'
import { packNameMatches, toHex } from '../src/crypto/ids.js'
import { cleanup, forgedFile, forgedMeta, forgeSnapshot, memoryRepo, PassThrough, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

const PACK_SIZE = 64 * 1024

/** A small tree backed up three times, with edits in between: several packs, index files and snapshots. */
async function setup() {
  const { repo, backend } = await memoryRepo({ packSize: PACK_SIZE })
  const src = join(tempDir('check'), 'src')
  mkdirSync(join(src, 'sub', 'deeper'), { recursive: true })
  writeFileSync(join(src, 'a.bin'), randomBytesSeeded(150_000, 1))
  writeFileSync(join(src, 'b.txt'), 'hello world '.repeat(5000))
  writeFileSync(join(src, 'empty'), '')
  writeFileSync(join(src, 'sub', 'c.bin'), randomBytesSeeded(100_000, 2))
  writeFileSync(join(src, 'sub', 'deeper', 'd.txt'), 'first version')
  const snapshots: string[] = []
  const indexFiles: string[][] = []
  const keys = (type: string) => [...backend.files.keys()].filter((k) => k.startsWith(`${type}/`)).map((k) => k.slice(type.length + 1))
  const backup = async () => {
    const seen = new Set(keys('index'))
    const s = await repo.backup([src], { threads: 0 })
    snapshots.push(s.snapshotId!)
    indexFiles.push(keys('index').filter((k) => !seen.has(k)))
  }
  await backup()
  const a = randomBytesSeeded(150_000, 1)
  a.fill(7, 70_000, 70_100)
  writeFileSync(join(src, 'a.bin'), a)
  writeFileSync(join(src, 'f.bin'), randomBytesSeeded(50_000, 3))
  await backup()
  writeFileSync(join(src, 'sub', 'deeper', 'd.txt'), 'second version, a little longer')
  await backup()
  return { repo, backend, src, snapshots, indexFiles, keys }
}

type Setup = Awaited<ReturnType<typeof setup>>

/** Every pack the index files name, with their entries. */
async function indexedPacks(repo: Repository, backend: MemoryBackend) {
  const packs = new Map<string, { size: number; blobs: Array<{ type: number; id: string; offset: number; length: number }> }>()
  for (const k of backend.files.keys()) {
    if (!k.startsWith('index/')) continue
    const file = await repo.loadIndexFile(k.slice('index/'.length))
    for (const p of file.packs) {
      packs.set(toHex(p.id), { size: p.size, blobs: p.blobs.map(([type, id, offset, length]) => ({ type, id: toHex(id), offset, length })) })
    }
  }
  return packs
}

/** A pack holding only data blobs (at least `minBlobs` of them), and the data blob at its offset 0. */
async function aDataPack(s: Setup, minBlobs = 1) {
  const packs = await indexedPacks(s.repo, s.backend)
  for (const [id, p] of packs) {
    if (p.blobs.length >= minBlobs && p.blobs.every((b) => b.type === BlobType.Data)) return { id, size: p.size, first: p.blobs.find((b) => b.offset === 0)! }
  }
  throw new Error(`no data pack of ${minBlobs} blob(s) or more`)
}

const brief = (r: CheckReport) => r.problems.map((p) => ({ kind: p.kind, object: p.object }))
const byKindObject = (a: { kind: string; object: string }, b: { kind: string; object: string }) => a.kind.localeCompare(b.kind) || a.object.localeCompare(b.object)
const sorted = <T extends { kind: string; object: string }>(xs: T[]) => [...xs].sort(byKindObject)
const ofKind = (r: CheckReport, kind: string): Problem[] => r.problems.filter((p) => p.kind === kind)

/** The usual repository with one byte flipped inside the sealed header of a data pack. */
async function withDamagedHeader() {
  const s = await setup()
  const pack = await aDataPack(s)
  const bytes = s.backend.files.get(`data/${pack.id}`)!
  flip(s.backend, `data/${pack.id}`, bytes.length - 20)
  return { s, pack }
}

function flip(backend: MemoryBackend, key: string, at: number): void {
  const f = backend.files.get(key)!
  f[at] ^= 0x01
}

/** Stores `bytes` in place of `key` under the name their SHA-256 gives (a consistent forgery). */
function rename(backend: MemoryBackend, key: string, bytes: Uint8Array): string {
  backend.files.delete(key)
  const name = createHash('sha256').update(bytes).digest('hex')
  backend.files.set(`${key.split('/')[0]}/${name}`, bytes)
  return name
}

/** Records whole-file loads of packs, to see exactly which packs a check downloads. */
class RecordingBackend extends PassThrough {
  readonly wholeLoads = new Map<string, number>()
  failLoads = false
  override async load(h: Handle, range?: ByteRange) {
    if (this.failLoads && h.type === 'data') throw new BackendError('load', `${h.type}/${h.name}`, new Error('connection refused'))
    if (h.type === 'data' && !range) this.wholeLoads.set(h.name, (this.wholeLoads.get(h.name) ?? 0) + 1)
    return this.inner.load(h, range)
  }
}

// ---- clean repository ------------------------------------------------------------------------------

test('adviceFor: every kind has advice; lost index files point to prune, lost data says so, shared advice is given once', () => {
  const kinds: ProblemKind[] = ['index-unreadable', 'index-invalid', 'snapshot-unreadable', 'pack-missing', 'pack-size', 'pack-unindexed', 'blob-conflict', 'blob-missing', 'tree-unreadable', 'file-size', 'pack-hash', 'pack-header', 'blob-corrupt']
  for (const kind of kinds) assert.equal(adviceFor([{ kind }]).length, 1, kind)
  assert.deepEqual(adviceFor([]), [])
  // A damaged or lost index file: every line points to prune, none calls the data lost.
  for (const also of ['index-unreadable', 'pack-unindexed'] as const) {
    const advice = adviceFor([{ kind: 'blob-missing' }, { kind: also }])
    assert.ok(advice.every((a) => /session-sync prune/.test(a) || /nothing to do/.test(a)), advice.join('\n'))
    assert.ok(advice.every((a) => !/gone from storage/.test(a)), advice.join('\n'))
  }
  // Without unindexed packs, missing blobs are lost data.
  assert.match(adviceFor([{ kind: 'blob-missing' }])[0], /gone from storage.*back up to a new repository/)
  // Damage found by reading data: one text for all of it.
  assert.equal(adviceFor([{ kind: 'pack-hash' }, { kind: 'blob-corrupt' }, { kind: 'pack-hash' }]).length, 1)
})

test('a clean repository checks ok, with and without reading data, and the check writes nothing', async () => {
  const s = await setup()
  const packNames = s.keys('data')
  const packBytes = packNames.reduce((n, k) => n + s.backend.files.get(`data/${k}`)!.length, 0)
  const phases = new Set<string>()
  const files = new Map(s.backend.files)

  const structure = await check(s.repo, { onProgress: (p) => phases.add(p.phase) })
  assert.deepEqual(structure.problems, [])
  assert.equal(structure.ok, true)
  assert.equal(structure.requests.PUT, 0)
  assert.equal(structure.requests.DELETE, 0)
  assert.equal(structure.counts.indexFiles, 3)
  assert.equal(structure.counts.snapshots, 3)
  assert.equal(structure.counts.packs, packNames.length)
  assert.ok(packNames.length >= 5, `expected several packs, got ${packNames.length}`)
  assert.ok(structure.counts.trees >= 5, `trees walked: ${structure.counts.trees}`)
  assert.ok(structure.counts.blobs > structure.counts.trees)
  assert.equal(structure.counts.packsRead, 0)
  assert.deepEqual([...phases].sort(), ['index', 'packs', 'snapshots', 'trees'])

  const full = await check(s.repo, { readData: true, onProgress: (p) => phases.add(p.phase) })
  assert.deepEqual(full.problems, [])
  assert.equal(full.ok, true)
  assert.equal(full.requests.PUT, 0)
  assert.equal(full.requests.DELETE, 0)
  assert.equal(full.counts.packsRead, packNames.length)
  assert.equal(full.counts.bytesRead, packBytes)
  assert.ok(phases.has('data'))
  assert.ok(full.requests.bytesDown >= packBytes)
  assert.ok(full.durationMs >= 0)

  // Nothing was added, removed or changed.
  assert.deepEqual([...s.backend.files.keys()].sort(), [...files.keys()].sort())
  for (const [k, v] of files) assert.ok(Buffer.from(v).equals(s.backend.files.get(k)!), k)
})

// ---- corruptions -------------------------------------------------------------------------------------

test('a flipped byte in a blob of a pack is found only by reading data: blob-corrupt', async () => {
  const s = await setup()
  const pack = await aDataPack(s)
  flip(s.backend, `data/${pack.id}`, 40) // inside the blob at offset 0

  const structure = await check(s.repo)
  assert.equal(structure.ok, true)
  assert.deepEqual(structure.problems, [])

  // The pack's name covers its trailer; the blob's own authentication finds the flipped byte.
  const full = await check(s.repo, { readData: true })
  assert.equal(full.ok, false)
  assert.deepEqual(sorted(brief(full)), [{ kind: 'blob-corrupt', object: `blob ${pack.first.id}` }])
  assert.match(ofKind(full, 'blob-corrupt')[0].message, new RegExp(`in pack ${pack.id}`))
})

test('a flipped byte in the header of a pack is pack-hash and pack-header; its blobs are still opened', async () => {
  const { s, pack } = await withDamagedHeader()

  const full = await check(s.repo, { readData: true })
  assert.equal(full.ok, false)
  assert.deepEqual(sorted(brief(full)), [
    { kind: 'pack-hash', object: `pack ${pack.id}` },
    { kind: 'pack-header', object: `pack ${pack.id}` },
  ])
  assert.match(ofKind(full, 'pack-hash')[0].message, /changed since it was written/)
})

test('a pack whose header is damaged but whose blobs are intact: check says nothing is lost and names prune --repack, which mends it', async () => {
  const { s, pack } = await withDamagedHeader()

  const full = await check(s.repo, { readData: true })
  const damaged = full.problems.filter((p) => p.kind === 'pack-hash' || p.kind === 'pack-header')
  assert.equal(damaged.length, 2)
  for (const p of damaged) {
    assert.equal(p.pack, pack.id)
    assert.equal(p.intact, true, `${p.kind}: every blob opened`)
  }
  const advice = adviceFor(full.problems)
  assert.equal(advice.length, 1, advice.join('\n'))
  assert.match(advice[0], /nothing is lost/)
  assert.ok(advice[0].includes(`session-sync prune --repack ${pack.id}`), advice[0])

  // Prune with that pack to repack: its blobs are read where the index says, so the header does
  // not matter; the pack goes, and the repository checks clean and restores byte for byte.
  const dry = await s.repo.prune({ repack: [pack.id], dryRun: true })
  assert.equal(dry.plan.packs.find((p) => p.id === pack.id)?.action, 'repack')
  assert.equal((await s.repo.prune({ dryRun: true })).plan.packs.find((p) => p.id === pack.id)?.action, 'keep', 'without the option the pack is kept')
  const r = await s.repo.prune({ repack: [pack.id] })
  assert.ok(r.packsRepacked >= 1)
  assert.ok(r.blobsRepacked >= 1)
  assert.equal(s.backend.files.has(`data/${pack.id}`), false)
  const after = await check(s.repo, { readData: true })
  assert.deepEqual(after.problems, [])
  const out = tempDir('repacked')
  await s.repo.restore('latest', out)
  assert.deepEqual(readFileSync(join(out, 'src', 'sub', 'c.bin')), readFileSync(join(s.src, 'sub', 'c.bin')))
  assert.deepEqual(readFileSync(join(out, 'src', 'a.bin')), readFileSync(join(s.src, 'a.bin')))

  // A pack no index names is an error, not a silent no-op.
  await assert.rejects(s.repo.prune({ repack: ['0'.repeat(64)] }), (e: unknown) => e instanceof InvalidOptionsError && /in no index/.test(e.message))
})

test('a damaged header with a corrupt blob in the same pack is not called intact, and prune --repack refuses to carry the blob', async () => {
  const { s, pack } = await withDamagedHeader()
  flip(s.backend, `data/${pack.id}`, 40) // inside the blob at offset 0

  const full = await check(s.repo, { readData: true })
  const damaged = full.problems.filter((p) => p.kind === 'pack-hash' || p.kind === 'pack-header')
  assert.equal(damaged.length, 2)
  assert.ok(damaged.every((p) => p.intact === undefined && p.pack === pack.id))
  const advice = adviceFor(full.problems)
  assert.ok(advice.every((a) => !/--repack/.test(a)), advice.join('\n'))
  assert.ok(advice.some((a) => /lost or changed data/.test(a)), advice.join('\n'))
  const files = new Map([...s.backend.files].map(([k, v]) => [k, Buffer.from(v)]))
  await assert.rejects(s.repo.prune({ repack: [pack.id] }), (e: unknown) => e instanceof CorruptObjectError)
  // Nothing was deleted: the repository is as it was (bar a pack the failed repack may have begun).
  for (const k of files.keys()) assert.ok(s.backend.files.has(k), `${k} is still there`)
})

test('packNameMatches: a pack matches by its trailer, or by all its bytes as packs were named before', async () => {
  const s = await setup()
  const pack = await aDataPack(s)
  const bytes = s.backend.files.get(`data/${pack.id}`)!
  assert.equal(packNameMatches(pack.id, bytes), 'trailer')
  const whole = createHash('sha256').update(bytes).digest('hex')
  assert.equal(packNameMatches(whole, bytes), 'whole')
  assert.equal(packNameMatches(whole, bytes.slice(0, bytes.length - 1)), false)
  const flipped = Buffer.from(bytes)
  flipped[5] ^= 1
  assert.equal(packNameMatches(whole, flipped), false)
  assert.equal(packNameMatches(pack.id, flipped), 'trailer', 'a flipped blob byte is for the blob check to find')
  assert.equal(packNameMatches(pack.id, new Uint8Array(3)), false)
  assert.equal(packNameMatches(pack.id, Buffer.from([0xff, 0xff, 0xff, 0x7f])), false)
})

test('a repository whose pack is named by the SHA-256 of all its bytes (the earlier naming) checks clean and restores', async () => {
  const s = await setup()
  const pack = await aDataPack(s)
  const bytes = s.backend.files.get(`data/${pack.id}`)!
  const whole = createHash('sha256').update(bytes).digest('hex')
  s.backend.files.delete(`data/${pack.id}`)
  s.backend.files.set(`data/${whole}`, bytes)
  // One index file in place of all, naming the pack by its old-style name.
  const oldIndex = s.keys('index')
  const packs: StoredPack[] = []
  for (const name of oldIndex) {
    for (const p of (await s.repo.loadIndexFile(name)).packs) {
      const id = toHex(p.id) === pack.id ? Buffer.from(whole, 'hex') : Buffer.from(p.id)
      packs.push({ ...p, id, blobs: p.blobs.map(([type, blob, ...rest]) => [type, Buffer.from(blob), ...rest]) })
    }
  }
  await s.repo.saveIndexFile(packs, oldIndex)
  for (const name of oldIndex) s.backend.files.delete(`index/${name}`)

  const repo = await Repository.open({ backend: s.backend, password: 'test' })
  const full = await check(repo, { readData: true })
  assert.deepEqual(full.problems, [])
  assert.equal(full.ok, true)
  const out = tempDir('check-old-names')
  await repo.restore('latest', out)
  for (const f of ['a.bin', 'b.txt', 'f.bin', 'sub/c.bin', 'sub/deeper/d.txt']) assert.ok(readFileSync(join(out, 'src', f)).equals(readFileSync(join(s.src, f))), f)
  // And a flipped byte in its blobs is still found by both checks.
  bytes[40] ^= 1
  const damaged = await check(repo, { readData: true })
  assert.deepEqual(sorted(brief(damaged)), [
    { kind: 'blob-corrupt', object: `blob ${pack.first.id}` },
    { kind: 'pack-hash', object: `pack ${whole}` },
  ])
})

test('a missing pack is pack-missing', async () => {
  const s = await setup()
  const pack = await aDataPack(s)
  s.backend.files.delete(`data/${pack.id}`)
  for (const readData of [false, true]) {
    const r = await check(s.repo, { readData })
    assert.equal(r.ok, false)
    assert.deepEqual(brief(r), [{ kind: 'pack-missing', object: `pack ${pack.id}` }])
  }
})

test('a truncated pack is pack-size; reading it adds pack-hash and pack-header', async () => {
  const s = await setup()
  const pack = await aDataPack(s)
  const bytes = s.backend.files.get(`data/${pack.id}`)!
  s.backend.files.set(`data/${pack.id}`, bytes.slice(0, bytes.length - 10))

  const structure = await check(s.repo)
  assert.equal(structure.ok, false)
  assert.deepEqual(brief(structure), [{ kind: 'pack-size', object: `pack ${pack.id}` }])
  assert.match(structure.problems[0].message, new RegExp(`${bytes.length - 10} bytes; its index says ${bytes.length}`))

  const full = await check(s.repo, { readData: true })
  assert.deepEqual(sorted(brief(full)), [
    { kind: 'pack-hash', object: `pack ${pack.id}` },
    { kind: 'pack-header', object: `pack ${pack.id}` },
    { kind: 'pack-size', object: `pack ${pack.id}` },
  ])
  // Only the end of the pack (its header) is cut off: every blob opened, so nothing is lost.
  assert.ok(full.problems.every((p) => p.pack === pack.id))
  const advice = adviceFor(full.problems)
  assert.equal(advice.length, 1, advice.join('\n'))
  assert.ok(advice[0].includes(`--repack ${pack.id}`), advice[0])
  // Without reading data the same pack-size problem is lost data, as far as check can tell.
  assert.match(adviceFor(structure.problems)[0], /lost or changed data/)
})

test('with every index file gone, packs are pack-unindexed and each snapshot root is blob-missing', async () => {
  const s = await setup()
  for (const k of s.keys('index')) s.backend.files.delete(`index/${k}`)
  const roots = await Promise.all(s.snapshots.map(async (id) => (await s.repo.loadSnapshot(id)).tree))
  const r = await check(s.repo)
  assert.equal(r.ok, false)
  assert.deepEqual(
    ofKind(r, 'pack-unindexed').map((p) => p.object).sort(),
    s.keys('data').map((k) => `pack ${k}`).sort(),
  )
  const missing = ofKind(r, 'blob-missing')
  assert.deepEqual(missing.map((p) => p.object).sort(), roots.map((t) => `tree ${t}`).sort())
  for (const [i, snap] of s.snapshots.entries()) assert.ok(missing.some((p) => p.object === `tree ${roots[i]}` && p.message.includes(snap)), snap)
  assert.equal(r.problems.length, missing.length + s.keys('data').length)
  assert.equal(r.counts.packs, 0)
})

test('a pack that no index names (an interrupted backup) is only a warning', async () => {
  const { repo, backend } = await memoryRepo()
  const src = join(tempDir('check'), 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'x'), 'some content')
  await repo.backup([src], { threads: 0 })
  const stored: StoredPack[] = []
  const packer = new Packer({ backend: repo.backend, encryptionKey: repo.keys.encryption, packSize: 1 << 20, maxInFlight: 1, onStored: (p) => void stored.push(p) })
  const saver = new BlobSaver(repo.keys.blobId, repo.keys.encryption, await repo.index(), packer, 0)
  await saver.save(BlobType.Data, randomBytes(1000))
  await packer.flush() // and no index file, as when a backup dies here
  const r = await check(repo, { readData: true })
  assert.equal(r.ok, true)
  assert.deepEqual(brief(r), [{ kind: 'pack-unindexed', object: `pack ${toHex(stored[0].id)}` }])
  assert.ok(backend.files.has(`data/${toHex(stored[0].id)}`))
})

test('a corrupt index file is index-unreadable (bad hash, then bad ciphertext under a matching name), not an exception', async () => {
  const s = await setup()
  const [first] = s.indexFiles[0]
  flip(s.backend, `index/${first}`, 60)
  const r = await check(s.repo)
  assert.equal(r.ok, false)
  assert.deepEqual(brief(r)[0], { kind: 'index-unreadable', object: `index ${first}` })
  assert.match(r.problems[0].message, /SHA-256/)
  assert.equal(ofKind(r, 'index-unreadable').length, 1)
  // What it listed is now unindexed or missing; nothing else is wrong.
  for (const p of r.problems) assert.ok(['index-unreadable', 'pack-unindexed', 'blob-missing'].includes(p.kind), p.kind)
  assert.ok(ofKind(r, 'pack-unindexed').length > 0)

  const renamed = rename(s.backend, `index/${first}`, s.backend.files.get(`index/${first}`)!)
  const r2 = await check(s.repo)
  assert.deepEqual(ofKind(r2, 'index-unreadable').map((p) => p.object), [`index ${renamed}`])
  assert.doesNotMatch(ofKind(r2, 'index-unreadable')[0].message, /SHA-256/)
})

test('a corrupt snapshot file is snapshot-unreadable', async () => {
  const s = await setup()
  const bad = s.snapshots[1]
  flip(s.backend, `snapshots/${bad}`, 50)
  const r = await check(s.repo)
  assert.equal(r.ok, false)
  assert.deepEqual(brief(r), [{ kind: 'snapshot-unreadable', object: `snapshot ${bad}` }])

  // Truncated and stored under its new hash: fails authentication instead.
  const bytes = s.backend.files.get(`snapshots/${bad}`)!
  const renamed = rename(s.backend, `snapshots/${bad}`, bytes.slice(0, bytes.length - 5))
  const r2 = await check(s.repo)
  assert.deepEqual(brief(r2), [{ kind: 'snapshot-unreadable', object: `snapshot ${renamed}` }])
})

test('a tree that refers to a data blob or a subtree no index lists is blob-missing, naming blob, path and snapshot', async () => {
  const { repo } = await memoryRepo()
  const ghostData = randomBytes(32)
  const ghostTree = randomBytes(32)
  const { snapshot } = await forgeSnapshot(repo, async (data, tree) => {
    const sub = await tree([forgedFile('ghost.txt', Buffer.concat([data, ghostData]), 8)])
    return [
      { ...forgedMeta, name: Buffer.from('dir'), type: 'dir', size: 0, subtree: sub },
      { ...forgedMeta, name: Buffer.from('lost'), type: 'dir', size: 0, subtree: ghostTree },
    ]
  })
  const r = await check(repo, { readData: true })
  assert.equal(r.ok, false)
  assert.deepEqual(sorted(brief(r)), [
    { kind: 'blob-missing', object: `blob ${toHex(ghostData)}` },
    { kind: 'blob-missing', object: `tree ${toHex(ghostTree)}` },
  ])
  const data = r.problems.find((p) => p.object === `blob ${toHex(ghostData)}`)!
  assert.match(data.message, /\/dir\/ghost\.txt/)
  assert.ok(data.message.includes(snapshot))
  const tree = r.problems.find((p) => p.object === `tree ${toHex(ghostTree)}`)!
  assert.match(tree.message, /\/lost in snapshot/)
  assert.ok(tree.message.includes(snapshot))
})

test('a tree with an unsafe name is tree-unreadable; a file whose size disagrees with its blobs is file-size', async () => {
  const { repo } = await memoryRepo()
  const bad = await forgeSnapshot(repo, async (data) => [forgedFile('..', data)])
  let r = await check(repo)
  assert.deepEqual(brief(r), [{ kind: 'tree-unreadable', object: `tree ${bad.root}` }])
  assert.ok(r.problems[0].message.includes(bad.snapshot))

  const fresh = await memoryRepo()
  const sized = await forgeSnapshot(fresh.repo, async (data) => [forgedFile('short', data, 5)])
  r = await check(fresh.repo)
  assert.deepEqual(brief(r), [{ kind: 'file-size', object: `tree ${sized.root}` }])
  assert.match(r.problems[0].message, /\/short in snapshot/)
})

test('a tree blob that fails authentication is tree-unreadable without reading data', async () => {
  const s = await setup()
  const packs = await indexedPacks(s.repo, s.backend)
  const [treePack, p] = [...packs].find(([, p]) => p.blobs.every((b) => b.type === BlobType.Tree))!
  const root = (await s.repo.loadSnapshot(s.snapshots[0])).tree
  const blob = p.blobs.find((b) => b.id === root) ?? p.blobs[0]
  flip(s.backend, `data/${treePack}`, blob.offset + 20)
  const fresh = await Repository.open({ backend: s.backend, password: 'test' }) // no cached trees
  const r = await check(fresh)
  assert.equal(r.ok, false)
  assert.ok(r.problems.length >= 1)
  assert.deepEqual(r.problems.filter((x) => x.object === `tree ${blob.id}`).map((x) => x.kind), ['tree-unreadable'])
  for (const x of r.problems) assert.equal(x.kind, 'tree-unreadable')
})

test('one blob listed twice with different lengths is blob-conflict; identical duplicates are fine', async () => {
  const s = await setup()
  const file = await s.repo.loadIndexFile(s.indexFiles[0][0])
  const p = file.packs[0]
  const asStored = (blobs: StoredPack['blobs']): StoredPack => ({ id: Buffer.from(p.id), size: p.size, scheme: p.scheme, keyId: p.keyId, blobs })
  const copy = p.blobs.map(([t, id, o, l, raw, c]) => [t, Buffer.from(id), o, l, raw, c] as StoredPack['blobs'][number])
  const dup = await s.repo.saveIndexFile([asStored(copy)])
  const clean = await check(s.repo)
  assert.deepEqual(clean.problems, [])

  s.backend.files.delete(`index/${dup}`)
  const [t, id, o, l, raw, c] = copy[0]
  await s.repo.saveIndexFile([asStored([[t, id, o, l, raw + 1, c]])])
  const r = await check(s.repo)
  assert.equal(r.ok, false)
  assert.deepEqual(brief(r), [{ kind: 'blob-conflict', object: `${t === BlobType.Tree ? 'tree' : 'blob'} ${toHex(id)}` }])
  // Reading the pack shows the new entry disagrees with the pack's header.
  const full = await check(s.repo, { readData: true })
  assert.deepEqual(
    ofKind(full, 'pack-header').map((x) => x.object),
    [`pack ${toHex(p.id)}`],
  )
})

test("an index that disagrees with a pack's header: read-data names the first difference and counts the rest", async () => {
  const s = await setup()
  // Which pack holds which blobs depends on the repository's chunker key: take one of three or more.
  const pack = await aDataPack(s, 3)
  // The index file naming the pack, written anew with two of its blobs' ids swapped and a third's length changed.
  let original = ''
  let file
  for (const k of s.keys('index')) {
    file = await s.repo.loadIndexFile(k)
    if (file.packs.some((p) => toHex(p.id) === pack.id)) {
      original = k
      break
    }
  }
  assert.ok(file && original)
  const packs = file.packs.map((p) => ({ id: Buffer.from(p.id), size: p.size, scheme: p.scheme, keyId: p.keyId, blobs: p.blobs.map(([t, b, o, l, raw, c]) => [t, Buffer.from(b), o, l, raw, c] as StoredPack['blobs'][number]) }))
  const edited = packs.find((p) => toHex(p.id) === pack.id)!
  assert.ok(edited.blobs.length >= 3, 'the pack holds three blobs')
  const [first, second, third] = edited.blobs
  ;[first[1], second[1]] = [second[1], first[1]]
  third[4] += 1
  await s.repo.saveIndexFile(packs)
  s.backend.files.delete(`index/${original}`)
  const r = await check(s.repo, { readData: true })
  const header = ofKind(r, 'pack-header')
  assert.equal(header.length, 1, JSON.stringify(r.problems))
  assert.equal(header[0].object, `pack ${pack.id}`)
  // Index order first (the two misplaced ids, the length), then the header's two blobs the index no longer places.
  assert.equal(header[0].message, `pack ${pack.id} does not match its index: the index lists blob ${toHex(first[1])} at offset ${first[2]}, the header does not (and 4 more difference(s))`)
})

test('index entries that contradict the pack or each other are index-invalid', async () => {
  const s = await setup()
  const file = await s.repo.loadIndexFile(s.indexFiles[0][0])
  const p = file.packs[0]
  const id = toHex(p.id)
  const blobs = p.blobs.map(([t, b, o, l, raw, c]) => [t, Buffer.from(b), o, l, raw, c] as StoredPack['blobs'][number])
  // A second index file that gives the pack another size and puts a blob beyond its end.
  const [t, b, , l, raw, c] = blobs[0]
  await s.repo.saveIndexFile([{ id: Buffer.from(p.id), size: p.size + 100, scheme: p.scheme, keyId: p.keyId, blobs: [...blobs, [t, b, p.size + 50, l, raw, c]] }])
  const r = await check(s.repo)
  assert.equal(r.ok, false)
  const invalid = ofKind(r, 'index-invalid')
  assert.ok(invalid.length >= 1 && invalid.every((x) => x.object === `pack ${id}`), JSON.stringify(invalid))
  for (const x of r.problems) assert.ok(['index-invalid', 'pack-size'].includes(x.kind), x.kind)
})

// ---- subsets, errors, options ---------------------------------------------------------------------------

test('read-data subsets 1/2 and 2/2 read every pack exactly once; 50% reads about half', async () => {
  const s = await setup()
  const rec = new RecordingBackend(s.backend)
  const repo = await Repository.open({ backend: rec, password: 'test' })
  const packNames = s.keys('data').sort()
  const snapshot = () => new Map(rec.wholeLoads)
  const diff = (a: Map<string, number>, b: Map<string, number>) => new Map(packNames.map((n) => [n, (b.get(n) ?? 0) - (a.get(n) ?? 0)]))

  // Trees are read from whole tree packs in every check: measure that first.
  let t0 = snapshot()
  await check(repo)
  const baseline = diff(t0, snapshot())

  const read = new Map<string, number>()
  let packsRead = 0
  for (const part of ['1/2', '2/2']) {
    t0 = snapshot()
    const r = await check(repo, { readDataSubset: part })
    assert.equal(r.ok, true)
    packsRead += r.counts.packsRead
    for (const [n, c] of diff(t0, snapshot())) read.set(n, (read.get(n) ?? 0) + c - baseline.get(n)!)
  }
  assert.equal(packsRead, packNames.length)
  for (const n of packNames) assert.equal(read.get(n), 1, n)

  const half = await check(repo, { readDataSubset: '50%' })
  assert.equal(half.ok, true)
  assert.equal(half.counts.packsRead, Math.round(packNames.length / 2))
})

test('subset selection is a stable partition of the pack ids', () => {
  const ids = Array.from({ length: 200 }, (_, i) => createHash('sha256').update(String(i)).digest('hex'))
  const parts = [1, 2, 3].map((n) => selectPacks(ids, { part: n, of: 3 }))
  assert.deepEqual(parts.flat().sort(), [...ids].sort())
  for (const p of parts) assert.ok(p.length > 40 && p.length < 95, String(p.length))
  // Adding packs never moves one to another part.
  const more = [...ids, ...Array.from({ length: 50 }, (_, i) => createHash('sha256').update(`x${i}`).digest('hex'))]
  for (const [i, n] of [1, 2, 3].entries()) for (const id of parts[i]) assert.ok(selectPacks(more, { part: n, of: 3 }).includes(id))
  assert.equal(selectPacks(ids, { percent: 10 }).length, 20)
  assert.equal(selectPacks(ids.slice(0, 3), { percent: 1 }).length, 1)
  assert.deepEqual(parseDataSubset('2/5'), { part: 2, of: 5 })
  assert.deepEqual(parseDataSubset('12.5%'), { percent: 12.5 })
  for (const bad of ['0/3', '4/3', '1/0', '0%', '101%', 'half', '']) assert.throws(() => parseDataSubset(bad), InvalidOptionsError, bad)
})

test('an invalid subset is refused before any request', async () => {
  const { repo } = await memoryRepo()
  const before = repo.requests()
  await assert.rejects(check(repo, { readDataSubset: '3/2' }), InvalidOptionsError)
  assert.deepEqual(repo.requests(), before)
})

test('storage failures are thrown, not reported as problems; so is an abort', async () => {
  const s = await setup()
  const rec = new RecordingBackend(s.backend)
  const repo = await Repository.open({ backend: rec, password: 'test' })
  rec.failLoads = true
  await assert.rejects(check(repo), BackendError)
  await assert.rejects(check(repo, { readData: true }), BackendError)
  rec.failLoads = false
  const ac = new AbortController()
  ac.abort()
  await assert.rejects(check(repo, { signal: ac.signal }), AbortedError)
  const ac2 = new AbortController()
  await assert.rejects(
    check(repo, {
      readData: true,
      signal: ac2.signal,
      onProgress: (p) => {
        if (p.phase === 'data' && p.done === 1) ac2.abort()
      },
    }),
    AbortedError,
  )
})

test('read-data finds the same corrupt blobs on the calling thread and with workers, every one of a batch, in pack order', async () => {
  const s = await setup()
  const packs = await indexedPacks(s.repo, s.backend)
  // Damage three blobs of one pack (the first, the last and one between) when it has that many.
  const [packId, pack] = [...packs].sort((a, b) => b[1].blobs.length - a[1].blobs.length)[0]
  const targets = [...pack.blobs].sort((a, b) => a.offset - b.offset)
  const damaged = [...new Set([targets[0], targets[Math.floor(targets.length / 2)], targets[targets.length - 1]])]
  for (const b of damaged) flip(s.backend, `data/${packId}`, b.offset + 20)
  const reports = []
  for (const threads of [0, 1, 2]) reports.push(await check(s.repo, { readData: true, threads }))
  for (const r of reports) {
    assert.equal(r.ok, false)
    assert.deepEqual(
      ofKind(r, 'blob-corrupt').map((p) => p.object),
      damaged.map((b) => `${b.type === BlobType.Tree ? 'tree' : 'blob'} ${b.id}`),
    )
  }
  assert.deepEqual(reports[1].problems, reports[0].problems)
  assert.deepEqual(reports[2].problems, reports[0].problems)
  // And a clean repository is clean with workers too.
  const clean = await setup()
  assert.deepEqual((await check(clean.repo, { readData: true, threads: 1 })).problems, [])
})

test('read-data with workers reports the problems of several damaged packs in the same order as on the calling thread', async () => {
  const s = await setup()
  const packs = [...(await indexedPacks(s.repo, s.backend))]
  assert.ok(packs.length >= 3, `packs: ${packs.length}`)
  // One blob in every pack, at a different place in each: the workers finish them in other orders.
  for (const [i, [packId, pack]] of packs.entries()) {
    const sorted = [...pack.blobs].sort((a, b) => a.offset - b.offset)
    const b = sorted[(i * 7) % sorted.length]
    flip(s.backend, `data/${packId}`, b.offset + 20)
  }
  const serial = await check(s.repo, { readData: true, threads: 0 })
  assert.equal(ofKind(serial, 'blob-corrupt').length, packs.length)
  for (const threads of [1, 2]) {
    const r = await check(s.repo, { readData: true, threads })
    assert.deepEqual(r.problems, serial.problems, `${threads} worker(s)`)
  }
})

test('read-data runs beside the tree walk: the walk reports first, and whichever fails first is the error thrown, the other stopped', async () => {
  const s = await setup()
  const packs = [...(await indexedPacks(s.repo, s.backend))]
  // A damaged blob in every pack: tree packs then give tree-unreadable (the walk) and blob-corrupt
  // (the data), data packs blob-corrupt only.
  for (const [i, [packId, pack]] of packs.entries()) {
    const sorted = [...pack.blobs].sort((a, b) => a.offset - b.offset)
    flip(s.backend, `data/${packId}`, sorted[(i * 5) % sorted.length].offset + 20)
  }
  const walkKinds = new Set<ProblemKind>(['snapshot-unreadable', 'tree-unreadable', 'blob-missing', 'file-size'])
  const dataKinds = new Set<ProblemKind>(['pack-hash', 'pack-header', 'blob-corrupt'])
  for (const threads of [0, 1]) {
    const fresh = await Repository.open({ backend: s.backend, password: 'test' })
    const r = await check(fresh, { readData: true, threads })
    const kinds = r.problems.map((p) => p.kind)
    const lastWalk = kinds.findLastIndex((k) => walkKinds.has(k))
    const firstData = kinds.findIndex((k) => dataKinds.has(k))
    assert.ok(lastWalk >= 0 && firstData > lastWalk, `${threads} worker(s): ${kinds.join(', ')}`)
    assert.equal(ofKind(r, 'blob-corrupt').length, packs.length)
  }

  // The data fails (a data pack cannot be downloaded): its error, although the walk went on.
  const clean = await setup()
  const dataPack = await aDataPack(clean)
  class FailingData extends PassThrough {
    override async load(h: Handle, range?: ByteRange) {
      if (h.type === 'data' && h.name === dataPack.id && !range) throw new BackendError('load', `data/${h.name}`, new Error('connection reset'))
      return this.inner.load(h, range)
    }
  }
  for (const threads of [0, 1]) {
    const repo = await Repository.open({ backend: new FailingData(clean.backend), password: 'test' })
    await assert.rejects(check(repo, { readData: true, threads }), (e: unknown) => e instanceof BackendError && e.message.includes(dataPack.id))
  }

  // The walk fails (snapshots cannot be read): its error, and the data check stops: no pack is read
  // after those it was reading ahead.
  class FailingWalk extends PassThrough {
    packLoads = 0
    override async load(h: Handle, range?: ByteRange) {
      if (h.type === 'snapshots') throw new BackendError('load', `snapshots/${h.name}`, new Error('connection reset'))
      if (h.type === 'data' && !range) {
        this.packLoads++
        await new Promise((r) => setTimeout(r, 30))
      }
      return this.inner.load(h, range)
    }
  }
  // More packs than a check reads ahead (READ_AHEAD, 8): files larger than a pack, one backup each.
  for (let i = 0; i < 16; i++) {
    writeFileSync(join(clean.src, `more-${i}.bin`), randomBytesSeeded(PACK_SIZE + 1000, 100 + i))
    await clean.repo.backup([clean.src], { threads: 0 })
  }
  const dataPacks = [...clean.backend.files.keys()].filter((k) => k.startsWith('data/')).length
  assert.ok(dataPacks >= 24, `packs: ${dataPacks}`)
  for (const threads of [0, 1]) {
    const backend = new FailingWalk(clean.backend)
    const repo = await Repository.open({ backend, password: 'test' })
    await assert.rejects(check(repo, { readData: true, threads }), (e: unknown) => e instanceof BackendError && e.message.includes('snapshots/'))
    // What was being read ahead when it failed, at most: nothing after.
    assert.ok(backend.packLoads <= 10, `${threads} worker(s): ${backend.packLoads} of ${dataPacks} packs downloaded after the walk failed`)
  }
})
