import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryBackend, Repository } from '../src/index.js'
import { planPrune } from '../src/prune/index.js'
import { cleanup, CrashAfter, describeTree, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

/** Three generations of a folder: each backup shares some files with the last, drops some, adds some. */
async function history(repo: Repository, base: string) {
  const src = join(base, 'data')
  const shapes: Array<{ id: string; shape: ReturnType<typeof describeTree> }> = []
  for (let gen = 0; gen < 4; gen++) {
    rmSync(src, { recursive: true, force: true })
    mkdirSync(src, { recursive: true })
    for (let i = gen * 3; i < gen * 3 + 8; i++) writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(40_000 + i * 500, i + 1))
    writeFileSync(join(src, 'notes.md'), `generation ${gen}\n`.repeat(300))
    const s = await repo.backup([src], { time: new Date(Date.UTC(2026, 0, gen + 1)) })
    shapes.push({ id: s.snapshotId!, shape: describeTree(src) })
  }
  return { src, shapes }
}

async function restoresAll(repo: Repository, shapes: Array<{ id: string; shape: ReturnType<typeof describeTree> }>, ids: string[]) {
  for (const { id, shape } of shapes.filter((s) => ids.includes(s.id))) {
    const out = tempDir('prune-out')
    await repo.restore(id, out)
    assert.deepEqual(describeTree(join(out, 'data')), shape, `snapshot ${id.slice(0, 8)} restores differently`)
  }
}

test('prune after forgetting snapshots frees their data; kept snapshots restore; a second prune finds nothing', async () => {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
  const { shapes } = await history(repo, tempDir('prune'))
  const dry = await repo.prune({ dryRun: true })
  assert.equal(dry.plan.stats.unusedBlobs + dry.plan.stats.packsToDelete, 0, 'nothing is unused yet (small packs may still be repacked together)')
  // Forget the two oldest snapshots.
  for (const { id } of shapes.slice(0, 2)) await backend.remove({ type: 'snapshots', name: id })
  const before = [...backend.files.keys()].filter((k) => k.startsWith('data/')).length
  const plan = await repo.prune({ dryRun: true })
  assert.ok(plan.plan.stats.unusedBlobs > 0)
  assert.equal([...backend.files.keys()].filter((k) => k.startsWith('data/')).length, before, 'a dry run changes nothing')
  assert.equal(plan.requests.PUT + plan.requests.DELETE, 0)
  const s = await repo.prune({ maxUnused: 0 })
  assert.ok(s.bytesFreed > 0 && s.packsDeleted + s.packsRepacked > 0, JSON.stringify(s.plan.stats))
  const kept = shapes.slice(2).map((x) => x.id)
  await restoresAll(await Repository.open({ backend, password: 'pw' }), shapes, kept)
  const after = await planPrune(await Repository.open({ backend, password: 'pw' }), { maxUnused: 0 })
  assert.equal(after.stats.unusedBlobs, 0, `no unreachable blob remains: ${JSON.stringify(after.packs.filter((p) => p.unusedBytes > 0))} ${JSON.stringify(s.plan.stats)}`)
  assert.equal(after.stats.duplicateBlobs, 0)
  assert.equal((await repo.locks()).length, 0, 'prune released its lock')
})

test('unindexed packs are kept within the grace period and deleted after it', async () => {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
  await history(repo, tempDir('prune'))
  // An interrupted backup's pack: stored, never indexed.
  const orphan = 'ab'.repeat(32)
  await backend.save({ type: 'data', name: orphan }, randomBytesSeeded(1000, 5))
  const young = await repo.prune({ dryRun: true })
  assert.equal(young.plan.unindexedKept, 1)
  assert.equal(young.plan.unindexedToDelete.length, 0)
  backend.modified.set(`data/${orphan}`, new Date(Date.now() - 48 * 3600_000))
  const s = await repo.prune()
  assert.equal(s.unindexedPacksDeleted, 1)
  assert.equal(backend.files.has(`data/${orphan}`), false)
})

