// Retention that forged times cannot game: a snapshot's time is held against the storage's time of
// its file; one outside [stored − its backup's duration − 5 min, stored + 5 min] is suspicious,
// judged by its storage time, reported, and never displaces a snapshot whose time fits.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ObjectLockModel, Repository, SUSPICIOUS_MARGIN_MS, type Snapshot } from '../src/index.js'
import { cleanup, FAST_KDF, memoryRepo, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

function source(): string {
  const src = join(tempDir('forged'), 'memory')
  mkdirSync(src)
  writeFileSync(join(src, 'MEMORY.md'), '# remembered\n')
  return src
}

function plant(repo: Repository, like: Snapshot, time: Date, durationMs?: number): Promise<string> {
  return repo.saveSnapshot({
    time: time.toISOString(),
    host: like.host,
    user: like.user,
    paths: like.paths,
    tags: like.tags,
    tree: Buffer.from(like.tree, 'hex'),
    parents: [],
    excludes: [],
    ...(durationMs !== undefined ? { summary: { ...like.summary!, durationMs } } : {}),
  })
}

const kept = (r: { groups: Array<{ decisions: Array<{ keep: boolean; snapshot: Snapshot }> }> }) => r.groups.flatMap((g) => g.decisions.filter((d) => d.keep).map((d) => d.snapshot.id)).sort()

test('a flood of junk snapshots with back-dated times is flagged and displaces no real snapshot from keep-daily and keep-last', async () => {
  const { repo, backend } = await memoryRepo()
  const now = Date.now()
  const { snapshotId } = await repo.backup([source()])
  const first = await repo.findSnapshot(snapshotId!)
  await repo.forgetSnapshots([snapshotId!])
  // Real daily snapshots over 6 days, each stored when taken.
  const real: string[] = []
  for (let d = 6; d >= 1; d--) {
    const id = await plant(repo, first, new Date(now - d * DAY))
    backend.modified.set(`snapshots/${id}`, new Date(now - d * DAY))
    real.push(id)
  }
  const policy = { keepDaily: 3, keepLast: 1 }
  const before = kept(await repo.forget(policy, { dryRun: true, now: new Date(now) }))
  // Junk written in the last hour, dated one per day over the past weeks and a day ahead, to fill the
  // policy's slots with days and hours the real snapshots hold.
  const junk: string[] = []
  for (let i = 0; i < 12; i++) {
    const id = await plant(repo, first, new Date(now - (i - 1) * DAY + 30 * MIN))
    backend.modified.set(`snapshots/${id}`, new Date(now - 50 * MIN + i * MIN))
    junk.push(id)
  }
  const r = await repo.forget(policy, { dryRun: true, now: new Date(now) })
  assert.deepEqual(r.suspicious.sort(), [...junk].sort(), 'every junk snapshot is reported')
  assert.deepEqual(
    kept(r).filter((id) => real.includes(id)),
    before,
    'the real snapshots kept are those the policy keeps without the junk',
  )
  assert.deepEqual(repo.suspiciousSnapshots.map((s) => s.id).sort(), [...junk].sort())
  assert.ok(real.every((id) => !repo.suspiciousSnapshots.some((s) => s.id === id)))
})

test('the window: a snapshot may be dated up to its backup\'s duration + 5 min before its storage time and 5 min after', async () => {
  const { repo, backend } = await memoryRepo()
  const { snapshotId } = await repo.backup([source()])
  const first = await repo.findSnapshot(snapshotId!)
  const stored = Date.now()
  const cases = [
    { offset: -10 * MIN - SUSPICIOUS_MARGIN_MS + MIN, duration: 10 * MIN, suspicious: false },
    { offset: -10 * MIN - SUSPICIOUS_MARGIN_MS - MIN, duration: 10 * MIN, suspicious: true },
    { offset: SUSPICIOUS_MARGIN_MS - MIN, duration: 0, suspicious: false },
    { offset: SUSPICIOUS_MARGIN_MS + MIN, duration: 0, suspicious: true },
  ]
  const ids: string[] = []
  for (const c of cases) {
    const id = await plant(repo, first, new Date(stored + c.offset), c.duration)
    backend.modified.set(`snapshots/${id}`, new Date(stored))
    ids.push(id)
  }
  const all = await repo.snapshots()
  for (const [i, c] of cases.entries()) assert.equal(all.find((s) => s.id === ids[i])!.suspicious, c.suspicious, `case ${i}`)
  assert.equal(all.find((s) => s.id === snapshotId)!.suspicious, false, 'a real backup fits')
})

test('backup --time marks the snapshot as dated by the user; a time far from its storage time makes it suspicious', async () => {
  const { repo } = await memoryRepo()
  const { snapshotId } = await repo.backup([source()], { time: new Date(Date.now() - 3 * DAY) })
  const s = (await repo.snapshots()).find((x) => x.id === snapshotId)!
  assert.equal(s.timeGiven, true)
  assert.equal(s.suspicious, true)
  const { snapshotId: plain } = await repo.backup([source()], { skipIfUnchanged: false })
  const p = (await repo.snapshots()).find((x) => x.id === plain)!
  assert.equal(p.timeGiven, undefined)
  assert.equal(p.suspicious, false)
})

test('in a protected repository retention goes by storage times, and count rules are warned about', async () => {
  // Each backup's given time is within 4 minutes of its storage time (so none is suspicious), but they
  // run backwards: only storage times put them in the order they were stored.
  const s0 = Date.now()
  let t = s0
  const model = new ObjectLockModel({ now: () => t })
  const repo = await Repository.init({ backend: model.backend('writer'), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, protect: true, cacheDir: false })
  const src = source()
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    t = s0 + 2 * i * MIN
    writeFileSync(join(src, 'n.txt'), String(i))
    ids.push((await repo.backup([src], { time: new Date(s0 + (4 - 2 * i) * MIN) })).snapshotId!)
  }
  const counted = await repo.forget({ keepLast: 1 }, { dryRun: true })
  assert.deepEqual(repo.suspiciousSnapshots, [])
  assert.deepEqual(kept(counted), [ids[2]], 'the last stored is the newest')
  assert.deepEqual((await repo.forget({ keepWithin: '1h' }, { dryRun: true })).warnings, [])
  assert.match(counted.warnings.join('\n'), /keepLast counts snapshots: in a protected repository a writer can outvote it/)
})

