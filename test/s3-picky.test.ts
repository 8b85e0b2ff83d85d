// S3-compatible stores that implement less of S3, played by a small proxy in front of the S3 test
// server (test/support/picky-s3.ts): conditional writes and batch deletes answered with
// 501 NotImplemented, the SDK's newer checksum headers refused, Content-MD5 insisted on. The backend
// falls back (and remembers it) where a fallback is sound, and sends nothing such stores refuse.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Repository } from '../src/index.js'
import { S3Backend } from '../src/backend/s3.js'
import { cleanup, describeTree, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, tempDir } from './helpers.js'
import { TestS3Server } from './s3.js'
import { PickyS3Proxy, type PickyRules } from './support/picky-s3.js'

let server: TestS3Server
const proxies: PickyS3Proxy[] = []
before(async () => {
  server = await TestS3Server.start()
})
after(async () => {
  for (const p of proxies) await p.stop()
  await server.stop()
  cleanup()
})

let n = 0
async function picky(rules: PickyRules): Promise<{ proxy: PickyS3Proxy; backend: S3Backend }> {
  const proxy = await PickyS3Proxy.start(server.endpoint, rules)
  proxies.push(proxy)
  const backend = new S3Backend({ bucket: 'test', prefix: `picky${++n}`, endpoint: proxy.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
  return { proxy, backend }
}

function makeSource(): string {
  const src = join(tempDir('s3picky'), 'memory')
  mkdirSync(join(src, 'notes'), { recursive: true })
  for (let i = 0; i < 12; i++) writeFileSync(join(src, 'notes', `${i}.md`), `# note ${i}\n${'remembered. '.repeat(300 + i)}`)
  writeFileSync(join(src, 'blob.bin'), randomBytesSeeded(300_000, 7))
  return src
}

const hexName = (s: string) => createHash('sha256').update(s).digest('hex')

test('a store that answers 501 to conditional writes: init and backups work by looking first; the answer is remembered', async () => {
  const { proxy, backend } = await picky({ refuseConditionalPut: true })
  const src = makeSource()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 128 * 1024 })
  assert.deepEqual([...backend.unsupported], ['conditional-write'])
  const conditional = proxy.requests.filter((r) => r.method === 'PUT' && r.headers['if-none-match'] !== undefined)
  assert.equal(conditional.length, 1, 'asked once; after the 501 no PUT carries If-None-Match')
  assert.equal(conditional[0].refused, 501)
  await repo.backup([src])
  await repo.addKey({ password: 'second' }, FAST_KDF)
  assert.equal(proxy.requests.filter((r) => r.headers['if-none-match'] !== undefined).length, 1)

  // Look-then-write still refuses to overwrite.
  const name = hexName('exists')
  await backend.save({ type: 'keys', name }, Buffer.from('first'), { ifAbsent: true })
  await assert.rejects(backend.save({ type: 'keys', name }, Buffer.from('second'), { ifAbsent: true }), /already exists/)
  assert.equal(Buffer.from(await backend.load({ type: 'keys', name })).toString(), 'first')

  const out = tempDir('s3picky')
  await (await Repository.open({ backend, password: 'second' })).restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'memory')), describeTree(src))
  await repo.close()
})

test('where conditional writes are honoured, If-None-Match is sent on every write that must not overwrite', async () => {
  const { proxy, backend } = await picky({})
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF })
  assert.deepEqual([...backend.unsupported], [])
  assert.equal(proxy.requests.filter((r) => r.method === 'PUT' && r.headers['if-none-match'] === '*').length, 2, 'the key file and the config')
  await repo.close()
})

test('a store that refuses the SDK\'s checksum headers and wants Content-MD5 on batch deletes: every operation works', async () => {
  const { proxy, backend } = await picky({ refuseChecksumHeaders: true, requireContentMd5OnDelete: true })
  const src = makeSource()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 128 * 1024 })
  await repo.backup([src])
  writeFileSync(join(src, 'notes', '3.md'), 'changed')
  await repo.backup([src])
  await repo.forget({ keepLast: 1 })
  await repo.prune()
  const out = tempDir('s3picky')
  await repo.restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'memory')), describeTree(src))
  assert.equal((await repo.check({ readData: true })).ok, true)

  const names = Array.from({ length: 12 }, (_, i) => hexName(`batch ${i}`))
  for (const name of names) await backend.save({ type: 'index', name }, Buffer.from(name))
  await backend.removeMany(names.slice(0, 10).map((name) => ({ type: 'index' as const, name })))
  const left: string[] = []
  for await (const f of backend.list('index')) if (names.includes(f.name)) left.push(f.name)
  assert.deepEqual(left.sort(), names.slice(10).sort())

  assert.deepEqual(
    proxy.requests.filter((r) => r.refused !== undefined).map((r) => `${r.refused} ${r.method} ${r.url}`),
    [],
    'no request was refused',
  )
  assert.ok(proxy.requests.some((r) => r.method === 'POST' && r.url.includes('delete') && r.headers['content-md5'] !== undefined), 'the batch delete carried Content-MD5')
  // The test server itself has no ListMultipartUploads (prune's cleanup of unfinished uploads).
  assert.deepEqual([...backend.unsupported], ['list-uploads'])
  await repo.close()
})

test('a store without batch deletes or a listing of unfinished uploads: deletes go one by one, the cleanup of uploads is skipped; both remembered', async () => {
  const { proxy, backend } = await picky({ refuseBatchDelete: true, refuseListUploads: true })
  const names = Array.from({ length: 6 }, (_, i) => hexName(`single ${i}`))
  for (const name of names) await backend.save({ type: 'index', name }, Buffer.from(name))
  await backend.removeMany(names.slice(0, 3).map((name) => ({ type: 'index' as const, name })))
  await backend.removeMany(names.slice(3, 5).map((name) => ({ type: 'index' as const, name })))
  const left: string[] = []
  for await (const f of backend.list('index')) left.push(f.name)
  assert.deepEqual(left, [names[5]])
  assert.equal(proxy.requests.filter((r) => r.method === 'POST').length, 1, 'the batch delete is tried once')
  assert.equal(proxy.requests.filter((r) => r.method === 'DELETE').length, 5)
  assert.equal(await backend.removeIncomplete(0), 0)
  assert.equal(await backend.removeIncomplete(0), 0)
  assert.equal(proxy.requests.filter((r) => r.method === 'GET' && r.url.includes('uploads')).length, 1)
  assert.deepEqual([...backend.unsupported].sort(), ['batch-delete', 'list-uploads'])
  await backend.close()
})