test('with an index file lost, prune indexes the packs the snapshots need (however old) instead of stopping, and deletes only the unused', async () => {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
  const { shapes } = await history(repo, tempDir('prune'))
  await repo.forgetSnapshots([shapes[0].id])
  // The newest backup's index file is lost, and every pack is two days old.
  const indexes = [...backend.files.keys()].filter((k) => k.startsWith('index/'))
  const newest = indexes.reduce((a, b) => (backend.modified.get(a)! >= backend.modified.get(b)! ? a : b))
  backend.files.delete(newest)
  for (const k of backend.files.keys()) if (k.startsWith('data/')) backend.modified.set(k, new Date(Date.now() - 48 * 3600_000))
  // An interrupted backup's old pack, unreadable: garbage, deleted as before.
  const orphan = 'ab'.repeat(32)
  await backend.save({ type: 'data', name: orphan }, randomBytesSeeded(1000, 5))
  backend.modified.set(`data/${orphan}`, new Date(Date.now() - 48 * 3600_000))

  const fresh = await Repository.open({ backend, password: 'pw' })
  const before = await fresh.check()
  assert.ok(before.problems.some((p) => p.kind === 'blob-missing'))
  const s = await fresh.prune({ maxUnused: 0 })
  assert.ok(s.plan.adopted > 0, 'the lost index file\'s packs were read and indexed')
  assert.equal(s.unindexedPacksDeleted, 1, 'the unreadable orphan went')
  assert.ok(s.packsDeleted + s.packsRepacked > 0, 'the forgotten snapshot\'s data went')
  assert.equal(backend.files.has(`data/${orphan}`), false)
  const after = await Repository.open({ backend, password: 'pw' })
  assert.deepEqual((await after.check({ readData: true })).problems, [])
  await restoresAll(after, shapes, shapes.slice(1).map((x) => x.id))
  const again = await after.prune({ maxUnused: 0 })
  assert.equal(again.plan.adopted, 0)
  assert.equal(again.packsDeleted + again.packsRepacked + again.indexFilesWritten, 0)
})

test('duplicate blobs (the same data stored by two concurrent backups) are reduced to one copy', async () => {
  const backend = new MemoryBackend()
  const a = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
  const b = await Repository.open({ backend, password: 'pw' })
  const base = tempDir('prune')
  const src = join(base, 'data')
  mkdirSync(src)
  for (let i = 0; i < 6; i++) writeFileSync(join(src, `f${i}`), randomBytesSeeded(50_000, i + 1))
  await a.index()
  await b.index()
  await Promise.all([a.backup([src], { host: 'one' }), b.backup([src], { host: 'two' })])
  const plan = await planPrune(await Repository.open({ backend, password: 'pw' }))
  assert.ok(plan.stats.duplicateBlobs > 0, 'the two backups should have stored the same blobs twice')
  await a.prune({ maxUnused: 0 })
  const after = await planPrune(await Repository.open({ backend, password: 'pw' }))
  assert.equal(after.stats.duplicateBlobs, 0)
  const out = tempDir('prune-out')
  await (await Repository.open({ backend, password: 'pw' })).restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'data')), describeTree(src))
})

