// What the owner of a protected repository holds against its agent, on a real Object Lock server:
// Ceph's RADOS Gateway on 127.0.0.1 (test/support/radosgw.ts). The owner's signed removal journal
// (a journal record the agent forges with the repository key explains nothing), and retention that
// follows the data (extended after the agent's backup, or by the owner's check where the agent's
// policy may not extend it; never shortened). Runs once, in the Node 24 pass of npm test, and is
// skipped with a message where the Ceph packages are missing.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectLockConfigurationCommand, PutObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3'
import { Repository, RETENTION_SLACK_DAYS, type Handle, type JournalRecord } from '../src/index.js'
import { PROTECTED_FORMAT_VERSION } from '../src/repository/repofile.js'
import { cleanup, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'
import { CHEAP_KDF, cli, ok, requireBuilt } from './cli/run.js'
import { Radosgw, radosgwMissing, type RadosgwUser } from './support/radosgw.js'

const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `runs once, in the Node 24 pass of npm test (this is Node ${process.versions.node})` : (radosgwMissing() ?? false)

after(cleanup)

const BUCKET = 'owned'
const DAY = 86_400_000
const READS = ['s3:GetObject', 's3:ListBucket', 's3:ListBucketVersions', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration']
const NEVER = ['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutBucketObjectLockConfiguration']

/**
 * The owner's bucket: versioning and Object Lock (GOVERNANCE, 1 day). `agent` uploads, reads and
 * extends retention, never deletes; `frozen` likewise but may not set retention at all; `deleter`
 * (a careless policy) may also delete objects (adding delete markers), never versions.
 */
async function ownedBucket(owner: S3Client, u: Record<string, RadosgwUser>): Promise<void> {
  await owner.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }))
  await owner.send(new PutObjectLockConfigurationCommand({ Bucket: BUCKET, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }))
  const arns = [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`]
  const who = (...names: string[]) => ({ AWS: names.map((n) => `arn:aws:iam:::user/${u[n].uid}`) })
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Deny', Principal: who('agent', 'frozen', 'deleter'), Action: NEVER, Resource: arns },
      { Effect: 'Deny', Principal: who('agent', 'frozen'), Action: ['s3:DeleteObject'], Resource: arns },
      { Effect: 'Deny', Principal: who('frozen'), Action: ['s3:PutObjectRetention'], Resource: arns },
      { Effect: 'Allow', Principal: who('owner'), Action: ['s3:*'], Resource: arns },
      { Effect: 'Allow', Principal: who('agent', 'deleter'), Action: [...READS, 's3:PutObject', 's3:PutObjectRetention'], Resource: arns },
      { Effect: 'Allow', Principal: who('frozen'), Action: [...READS, 's3:PutObject'], Resource: arns },
      { Effect: 'Allow', Principal: who('deleter'), Action: ['s3:DeleteObject'], Resource: arns },
    ],
  }
  await owner.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }))
}

const keyOf = (prefix: string, h: Handle) => `${prefix}/${h.type === 'config' ? 'config' : h.type === 'data' ? `data/${h.name.slice(0, 2)}/${h.name}` : `${h.type}/${h.name}`}`
const handleOf = (k: string): Handle => (k === 'config' ? { type: 'config', name: 'config' } : { type: k.slice(0, k.indexOf('/')) as Handle['type'], name: k.slice(k.indexOf('/') + 1) })
const tick = () => new Promise((r) => setTimeout(r, 1100)) // LastModified has one-second resolution

describe("radosgw: the owner's signed journal and retention that follows the data", { skip, timeout: 10 * 60_000 }, () => {
  let gw: Radosgw
  let users: Record<string, RadosgwUser>
  before(async () => {
    ;({ gw, users } = await Radosgw.start(['owner', 'agent', 'frozen', 'deleter']))
    const c = gw.client(users.owner)
    await ownedBucket(c, users)
    c.destroy()
  })
  after(async () => {
    await gw?.stop()
  })

  const env = (u: RadosgwUser, extra: Record<string, string> = {}) => ({ SESSION_SYNC_PASSWORD: 'pw', SESSION_SYNC_NO_CACHE: '1', AWS_ACCESS_KEY_ID: u.accessKeyId, AWS_SECRET_ACCESS_KEY: u.secretAccessKey, AWS_REGION: 'us-east-1', ...extra })

  async function backups(u: RadosgwUser, prefix: string, n: number, opts: { init?: boolean } = {}) {
    const backend = gw.backend(u, { bucket: BUCKET, prefix })
    const repo = opts.init
      ? await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
      : await Repository.open({ backend, password: 'pw', cacheDir: false })
    const src = join(tempDir(`rgw-${prefix}`), 'memory')
    mkdirSync(src)
    writeFileSync(join(src, 'stable.md'), randomBytesSeeded(50_000, 1)) // shared by every snapshot
    const summaries = []
    for (let i = 0; i < n; i++) {
      writeFileSync(join(src, 'notes.md'), randomBytesSeeded(20_000, 50 + i))
      summaries.push(await repo.backup([src]))
      await tick()
    }
    await repo.close()
    return summaries
  }

  it("the owner's CLI makes the owner key and signs its prune; a journal record the agent forges with the repository key explains neither an overwrite nor a delete, and check --versions names it", async () => {
    requireBuilt()
    const prefix = 'signed'
    const repo = `s3:${gw.endpoint}/${BUCKET}/${prefix}`
    const keyFile = join(tempDir('rgw-owner-key'), 'owner.pem')
    const init = JSON.parse(ok(cli(['-r', repo, '--json', 'init', '--protect', '--owner-key-out', keyFile, ...CHEAP_KDF], env(users.owner))).stdout)
    assert.equal(init.ownerKey.privateKeyFile, keyFile)
    assert.equal(init.ownerKey.privateKey, undefined, 'written to the file, not printed')
    assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
    assert.equal(statSync(keyFile).mode & 0o777, 0o600)
    const shown = JSON.parse(ok(cli(['-r', repo, '--json', 'key', 'owner'], env(users.agent))).stdout)
    assert.equal(shown.ownerKey.publicKey, init.ownerKey.publicKey)

    await backups(users.agent, prefix, 3)
    const snaps = JSON.parse(ok(cli(['-r', repo, '--json', 'snapshots'], env(users.owner))).stdout) as { id: string }[]
    assert.equal(snaps.length, 3)
    // The owner's trusted forget without the owner key: refused before anything is removed.
    const refused = cli(['-r', repo, '--trusted', 'forget', snaps[0].id], env(users.owner))
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /records an owner key .* --owner-key FILE/)
    ok(cli(['-r', repo, '--trusted', '--owner-key', keyFile, 'forget', snaps[0].id], env(users.owner)))
    ok(cli(['-r', repo, '--trusted', '--json', 'prune', '--max-unused', '0'], env(users.owner, { SESSION_SYNC_OWNER_KEY_FILE: keyFile })))
    const clean = JSON.parse(ok(cli(['-r', repo, '--json', 'check', '--versions'], env(users.owner))).stdout).versions
    assert.equal(clean.ok, true)
    assert.ok(clean.signedJournalRecords >= 2, JSON.stringify(clean))
    assert.ok(clean.explainedDeletes >= 2)
    assert.deepEqual(clean.forgedJournalRecords, [])
    assert.deepEqual(clean.unsignedJournalRecords, [])

    // The attack: the agent seals a journal record of its own naming a pack and a snapshot file, then
    // overwrites the pack (radosgw ignores If-None-Match on a versioned bucket: a new version lands);
    // a second writer whose policy lets it delete deletes the snapshot file.
    const agentBackend = gw.backend(users.agent, { bucket: BUCKET, prefix })
    const packs: string[] = []
    for await (const f of agentBackend.list('data')) packs.push(f.name)
    const snapFile = snaps[1].id
    const forger = await Repository.open({ backend: gw.backend(users.agent, { bucket: BUCKET, prefix }), password: 'pw', cacheDir: false })
    const forged: JournalRecord = { v: PROTECTED_FORMAT_VERSION, time: new Date().toISOString(), host: hostname(), operation: 'prune', removed: [['data', packs[0]], ['snapshots', snapFile]] }
    const forgedName = await forger.saveFile('journal', 'journal', forged)
    await forger.close()
    await tick()
    const junk = randomBytesSeeded(2000, 3)
    await agentBackend.saveConditional({ type: 'data', name: packs[0] }, junk)
    await agentBackend.close()
    const deleter = gw.backend(users.deleter, { bucket: BUCKET, prefix })
    await deleter.remove({ type: 'snapshots', name: snapFile })
    await deleter.close()

    const r = cli(['-r', repo, '--as-of', 'now', '--json', 'check', '--versions'], env(users.owner))
    assert.equal(r.status, 1, r.stderr)
    const v = JSON.parse(r.stdout).versions
    assert.deepEqual(v.overwrites.map((e: { type: string; name: string }) => `${e.type}/${e.name}`), [`data/${packs[0]}`])
    assert.deepEqual(v.unexplainedDeletes.map((e: { type: string; name: string }) => `${e.type}/${e.name}`), [`snapshots/${snapFile}`])
    assert.deepEqual(v.forgedJournalRecords.map((f: { name: string }) => f.name), [forgedName])
    assert.equal(v.ownerKey.publicKey, init.ownerKey.publicKey)
    const text = cli(['-r', repo, '--as-of', 'now', 'check', '--versions'], env(users.owner))
    assert.match(text.stdout, new RegExp(`error: forged-journal-record: journal record ${forgedName} not signed, and not among the records stored before the owner key was recorded`))
    assert.match(text.stdout, new RegExp(`error: unexplained-delete: snapshots/${snapFile}`))
  })

  it('a protected repository made without an owner key gets one with key owner --init (printed once, recorded once); its old journal stays readable, unsigned', async () => {
    requireBuilt()
    const prefix = 'later-key'
    const repo = `s3:${gw.endpoint}/${BUCKET}/${prefix}`
    await backups(users.agent, prefix, 2, { init: true }) // the agent's own init: no owner key
    const snaps = JSON.parse(ok(cli(['-r', repo, '--json', 'snapshots'], env(users.owner))).stdout) as { id: string }[]
    ok(cli(['-r', repo, '--trusted', 'forget', snaps[0].id], env(users.owner))) // an unsigned record, as before
    assert.match(ok(cli(['-r', repo, 'key', 'owner'], env(users.owner))).stdout, /no owner key recorded: .*key owner --init/)
    const made = JSON.parse(ok(cli(['-r', repo, '--json', 'key', 'owner', '--init'], env(users.owner))).stdout)
    assert.match(made.ownerKey.privateKey, /^-----BEGIN PRIVATE KEY-----/)
    const twice = cli(['-r', repo, '--json', 'key', 'owner', '--init'], env(users.owner))
    assert.equal(twice.status, 1)
    assert.equal(JSON.parse(twice.stdout).error.code, 'OWNER_KEY_EXISTS')
    const v1 = JSON.parse(ok(cli(['-r', repo, '--json', 'check', '--versions'], env(users.owner))).stdout).versions
    assert.equal(v1.unsignedJournalRecords.length, 1)
    assert.equal(v1.explainedDeletes, 1)
    assert.equal(v1.ok, true)
    // The owner key given in the environment itself (SESSION_SYNC_OWNER_KEY) signs the next forget.
    const forget = cli(['-r', repo, '--json', '--trusted', 'forget', snaps[1].id], env(users.owner))
    assert.equal(JSON.parse(forget.stdout).error.code, 'OWNER_KEY_REQUIRED')
    ok(cli(['-r', repo, '--trusted', 'forget', snaps[1].id], env(users.owner, { SESSION_SYNC_OWNER_KEY: made.ownerKey.privateKey })))
    const v2 = JSON.parse(ok(cli(['-r', repo, '--json', 'check', '--versions'], env(users.owner))).stdout).versions
    assert.equal(v2.signedJournalRecords, 1)
    assert.equal(v2.unsignedJournalRecords.length, 1)
    assert.equal(v2.explainedDeletes, 2)
    assert.equal(v2.ok, true)
  })

  it("retention follows the data: the agent's backup extends what lapses too soon; under a policy without s3:PutObjectRetention the backup warns and the owner's check names and extends the lapsing objects; shortening is refused", async () => {
    const owner = gw.client(users.owner)
    const agentClient = gw.client(users.agent)
    const R = 1 // days: the bucket's default retention, which init --protect records
    const extendedTarget = (at: number) => at + (R + RETENTION_SLACK_DAYS) * DAY

    // 1. The agent may extend: after its second backup, the objects both snapshots share (uploaded
    //    before the first snapshot file, so locked until their upload + R) hold until now + R + 7 days.
    const [first, second] = await backups(users.agent, 'extend', 2, { init: true })
    assert.ok(first.retention && second.retention, 'a protected backup keeps retention')
    assert.ok(second.retention!.extended > 0, JSON.stringify(second.retention))
    assert.deepEqual(second.retention!.lapsing, [])
    assert.deepEqual(second.warnings ?? [], [])
    const agentStorage = gw.backend(users.agent, { bucket: BUCKET, prefix: 'extend' })
    const extendedKey = second.retention!.extendedObjects.find((k) => k.startsWith('data/'))!
    assert.ok(extendedKey, JSON.stringify(second.retention!.extendedObjects))
    const got = await agentStorage.retention(handleOf(extendedKey)) // GET ?retention
    assert.equal(got.mode, 'GOVERNANCE')
    const now = Date.now()
    assert.ok(Math.abs(got.retainUntil!.getTime() - extendedTarget(now)) < 10 * 60_000, `${extendedKey} held until ${got.retainUntil!.toISOString()}`)

    // Shortening is refused by the server: the agent (with and without asking to bypass), and the
    // owner without the bypass.
    const shorten = (c: S3Client, bypass: boolean) =>
      c.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: keyOf('extend', handleOf(extendedKey)), Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(now + DAY) }, BypassGovernanceRetention: bypass || undefined })).then(
        () => 'accepted',
        (e: { $metadata?: { httpStatusCode?: number } }) => `refused: ${e.$metadata?.httpStatusCode}`,
      )
    assert.equal(await shorten(agentClient, false), 'refused: 403')
    assert.equal(await shorten(agentClient, true), 'refused: 403')
    assert.equal(await shorten(owner, false), 'refused: 403')
    assert.equal((await agentStorage.retention(handleOf(extendedKey))).retainUntil!.getTime(), got.retainUntil!.getTime(), 'unchanged')
    await agentStorage.close()

    // 2. A writer whose policy has no s3:PutObjectRetention: its backups succeed and warn; what they
    //    left short still holds only until its upload + R.
    const [, frozen] = await backups(users.frozen, 'frozen', 2, { init: true })
    assert.ok(frozen.snapshotId)
    assert.ok(frozen.retention!.denied, JSON.stringify(frozen.retention))
    assert.equal(frozen.retention!.extended, 0)
    const lapsing = frozen.retention!.lapsing
    assert.ok(lapsing.some((k) => k.startsWith('data/')), JSON.stringify(lapsing))
    assert.ok((frozen.warnings ?? []).some((w) => /locked for less than the repository's retention and this credential may not extend it/.test(w)), JSON.stringify(frozen.warnings))
    const frozenStorage = gw.backend(users.frozen, { bucket: BUCKET, prefix: 'frozen' })
    for (const k of lapsing) {
      const r = await frozenStorage.retention(handleOf(k))
      assert.ok(r.retainUntil!.getTime() < Date.now() + R * DAY, `${k} still held only until ${r.retainUntil!.toISOString()}`)
    }

    // The owner's check (CLI) names each lapsing object and extends it.
    requireBuilt()
    const checked = cli(['-r', `s3:${gw.endpoint}/${BUCKET}/frozen`, 'check'], env(users.owner))
    assert.equal(checked.status, 0, checked.stderr)
    for (const k of lapsing) assert.match(checked.stdout, new RegExp(`extended: ${k.replace(/[/]/g, '\\/')} was locked for less than a snapshot that needs it requires`))
    const after = Date.now()
    for (const k of lapsing) {
      const r = await frozenStorage.retention(handleOf(k))
      assert.ok(Math.abs(r.retainUntil!.getTime() - extendedTarget(after)) < 10 * 60_000, `${k} now held until ${r.retainUntil!.toISOString()}`)
    }
    await frozenStorage.close()
    // Checked again, nothing is short.
    const again = JSON.parse(ok(cli(['-r', `s3:${gw.endpoint}/${BUCKET}/frozen`, '--json', 'check'], env(users.owner))).stdout)
    assert.equal(again.retention.extended, 0)
    assert.deepEqual(again.retention.lapsing, [])
    owner.destroy()
    agentClient.destroy()
  })
})
