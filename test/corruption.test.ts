import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { CorruptObjectError, MemoryBackend, Repository, WrongPasswordError, NotARepositoryError, ObjectNotFoundError } from '../src/index.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

// These tests damage stored files: the local cache would serve the good copy it kept (as restic's
// does; check reads storage, see cache.test.ts), so they run without it.
process.env.SESSION_SYNC_NO_CACHE = '1'

after(cleanup)

async function setup() {
  const src = join(tempDir('bad'), 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a.bin'), randomBytesSeeded(100_000, 1))
  writeFileSync(join(src, 'b.txt'), 'hello world '.repeat(1000))
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS })
  const s = await repo.backup([src])
  const keys = (type: string) => [...backend.files.keys()].filter((k) => k.startsWith(`${type}/`))
  return { src, backend, repo, snapshotId: s.snapshotId!, keys }
}

/** Replaces a stored file by new bytes stored under the name its hash gives, like a consistent forgery. */
function restoreName(backend: MemoryBackend, key: string, bytes: Uint8Array): string {
  backend.files.delete(key)
  const name = createHash('sha256').update(bytes).digest('hex')
  const k = `${key.split('/')[0]}/${name}`
  backend.files.set(k, bytes)
  return name
}

test('a wrong password is a clear error; so is a location without a repository', async () => {
  const { backend } = await setup()
  await assert.rejects(Repository.open({ backend, password: 'not it' }), WrongPasswordError)
  await assert.rejects(Repository.open({ backend: new MemoryBackend(), password: 'pw' }), NotARepositoryError)
  await assert.rejects(Repository.open({ backend, key: new Uint8Array(32) }), WrongPasswordError)
})

for (const threads of [0, 2]) {
test(`a flipped byte in a pack makes restore (${threads} threads) fail naming the blob and pack, leaving no half-written file`, async () => {
  const { backend, repo, keys } = await setup()
  for (const k of keys('data')) {
    const f = backend.files.get(k)!
    f[40] ^= 0x01 // inside the first blob
  }
  const fresh = await Repository.open({ backend, password: 'pw' })
  const out = tempDir('bad')
  await assert.rejects(fresh.restore('latest', out, { threads }), (e: unknown) => {
    assert.ok(e instanceof CorruptObjectError, String(e))
    assert.match(e.message, /blob [0-9a-f]{64} in pack [0-9a-f]{64}/)
    assert.match(e.message, /session-sync check/)
    return true
  })
  const leftovers = existsSync(join(out, 'src')) ? readdirSync(join(out, 'src')).filter((n) => n.endsWith('.tmp')) : []
  assert.deepEqual(leftovers, [])
  void repo
})
}

test('a truncated index file is a clear error naming it', async () => {
  const { backend, keys } = await setup()
  const [k] = keys('index')
  const truncated = backend.files.get(k)!.slice(0, 50)
  backend.files.set(k, truncated)
  const repo = await Repository.open({ backend, password: 'pw' })
  await assert.rejects(repo.restore('latest', tempDir('bad')), (e: unknown) => e instanceof CorruptObjectError && e.message.includes(k.split('/')[1]) && /SHA-256/.test(e.message))
  // The same truncation stored under a matching name fails authentication instead.
  const name = restoreName(backend, k, truncated)
  const repo2 = await Repository.open({ backend, password: 'pw' })
  await assert.rejects(repo2.restore('latest', tempDir('bad')), (e: unknown) => e instanceof CorruptObjectError && e.message.includes(name) && /index/.test(e.message))
})

test('a truncated or forged snapshot is a clear error naming it (and listing goes on past it)', async () => {
  const { backend, snapshotId } = await setup()
  const k = `snapshots/${snapshotId}`
  const bytes = backend.files.get(k)!
  const name = restoreName(backend, k, bytes.slice(0, bytes.length - 5))
  const repo = await Repository.open({ backend, password: 'pw' })
  assert.deepEqual(await repo.snapshots(), [])
  assert.equal(repo.snapshotProblems.length, 1)
  assert.ok(repo.snapshotProblems[0].error instanceof CorruptObjectError && repo.snapshotProblems[0].error.message.includes(name))
  await assert.rejects(repo.restore(name, tempDir('bad')), (e: unknown) => e instanceof CorruptObjectError && e.message.includes(name))
})

