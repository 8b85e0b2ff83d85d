// The scripted attack of a prompt-injected agent (test/support/attack.ts) on a real Object Lock
// server: Ceph's RADOS Gateway on 127.0.0.1 (test/support/radosgw.ts). The owner creates the
// protected bucket; the agent, a second user under a no-delete policy, backs up, then attacks; the
// owner recovers through the library and the CLI. Runs once, in the Node 24 pass of npm test, and
// is skipped with a message where the Ceph packages are missing.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectLockConfigurationCommand, PutObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3'
import { asOf, ObjectNotFoundError, Repository } from '../src/index.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'
import { cli, ok, requireBuilt } from './cli/run.js'
import { Radosgw, radosgwMissing, type RadosgwUser } from './support/radosgw.js'
import { recoverAndRestore, recoverCopy, runAttack, type AttackStage } from './support/attack.js'

const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `runs once, in the Node 24 pass of npm test (this is Node ${process.versions.node})` : (radosgwMissing() ?? false)

after(cleanup)

const BUCKET = 'attack'
const PREFIX = 'agent'

/** The owner's bucket: versioning and Object Lock (GOVERNANCE, 1 day); the agent may upload, read and extend retention, never delete or bypass. */
async function protectedBucket(owner: S3Client, agent: RadosgwUser, ownerUid: string): Promise<void> {
  await owner.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }))
  await owner.send(new PutObjectLockConfigurationCommand({ Bucket: BUCKET, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }))
  const arns = [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`]
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Deny', Principal: { AWS: [`arn:aws:iam:::user/${agent.uid}`] }, Action: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutBucketObjectLockConfiguration'], Resource: arns },
      { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${ownerUid}`] }, Action: ['s3:*'], Resource: arns },
      { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${agent.uid}`] }, Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:ListBucketVersions', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:PutObjectRetention', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration'], Resource: arns },
    ],
  }
  await owner.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }))
}

describe('radosgw: the attack of a prompt-injected agent on its protected repository', { skip, timeout: 10 * 60_000 }, () => {
  let gw: Radosgw
  let users: Record<string, RadosgwUser>
  before(async () => {
    ;({ gw, users } = await Radosgw.start(['owner', 'agent']))
    const ownerClient = gw.client(users.owner)
    await protectedBucket(ownerClient, users.agent, users.owner.uid)
    ownerClient.destroy()
  })
  after(async () => {
    await gw?.stop()
  })

  it('every destructive call of the agent is refused (403) or leaves the earlier version; the owner recovers every snapshot as of before the attack, byte for byte, through the library and the CLI; check --versions names the overwrites', async () => {
    const agentClient = gw.client(users.agent)
    const keyOf = (type: string, name: string) => `${PREFIX}/${type === 'config' ? 'config' : type === 'data' ? `data/${name.slice(0, 2)}/${name}` : `${type}/${name}`}`
    const stage: AttackStage = {
      agent: () => gw.backend(users.agent, { bucket: BUCKET, prefix: PREFIX }),
      owner: () => gw.backend(users.owner, { bucket: BUCKET, prefix: PREFIX }),
      // LastModified has one-second resolution.
      tick: () => new Promise((r) => setTimeout(r, 1100)),
      now: () => new Date(),
      shortenRetention: async (h, versionId, bypass) => {
        await agentClient.send(
          new PutObjectRetentionCommand({ Bucket: BUCKET, Key: keyOf(h.type, h.name), VersionId: versionId, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 2000) }, BypassGovernanceRetention: bypass || undefined }),
        )
      },
    }
    const outcome = await runAttack(stage)
    agentClient.destroy()
    const refusedAll = (k: string, codes: string[]) => assert.ok(outcome.attempts[k].length > 0 && outcome.attempts[k].every((a) => codes.includes(a)), `${k}: ${outcome.attempts[k].join(', ')}`)
    refusedAll('delete', ['refused: PERMISSION_DENIED'])
    refusedAll('deleteVersion', ['refused: PERMISSION_DENIED'])
    refusedAll('shortenRetention', ['refused: 403'])
    // radosgw ignores If-None-Match on versioned buckets: the overwrites land, as new versions.
    refusedAll('overwrite', ['accepted'])

    const past = await recoverAndRestore(stage, outcome, outcome.before)
    assert.deepEqual(past.snapshots.sort(), [...outcome.snapshots].sort())
    assert.deepEqual(past.problems, [])
    assert.deepEqual((await recoverCopy(stage, outcome)).sort(), [...outcome.snapshots].sort())
    const owner = await Repository.open({ backend: asOf(stage.owner(), new Date()), password: 'pw', cacheDir: false })
    const v = await owner.checkVersions()
    assert.deepEqual(v.unexplainedDeletes, [])
    assert.equal(v.overwrites.length, outcome.attempts.overwrite.length)
    assert.ok(v.overwrites.some((e) => e.type === 'config'))
    await owner.close()

    // The same through the CLI, with the owner's credential.
    requireBuilt()
    const env = { SESSION_SYNC_PASSWORD: 'pw', SESSION_SYNC_NO_CACHE: '1', AWS_ACCESS_KEY_ID: users.owner.accessKeyId, AWS_SECRET_ACCESS_KEY: users.owner.secretAccessKey, AWS_REGION: 'us-east-1' }
    const repo = `s3:${gw.endpoint}/${BUCKET}/${PREFIX}`
    const listed = JSON.parse(ok(cli(['-r', repo, '--as-of', outcome.before.toISOString(), '--json', 'snapshots'], env)).stdout) as { id: string }[]
    assert.deepEqual(listed.map((s) => s.id).sort(), [...outcome.snapshots].sort())
    const out = tempDir('rgw-attack-cli')
    const first = outcome.snapshots[0]
    ok(cli(['-r', repo, '--as-of', outcome.before.toISOString(), 'restore', first, '--target', out], env))
    for (const [f, bytes] of outcome.trees.get(first)!) assert.ok(readFileSync(join(out, 'memory', f)).equals(bytes), f)
    const versions = cli(['-r', repo, '--as-of', 'now', '--json', 'check', '--versions'], env)
    assert.equal(versions.status, 1, versions.stderr)
    assert.equal(JSON.parse(versions.stdout).versions.overwrites.length, outcome.attempts.overwrite.length)
    const recovered = `s3:${gw.endpoint}/${BUCKET}/recovered`
    ok(cli(['-r', repo, '--as-of', outcome.before.toISOString(), 'recover', '--to', recovered], env))
    const copy = JSON.parse(ok(cli(['-r', recovered, '--json', 'snapshots'], env)).stdout) as { id: string }[]
    assert.deepEqual(copy.map((s) => s.id).sort(), [...outcome.snapshots].sort())
    ok(cli(['-r', recovered, 'check', '--read-data'], env))
  })

  it("the owner's trusted forget and prune delete what the agent wrote, each delete named first in the journal: check --versions explains every delete marker", async () => {
    const prefix = 'journaled'
    const agent = await Repository.init({ backend: gw.backend(users.agent, { bucket: BUCKET, prefix }), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
    const src = join(tempDir('rgw-journal'), 'memory')
    mkdirSync(src)
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(src, 'notes.md'), randomBytesSeeded(60_000, 40 + i))
      await agent.backup([src])
    }
    await agent.close()
    const owner = await Repository.open({ backend: gw.backend(users.owner, { bucket: BUCKET, prefix }), password: 'pw', cacheDir: false, trusted: true })
    const snaps = await owner.snapshots()
    await owner.forgetSnapshots([snaps[0].id, snaps[1].id])
    const pruned = await owner.prune({ maxUnused: 0 })
    assert.ok(pruned.packsDeleted > 0)
    const v = await owner.checkVersions()
    assert.deepEqual(v.unexplainedDeletes, [])
    assert.deepEqual(v.overwrites, [])
    assert.ok(v.explainedDeletes >= pruned.packsDeleted + 2, JSON.stringify(v))
    // A delete marker's version reads as a missing file; the version behind it still reads.
    const storage = gw.backend(users.owner, { bucket: BUCKET, prefix })
    const snapshotVersions = []
    for await (const x of storage.listVersions('snapshots')) snapshotVersions.push(x)
    const marker = snapshotVersions.find((x) => x.deleteMarker)!
    await assert.rejects(storage.loadVersion({ type: 'snapshots', name: marker.name }, marker.versionId), ObjectNotFoundError)
    const behind = snapshotVersions.find((x) => x.name === marker.name && !x.deleteMarker)!
    assert.equal((await storage.loadVersion({ type: 'snapshots', name: marker.name }, behind.versionId)).length, behind.size)
    await storage.close()
    const out = tempDir('rgw-journal-restore')
    await owner.restore('latest', out)
    assert.ok(readFileSync(join(out, 'memory', 'notes.md')).equals(readFileSync(join(src, 'notes.md'))))
    await owner.close()
    // The same check through the CLI: exit 0, nothing unexplained.
    const env = { SESSION_SYNC_PASSWORD: 'pw', SESSION_SYNC_NO_CACHE: '1', AWS_ACCESS_KEY_ID: users.owner.accessKeyId, AWS_SECRET_ACCESS_KEY: users.owner.secretAccessKey, AWS_REGION: 'us-east-1' }
    const r = JSON.parse(ok(cli(['-r', `s3:${gw.endpoint}/${BUCKET}/${prefix}`, '--json', 'check', '--versions'], env)).stdout)
    assert.equal(r.versions.ok, true)
  })
})
