// The view of a protected repository as it was at a past time (asOf, recover --as-of) and its copy
// (recoverTo), on the Object Lock model with an injected clock.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AS_OF_NOW, asOf, MemoryBackend, NoVersionsError, ObjectExistsError, ObjectLockModel, ObjectNotFoundError, ReadOnlyViewError, recoverTo, Repository, withRetry, type Backend } from '../src/index.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('base64')

test('versions of every file of a kind and one version\'s bytes, through a decorator', async () => {
  let clock = 1_000_000
  const model = new ObjectLockModel({ now: () => clock })
  const owner = withRetry(model.backend('owner'))
  const a = Buffer.from('first'), b = Buffer.from('second')
  await owner.save({ type: 'index', name: sha(a) }, a)
  clock += 1000
  await owner.save({ type: 'index', name: sha(a) }, b) // an overwrite: a second version
  await owner.remove({ type: 'index', name: sha(b) }) // nothing there: no marker
  await owner.save({ type: 'snapshots', name: sha(b) }, b)
  const listed = []
  for await (const v of owner.listVersions!('index')) listed.push(v)
  assert.deepEqual(listed.map((v) => [v.name, v.size, v.latest, v.deleteMarker, v.modified!.getTime()]), [
    [sha(a), b.length, true, false, 1_001_000],
    [sha(a), a.length, false, false, 1_000_000],
  ])
  assert.equal(Buffer.from(await owner.loadVersion!({ type: 'index', name: sha(a) }, listed[1].versionId)).toString(), 'first')
  assert.equal(Buffer.from(await owner.loadVersion!({ type: 'index', name: sha(a) }, listed[0].versionId, { offset: 1, length: 3 })).toString(), 'eco')
  assert.throws(() => asOf(new MemoryBackend(), new Date()), NoVersionsError)
})

test('asOf: the oldest config, the first version of a file that hashes to its name, a delete marker hides the file from then on, writes refused', async () => {
  let clock = 1_000_000
  const model = new ObjectLockModel({ now: () => clock })
  const owner = model.backend('owner')
  const attacker = model.backend('owner')
  const good = Buffer.from('good index'), junk = Buffer.from('junk'), later = Buffer.from('later')
  await owner.save({ type: 'config', name: 'config' }, Buffer.from('config 1'))
  await owner.save({ type: 'index', name: sha(good) }, good)
  clock += 1000
  const t = new Date(clock)
  clock += 1000
  await attacker.save({ type: 'config', name: 'config' }, Buffer.from('config 2'), { contentMd5: md5(Buffer.from('config 2')) })
  await attacker.save({ type: 'index', name: sha(good) }, junk)
  await attacker.save({ type: 'index', name: sha(good) }, good) // the same bytes again: still the first is shown
  await owner.save({ type: 'index', name: sha(later) }, later)
  clock += 1000
  const overwritten = new Date(clock)
  clock += 1000
  await owner.remove({ type: 'index', name: sha(good) })
  const gone = new Date(clock)
  for (const when of [t, overwritten, gone]) {
    const view = asOf(owner, when)
    assert.equal(Buffer.from(await view.load({ type: 'config', name: 'config' })).toString(), 'config 1')
    const names = []
    for await (const f of view.list('index')) names.push(f.name)
    if (when === gone) {
      assert.deepEqual(names, [sha(later)], 'removed by then: not shown')
      await assert.rejects(view.load({ type: 'index', name: sha(good) }), ObjectNotFoundError)
    } else {
      assert.equal(Buffer.from(await view.load({ type: 'index', name: sha(good) })).toString(), 'good index', 'the overwrite is skipped')
      assert.deepEqual((await view.stat({ type: 'index', name: sha(good) })).size, good.length)
      assert.deepEqual(names.sort(), when === t ? [sha(good)] : [sha(good), sha(later)].sort())
    }
    await assert.rejects(view.save({ type: 'index', name: sha(later) }, later), (e) => e instanceof ReadOnlyViewError && e.code === 'READ_ONLY_VIEW')
    await assert.rejects(view.remove({ type: 'index', name: sha(good) }), ReadOnlyViewError)
  }
})

