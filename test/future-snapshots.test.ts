// A snapshot dated far after the storage received its file (a device's clock far ahead, or a
// snapshot planted by another holder of the key to become `latest` and push real snapshots out of a
// keep policy) is reported, ordered by its storage time, and judged by forget by that time.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FUTURE_SNAPSHOT_TOLERANCE_MS, LocalBackend, Repository, type Snapshot } from '../src/index.js'
import { cleanup, FAST_KDF, memoryRepo, SMALL_CHUNKS, tempDir } from './helpers.js'
import { TestS3Server } from './s3.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
let server: TestS3Server
before(async () => {
  server = await TestS3Server.start()
})
after(async () => {
  await server.stop()
  cleanup()
})

function source(): string {
  const src = join(tempDir('future'), 'memory')
  mkdirSync(src)
  writeFileSync(join(src, 'MEMORY.md'), '# remembered\n')
  return src
}

/** Stores a copy of `like` dated `time` (what any holder of the key can write); returns its id. */
function plant(repo: Repository, like: Snapshot, time: Date): Promise<string> {
  return repo.saveSnapshot({ time: time.toISOString(), host: like.host, user: like.user, paths: like.paths, tags: like.tags, tree: Buffer.from(like.tree, 'hex'), parents: [], excludes: [] })
}

/**
 * Three real snapshots taken 3, 2 and 1 hours ago (each stored when taken), and one dated 30 days
 * ahead but stored 2.5 hours ago; `setStored` sets the storage's time of a snapshot file.
 */
async function scenario(repo: Repository, setStored: (id: string, at: Date) => void): Promise<{ real: string[]; planted: string; now: number }> {
  const now = Date.now()
  const { snapshotId } = await repo.backup([source()])
  const first = await repo.findSnapshot(snapshotId!)
  const real: string[] = []
  for (const ago of [3, 2, 1]) {
    const id = await plant(repo, first, new Date(now - ago * HOUR))
    setStored(id, new Date(now - ago * HOUR))
    real.push(id)
  }
  await repo.forgetSnapshots([snapshotId!])
  const planted = await plant(repo, first, new Date(now + 30 * DAY))
  setStored(planted, new Date(now - 2.5 * HOUR))
  return { real, planted, now }
}

async function assertJudgedByStorageTime(repo: Repository, real: string[], planted: string, now: number): Promise<void> {
  const list = await repo.snapshots()
  assert.deepEqual(
    list.map((s) => s.id),
    [real[0], planted, real[1], real[2]],
    'ordered by storage time, so the planted snapshot is not the newest',
  )
  assert.deepEqual(
    repo.futureSnapshots.map((s) => s.id),
    [planted],
  )
  const p = list[1]
  assert.equal(p.futureDated, true)
  assert.ok(Math.abs(p.storedAt!.getTime() - (now - 2.5 * HOUR)) < 2000)
  assert.ok(list.filter((s) => s.id !== planted).every((s) => s.futureDated === false))
  assert.equal((await repo.findSnapshot('latest')).id, real[2], 'latest is the newest real snapshot')

  const r = await repo.forget({ keepLast: 2 }, { dryRun: true })
  assert.deepEqual(r.futureDated, [planted], 'forget reports it')
  const kept = r.groups.flatMap((g) => g.decisions.filter((d) => d.keep).map((d) => d.snapshot.id))
  assert.deepEqual(kept, [real[2], real[1]], 'the two newest real snapshots keep their places')
  const decision = r.groups[0].decisions.find((d) => d.snapshot.id === planted)!
  assert.equal(decision.snapshot.time.getTime(), now + 30 * DAY, 'the decision shows the snapshot as it is dated')
}

test('memory storage: a snapshot dated 30 days ahead is reported, ordered and judged by its storage time; latest and keep-last stay with real snapshots', async () => {
  const { repo, backend } = await memoryRepo()
  const { real, planted, now } = await scenario(repo, (id, at) => backend.modified.set(`snapshots/${id}`, at))
  await assertJudgedByStorageTime(repo, real, planted, now)
})

test('within the tolerance of clock differences a snapshot is not future-dated; without a storage time nothing is judged', async () => {
  const { repo, backend } = await memoryRepo()
  const { snapshotId } = await repo.backup([source()])
  const first = await repo.findSnapshot(snapshotId!)
  const near = await plant(repo, first, new Date(Date.now() + FUTURE_SNAPSHOT_TOLERANCE_MS - 60_000))
  const far = await plant(repo, first, new Date(Date.now() + FUTURE_SNAPSHOT_TOLERANCE_MS + 60_000))
  await repo.snapshots()
  assert.deepEqual(
    repo.futureSnapshots.map((s) => s.id),
    [far],
  )
  assert.equal((await repo.findSnapshot(near)).futureDated, false)
  for (const k of [...backend.modified.keys()]) if (k.startsWith('snapshots/')) backend.modified.delete(k)
  await repo.snapshots()
  assert.deepEqual(repo.futureSnapshots, [], 'a storage that gives no file times cannot tell')
})

test('local storage (file times) and the CLI: snapshots and forget warn about it and forget judges it by its storage time', async () => {
  const dir = join(tempDir('future'), 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(dir), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS })
  const { real, planted, now } = await scenario(repo, (id, at) => utimesSync(join(dir, 'snapshots', id), at, at))
  await assertJudgedByStorageTime(repo, real, planted, now)

  const CLI = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cli.js')
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, '--repo', dir, ...args], { env: { ...process.env, SESSION_SYNC_PASSWORD: 'pw' }, input: '', encoding: 'utf8' })
  const warning = new RegExp(`^warning: snapshot ${planted.slice(0, 8)} is dated .* but was stored at .*ordered and kept by its storage time.*session-sync forget ${planted}`, 'm')
  const list = run('snapshots')
  assert.equal(list.status, 0, list.stderr)
  assert.match(list.stderr, warning)
  const forget = run('forget', '--keep-last', '2', '--dry-run')
  assert.equal(forget.status, 0, forget.stderr)
  assert.match(forget.stderr, warning)
  assert.match(forget.stdout, new RegExp(`remove ${planted.slice(0, 8)} .*\\(dated in the future: judged by its storage time`))
  const json = JSON.parse(run('--json', 'forget', '--keep-last', '2', '--dry-run').stdout) as { futureDated: string[] }
  assert.deepEqual(json.futureDated, [planted])
})

test('S3 storage: the listing\'s LastModified is the storage time; a snapshot dated ahead of it is reported', async () => {
  const backend = server.backend({ prefix: 'future' })
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS })
  const { snapshotId } = await repo.backup([source()])
  const real = await repo.findSnapshot(snapshotId!)
  const planted = await plant(repo, real, new Date(Date.now() + 30 * DAY))
  const list = await repo.snapshots()
  assert.deepEqual(list.map((s) => s.id).sort(), [snapshotId!, planted].sort())
  for (const s of list) assert.ok(Math.abs(s.storedAt!.getTime() - Date.now()) < 60_000, 'LastModified is the time of the upload')
  assert.deepEqual(
    repo.futureSnapshots.map((s) => s.id),
    [planted],
  )
  assert.deepEqual((await repo.forget({ keepLast: 1 }, { dryRun: true })).futureDated, [planted])
  await repo.close()
})
