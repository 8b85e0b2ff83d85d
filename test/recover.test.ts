// The view of a protected repository as it was at a past time (asOf, recover --as-of) and its copy
// (recoverTo), on the Object Lock model with an injected clock.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { asOf, MemoryBackend, NoVersionsError, ObjectLockModel, ReadOnlyViewError, recoverTo, Repository, withRetry, type Backend } from '../src/index.js'
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

test('asOf: the oldest config, the newest version of a file that hashes to its name, delete markers see-through, writes refused', async () => {
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
  await attacker.remove({ type: 'index', name: sha(good) })
  await owner.save({ type: 'index', name: sha(later) }, later)
  for (const when of [t, new Date(clock)]) {
    const view = asOf(owner, when)
    assert.equal(Buffer.from(await view.load({ type: 'config', name: 'config' })).toString(), 'config 1')
    assert.equal(Buffer.from(await view.load({ type: 'index', name: sha(good) })).toString(), 'good index', 'the overwrite and the delete marker are skipped')
    assert.deepEqual((await view.stat({ type: 'index', name: sha(good) })).size, good.length)
    const names = []
    for await (const f of view.list('index')) names.push(f.name)
    assert.deepEqual(names.sort(), when === t ? [sha(good)] : [sha(good), sha(later)].sort())
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