test('a prune that crashes after any number of writes leaves a repository whose kept snapshots restore, and the next prune finishes the job', async () => {
  const memory = new MemoryBackend()
  const setup = await Repository.init({ backend: memory, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
  const { shapes } = await history(setup, tempDir('prune'))
  for (const { id } of shapes.slice(0, 2)) await memory.remove({ type: 'snapshots', name: id })
  const kept = shapes.slice(2).map((x) => x.id)
  // How many writes does a full prune make? Then crash after each possible count.
  const snapshotFiles = new Map(memory.files)
  const probe = new CrashAfter(memory)
  await (await Repository.open({ backend: probe, password: 'pw' })).prune({ maxUnused: 0 })
  const total = probe.writes
  assert.ok(total >= 4, `a full prune made only ${total} writes`)
  for (let k = 0; k < total; k++) {
    memory.files.clear()
    for (const [key, v] of snapshotFiles) memory.files.set(key, Uint8Array.from(v))
    const crashing = new CrashAfter(memory, k)
    await assert.rejects((await Repository.open({ backend: crashing, password: 'pw' })).prune({ maxUnused: 0 }), /simulated crash/)
    const fresh = await Repository.open({ backend: memory, password: 'pw' })
    await fresh.unlock({ all: true })
    await restoresAll(fresh, shapes, kept)
    await fresh.prune({ maxUnused: 0, unindexedGraceMs: 0 })
    const clean = await planPrune(await Repository.open({ backend: memory, password: 'pw' }), { maxUnused: 0, unindexedGraceMs: 0 })
    assert.equal(clean.stats.unusedBlobs + clean.stats.duplicateBlobs + clean.unindexedToDelete.length, 0, `garbage left after a crash at write ${k} and a second prune`)
    await restoresAll(await Repository.open({ backend: memory, password: 'pw' }), shapes, kept)
  }
})

test('a prune right after a prune has nothing to do, also when a repack ends in a small pack beside a lone small one', async () => {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
  const src = join(tempDir('prune-twice'), 'data')
  mkdirSync(src, { recursive: true })
  // Backup 1: one small data pack (s). Backup 2: a pack holding a (small) and b. Backup 3: b gone.
  writeFileSync(join(src, 's.bin'), randomBytesSeeded(5000, 1))
  await repo.backup([src], { time: new Date(Date.UTC(2026, 0, 1)) })
  writeFileSync(join(src, 'a.bin'), randomBytesSeeded(5000, 2))
  writeFileSync(join(src, 'b.bin'), randomBytesSeeded(30_000, 3))
  const second = await repo.backup([src], { time: new Date(Date.UTC(2026, 0, 2)) })
  rmSync(join(src, 'b.bin'))
  await repo.backup([src], { time: new Date(Date.UTC(2026, 0, 3)) })
  const shape = describeTree(src)
  await backend.remove({ type: 'snapshots', name: second.snapshotId! })
  // The pack of a and b is mostly unused: repacked, its output (a alone) is a small pack, and the
  // small pack of s must join that repack, or the next prune would find two small packs.
  const first = await repo.prune()
  assert.ok(first.packsRepacked > 0, JSON.stringify(first.plan.stats))
  const again = await planPrune(await Repository.open({ backend, password: 'pw' }))
  assert.deepEqual({ repack: again.stats.packsToRepack, delete: again.stats.packsToDelete, unused: again.stats.unusedBlobs }, { repack: 0, delete: 0, unused: 0 }, JSON.stringify(again.packs))
  const out = tempDir('prune-twice-out')
  await repo.restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'data')), shape)
})

test('maxUnused bounds the unused share of the whole repository: the most unused packs are repacked first, and a little waste is left alone', async () => {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 256 * 1024 })
  const src = join(tempDir('prune-share'), 'data')
  mkdirSync(src, { recursive: true })
  // Six full data packs of ~250 KB; then files are dropped so that the packs are 0–40% unused.
  for (let i = 0; i < 30; i++) writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(50_000, i + 1))
  const first = await repo.backup([src], { time: new Date(Date.UTC(2026, 0, 1)) })
  for (const i of [0, 1, 7, 13, 19, 25]) rmSync(join(src, `f${i}.bin`))
  await repo.backup([src], { time: new Date(Date.UTC(2026, 0, 2)) })
  await backend.remove({ type: 'snapshots', name: first.snapshotId! })

  const plans = new Map<number, Awaited<ReturnType<typeof planPrune>>>()
  for (const m of [0, 0.05, 0.1, 0.5, 1]) plans.set(m, await planPrune(await Repository.open({ backend, password: 'pw' }), { maxUnused: m, smallPackBytes: 0 }))
  const shareAfter = (p: Awaited<ReturnType<typeof planPrune>>) => {
    const kept = p.packs.filter((x) => x.action === 'keep')
    const used = p.packs.filter((x) => x.action !== 'delete').reduce((n, x) => n + x.usedBytes, 0)
    const unused = kept.reduce((n, x) => n + x.unusedBytes, 0)
    return unused / (used + unused)
  }
  const partly = plans.get(0)!.packs.filter((p) => p.unusedBytes > 0 && p.usedBlobs > 0)
  assert.ok(partly.length >= 3, `several partly used packs expected: ${JSON.stringify(plans.get(0)!.packs)}`)
  for (const [m, p] of plans) {
    assert.ok(shareAfter(p) <= m + 1e-9, `maxUnused ${m}: ${shareAfter(p)} left unused`)
    // Repacked packs are exactly the most unused ones: none kept is more unused than one repacked.
    const share = (x: { usedBytes: number; unusedBytes: number }) => x.unusedBytes / (x.usedBytes + x.unusedBytes)
    const repacked = p.packs.filter((x) => x.action === 'repack')
    const keptPartly = p.packs.filter((x) => x.action === 'keep' && x.unusedBytes > 0)
    for (const r of repacked) for (const k of keptPartly) assert.ok(share(r) >= share(k), `maxUnused ${m}: a pack ${share(k)} unused is kept while one ${share(r)} unused is repacked`)
    // And no more than needed: keeping the least unused of them would go over the share.
    const least = repacked.filter((x) => x.unusedBytes > 0).sort((x, y) => share(x) - share(y))[0]
    if (least) {
      const used = p.packs.filter((x) => x.action !== 'delete').reduce((n, x) => n + x.usedBytes, 0)
      const unused = keptPartly.reduce((n, x) => n + x.unusedBytes, 0) + least.unusedBytes
      assert.ok(unused / (used + unused) > m, `maxUnused ${m}: a pack ${share(least)} unused is repacked though the repository would stay within the share without that`)
    }
  }
  // 0 repacks every partly used pack; 1 repacks none; a larger share never repacks more.
  assert.equal(plans.get(0)!.stats.packsToRepack, partly.length)
  assert.equal(plans.get(1)!.stats.packsToRepack, 0)
  const counts = [0, 0.05, 0.1, 0.5, 1].map((m) => plans.get(m)!.stats.packsToRepack)
  assert.deepEqual([...counts].sort((a, b) => b - a), counts, `repacks by maxUnused: ${counts}`)
  assert.ok(counts[3] < counts[0], `half the repository may be unused: fewer repacks than with 0 (${counts})`)

  // And the prune itself leaves the repository within the share, every snapshot restoring.
  const r = await repo.prune({ maxUnused: 0.1, smallPackBytes: 0 })
  assert.equal(r.packsRepacked, plans.get(0.1)!.stats.packsToRepack)
  const after = await planPrune(await Repository.open({ backend, password: 'pw' }), { maxUnused: 0.1, smallPackBytes: 0 })
  assert.ok(shareAfter(after) <= 0.1 + 1e-9)
  assert.equal(after.stats.packsToRepack, 0, 'a second prune with the same share has nothing to do')
  const out = tempDir('prune-share-out')
  await repo.restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'data')), describeTree(src))
})

