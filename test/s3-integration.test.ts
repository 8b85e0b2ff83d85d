import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { Repository, withFaults, withRetry, BackendError, ObjectNotFoundError, openBackend } from '../src/index.js'
import { cleanup, describeTree, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'
import { TestS3Server } from './s3.js'
import { packNameMatches } from '../src/crypto/ids.js'

let server: TestS3Server
before(async () => {
  server = await TestS3Server.start()
})
after(async () => {
  await server.stop()
  cleanup()
})

let n = 0
const prefix = () => `it${++n}`

function makeSource(): string {
  const src = join(tempDir('s3it'), 'memory')
  mkdirSync(join(src, 'notes', 'daily'), { recursive: true })
  for (let i = 0; i < 30; i++) writeFileSync(join(src, 'notes', 'daily', `2026-11-${String(i + 1).padStart(2, '0')}.md`), `# day ${i}\n${'the agent learned something. '.repeat(200 + i)}`)
  writeFileSync(join(src, 'blob.bin'), randomBytesSeeded(600_000, 3))
  writeFileSync(join(src, 'empty'), '')
  return src
}

test('backup → restore round trip through a real S3-compatible server', async () => {
  const src = makeSource()
  const backend = server.backend({ prefix: prefix() })
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 128 * 1024 })
  const s = await repo.backup([src])
  assert.ok(s.packsStored > 2)
  assert.equal(s.requests.PUT, s.packsStored + 3, 'one PUT per pack, one index, one snapshot, one lock')
  assert.equal(s.requests.DELETE, 1, 'the lock is removed')
  const again = await repo.backup([src], { skipIfUnchanged: true })
  assert.equal(again.skipped, true)
  assert.equal(again.requests.PUT, 0, 'an unchanged re-backup makes no PUT at all')
  writeFileSync(join(src, 'notes', 'daily', '2026-11-03.md'), 'edited')
  const edited = await repo.backup([src])
  assert.ok(edited.requests.PUT <= 5, `one edited file cost ${edited.requests.PUT} PUTs (data pack, tree pack, index, snapshot, lock)`)
  const reopened = await Repository.open({ backend: server.backend({ prefix: `it${n}` }), password: 'pw' })
  const out = tempDir('s3it')
  const r = await reopened.restore('latest', out)
  assert.ok(r.requests.GET > 0)
  assert.deepEqual(describeTree(join(out, 'memory')), describeTree(src))
  const checked = await reopened.check({ readData: true })
  assert.equal(checked.ok, true, JSON.stringify(checked.problems))
  assert.equal(checked.requests.PUT + checked.requests.DELETE, 0)
  await reopened.close()
  await repo.close()
})

test('S3 reads a range straight into the caller\'s buffer, and a restore fetches each pack in one request into it', async () => {
  const backend = withRetry(server.backend({ prefix: prefix() }))
  assert.equal(backend.remote, true, 'a decorated S3 backend still says every read is a request')
  const bytes = randomBytesSeeded(50_000, 7)
  const id = createHash('sha256').update(bytes).digest('hex')
  await backend.save({ type: 'data', name: id }, bytes)
  const out = Buffer.alloc(20_000, 0xee)
  await backend.loadInto!({ type: 'data', name: id }, { offset: 1000, length: 15_000 }, out)
  assert.deepEqual(out.subarray(0, 15_000), bytes.subarray(1000, 16_000))
  assert.ok(out.subarray(15_000).every((b) => b === 0xee), 'nothing written past the range')
  await assert.rejects(backend.loadInto!({ type: 'data', name: id }, { offset: 45_000, length: 10_000 }, Buffer.alloc(10_000)), (e: unknown) => e instanceof BackendError && /beyond the end/.test(e.message))
  await assert.rejects(backend.loadInto!({ type: 'data', name: 'f'.repeat(64) }, { offset: 0, length: 10 }, out), ObjectNotFoundError)
  await assert.rejects(backend.loadInto!({ type: 'data', name: id }, { offset: 0, length: 30_000 }, Buffer.alloc(10)), RangeError)

  // Ten MiB in one 16 MiB pack: a local folder is read in runs of 4 MiB, S3 in one request.
  const src = join(tempDir('s3it'), 'big')
  mkdirSync(src)
  writeFileSync(join(src, 'big.bin'), randomBytesSeeded(10 * 1024 * 1024, 8))
  const repo = await Repository.init({ backend: server.backend({ prefix: prefix() }), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 16 * 1024 * 1024 })
  const s = await repo.backup([src])
  assert.equal(s.packsStored, 2, 'one data pack and one tree pack')
  const target = tempDir('s3it')
  const r = await repo.restore('latest', target)
  assert.equal(r.packsRead, 1, 'the data pack is read in one request')
  assert.deepEqual(readFileSync(join(target, 'big', 'big.bin')), readFileSync(join(src, 'big.bin')))
  await repo.close()
})

