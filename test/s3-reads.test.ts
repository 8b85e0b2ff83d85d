// The SDK-free reader (src/backend/s3-reads.ts) against a real S3-compatible server: the same
// listings, bytes, sizes and errors as the SDK, for keys that need every escape SigV4 knows, and a
// repository read end to end without the SDK ever loading.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Repository } from '../src/index.js'
import { ObjectNotFoundError, BackendError } from '../src/errors/index.js'
import { S3Reader } from '../src/backend/s3-reads.js'
import type { S3Backend } from '../src/backend/s3.js'
import type { Handle, ListedFile } from '../src/backend/backend.js'
import { TestS3Server } from './s3.js'
import { PickyS3Proxy } from './support/picky-s3.js'
import { cleanup, FAST_KDF, randomBytesSeeded, tempDir } from './helpers.js'

let server: TestS3Server
before(async () => {
  server = await TestS3Server.start()
})
after(async () => {
  await server.stop()
  cleanup()
})

/** A backend whose reads go through the SDK (the reader turned off, as SESSION_SYNC_S3_SDK_READS=1 does). */
function sdkOnly(prefix: string): S3Backend {
  process.env.SESSION_SYNC_S3_SDK_READS = '1'
  try {
    const b = server.backend({ prefix })
    void b.stat({ type: 'config', name: '' }).catch(() => {}) // decides its reader now, with the variable set
    return b
  } finally {
    delete process.env.SESSION_SYNC_S3_SDK_READS
  }
}

const sorted = async (it: AsyncIterable<ListedFile>) => {
  const out: Array<{ name: string; size: number; modified?: number }> = []
  for await (const f of it) out.push({ name: f.name, size: f.size, modified: f.modified?.getTime() })
  return out.sort((a, b) => a.name.localeCompare(b.name))
}

test('the reader lists, reads ranges and sizes exactly as the SDK does, under a prefix that needs escaping, without loading the SDK', async () => {
  const prefix = `odd prefix/ü+(x)*'!~=&%20/${Date.now()}`
  const writer = server.backend({ prefix })
  const handles: Handle[] = []
  for (let i = 0; i < 5; i++) {
    const bytes = randomBytesSeeded(1000 + i * 777, i)
    const h: Handle = { type: 'data', name: createHash('sha256').update(bytes).digest('hex') }
    await writer.save(h, bytes)
    handles.push(h)
  }
  await writer.save({ type: 'config', name: '' }, Buffer.from('config bytes'))
  await writer.close()

  const reader = server.backend({ prefix, listPageSize: 2 }) // pages of 2: continuation tokens
  const sdk = sdkOnly(prefix)
  assert.deepEqual(await sorted(reader.list('data')), await sorted(sdk.list('data')))
  assert.equal((await sorted(reader.list('data'))).length, 5)
  assert.deepEqual(await sorted(reader.list('config')), await sorted(sdk.list('config')))
  for (const h of handles) {
    assert.deepEqual(await reader.load(h), await sdk.load(h))
    assert.deepEqual(await reader.load(h, { offset: 10, length: 300 }), await sdk.load(h, { offset: 10, length: 300 }))
    assert.deepEqual(await reader.stat(h), await sdk.stat(h))
  }
  assert.deepEqual(await reader.load({ type: 'config', name: '' }), Buffer.from('config bytes'))
  const missing: Handle = { type: 'data', name: 'e'.repeat(64) }
  await assert.rejects(reader.load(missing), ObjectNotFoundError)
  await assert.rejects(reader.stat(missing), ObjectNotFoundError)
  await assert.rejects(reader.load(handles[0], { offset: 50_000, length: 10 }), (e: unknown) => e instanceof BackendError && /beyond the end/.test(e.message))
  assert.equal(reader.sdkLoaded, false, 'reads alone never loaded the SDK')
  assert.equal(sdk.sdkLoaded, true)
  await reader.close()
  await sdk.close()
})

/**
 * The request the SDK itself would send, signed: captured after its signing step and never sent.
 */
async function sdkRequest(client: import('@aws-sdk/client-s3').S3Client, command: import('@aws-sdk/client-s3').GetObjectCommand | import('@aws-sdk/client-s3').ListObjectsV2Command) {
  let captured: { path: string; query: Record<string, string>; headers: Record<string, string> } | undefined
  command.middlewareStack.addRelativeTo(
    () => async (args: { request: unknown }) => {
      captured = args.request as typeof captured
      throw new Error('captured')
    },
    { relation: 'after', toMiddleware: 'awsAuthMiddleware', name: 'capture' },
  )
  await client.send(command as never).catch((e: Error) => assert.equal(e.message, 'captured'))
  return captured!
}

