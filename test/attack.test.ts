// The scripted attack of a prompt-injected agent on its protected repository (test/support/attack.ts):
// against the Object Lock model here (fast, every Node), and against a real radosgw in
// test/radosgw-attack.test.ts (the Node 24 pass).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { asOf, ObjectLockModel, Repository, type ObjectLockModelBackend } from '../src/index.js'
import { cleanup } from './helpers.js'
import { recoverAndRestore, recoverCopy, runAttack, type AttackStage } from './support/attack.js'

after(cleanup)

function modelStage(): AttackStage & { model: ObjectLockModel } {
  let offset = -3600_000
  // Like radosgw on a versioned bucket, the model here ignores If-None-Match: an overwrite becomes a new version.
  const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 }, honoursIfNoneMatch: false, now: () => Date.now() + offset })
  return {
    model,
    agent: () => model.backend('writer'),
    owner: () => model.backend('owner'),
    tick: async () => {
      offset += 60_000
    },
    now: () => new Date(model.now()),
    shortenRetention: (h, versionId, bypass) => (model.backend('writer') as ObjectLockModelBackend).setRetention(h, versionId, { mode: 'GOVERNANCE', retainUntil: new Date(model.now() + 1000) }, { bypassGovernance: bypass }),
  }
}

test('the attack on the model: every destructive call is refused or leaves the earlier version; the owner recovers every snapshot as of before it, byte for byte; check --versions names the overwrites', async () => {
  const stage = modelStage()
  const outcome = await runAttack(stage)
  const refusedAll = (k: string) => assert.ok(outcome.attempts[k].length > 0 && outcome.attempts[k].every((a) => a === 'refused: PERMISSION_DENIED'), `${k}: ${outcome.attempts[k].join(', ')}`)
  refusedAll('delete')
  refusedAll('deleteVersion')
  refusedAll('shortenRetention')
  assert.ok(outcome.attempts.overwrite.every((a) => a === 'accepted'), 'the overwrites land as new versions')

  // As of before the attack: exactly the three real snapshots, each restored byte for byte, check clean.
  const before = await recoverAndRestore(stage, outcome, outcome.before)
  assert.deepEqual(before.snapshots.sort(), [...outcome.snapshots].sort())
  assert.deepEqual(before.problems, [])
  // As of now: the overwritten files are skipped (their bytes do not hash to their names); the forged snapshots show.
  const now = await recoverAndRestore(stage, outcome, stage.now())
  assert.equal(now.snapshots.length, outcome.snapshots.length + 3)
  assert.ok(outcome.snapshots.every((id) => now.snapshots.includes(id)))
  assert.deepEqual((now.problems as { kind: string }[]).map((p) => p.kind), ['snapshot-unreadable'], JSON.stringify(now.problems))
  // recover --to: a copy with the earlier snapshots only.
  assert.deepEqual((await recoverCopy(stage, outcome)).sort(), [...outcome.snapshots].sort())

  // The key files were overwritten: the repository opens only as of a time (now: each file's good version).
  await assert.rejects(Repository.open({ backend: stage.owner(), password: 'pw', cacheDir: false }), /key files/)
  // The owner's check --versions names every overwrite, and no delete marker (none was made).
  const owner = await Repository.open({ backend: asOf(stage.owner(), stage.now()), password: 'pw', cacheDir: false })
  const v = await owner.checkVersions()
  assert.equal(v.ok, false)
  assert.deepEqual(v.unexplainedDeletes, [])
  const overwritten = new Set(v.overwrites.map((e) => `${e.type}/${e.name}`))
  const expected = [...stage.model.objects].filter(([k, vs]) => /^(config|keys|data|index)\//.test(k) && vs.length > 1).map(([k]) => k)
  assert.equal(expected.length, outcome.attempts.overwrite.length)
  assert.deepEqual([...overwritten].sort(), expected.sort())
  await owner.close()
})
