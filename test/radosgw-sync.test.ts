// The sync layer's protected mode on a real Object Lock server: Ceph's RADOS Gateway on 127.0.0.1
// (test/support/radosgw.ts), through the CLI as a user runs it. The owner makes the bucket
// (versioning, Object Lock, a policy that denies the agent deletes); the agent's credential inits
// and syncs; a delete marker the owner's credential left without a journal record is found by the
// agent's daily check of the object versions and named by `sync status`. Runs once, in the Node 24
// pass of npm test, and is skipped with a message where the Ceph packages are missing.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, DeleteObjectCommand, PutBucketPolicyCommand, PutObjectLockConfigurationCommand } from '@aws-sdk/client-s3'
import { cleanup, tempDir } from './helpers.js'
import { cli, ok, requireBuilt } from './cli/run.js'
import { Radosgw, radosgwMissing, type RadosgwUser } from './support/radosgw.js'

const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `runs once, in the Node 24 pass of npm test (this is Node ${process.versions.node})` : (radosgwMissing() ?? false)

after(cleanup)

const BUCKET = 'memory'
const PREFIX = 'agent'

describe('radosgw: the sync layer in protected mode', { skip, timeout: 10 * 60_000 }, () => {
  let gw: Radosgw
  let users: Record<string, RadosgwUser>
  before(async () => {
    requireBuilt()
    ;({ gw, users } = await Radosgw.start(['owner', 'agent']))
    const owner = gw.client(users.owner)
    await owner.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }))
    await owner.send(new PutObjectLockConfigurationCommand({ Bucket: BUCKET, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }))
    const arns = [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`]
    const agent = `arn:aws:iam:::user/${users.agent.uid}`
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Deny', Principal: { AWS: [agent] }, Action: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutBucketObjectLockConfiguration'], Resource: arns },
        { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${users.owner.uid}`] }, Action: ['s3:*'], Resource: arns },
        { Effect: 'Allow', Principal: { AWS: [agent] }, Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:ListBucketVersions', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:PutObjectRetention', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration'], Resource: arns },
      ],
    }
    await owner.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }))
    owner.destroy()
  })
  after(async () => {
    await gw?.stop()
  })

  it('the agent\'s credential inits and syncs; its daily check lists the versions and sync status names the delete marker no trusted prune made, the protection and where pruning runs', async () => {
    const root = tempDir('rgw-sync')
    const ws = join(root, 'workspace')
    mkdirSync(join(ws, 'memory'), { recursive: true })
    writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'minio', endpoint: gw.endpoint, bucket: BUCKET, path_prefix: PREFIX, protect: true, debounce_seconds: 0 }))
    const env = { HOME: root, SESSION_SYNC_STATE_DIR: join(root, 'state'), AWS_ACCESS_KEY_ID: users.agent.accessKeyId, AWS_SECRET_ACCESS_KEY: users.agent.secretAccessKey }
    const run = (args: string[]) => cli([...args, '--workspace', ws], env)
    ok(run(['sync', 'init']))
    // A credential that may delete (here the owner's, outside any trusted operation) deletes a name
    // in the repository: on S3 that leaves a delete marker, which no journal record explains.
    const owner = gw.client(users.owner)
    const lockName = 'f'.repeat(64)
    await owner.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/locks/${lockName}` }))
    owner.destroy()
    ok(run(['sync', 'now']))
    const st = JSON.parse(ok(run(['--json', 'sync', 'status'])).stdout)
    assert.equal(st.protected, true)
    assert.deepEqual(st.protection, { versioning: 'enabled', objectLock: true, lockMode: 'GOVERNANCE', lockDays: 1 })
    assert.equal(st.versionCheck.unexplainedDeletes, 1, JSON.stringify(st.versionCheck))
    assert.deepEqual(st.versionCheck.events.map((e: { key: string; kind: string }) => [e.key, e.kind]), [[`locks/${lockName}`, 'delete']])
    const human = ok(run(['sync', 'status'])).stdout
    assert.match(human, /protection: +protected history \(versioning, Object Lock GOVERNANCE 1 days\): this credential cannot delete or overwrite the backups/)
    assert.match(human, /protection: +pruning runs from a trusted device/)
    assert.ok(human.includes(`protection:    object versions: 1 delete marker(s) and 0 overwrite(s) that no trusted prune made`), human)
    assert.ok(human.includes(`deleted locks/${lockName}`), human)
    assert.match(human, /protection: +suspicious snapshots: none/)
    assert.match(human, /warning: protected history: the storage holds 1 delete marker\(s\).*session-sync check --versions/)
  })
})