function source(): string {
  const dir = join(tempDir('recover'), 'src')
  mkdirSync(dir)
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}.bin`), randomBytesSeeded(20_000 + i * 1000, i))
  return dir
}

test('a protected repository as of a past time: snapshots, restore and check work on it unchanged; recoverTo copies it into a new location', async () => {
  let clock = Date.now() - 3600_000
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, now: () => clock })
  const repo = await Repository.init({ backend: model.backend('writer'), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
  const src = source()
  await repo.backup([src])
  clock += 60_000
  const first = readFileSync(join(src, 'f0.bin'))
  const t = new Date(clock)
  clock += 60_000
  writeFileSync(join(src, 'f0.bin'), randomBytesSeeded(25_000, 99))
  await repo.backup([src])
  await repo.close()
  const open = (backend: Backend) => Repository.open({ backend, password: 'pw', cacheDir: false })
  const past = await open(asOf(model.backend('owner'), t))
  assert.equal((await past.snapshots()).length, 1)
  const out = tempDir('recover-out')
  await past.restore('latest', out)
  assert.deepEqual(readFileSync(join(out, 'src', 'f0.bin')), first)
  assert.deepEqual((await past.check({ readData: true })).problems, [])
  const copy = new MemoryBackend()
  const r = await recoverTo(asOf(model.backend('owner'), t), copy)
  assert.equal(r.copied.config, 1)
  assert.equal(r.copied.snapshots, 1)
  assert.equal((await recoverTo(asOf(model.backend('owner'), t), copy)).alreadyThere, Object.values(r.copied).reduce((a, b) => a + b, 0), 'a second run finds everything there')
  const copied = await open(copy)
  assert.equal(copied.id, past.id)
  assert.deepEqual((await copied.check({ readData: true })).problems, [])
  assert.equal((await copied.snapshots()).length, 1)
  await past.close()
  await copied.close()
})

test('after a trusted forget and prune, then packs rewritten with their trailer kept: every view checks clean, check --versions through a past view explains the prune, recoverTo resumes only over the same bytes', async () => {
  let clock = Date.now() - 3600_000
  const model = new ObjectLockModel({ now: () => clock })
  const writer = await Repository.init({ backend: model.backend('writer'), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
  const src = source()
  const first = await writer.backup([src])
  clock += 60_000
  writeFileSync(join(src, 'f0.bin'), randomBytesSeeded(25_000, 98))
  await writer.backup([src])
  await writer.close()
  clock += 60_000
  const t = new Date(clock)
  clock += 60_000
  const owner = await Repository.open({ backend: model.backend('owner'), password: 'pw', trusted: true, cacheDir: false })
  await owner.forgetSnapshots([first.snapshotId!])
  await owner.prune()
  await owner.close()
  clock += 60_000
  // The attacker rewrites every pack: blobs garbled, the trailer (what names a pack) kept.
  const attacker = model.backend('writer')
  const rewritten: Array<{ name: string; bytes: Buffer }> = []
  for await (const f of attacker.list('data')) {
    const bytes = Buffer.from(await attacker.load({ type: 'data', name: f.name }))
    for (let i = 0; i < 200; i++) bytes[i] ^= 0xff
    await attacker.save({ type: 'data', name: f.name }, bytes)
    rewritten.push({ name: f.name, bytes })
  }
  assert.ok(rewritten.length > 0)
  clock += 60_000

  const open = (backend: Backend) => Repository.open({ backend, password: 'pw', cacheDir: false })
  const now = await open(asOf(model.backend('owner'), AS_OF_NOW))
  assert.equal((await now.snapshots()).length, 1, 'the forgotten snapshot stays forgotten')
  assert.deepEqual((await now.check({ readData: true })).problems, [], 'the first version of each pack, not the rewrite')
  await now.close()
  const past = await open(asOf(model.backend('owner'), t))
  assert.equal((await past.snapshots()).length, 2)
  assert.deepEqual((await past.check({ readData: true })).problems, [])
  const versions = await past.checkVersions()
  assert.deepEqual(versions.unexplainedDeletes, [], 'the prune after the view\'s time is explained by its journal record')
  assert.ok(versions.explainedDeletes > 0)
  assert.equal(versions.overwrites.length, rewritten.length)
  await past.close()

  const copy = new MemoryBackend()
  await copy.save({ type: 'data', name: rewritten[0].name }, rewritten[0].bytes) // an earlier copy of the rewrite: same size, other bytes
  await assert.rejects(recoverTo(asOf(model.backend('owner'), AS_OF_NOW), copy), (e) => e instanceof ObjectExistsError && /other bytes/.test(e.message))
  const storage = model.backend('owner')
  await assert.rejects(recoverTo(asOf(storage, AS_OF_NOW), storage), /not into .* which it reads/)
})
