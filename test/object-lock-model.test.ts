import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ObjectLockModel, ObjectExistsError, ObjectNotFoundError, PermissionDeniedError, BackendError, type Handle } from '../src/index.js'

const DAY = 86_400_000

function clock(start = Date.parse('2026-01-01T00:00:00Z')) {
  const c = { t: start, now: () => c.t, advance: (ms: number) => (c.t += ms) }
  return c
}

const h: Handle = { type: 'data', name: 'ab'.repeat(32) }
const text = (b: Uint8Array) => Buffer.from(b).toString()

test('model: a writer without delete rights cannot delete a file or a version; the owner\'s delete only adds a marker', async () => {
  const model = new ObjectLockModel({ requireChecksum: false })
  const writer = model.backend('writer')
  const owner = model.backend('owner')
  await writer.save(h, Buffer.from('one'))
  await assert.rejects(writer.remove(h), (e) => e instanceof PermissionDeniedError && e.code === 'PERMISSION_DENIED')
  const [v] = await writer.versions(h)
  await assert.rejects(writer.removeVersion(h, v.versionId), PermissionDeniedError)
  assert.equal(text(await writer.load(h)), 'one')
  await owner.remove(h)
  await assert.rejects(writer.load(h), ObjectNotFoundError)
  const vs = await owner.versions(h)
  assert.deepEqual(vs.map((x) => [x.deleteMarker, x.latest]), [[true, true], [false, false]])
  assert.equal(text(await owner.model.objects.get('data/' + h.name)![0].data!), 'one', 'the version behind the marker is kept')
})

test('model: an overwrite keeps the earlier version; If-None-Match is refused where honoured and ignored where not, unless writes are protected', async () => {
  for (const honours of [true, false]) {
    const model = new ObjectLockModel({ honoursIfNoneMatch: honours, requireChecksum: false })
    const b = model.backend('writer')
    await b.save(h, Buffer.from('one'), { ifAbsent: true })
    if (honours) await assert.rejects(b.save(h, Buffer.from('two'), { ifAbsent: true }), ObjectExistsError)
    else await b.save(h, Buffer.from('two'), { ifAbsent: true })
    assert.equal((await b.versions(h)).length, honours ? 1 : 2)
    b.protectWrites()
    await assert.rejects(b.save(h, Buffer.from('three')), (e) => e instanceof ObjectExistsError && e.code === 'OBJECT_EXISTS')
  }
})

test('model: GOVERNANCE retention holds a version against everyone but the owner bypassing it, and lapses with the clock', async () => {
  const c = clock()
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 10 }, now: c.now })
  const deleter = model.backend('deleter')
  const owner = model.backend('owner')
  await assert.rejects(deleter.save(h, Buffer.from('x')), (e) => e instanceof BackendError && /Content-MD5 is required/.test(e.message))
  deleter.protectWrites()
  await deleter.save(h, Buffer.from('x'))
  const [v] = await owner.versions(h)
  const lock = await owner.lockState(h)
  assert.equal(lock.mode, 'GOVERNANCE')
  assert.equal(lock.retainUntil!.getTime(), c.t + 10 * DAY)
  await assert.rejects(deleter.removeVersion(h, v.versionId), PermissionDeniedError)
  await assert.rejects(deleter.removeVersion(h, v.versionId, { bypassGovernance: true }), PermissionDeniedError)
  await assert.rejects(owner.removeVersion(h, v.versionId), PermissionDeniedError, 'the owner must ask for the bypass')
  // The owner's own deletes never lose data either: a delete without a version is a marker.
  c.advance(10 * DAY + 1)
  await deleter.removeVersion(h, v.versionId)
  assert.deepEqual(await owner.versions(h), [])
  await deleter.save(h, Buffer.from('y'))
  const [w] = await owner.versions(h)
  await owner.removeVersion(h, w.versionId, { bypassGovernance: true })
  assert.deepEqual(await owner.versions(h), [])
})

test('model: COMPLIANCE retention and legal holds refuse every version delete, the owner\'s too, until they end', async () => {
  const c = clock()
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'COMPLIANCE', days: 3 }, now: c.now })
  const owner = model.backend('owner')
  owner.protectWrites()
  await owner.save(h, Buffer.from('x'))
  const [v] = await owner.versions(h)
  await assert.rejects(owner.removeVersion(h, v.versionId, { bypassGovernance: true }), PermissionDeniedError)
  c.advance(3 * DAY + 1)
  await owner.setLegalHold(h, v.versionId, true)
  await assert.rejects(owner.removeVersion(h, v.versionId), PermissionDeniedError)
  await owner.setLegalHold(h, v.versionId, false)
  await owner.removeVersion(h, v.versionId)
})

test('model: retention is extend-only: shortening is refused (in GOVERNANCE the owner may bypass), COMPLIANCE never weakens', async () => {
  const c = clock()
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 5 }, now: c.now })
  const writer = model.backend('writer')
  const owner = model.backend('owner')
  writer.protectWrites()
  await writer.save(h, Buffer.from('x'))
  const [v] = await writer.versions(h)
  const at = (days: number) => new Date(c.t + days * DAY)
  await writer.setRetention(h, v.versionId, { mode: 'GOVERNANCE', retainUntil: at(9) })
  await assert.rejects(writer.setRetention(h, v.versionId, { mode: 'GOVERNANCE', retainUntil: at(2) }), PermissionDeniedError)
  await assert.rejects(writer.setRetention(h, v.versionId, { mode: 'GOVERNANCE', retainUntil: at(2) }, { bypassGovernance: true }), PermissionDeniedError)
  await owner.setRetention(h, v.versionId, { mode: 'GOVERNANCE', retainUntil: at(2) }, { bypassGovernance: true })
  assert.equal((await owner.lockState(h)).retainUntil!.getTime(), at(2).getTime())
  await writer.setRetention(h, v.versionId, { mode: 'COMPLIANCE', retainUntil: at(4) })
  await assert.rejects(owner.setRetention(h, v.versionId, { mode: 'COMPLIANCE', retainUntil: at(3) }, { bypassGovernance: true }), PermissionDeniedError)
  await assert.rejects(owner.setRetention(h, v.versionId, { mode: 'GOVERNANCE', retainUntil: at(8) }, { bypassGovernance: true }), PermissionDeniedError)
  c.advance(4 * DAY + 1)
  await owner.removeVersion(h, v.versionId)
})
