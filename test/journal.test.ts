// Trusted operations on a protected repository (the owner's credential, OpenOptions.trusted): every
// delete is named first in the sealed removal journal; checkVersions tells those deletes from a
// compromised writer's delete markers and overwrites. On the Object Lock model.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { journalSchema, ObjectLockModel, ProtectedRepositoryError, Repository, type Backend } from '../src/index.js'
import { decodeObject } from '../src/repository/repofile.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const open = (backend: Backend, trusted = false) => Repository.open({ backend, password: 'pw', cacheDir: false, trusted })

test('a trusted prune and forget journal their deletes and remove old lock records; checkVersions names only a compromised writer\'s delete markers and overwrites', async () => {
  let offset = -3 * 3600_000 // the backups are stored three hours ago
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, now: () => Date.now() + offset })
  const writer = await Repository.init({ backend: model.backend('writer'), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
  const src = join(tempDir('journal'), 'src')
  mkdirSync(src)
  for (let i = 0; i < 4; i++) {
    writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(40_000, i)) // each backup replaces one file
    if (i === 0) for (let j = 1; j < 4; j++) writeFileSync(join(src, `f${j}.bin`), randomBytesSeeded(40_000, 100 + j))
    await writer.backup([src])
  }
  await writer.close()
  offset = 0
  const locksBefore = [...model.objects.keys()].filter((k) => k.startsWith('locks/')).length
  assert.equal(locksBefore, 8, 'a lock file and a release record a backup')

  // Without `trusted`, the owner's repository is a writer's too: no deletes.
  const plain = await open(model.backend('owner'))
  await assert.rejects(plain.forgetSnapshots([(await plain.snapshots())[0].id]), ProtectedRepositoryError)
  await plain.close()

  const owner = await open(model.backend('owner'), true)
  assert.ok(owner.trusted)
  const snaps = await owner.snapshots()
  await owner.forgetSnapshots([snaps[0].id, snaps[1].id])
  const pruned = await owner.prune({ maxUnused: 0 })
  assert.ok(pruned.packsDeleted > 0, JSON.stringify(pruned.plan.stats))
  assert.equal(pruned.lockFilesRemoved, 8, 'every lock file and release record of the old backups')
  const locksLeft = [...model.objects].filter(([k, vs]) => k.startsWith('locks/') && vs[vs.length - 1].data).length
  assert.equal(locksLeft, 2, 'only the prune\'s own lock and its release record')

  const records = await Promise.all([...model.objects.keys()].filter((k) => k.startsWith('journal/')).map(async (k) => decodeObject(journalSchema, await owner.loadFile('journal', k.slice('journal/'.length), 'journal'))))
  const named = new Set(records.flatMap((r) => r.removed.map(([t, n]) => `${t}/${n}`)))
  const deleted = [...model.objects].filter(([, vs]) => !vs[vs.length - 1].data).map(([k]) => k)
  assert.deepEqual(deleted.filter((k) => !named.has(k)), [], 'the journal names every deleted file')
  assert.ok(records.some((r) => r.operation === 'prune' && r.removed.some(([t]) => t === 'data')))
  const v = await owner.checkVersions()
  assert.deepEqual(v.unexplainedDeletes, [])
  assert.deepEqual(v.overwrites, [])
  assert.ok(v.ok)
  const markers = [...model.objects.values()].filter((vs) => !vs[vs.length - 1].data).length
  assert.equal(v.explainedDeletes, markers, 'every delete marker was named by a journal record first')
  assert.ok(v.journalRecords >= 3, `forget, the prune's lock records and its packs: ${v.journalRecords}`)
  // The owner's doctor deletes its canary: the journal names it first.
  const d = await owner.doctor()
  assert.equal(d.checks.find((c) => c.check === 'delete-refused')?.status, 'not-observed', 'the owner may delete')
  const withCanary = await owner.checkVersions()
  assert.deepEqual(withCanary.unexplainedDeletes, [])
  assert.equal(withCanary.explainedDeletes, v.explainedDeletes + 1)
  await owner.close()

  // A writer with delete rights (a careless policy) deletes a snapshot file and overwrites a pack.
  const rogue = model.backend('deleter')
  const snapFile = [...model.objects.keys()].find((k) => k.startsWith('snapshots/') && model.current(k))!
  await rogue.remove({ type: 'snapshots', name: snapFile.slice('snapshots/'.length) })
  const pack = [...model.objects.keys()].find((k) => k.startsWith('data/') && model.current(k))!
  const junk = randomBytesSeeded(1000, 7)
  await rogue.save({ type: 'data', name: pack.slice('data/'.length) }, junk, { contentMd5: createHash('md5').update(junk).digest('base64') })
  const after = await (await open(model.backend('owner'), true)).checkVersions()
  assert.equal(after.ok, false)
  assert.deepEqual(after.unexplainedDeletes.map((e) => `${e.type}/${e.name}`), [snapFile])
  assert.deepEqual(after.overwrites.map((e) => `${e.type}/${e.name}`), [pack])
})
