// Retention follows the data: every object a snapshot needs stays locked until the snapshot's
// storage time + R, on the Object Lock model with an injected clock (weeks pass in a test).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MODEL_ROLES, ObjectLockModel, Repository, neededObjects, type Backend } from '../src/index.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const DAY = 86_400_000
const R = 30

const init = (backend: Backend) => Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
const open = (backend: Backend) => Repository.open({ backend, password: 'pw', cacheDir: false })

function world(): { model: ObjectLockModel; advance: (days: number) => void } {
  // Time moves on as the storage is used (10 ms a request), and by days when told.
  let t = Date.now()
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: R }, now: () => (t += 10) })
  return { model, advance: (days) => (t += days * DAY) }
}

function source(): string {
  const dir = join(tempDir('retention'), 'src')
  mkdirSync(dir)
  for (let i = 0; i < 6; i++) writeFileSync(join(dir, `f${i}.bin`), randomBytesSeeded(30_000 + i * 1000, i))
  return dir
}

/** Objects a snapshot needs whose current version is locked for less than its storage time + R. */
async function shortLocks(repo: Repository, model: ObjectLockModel): Promise<string[]> {
  const short: string[] = []
  for (const s of await repo.snapshots()) {
    for (const [key, n] of await neededObjects(repo, [s], model.now())) {
      const v = model.current(key === 'config' ? 'config/config' : key)
      assert.ok(v, `${key} exists`)
      if ((v.retainUntil ?? 0) < n.until) short.push(`${s.shortId}:${key}`)
    }
  }
  return short
}

test('after a protected backup every object the snapshot needs is locked until its storage time + R; frequent backups extend only their new objects', async () => {
  const { model, advance } = world()
  const repo = await init(model.backend('writer'))
  const src = source()
  const first = await repo.backup([src])
  assert.ok(first.retention)
  // Its new objects were uploaded before the snapshot file, so each is a little short and extended once.
  assert.ok(first.retention.objects >= 5, `${first.retention.objects} objects`)
  assert.equal(first.warnings, undefined)
  assert.deepEqual(await shortLocks(repo, model), [])

  // A sync every 15 minutes for a day: each changes one file; only the new pack, index and snapshot are asked about.
  let extended = 0
  let read = 0
  for (let i = 0; i < 8; i++) {
    advance(15 / 1440)
    writeFileSync(join(src, 'changing.bin'), randomBytesSeeded(5000, 50 + i))
    const s = await repo.backup([src])
    extended += s.retention!.extended
    read += s.retention!.read
    // Measured: 3 (the new data pack, tree pack and index file; the snapshot file's own lock suffices).
    assert.ok(s.retention!.read <= 3, `backup ${i} read the retention of ${s.retention!.read} objects`)
  }
  assert.ok(extended <= 8 * 3, `${extended} extensions over 8 backups`)
  assert.ok(read <= 8 * 3)
  assert.deepEqual(await shortLocks(repo, model), [])

  // Weeks later, the shared old objects have less than R left: the next backup extends them.
  advance(25)
  writeFileSync(join(src, 'late.bin'), randomBytesSeeded(3000, 99))
  const late = await repo.backup([src])
  assert.ok(late.retention!.extended > 4, `${late.retention!.extended} extended`)
  assert.deepEqual(await shortLocks(repo, model), [])
  // The next backup right after needs nothing for the old objects (the 7 days of slack).
  writeFileSync(join(src, 'late.bin'), randomBytesSeeded(3000, 100))
  const next = await repo.backup([src])
  assert.ok(next.retention!.extended <= 3, `${next.retention!.extended} extended`)
})

test('a writer that may not extend retention still backs up and warns; the owner\'s check names the lapsing objects and extends them', async () => {
  const { model, advance } = world()
  model.user('agent', { ...MODEL_ROLES.writer, putRetention: false })
  const repo = await init(model.backend('agent'))
  const src = source()
  await repo.backup([src])
  advance(20)
  writeFileSync(join(src, 'new.bin'), randomBytesSeeded(4000, 7))
  const s = await repo.backup([src])
  assert.ok(s.snapshotId, 'the backup succeeded')
  assert.ok(s.retention!.lapsing.length > 0)
  assert.match(s.retention!.denied!, /may not set the retention/)
  assert.match(s.warnings!.join('\n'), /locked for less than the repository's retention.*run check with the owner's credential/)
  assert.ok((await shortLocks(repo, model)).length > 0)

  // The writer's check only names them.
  const named = await repo.check({ extendRetention: false })
  assert.equal(named.ok, false)
  assert.ok(named.problems.some((p) => p.kind === 'retention-short'))

  const owner = await open(model.backend('owner'))
  const c = await owner.check()
  assert.equal(c.ok, true, JSON.stringify(c.problems))
  assert.ok(c.retention!.extended > 0)
  assert.deepEqual(c.retention!.lapsing, [])
  assert.deepEqual(await shortLocks(owner, model), [])
  const again = await owner.check()
  assert.equal(again.retention!.extended, 0, 'nothing left to extend')
})

test('a repository without Object Lock retention keeps no retention and reports none', async () => {
  const model = new ObjectLockModel({})
  const repo = await init(model.backend('writer'))
  const s = await repo.backup([source()])
  assert.equal(s.retention, undefined)
  assert.equal((await repo.check()).retention, undefined)
})

test('what is known of the locks is kept in the local cache: a fresh process backing up asks about its new objects only; check asks the storage about every object', async () => {
  const { model, advance } = world()
  const cacheDir = tempDir('retention-cache')
  const first = await Repository.init({ backend: model.backend('writer'), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir })
  const src = source()
  await first.backup([src])
  for (const [i, dir] of [cacheDir, false as const].entries()) {
    advance(15 / 1440)
    writeFileSync(join(src, 'changing.bin'), randomBytesSeeded(5000, 70 + i))
    const fresh = await Repository.open({ backend: model.backend('writer'), password: 'pw', cacheDir: dir })
    const s = await fresh.backup([src])
    if (dir) assert.ok(s.retention!.read <= 3, `with the cache: ${s.retention!.read} read`)
    else assert.ok(s.retention!.read > 3, `without it: ${s.retention!.read} read`)
  }
  const owner = await Repository.open({ backend: model.backend('owner'), password: 'pw', cacheDir })
  const c = await owner.check()
  // Only the snapshot files are settled by the listing (their default lock from their upload is what they need).
  assert.equal(c.retention!.read, c.retention!.objects - (await owner.snapshots()).length, 'check trusts no cache')
})
