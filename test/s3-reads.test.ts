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

test('addressing as the SDK does it: virtual-hosted by default, path style for IP endpoints and, over https, dotted buckets', () => {
  const creds = { accessKeyId: 'a', secretAccessKey: 'b' }
  const at = (endpoint: string, bucket: string, forcePathStyle = false) => {
    const r = new S3Reader({ endpoint, region: 'us-east-1', bucket, forcePathStyle, credentials: creds, maxSockets: 1, requestTimeoutMs: 1000, idleTimeoutMs: 1000, connectTimeoutMs: 1000 })
    const s = r.sign('GET', 'k/x', {}, {}, new Date(0))
    r.close()
    return `${s.host}${s.path}`
  }
  assert.equal(at('https://s3.eu-central-003.backblazeb2.com', 'my-bucket'), 'my-bucket.s3.eu-central-003.backblazeb2.com/k/x')
  assert.equal(at('https://s3.eu-central-003.backblazeb2.com', 'backups.example.com'), 's3.eu-central-003.backblazeb2.com/backups.example.com/k/x')
  assert.equal(at('http://s3.local:9000', 'backups.example.com'), 'backups.example.com.s3.local:9000/k/x')
  assert.equal(at('http://127.0.0.1:9000', 'bucket'), '127.0.0.1:9000/bucket/k/x')
  assert.equal(at('http://[::1]:9000', 'bucket'), '[::1]:9000/bucket/k/x')
  assert.equal(at('https://s3.example.test', 'Upper_Case'), 's3.example.test/Upper_Case/k/x')
  assert.equal(at('https://s3.example.test', 'bucket', true), 's3.example.test/bucket/k/x')
})

/** A one-off HTTP server on 127.0.0.1 answering every request with `handle`. */
async function server1(handle: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, n: number) => void) {
  const { createServer } = await import('node:http')
  let n = 0
  const srv = createServer((req, res) => handle(req, res, n++))
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  srv.unref() // a failed assertion must not leave the test process waiting on it
  const port = (srv.address() as import('node:net').AddressInfo).port
  return { endpoint: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r(undefined)) }) }
}

test('a store that stalls mid-body, ignores Range, or finds our clock skewed: the SDK\'s errors, sockets freed, the clock corrected', async (t) => {
  const h: Handle = { type: 'data', name: 'a'.repeat(64) }
  // Headers and half the body, then silence.
  const stall = await server1((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' })
    res.write(Buffer.alloc(500))
  })
  const b1 = server.backend({ endpoint: stall.endpoint, idleTimeoutMs: 300 })
  t.after(() => b1.close())
  await assert.rejects(b1.load(h), (e: unknown) => e instanceof BackendError && /no answer for 0\.3 s/.test(e.message) && (e.cause as Error)?.name === 'TimeoutError')
  await b1.close()
  await stall.close()

  // 200 with the whole object to a ranged GET.
  let served = 0
  const noRange = await server1((_req, res) => {
    served++
    res.writeHead(200, { 'content-length': '100000' })
    res.end(Buffer.alloc(100_000))
  })
  const b2 = server.backend({ endpoint: noRange.endpoint, maxConnections: 1, idleTimeoutMs: 60_000 })
  t.after(() => b2.close())
  for (let i = 0; i < 3; i++) await assert.rejects(b2.load(h, { offset: 0, length: 10 }), (e: unknown) => e instanceof BackendError && /does not serve byte ranges/.test(e.message))
  assert.equal(served, 3, 'one connection, freed after each refusal (a held one would stall the next for a minute)')
  await b2.close()
  await noRange.close()

  // Our clock an hour behind the store's: refused once, then signed with the store's time.
  const dates: string[] = []
  const skew = await server1((req, res, n) => {
    dates.push(String(req.headers['x-amz-date']))
    const serverDate = new Date(Date.now() + 3_600_000)
    if (n === 0) {
      const xml = '<?xml version="1.0"?><Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>'
      res.writeHead(403, { date: serverDate.toUTCString(), 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) })
      return res.end(xml)
    }
    res.writeHead(200, { 'content-length': '3' })
    res.end('abc')
  })
  const { withRetry } = await import('../src/backend/retry.js')
  const b3 = withRetry(server.backend({ endpoint: skew.endpoint }), { baseDelayMs: 1, maxDelayMs: 5 })
  t.after(() => b3.close())
  assert.deepEqual(Buffer.from(await b3.load(h)), Buffer.from('abc'))
  const parse = (d: string) => Date.parse(d.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'))
  assert.ok(parse(dates[1]) - parse(dates[0]) > 3_500_000, `the retry was signed with the store's time: ${dates.join(', ')}`)
  await skew.close()
})