test('a corrupt config is reported as such, not as a wrong password', async () => {
  const { backend } = await setup()
  const cfg = backend.files.get('config/config')!
  cfg[cfg.length - 1] ^= 0xff
  await assert.rejects(Repository.open({ backend, password: 'pw' }), (e: unknown) => e instanceof CorruptObjectError && /config/.test(e.message))
})

test('a missing pack makes restore fail naming it', async () => {
  const { backend, keys } = await setup()
  for (const k of keys('data')) backend.files.delete(k)
  const repo = await Repository.open({ backend, password: 'pw' })
  await assert.rejects(repo.restore('latest', tempDir('bad')), ObjectNotFoundError)
})

test('a corrupt key file is skipped when another key opens the repository, and reported when none is left', async () => {
  const { backend, keys } = await setup()
  const [k] = keys('keys')
  const bytes = backend.files.get(k)!
  restoreName(backend, k, bytes.slice(0, 30))
  await assert.rejects(Repository.open({ backend, password: 'pw' }), (e: unknown) => e instanceof CorruptObjectError && /key/.test(e.message))
})

test('a damaged index file does not block restoring what other index files describe; prune indexes its packs again and removes it', async () => {
  const { src, backend, repo, keys, snapshotId } = await setup()
  // A second backup adds a second index file; then damage the first one.
  const src2 = join(tempDir('bad'), 'second')
  mkdirSync(src2)
  writeFileSync(join(src2, 'c.txt'), 'third file')
  const second = await repo.backup([src2])
  const [first] = keys('index').filter((k) => backend.files.get(k))
  const bytes = backend.files.get(first)!
  const damagedName = restoreName(backend, first, bytes.slice(0, bytes.length - 3))
  const fresh = await Repository.open({ backend, password: 'pw' })
  // One of the two snapshots lives in the damaged index; the other restores.
  const results = await Promise.allSettled([fresh.restore(second.snapshotId!, tempDir('bad')), fresh.restore(snapshotId, tempDir('bad'))])
  assert.ok(results.some((r) => r.status === 'fulfilled'), 'the snapshot described by the intact index must restore')
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined
  if (failed) assert.ok(failed.reason instanceof CorruptObjectError && failed.reason.message.includes(damagedName), 'the other fails naming the damaged index')
  assert.ok(fresh.indexProblems.length === 1)
  const before = await fresh.check()
  assert.deepEqual([...new Set(before.problems.map((p) => p.kind))].sort(), ['blob-missing', 'index-unreadable', 'pack-unindexed'])

  // A dry run shows the plan and changes nothing.
  const dry = await fresh.prune({ dryRun: true })
  assert.deepEqual(dry.plan.damagedIndexFiles, [damagedName])
  assert.ok(dry.plan.adopted > 0)
  assert.ok(backend.files.has(`index/${damagedName}`))

  const pruned = await fresh.prune()
  assert.equal(pruned.plan.adopted, dry.plan.adopted)
  assert.equal(pruned.packsDeleted, 0, 'every pack holds data a snapshot needs')
  assert.ok(!backend.files.has(`index/${damagedName}`), 'the damaged index file is gone')
  const after = await Repository.open({ backend, password: 'pw' })
  const report = await after.check({ readData: true })
  assert.deepEqual(report.problems, [])
  assert.equal(after.indexProblems.length, 0)
  // Both snapshots restore, byte for byte.
  for (const [id, from] of [[snapshotId, src], [second.snapshotId!, src2]] as const) {
    const target = tempDir('bad')
    await after.restore(id, target)
    for (const name of readdirSync(from)) {
      const dir = readdirSync(target)[0]
      assert.ok(readFileSync(join(target, dir, name)).equals(readFileSync(join(from, name))), `${name} of snapshot ${id.slice(0, 8)}`)
    }
  }
  // Nothing is left unindexed or damaged for a second prune (the adopted packs, young, were kept as
  // they were; this one may combine them as small packs).
  const again = await after.prune()
  assert.equal(again.plan.adopted, 0)
  assert.deepEqual(again.plan.damagedIndexFiles, [])
  assert.deepEqual((await (await Repository.open({ backend, password: 'pw' })).check({ readData: true })).problems, [])
})

test('a truncated pack is reported as corrupt, naming the pack', async () => {
  const { backend, keys } = await setup()
  for (const k of keys('data')) backend.files.set(k, backend.files.get(k)!.slice(0, 100))
  const repo = await Repository.open({ backend, password: 'pw' })
  await assert.rejects(repo.restore('latest', tempDir('bad')), (e: unknown) => e instanceof CorruptObjectError && /shorter than its index says/.test(e.message))
})
