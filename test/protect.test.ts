import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  MemoryBackend,
  NotProtectableError,
  ObjectExistsError,
  ObjectLockModel,
  ProtectedRepositoryError,
  Repository,
  type Backend,
} from '../src/index.js'
import { listLocks } from '../src/repository/lock.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const init = (backend: Backend, protect = true) => Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect, cacheDir: false })
const open = (backend: Backend) => Repository.open({ backend, password: 'pw', cacheDir: false })

function source(): string {
  const dir = join(tempDir('protect'), 'src')
  mkdirSync(dir)
  for (let i = 0; i < 8; i++) writeFileSync(join(dir, `f${i}.bin`), randomBytesSeeded(30_000 + i * 1000, i))
  return dir
}

/** Keys of the model with more than one version or a delete marker: what a writer must never leave. */
function rewritten(model: ObjectLockModel): string[] {
  return [...model.objects].filter(([, vs]) => vs.length !== 1 || !vs[0].data).map(([k]) => k)
}

test('init --protect reads the bucket\'s versioning and Object Lock back and records them in a version 2 config', async () => {
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'COMPLIANCE', days: 37 } })
  const repo = await init(model.backend('writer'))
  assert.deepEqual(repo.config.protect, { versioning: 'enabled', objectLock: true, retention: { mode: 'COMPLIANCE', days: 37 } })
  assert.equal(repo.config.v, 2)
  assert.ok(repo.protected)
  const again = await open(model.backend('writer'))
  assert.deepEqual(again.config.protect, repo.config.protect)
  assert.ok(again.protected)
  const plain = await init(new MemoryBackend(), false)
  assert.equal(plain.config.v, 1, 'an unprotected repository keeps format version 1')
  assert.equal(plain.protected, false)
})

test('init --protect refuses storage that keeps no old versions, with a typed error', async () => {
  await assert.rejects(init(new MemoryBackend()), (e) => e instanceof NotProtectableError && e.code === 'NOT_PROTECTABLE' && /keeps no old versions/.test(e.message))
  await assert.rejects(init(new ObjectLockModel({ versioning: 'suspended' }).backend('owner')), (e) => e instanceof NotProtectableError && /versioning is suspended/.test(e.message))
})

test('a protected repository\'s backups never delete nor overwrite: a credential with delete rights leaves one version of every file and no marker', async () => {
  // The deleter could delete: any delete or overwrite would show as a marker or a second version.
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, honoursIfNoneMatch: false })
  const repo = await init(model.backend('deleter'))
  const src = source()
  for (let i = 0; i < 4; i++) {
    writeFileSync(join(src, `new${i}.bin`), randomBytesSeeded(20_000, 100 + i))
    const s = await repo.backup([src], { consolidateIndexes: 1 })
    assert.equal(s.indexFilesMerged, 0, 'no index consolidation')
  }
  assert.deepEqual(rewritten(model), [])
  assert.equal([...model.objects.keys()].filter((k) => k.startsWith('index/')).length, 4, 'one index file a backup, none merged')
  // Locks were released by records, never removed: none is held, every lock file is still there.
  assert.deepEqual(await listLocks(repo), [])
  assert.equal([...model.objects.keys()].filter((k) => k.startsWith('locks/')).length, 8)
  const c = await repo.check({ readData: true })
  assert.deepEqual(c.problems, [])
  const reopened = await open(model.backend('writer'))
  assert.equal((await reopened.snapshots()).length, 4)
  const target = tempDir('protect-restore')
  await reopened.restore('latest', target)
  assert.deepEqual(readFileSync(join(target, 'src', 'new3.bin')), readFileSync(join(src, 'new3.bin')))
})

test('a protected repository backs up with a writer\'s credential that has no delete permission at all', async () => {
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 } })
  const repo = await init(model.backend('writer'))
  const src = source()
  await repo.backup([src])
  writeFileSync(join(src, 'more.bin'), randomBytesSeeded(50_000, 9))
  const s = await repo.backup([src])
  assert.equal(s.filesNew, 1)
  assert.deepEqual(rewritten(model), [])
})

