// The owner-signed removal journal of a protected repository, on the Object Lock model: a writer
// holds the repository key, so it can seal a journal record of its own; only the owner's Ed25519
// signature makes a record explain a delete marker. Forged, tampered and unsigned records are named.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import {
  asOf,
  AS_OF_NOW,
  recoverTo,
  generateOwnerKey,
  journalSchema,
  ObjectLockModel,
  OWNER_KEY_NAME,
  OwnerKeyError,
  parseOwnerKey,
  Repository,
  signJournalRecord,
  type Backend,
  type Handle,
  type JournalRecord,
} from '../src/index.js'
import { decodeObject, PROTECTED_FORMAT_VERSION } from '../src/repository/repofile.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('base64')
const key = (h: Handle) => `${h.type}/${h.name}`

/** A protected repository on the model, three backups stored three hours ago; `clock.offset` moves the storage's time. */
async function setup(ownerPublicKey?: string) {
  const clock = { offset: -3 * 3600_000 }
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, now: () => Date.now() + clock.offset })
  const writer = await Repository.init({ backend: model.backend('writer'), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false, ...(ownerPublicKey ? { ownerPublicKey } : {}) })
  const src = join(tempDir('journal-sign'), 'src')
  mkdirSync(src)
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(40_000, 300 + i))
    writeFileSync(join(src, 'notes.bin'), randomBytesSeeded(30_000, 400 + i))
    await writer.backup([src])
  }
  await writer.close()
  clock.offset = -3600_000
  return { model, clock }
}

const open = (backend: Backend, opts: { trusted?: boolean; ownerKey?: string } = {}) => Repository.open({ backend, password: 'pw', cacheDir: false, ...opts })
const current = (model: ObjectLockModel, prefix: string) => [...model.objects.keys()].filter((k) => k.startsWith(prefix) && model.current(k))
const handleOf = (k: string): Handle => ({ type: k.slice(0, k.indexOf('/')) as Handle['type'], name: k.slice(k.indexOf('/') + 1) })
const record = (removed: Handle[], operation = 'prune'): JournalRecord => ({ v: PROTECTED_FORMAT_VERSION, time: new Date().toISOString(), host: hostname(), operation, removed: removed.map((h) => [h.type, h.name]) })