test('batch deletes remove many objects in few requests', async () => {
  const backend = server.backend({ prefix: prefix() })
  const names = Array.from({ length: 30 }, () => createHash('sha256').update(String(Math.random())).digest('hex'))
  for (const name of names) await backend.save({ type: 'index', name }, Buffer.from(name))
  await backend.removeMany(names.slice(0, 25).map((name) => ({ type: 'index' as const, name })))
  const left: string[] = []
  for await (const f of backend.list('index')) left.push(f.name)
  assert.deepEqual(left.sort(), names.slice(25).sort())
})

test('init through a location URL creates the bucket', async () => {
  const backend = openBackend(`s3:${server.endpoint}/fresh-bucket/some/prefix`, { s3: { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } })
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF })
  assert.equal(backend.location, `s3:${server.endpoint}/fresh-bucket/some/prefix`)
  const again = await Repository.open({ backend, password: 'pw' })
  assert.equal(again.id, repo.id)
  await repo.close()
})

test('with 10% of requests failing (500, 503, slow-down, reset, timeout) backup and restore still complete correctly', async () => {
  const src = makeSource()
  const p = prefix()
  const faulty = withFaults(server.backend({ prefix: p }), { rate: 0.1, seed: 7, failAfterWrite: true })
  const backend = withRetry(faulty, { baseDelayMs: 2, maxDelayMs: 20, retries: 8 })
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024 })
  await repo.backup([src])
  const out = tempDir('s3it')
  const reopened = await Repository.open({ backend, password: 'pw' })
  await reopened.restore('latest', out)
  assert.ok(faulty.injected >= 3, `only ${faulty.injected} faults were injected`)
  assert.deepEqual(describeTree(join(out, 'memory')), describeTree(src))
})

test('unreachable storage fails with a clear message within the retry deadline', async (t) => {
  const backend = withRetry(openBackend('s3:http://127.0.0.1:1/bucket/repo', { retry: false, s3: { credentials: { accessKeyId: 'a', secretAccessKey: 'b' } } }), { baseDelayMs: 10, maxDelayMs: 100, deadlineMs: 2000 })
  const started = Date.now()
  await assert.rejects(Repository.open({ backend, password: 'pw' }), (e: unknown) => {
    assert.ok(e instanceof BackendError, String(e))
    assert.match(e.message, /ECONNREFUSED|connect/)
    assert.doesNotMatch(e.message, /secret|accessKey/i)
    return true
  })
  t.diagnostic(`failed after ${Date.now() - started} ms`)
})

test('packs above the multipart threshold are uploaded in parts and read back intact; the clean-up of abandoned uploads fails clearly where unsupported', async () => {
  const src = join(tempDir('s3it'), 'big')
  mkdirSync(src)
  const data = randomBytesSeeded(14_000_000, 9)
  writeFileSync(join(src, 'big.bin'), data)
  const p = prefix()
  const backend = server.backend({ prefix: p, multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 })
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, packSize: 12 * 1024 * 1024 })
  await repo.backup([src])
  assert.ok(backend.multipartUploads >= 1, 'no pack was uploaded in parts')
  // Every pack arrived whole: its trailer hashes to its name, and check opens every blob in it.
  for await (const f of backend.list('data')) {
    const bytes = await backend.load({ type: 'data', name: f.name })
    assert.equal(packNameMatches(f.name, bytes), 'trailer')
  }
  const checked = await repo.check({ readData: true })
  assert.deepEqual(checked.problems, [])
  const out = tempDir('s3it')
  await repo.restore('latest', out)
  assert.ok(readFileSync(join(out, 'big', 'big.bin')).equals(data))

  // The test server implements neither ListMultipartUploads nor AbortMultipartUpload: the clean-up
  // of abandoned uploads reports that clearly instead of failing obscurely (see the README).
  await assert.rejects(backend.abortIncompleteUploads(), (e: unknown) => e instanceof BackendError && /abort incomplete uploads/.test(e.message))
  await repo.close()
})

test('credentials never appear in errors or --json output', () => {
  const secret = 'TOPSECRET-credential-value-1234567890'
  const loc = `s3:${server.endpoint}/test/creds`
  const run = (key: string, sec: string, ...args: string[]) =>
    spawnSync(process.execPath, [join(process.cwd(), 'dist', 'cli.js'), '--repo', loc, '--json', ...args], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: key, AWS_SECRET_ACCESS_KEY: sec, SESSION_SYNC_PASSWORD: 'pw' },
      encoding: 'utf8',
    })
  const denied = run('WRONG-KEY-ID', secret, 'snapshots')
  assert.notEqual(denied.status, 0)
  assert.match(denied.stderr, /storage/)
  for (const text of [denied.stdout, denied.stderr]) assert.ok(!text.includes(secret), `secret leaked: ${text}`)
  const ok = run('S3RVER', 'S3RVER', 'init', '--kdf-memory', '8', '--kdf-passes', '1')
  assert.equal(ok.status, 0, ok.stderr)
  assert.ok(!ok.stdout.includes('S3RVER'), 'the access key must not be printed')
})