test('a protected repository\'s writer refuses to delete (forget, unlock) with a typed error, and refuses to overwrite a file with other bytes', async () => {
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 } })
  const repo = await init(model.backend('owner'))
  await repo.backup([source()])
  const [snap] = await repo.snapshots()
  await assert.rejects(repo.forgetSnapshots([snap.id]), (e) => e instanceof ProtectedRepositoryError && e.code === 'PROTECTED_REPOSITORY')
  const key = { type: 'keys' as const, name: repo.keyId }
  await assert.rejects(repo.backend.save(key, Buffer.from('forged key file')), ObjectExistsError)
  await assert.rejects(repo.backend.save({ type: 'config', name: 'config' }, Buffer.from('forged config')), ObjectExistsError)
  await assert.rejects(repo.backend.remove(key), ProtectedRepositoryError)
  assert.deepEqual(rewritten(model), [])
})

const statuses = (r: { checks: Array<{ check: string; status: string }> }) => Object.fromEntries(r.checks.map((c) => [c.check, c.status]))

test('doctor observes every protection for a writer on a locked, versioned bucket; readers ignore its canary', async () => {
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 } })
  const repo = await init(model.backend('writer'))
  await repo.backup([source()])
  const r = await repo.doctor()
  assert.deepEqual(statuses(r), {
    versioning: 'observed',
    'object-lock': 'observed',
    'overwrite-refused': 'observed',
    'overwrite-keeps-version': 'observed',
    'lock-headers': 'observed',
    'delete-refused': 'observed',
    'version-delete-refused': 'observed',
  })
  assert.ok(r.ok)
  assert.ok(model.current(`locks/${r.canary}`), 'the canary is still there')
  assert.deepEqual(await repo.locks(), [], 'the canary is no lock')
  const c = await repo.check()
  assert.deepEqual(c.problems, [])
})

test('doctor reports what it saw not work: an ignored If-None-Match, no lock headers, deletes a credential may make', async () => {
  const ignores = await init(new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, honoursIfNoneMatch: false }).backend('writer'))
  const a = await ignores.doctor()
  assert.equal(statuses(a)['overwrite-refused'], 'not-observed')
  assert.equal(statuses(a)['overwrite-keeps-version'], 'observed')
  assert.equal(a.ok, false)

  const model = new ObjectLockModel()
  const open = await init(model.backend('deleter'))
  const b = await open.doctor()
  assert.deepEqual(statuses(b), {
    versioning: 'observed',
    'object-lock': 'not-observed',
    'overwrite-refused': 'observed',
    'overwrite-keeps-version': 'observed',
    'lock-headers': 'not-observed',
    'delete-refused': 'not-observed',
    'version-delete-refused': 'not-observed',
  })
  assert.match(b.checks.find((c) => c.check === 'delete-refused')!.detail, /delete marker/)
  assert.equal(model.objects.has(`locks/${b.canary}`), true, 'the marker stays after the version delete')

  const plain = await init(new MemoryBackend(), false)
  const c = await plain.doctor()
  assert.deepEqual(statuses(c), { versioning: 'not-observed' })
  assert.equal(c.ok, false)
})

test('a protected repository reads only recent lock files: the records of old backups cost no requests', async () => {
  let offset = -2 * 86_400_000 // the first backups are stored two days ago
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, now: () => Date.now() + offset })
  const repo = await init(model.backend('writer'))
  const src = source()
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(src, `n${i}.bin`), randomBytesSeeded(10_000, 200 + i))
    await repo.backup([src])
  }
  offset = 0
  const before = repo.requests().GET
  assert.deepEqual(await listLocks(repo), [])
  assert.equal(repo.requests().GET - before, 0, 'six old lock files and release records are not read')
  const held = await repo.backup([src]) // and a fresh lock is still seen and released
  assert.ok(held.filesUnmodified > 0)
  const mid = repo.requests().GET
  assert.deepEqual(await listLocks(repo), [])
  assert.equal(repo.requests().GET - mid, 2, 'the recent lock and its release record are read')
})
