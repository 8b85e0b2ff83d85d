// Protection on a real Object Lock server: Ceph's RADOS Gateway on 127.0.0.1 (test/support/radosgw.ts).
// Runs once, in the Node 24 pass of npm test, and is skipped with a message where the Ceph packages
// are missing.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3'
import { PermissionDeniedError } from '../src/index.js'
import { cleanup } from './helpers.js'
import { Radosgw, radosgwMissing, type RadosgwUser } from './support/radosgw.js'

const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `runs once, in the Node 24 pass of npm test (this is Node ${process.versions.node})` : (radosgwMissing() ?? false)

after(cleanup)

/** Owner creates a versioned bucket with Object Lock (GOVERNANCE, 1 day) and denies deletes to the agent. */
export async function protectedBucket(owner: S3Client, bucket: string, agent: RadosgwUser): Promise<void> {
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
})