test('a trusted prune on a repository that records an owner key needs that key, and signs every journal record with it', async () => {
  const owner = generateOwnerKey()
  const bare = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 } })
  const initWith = (protect: boolean, ownerPublicKey: string) => Repository.init({ backend: bare.backend('owner'), password: 'pw', argon2: FAST_KDF, protect, ownerPublicKey, cacheDir: false })
  await assert.rejects(initWith(false, owner.publicKey), { code: 'INVALID_OPTIONS' })
  await assert.rejects(initWith(true, 'not a key'), { code: 'INVALID_OPTIONS' })
  assert.equal(bare.objects.size, 0, 'nothing was created')
  const { model } = await setup(owner.publicKey)
  assert.ok(model.current(`journal/${OWNER_KEY_NAME}`), 'init --protect records the public key')

  const noKey = await open(model.backend('owner'), { trusted: true })
  assert.equal((await noKey.ownerKey())?.publicKey, owner.publicKey)
  const snaps = await noKey.snapshots()
  await assert.rejects(noKey.forgetSnapshots([snaps[0].id]), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_REQUIRED' && /--owner-key FILE/.test(e.message))
  await assert.rejects(noKey.prune({ maxUnused: 0 }), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_REQUIRED')
  assert.equal((await noKey.snapshots()).length, 3, 'nothing was removed')
  assert.ok((await noKey.prune({ maxUnused: 0, dryRun: true })).plan, 'a dry run needs no key')
  await noKey.close()

  const wrong = await open(model.backend('owner'), { trusted: true, ownerKey: generateOwnerKey().privateKey })
  await assert.rejects(wrong.forgetSnapshots([snaps[0].id]), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_MISMATCH')
  await wrong.close()
  await assert.rejects(open(model.backend('owner'), { trusted: true, ownerKey: 'not a key' }), { code: 'INVALID_OPTIONS' })

  const trusted = await open(model.backend('owner'), { trusted: true, ownerKey: owner.privateKey })
  await trusted.forgetSnapshots([snaps[0].id, snaps[1].id])
  const pruned = await trusted.prune({ maxUnused: 0 })
  assert.ok(pruned.packsDeleted > 0)
  const records = await Promise.all(current(model, 'journal/').filter((k) => k !== `journal/${OWNER_KEY_NAME}`).map(async (k) => decodeObject(journalSchema, await trusted.loadFile('journal', k.slice(8), 'journal'))))
  assert.ok(records.length >= 2 && records.every((r) => typeof r.sig === 'string'), 'every record is signed')
  const v = await trusted.checkVersions()
  assert.deepEqual(v.unexplainedDeletes, [])
  assert.deepEqual(v.forgedJournalRecords, [])
  assert.deepEqual(v.unsignedJournalRecords, [])
  assert.equal(v.signedJournalRecords, records.length)
  assert.equal(v.ownerKey?.publicKey, owner.publicKey)
  assert.ok(v.explainedDeletes > pruned.packsDeleted)
  assert.ok(v.ok)
  await trusted.close()

  // The owner's check keeps the owner key's record locked as long as the config: the writer's
  // backups left it with the bucket's default retention from init, shorter than the snapshots need.
  const checker = await open(model.backend('owner'))
  const keyVersion = () => model.objects.get(`journal/${OWNER_KEY_NAME}`)![0]
  const before = keyVersion().retainUntil!
  // A newer version (a credential that may write stores another record under the name), locked
  // long: the oldest, which readers trust, is still the one kept locked.
  const again = Buffer.from(keyVersion().data!)
  await model.backend('deleter').save({ type: 'journal', name: OWNER_KEY_NAME }, again, { contentMd5: md5(again) })
  model.objects.get(`journal/${OWNER_KEY_NAME}`)!.at(-1)!.retainUntil = model.now() + 400 * 86_400_000
  const checked = await checker.check()
  assert.ok(checked.retention?.extendedObjects.includes(`journal/${OWNER_KEY_NAME}`), JSON.stringify(checked.retention))
  assert.ok(keyVersion().retainUntil! > before)
  assert.ok(keyVersion().retainUntil! > model.now() + 30 * 86_400_000, 'now + R + 7 days, as the config gets')
  await checker.close()
})

test('a journal record a writer seals with the repository key explains neither its deletes nor its overwrites; a signed one explains a delete; a tampered signature does not', async () => {
  const owner = generateOwnerKey()
  const { model, clock } = await setup(owner.publicKey)
  const [snapA, snapB, snapC] = current(model, 'snapshots/')
  const [packA, packB] = current(model, 'data/')

  // The owner's trusted forget of snapshot A: a signed record, then the delete marker.
  const trusted = await open(model.backend('owner'), { trusted: true, ownerKey: owner.privateKey })
  const idA = snapA.slice('snapshots/'.length)
  await trusted.forgetSnapshots([idA])
  await trusted.close()
  clock.offset = -1800_000

  // A writer with delete rights and the password: a record of its own (sealed, unsigned), one signed
  // with a key of its own, and one copied from a signed record with another file added; then the
  // deletes and an overwrite those records would explain.
  const rogue = await open(model.backend('deleter'))
  const unsignedName = await rogue.saveFile('journal', 'journal', record([handleOf(snapB), handleOf(packA)]))
  const ownKey = parseOwnerKey(generateOwnerKey().privateKey)
  const selfSignedName = await rogue.saveFile('journal', 'journal', signJournalRecord(record([handleOf(snapB)]), rogue.id, ownKey))
  const genuine = current(model, 'journal/').filter((k) => k !== `journal/${OWNER_KEY_NAME}` && k !== `journal/${unsignedName}` && k !== `journal/${selfSignedName}`)
  assert.equal(genuine.length, 1)
  const signed = decodeObject(journalSchema, await rogue.loadFile('journal', genuine[0].slice(8), 'journal'))
  assert.ok(signed.sig)
  const tamperedName = await rogue.saveFile('journal', 'journal', { ...signed, removed: [...signed.removed, ['snapshots', snapC.slice('snapshots/'.length)]] })
  await rogue.close()
  const raw = model.backend('deleter')
  clock.offset = -1200_000
  await raw.remove(handleOf(snapB))
  await raw.remove(handleOf(snapC))
  const junk = randomBytesSeeded(1000, 9)
  await raw.save(handleOf(packA), junk, { contentMd5: md5(junk) })
  await raw.save(handleOf(packB), junk, { contentMd5: md5(junk) })

  const check = await open(model.backend('owner'))
  const v = await check.checkVersions()
  assert.equal(v.ok, false)
  assert.deepEqual(v.unexplainedDeletes.map((e) => `${e.type}/${e.name}`).sort(), [snapB, snapC].sort(), 'the forged and tampered records explain nothing')
  assert.deepEqual(v.overwrites.map((e) => `${e.type}/${e.name}`).sort(), [packA, packB].sort())
  assert.equal(v.explainedDeletes, 1, "the owner's signed forget of snapshot A")
  assert.equal(v.signedJournalRecords, 1)
  const forged = new Map(v.forgedJournalRecords.map((f) => [f.name, f.why]))
  assert.equal(forged.size, 3)
  assert.match(forged.get(unsignedName)!, /not signed, and not among the records stored before the owner key was recorded/)
  assert.match(forged.get(selfSignedName)!, /signature is not the owner key's/)
  assert.match(forged.get(tamperedName)!, /signature is not the owner key's/)

  // The writer stores a public key of its own under the owner key's name: a newer version, which
  // changes nothing (readers take the oldest) and is named as an overwrite.
  const rogueKey = generateOwnerKey()
  const impostor = await open(model.backend('deleter'))
  const ownerKeyBytes = model.current(`journal/${OWNER_KEY_NAME}`)!.data!
  await assert.rejects(impostor.recordOwnerKey(rogueKey.publicKey), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_EXISTS')
  // (and past the library, a raw write of another key's record, sealed with the repository key)
  const { sealFile } = await import('../src/crypto/seal.js')
  const { encodeObject } = await import('../src/repository/repofile.js')
  const fake = sealFile(impostor.keys.encryption, 'owner-key', encodeObject({ v: PROTECTED_FORMAT_VERSION, alg: 'ed25519', publicKey: rogueKey.publicKey, created: new Date().toISOString() }))
  await raw.save({ type: 'journal', name: OWNER_KEY_NAME }, fake, { contentMd5: md5(fake) })
  assert.ok(!Buffer.from(model.current(`journal/${OWNER_KEY_NAME}`)!.data!).equals(ownerKeyBytes))
  await impostor.saveFile('journal', 'journal', signJournalRecord(record([handleOf(packB)]), impostor.id, parseOwnerKey(rogueKey.privateKey)))
  await impostor.close()
  // The writer stores the owner's signed record again, byte for byte, later: it still counts from its
  // first storing, so the delete it announced stays explained.
  clock.offset = -600_000
  const genuineBytes = model.current(genuine[0])!.data!
  await raw.save(handleOf(genuine[0]), genuineBytes, { contentMd5: md5(genuineBytes) })
  assert.equal(model.objects.get(genuine[0])!.length, 2)
  const again = await check.checkVersions()
  assert.equal(again.explainedDeletes, 1)
  assert.equal(again.ownerKey?.publicKey, owner.publicKey, 'the oldest version is the owner key')
  assert.ok(again.overwrites.some((e) => e.type === 'journal' && e.name === OWNER_KEY_NAME))
  assert.equal(again.forgedJournalRecords.length, 4)
  await check.close()
})

test('journals written before an owner key stay readable, reported unsigned; once one is recorded, unsigned records stored later explain nothing', async () => {
  const { model, clock } = await setup()
  const first = await open(model.backend('owner'), { trusted: true })
  const snaps = await first.snapshots()
  await assert.rejects(open(model.backend('owner'), { trusted: true, ownerKey: generateOwnerKey().privateKey }).then((r) => r.forgetSnapshots([snaps[0].id])), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_MISMATCH')
  await first.forgetSnapshots([snaps[0].id]) // no owner key recorded: an unsigned record, as before
  const before = await first.checkVersions()
  assert.equal(before.ownerKey, undefined)
  assert.equal(before.unsignedJournalRecords.length, 1)
  assert.equal(before.explainedDeletes, 1)
  assert.deepEqual(before.forgedJournalRecords, [])
  assert.ok(before.ok)
  await first.close()

  // The owner records a key (key owner --init); the old record still explains its delete.
  clock.offset = -1800_000
  const owner = generateOwnerKey()
  const plain = await open(model.backend('owner'))
  await plain.recordOwnerKey(owner.publicKey)
  await assert.rejects(plain.recordOwnerKey(generateOwnerKey().publicKey), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_EXISTS')
  const recorded = await plain.checkVersions()
  assert.equal(recorded.ownerKey?.publicKey, owner.publicKey)
  assert.deepEqual(recorded.ownerKey?.earlier, before.unsignedJournalRecords, 'the owner key names the records stored before it')
  assert.deepEqual(recorded.unsignedJournalRecords, before.unsignedJournalRecords)
  assert.equal(recorded.explainedDeletes, 1)
  assert.ok(recorded.ok)
  // A copy (recover --to) stores everything anew, the owner key among the records: the earlier record still counts, by name.
  const copyModel = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 } })
  copyModel.user('copy-owner', { read: true, write: true, delete: true, deleteVersion: true, putRetention: true, bypassGovernance: true })
  await recoverTo(asOf(model.backend('owner'), AS_OF_NOW), copyModel.backend('copy-owner'))
  const copy = await open(copyModel.backend('copy-owner'))
  const copied = await copy.checkVersions()
  assert.equal(copied.ownerKey?.publicKey, owner.publicKey)
  assert.deepEqual(copied.unsignedJournalRecords, before.unsignedJournalRecords)
  assert.deepEqual(copied.forgedJournalRecords, [])
  await copy.close()

  // From now on an unsigned record is a forgery, and the trusted operation must sign.
  clock.offset = -600_000
  const rogue = await open(model.backend('deleter'))
  const forgedName = await rogue.saveFile('journal', 'journal', record([{ type: 'snapshots', name: snaps[1].id }], 'forget'))
  await rogue.close()
  await model.backend('deleter').remove({ type: 'snapshots', name: snaps[1].id })
  const signer = await open(model.backend('owner'), { trusted: true, ownerKey: owner.privateKey })
  await signer.forgetSnapshots([snaps[2].id])
  const v = await signer.checkVersions()
  assert.deepEqual(v.forgedJournalRecords.map((f) => f.name), [forgedName])
  assert.deepEqual(v.unexplainedDeletes.map((e) => e.name), [snaps[1].id])
  assert.equal(v.signedJournalRecords, 1)
  assert.equal(v.explainedDeletes, 2)
  assert.equal(v.ok, false)
  await signer.close()
  await plain.close()
})

test('where removals must be signed, a trusted retag, key removal or password change without the owner key is refused before anything is stored', async () => {
  const owner = generateOwnerKey()
  const { model } = await setup(owner.publicKey)
  const stored = () => [...model.objects.values()].reduce((n, v) => n + v.length, 0)
  const before = stored()
  const noKey = await open(model.backend('owner'), { trusted: true })
  const [snap] = await noKey.snapshots()
  await assert.rejects(noKey.tag([snap.id], { add: ['kept'] }), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_REQUIRED')
  await assert.rejects(noKey.changePassword({ password: 'new' }, FAST_KDF), (e: unknown) => e instanceof OwnerKeyError && e.code === 'OWNER_KEY_REQUIRED')
  assert.equal(stored(), before, 'nothing stored')
  await noKey.close()
  const signed = await open(model.backend('owner'), { trusted: true, ownerKey: owner.privateKey })
  const r = await signed.tag([snap.id], { add: ['kept'] })
  assert.equal(r.changed.length, 1)
  await signed.close()
})