test('its requests are the SDK\'s to the byte that is signed: path, query and Signature Version 4, for keys, listings, ranges and session tokens that need escaping', async () => {
  const sdk = await import('@aws-sdk/client-s3')
  const keys = ['odd prefix/ü+(x)*\'!~=&%20/data/ab/abcdef', 'config', 'a b/c+d/keys/0123']
  for (const credentials of [{ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }, { accessKeyId: 'ASIA1', secretAccessKey: 's3cr3t', sessionToken: 'tok/en+=' }]) {
    for (const forcePathStyle of [true, false]) {
      const endpoint = 'https://s3.example.test:8443'
      const reader = new S3Reader({ endpoint, region: 'eu-central-1', bucket: 'my-bucket', forcePathStyle, credentials, maxSockets: 1, requestTimeoutMs: 1000, idleTimeoutMs: 1000, connectTimeoutMs: 1000 })
      const client = new sdk.S3Client({ endpoint, region: 'eu-central-1', forcePathStyle, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
      const check = (label: string, theirs: { path: string; query: Record<string, string>; headers: Record<string, string> }, mine: ReturnType<S3Reader['sign']>) => {
        assert.equal(mine.path, theirs.path, `${label}: path`)
        assert.equal(mine.headers.authorization, theirs.headers.authorization, `${label}: signature`)
      }
      // The SDK signs its own bookkeeping headers (invocation id, user agent) too: sign the same set.
      const same = (theirs: { headers: Record<string, string> }) => ({
        at: new Date(theirs.headers['x-amz-date'].replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')),
        extra: Object.fromEntries(Object.entries(theirs.headers).filter(([k]) => !['authorization', 'host', 'user-agent', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token'].includes(k))),
      })
      for (const key of keys) {
        const theirs = await sdkRequest(client, new sdk.GetObjectCommand({ Bucket: 'my-bucket', Key: key, Range: 'bytes=10-309' }))
        const { at, extra } = same(theirs)
        assert.equal(extra.range, 'bytes=10-309')
        // The SDK adds x-id=GetObject to the query (the reader leaves it out; stores ignore it): sign its query.
        check(key, theirs, reader.sign('GET', key, theirs.query, extra, at))
      }
      const listing = await sdkRequest(client, new sdk.ListObjectsV2Command({ Bucket: 'my-bucket', Prefix: 'p q/ü+/snapshots/', ContinuationToken: 'a+b/c==', MaxKeys: 2 }))
      const { at, extra } = same(listing)
      const query = { 'list-type': '2', prefix: 'p q/ü+/snapshots/', 'continuation-token': 'a+b/c==', 'max-keys': '2' }
      const { 'x-id': _, ...theirQuery } = listing.query
      assert.deepEqual(theirQuery, query, 'the listing asks what the SDK asks')
      check('listing', listing, reader.sign('GET', undefined, listing.query, extra, at))
      client.destroy()
      reader.close()
    }
  }
})

test('a repository opened again reads its snapshots and restores them without the SDK', async () => {
  const prefix = `repo-${Date.now()}`
  const src = join(tempDir('s3-reads'), 'notes')
  mkdirSync(src)
  for (let i = 0; i < 20; i++) writeFileSync(join(src, `n${i}.md`), `note ${i}\n`.repeat(i + 1))
  const first = await Repository.init({ backend: server.backend({ prefix }), password: 'pw', argon2: FAST_KDF, cacheDir: false })
  await first.backup([src])
  await first.close()

  const backend = server.backend({ prefix })
  const repo = await Repository.open({ backend, password: 'pw', cacheDir: false })
  assert.equal((await repo.snapshots()).length, 1)
  const target = tempDir('s3-reads')
  await repo.restore('latest', target)
  for (let i = 0; i < 20; i++) assert.equal(readFileSync(join(target, 'notes', `n${i}.md`), 'utf8'), readFileSync(join(src, `n${i}.md`), 'utf8'))
  assert.equal(backend.sdkLoaded, false, 'opening, listing and restoring are reads')
  await repo.close()
})

test('answers without a Content-Length (chunked) are read whole, as ranges and into a buffer', async () => {
  const proxy = await PickyS3Proxy.start(server.endpoint, { chunkedBodies: true })
  try {
    const prefix = `chunked-${Date.now()}`
    const bytes = randomBytesSeeded(300_000, 3)
    const h: Handle = { type: 'data', name: createHash('sha256').update(bytes).digest('hex') }
    await server.backend({ prefix }).save(h, bytes)
    const b = server.backend({ prefix, endpoint: proxy.endpoint })
    assert.deepEqual(Buffer.from(await b.load(h)), bytes)
    assert.deepEqual(Buffer.from(await b.load(h, { offset: 1000, length: 5000 })), bytes.subarray(1000, 6000))
    const out = Buffer.alloc(5000)
    await b.loadInto({ type: 'data', name: h.name }, { offset: 7, length: 5000 }, out)
    assert.deepEqual(out, bytes.subarray(7, 5007))
    assert.ok(proxy.requests.some((r) => r.method === 'GET'), 'the reads went through the proxy')
    assert.equal(b.sdkLoaded, false)
    await b.close()
  } finally {
    await proxy.stop()
  }
})
