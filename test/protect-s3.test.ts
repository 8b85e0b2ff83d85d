// The exact requests of protected writes on S3, recorded by a proxy in front of the S3 test server.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { NotProtectableError, ObjectExistsError, Repository, S3Backend } from '../src/index.js'
import { ProtectedWrites } from '../src/backend/protect.js'
import { TestS3Server } from './s3.js'
import { cleanup, FAST_KDF, randomBytesSeeded } from './helpers.js'
import { PickyS3Proxy } from './support/picky-s3.js'

let server: TestS3Server
let proxy: PickyS3Proxy
before(async () => {
  server = await TestS3Server.start()
  proxy = await PickyS3Proxy.start(server.endpoint, {})
})
after(async () => {
  await proxy.stop()
  await server.stop()
  cleanup()
})

const backend = (prefix: string, opts: { multipartThreshold?: number } = {}) =>
  new S3Backend({ bucket: 'test', prefix, endpoint: proxy.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, ...opts })

test('protected writes on S3: one PUT each, with If-None-Match: * and the body\'s Content-MD5, after a look; never multipart; an existing name is refused', async () => {
  const b = backend('protected-writes', { multipartThreshold: 5 * 1024 * 1024 })
  const w = new ProtectedWrites(b)
  assert.equal(b.protectedWrites, true)
  const big = randomBytesSeeded(6 * 1024 * 1024, 1) // above the multipart threshold
  const h = { type: 'data' as const, name: createHash('sha256').update(big).digest('hex') }
  proxy.requests.length = 0
  await w.save(h, big)
  const puts = proxy.requests.filter((r) => r.method === 'PUT' || r.method === 'POST')
  assert.equal(puts.length, 1, JSON.stringify(proxy.requests.map((r) => `${r.method} ${r.url}`)))
  assert.equal(puts[0].headers['if-none-match'], '*')
  assert.equal(puts[0].headers['content-md5'], createHash('md5').update(big).digest('base64'))
  assert.ok(!/uploads|partNumber/.test(puts[0].url), 'no multipart')
  assert.ok(proxy.requests.findIndex((r) => r.method === 'HEAD') < proxy.requests.indexOf(puts[0]), 'a look first')
  // The same content-addressed file again is stored already; other bytes under the name are refused.
  await w.save(h, big)
  await assert.rejects(w.save(h, big.subarray(1)), ObjectExistsError)
  await assert.rejects(w.save({ type: 'config', name: 'config' }, Buffer.from('x')).then(() => w.save({ type: 'config', name: 'config' }, Buffer.from('x'))), ObjectExistsError)
  await b.close()
})

test('init --protect on a bucket without versioning is refused before anything is written', async () => {
  const b = backend('not-versioned')
  await assert.rejects(Repository.init({ backend: b, password: 'pw', argon2: FAST_KDF, protect: true, cacheDir: false }), (e) => e instanceof NotProtectableError && /versioning is off/.test(e.message))
  const left = []
  for await (const f of b.list('keys')) left.push(f)
  assert.deepEqual(left, [])
  await b.close()
})

test('the versions requests on S3: a listing of every version of a kind is GET ?versions under its folder; one version is read with GET ?versionId', async () => {
  const b = backend('versions-requests')
  proxy.requests.length = 0
  // The test server keeps no versions; what is checked here is what the backend asks for.
  try {
    for await (const v of b.listVersions('snapshots')) void v
  } catch {
    // its answer does not matter
  }
  const name = 'ab'.repeat(32)
  await b.loadVersion({ type: 'data', name }, 'v123', { offset: 10, length: 5 }).catch(() => {})
  const [list, get] = proxy.requests
  assert.equal(list.method, 'GET')
  const lu = new URL(list.url, 'http://x')
  assert.ok(lu.searchParams.has('versions'), list.url)
  assert.equal(lu.searchParams.get('prefix'), 'versions-requests/snapshots/')
  assert.equal(get.method, 'GET')
  const gu = new URL(get.url, 'http://x')
  assert.equal(gu.pathname, `/test/versions-requests/data/ab/${name}`)
  assert.equal(gu.searchParams.get('versionId'), 'v123')
  assert.equal(get.headers.range, 'bytes=10-14')
  await b.close()
})
