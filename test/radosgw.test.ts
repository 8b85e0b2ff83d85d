// Protection on a real Object Lock server: Ceph's RADOS Gateway on 127.0.0.1 (test/support/radosgw.ts).
// Runs once, in the Node 24 pass of npm test, and is skipped with a message where the Ceph packages
// are missing.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PermissionDeniedError, ProtectedRepositoryError, Repository } from '../src/index.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'
import { Radosgw, radosgwMissing, type RadosgwUser } from './support/radosgw.js'

const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `runs once, in the Node 24 pass of npm test (this is Node ${process.versions.node})` : (radosgwMissing() ?? false)

after(cleanup)

/** Owner creates a versioned bucket with Object Lock (GOVERNANCE, 1 day) and denies deletes to the agent. */
export async function protectedBucket(owner: S3Client, bucket: string, agent: RadosgwUser, ownerUid = 'owner'): Promise<void> {
  await owner.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }))
  await owner.send(new PutObjectLockConfigurationCommand({ Bucket: bucket, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }))
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Deny',
        Principal: { AWS: [`arn:aws:iam:::user/${agent.uid}`] },
        Action: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutBucketObjectLockConfiguration'],
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
      },
      // Objects the agent uploads are the agent's: the owner reads them (to check and restore) by this grant.
      { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${ownerUid}`] }, Action: ['s3:*'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] },
      { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${agent.uid}`] }, Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:ListBucketVersions', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:PutObjectRetention', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] },
    ],
  }
  await owner.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }))
}

describe('radosgw: a versioned Object Lock bucket under a no-delete policy', { skip, timeout: 5 * 60_000 }, () => {
  let gw: Radosgw
  let users: Record<string, RadosgwUser>
  before(async () => {
    ;({ gw, users } = await Radosgw.start(['owner', 'agent']))
  })
  after(async () => {
    await gw?.stop()
  })

  it('refuses the agent\'s delete and version delete; the owner reads back versioning and Object Lock', async () => {
    const owner = gw.client(users.owner)
    await protectedBucket(owner, 'smoke', users.agent)
    const agent = gw.backend(users.agent, { bucket: 'smoke', prefix: 'repo' })
    const h = { type: 'keys' as const, name: createHash('sha256').update('canary').digest('hex') }
    agent.protectWrites()
    await agent.save(h, Buffer.from('canary'))
    assert.deepEqual(await agent.bucketProtection(), { versioning: 'enabled', objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 1 } })
    const lock = await agent.lockState(h)
    assert.equal(lock.mode, 'GOVERNANCE')
    assert.ok(lock.retainUntil && lock.retainUntil.getTime() > Date.now(), 'the default retention is on the new object')
    await assert.rejects(agent.remove(h), (e) => e instanceof PermissionDeniedError && e.code === 'PERMISSION_DENIED')
    const [v] = await agent.versions(h)
    await assert.rejects(agent.removeVersion(h, v.versionId), PermissionDeniedError)
    assert.equal(Buffer.from(await agent.load(h)).toString(), 'canary')
    // The owner may delete (a marker); the version behind it stays, locked.
    const ownerBackend = gw.backend(users.owner, { bucket: 'smoke', prefix: 'repo' })
    await ownerBackend.remove(h)
    const vs = await ownerBackend.versions(h)
    assert.deepEqual(vs.map((x) => x.deleteMarker), [true, false])
    owner.destroy()
    await agent.close()
    await ownerBackend.close()
  })

  it('a protected repository: the agent inits and backs up without delete rights, doctor observes what radosgw enforces, the owner restores', async () => {
    const owner = gw.client(users.owner)
    await protectedBucket(owner, 'repo', users.agent)
    owner.destroy()
    const src = join(tempDir('rgw'), 'src')
    mkdirSync(src)
    for (let i = 0; i < 6; i++) writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(40_000 + i, i))
    const agentRepo = await Repository.init({ backend: gw.backend(users.agent, { bucket: 'repo' }), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
    assert.deepEqual(agentRepo.config.protect, { versioning: 'enabled', objectLock: true, retention: { mode: 'GOVERNANCE', days: 1 } })
    await agentRepo.backup([src])
    writeFileSync(join(src, 'late.bin'), randomBytesSeeded(30_000, 77))
    await agentRepo.backup([src], { consolidateIndexes: 1 })
    assert.deepEqual(await agentRepo.locks(), [])
    await assert.rejects(agentRepo.forgetSnapshots([(await agentRepo.snapshots())[0].id]), ProtectedRepositoryError)
    const r = await agentRepo.doctor()
    const seen = Object.fromEntries(r.checks.map((c) => [c.check, c.status]))
    // radosgw ignores If-None-Match on versioned buckets: doctor must say so, not claim it.
    assert.deepEqual(seen, {
      versioning: 'observed',
      'object-lock': 'observed',
      'overwrite-refused': 'not-observed',
      'overwrite-keeps-version': 'observed',
      'lock-headers': 'observed',
      'delete-refused': 'observed',
      'version-delete-refused': 'observed',
    }, JSON.stringify(r.checks, null, 1))
    await agentRepo.close()
    const ownerRepo = await Repository.open({ backend: gw.backend(users.owner, { bucket: 'repo' }), password: 'pw', cacheDir: false })
    assert.ok(ownerRepo.protected)
    const check = await ownerRepo.check({ readData: true })
    assert.deepEqual(check.problems, [])
    const out = tempDir('rgw-restore')
    await ownerRepo.restore('latest', out)
    assert.deepEqual(readFileSync(join(out, 'src', 'late.bin')), readFileSync(join(src, 'late.bin')))
    await ownerRepo.close()
  })
})