test('the sync\'s retention in a protected repository: every snapshot is judged by its storage time, and a suspicious one never takes a device\'s newest place', async () => {
  const { retentionPlan } = await import('../src/index.js')
  const now = new Date('2026-12-06T00:00:00Z')
  const at = (days: number) => new Date(now.getTime() - days * DAY)
  const snap = (id: string, time: Date, storedAt: Date, suspicious = false) => ({ id, time, storedAt, suspicious, tags: ['device:laptop'], host: 'h' })
  const plan = retentionPlan(
    [
      snap('a'.repeat(64), at(40), at(40)),
      snap('b'.repeat(64), at(35), at(35)),
      // Junk dated ahead to look newest, stored 32 days ago: by its storage time still the newest of
      // the device, and it must not take that place from the real snapshot.
      snap('c'.repeat(64), at(-300), at(32), true),
    ],
    { now, retentionDays: 30, byStorageTime: true },
  )
  const keep = Object.fromEntries(plan.map((d) => [d.id[0], `${d.keep ? 'keep' : 'remove'}: ${d.reason}`]))
  assert.deepEqual(keep, { a: 'remove: older than 30 days', b: 'keep: newest of device laptop', c: 'remove: older than 30 days' })
  // Every snapshot goes by its storage time.
  const p = retentionPlan([snap('d'.repeat(64), at(1), at(31)), snap('e'.repeat(64), at(2), at(2))], { now, retentionDays: 30, byStorageTime: true })
  assert.deepEqual(Object.fromEntries(p.map((d) => [d.id[0], d.keep])), { e: true, d: false })
})