test('repacking reads what it carries into one buffer where the storage can (a local folder) or whole: the kept snapshots restore; a pack shorter than its index says stops the prune before anything is deleted', async () => {
  const { LocalBackend, CorruptObjectError } = await import('../src/index.js')
  const { truncateSync, readdirSync } = await import('node:fs')
  for (const kind of ['local', 'memory'] as const) {
    for (const damaged of [false, true]) {
      const dir = tempDir(`prune-read-${kind}`)
      const backend = kind === 'local' ? new LocalBackend(join(dir, 'repo')) : new MemoryBackend()
      const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 96 * 1024 })
      const { shapes } = await history(repo, dir)
      for (const { id } of shapes.slice(0, 2)) await backend.remove({ type: 'snapshots', name: id })
      const plan = await planPrune(repo, { maxUnused: 0 })
      const repack = plan.packs.filter((p) => p.action === 'repack')
      assert.ok(repack.length > 0, `${kind}: something to repack`)
      const indexBefore: string[] = []
      for await (const f of backend.list('index')) indexBefore.push(f.name)
      if (!damaged) {
        const s = await repo.prune({ maxUnused: 0 })
        assert.equal(s.packsRepacked, repack.length)
        await restoresAll(await Repository.open({ backend, password: 'pw' }), shapes, shapes.slice(2).map((x) => x.id))
        continue
      }
      // Cut the pack to be repacked short, inside the blobs it carries.
      const victim = repack[0]
      if (backend instanceof MemoryBackend) {
        const key = `data/${victim.id}`
        backend.files.set(key, backend.files.get(key)!.subarray(0, 100))
      } else {
        const sub = join(dir, 'repo', 'data', victim.id.slice(0, 2))
        assert.ok(readdirSync(sub).includes(victim.id))
        truncateSync(join(sub, victim.id), 100)
      }
      await assert.rejects(repo.prune({ maxUnused: 0 }), (e: unknown) => e instanceof CorruptObjectError && /shorter than its index says/.test(e.message) && e.message.includes(victim.id))
      const indexAfter: string[] = []
      for await (const f of backend.list('index')) indexAfter.push(f.name)
      assert.deepEqual(indexAfter.sort(), indexBefore.sort(), `${kind}: no index file written or deleted`)
      const snaps: string[] = []
      for await (const f of backend.list('snapshots')) snaps.push(f.name)
      assert.equal(snaps.length, shapes.length - 2)
    }
  }
})
