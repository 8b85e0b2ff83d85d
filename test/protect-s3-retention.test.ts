// The exact `?retention` requests on S3, recorded (and answered: the test server has no Object Lock)
// by a proxy in front of the S3 test server.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { PermissionDeniedError, S3Backend } from '../src/index.js'
import { TestS3Server } from './s3.js'
import { cleanup } from './helpers.js'
import { PickyS3Proxy } from './support/picky-s3.js'

let server: TestS3Server
let proxy: PickyS3Proxy
before(async () => {
  server = await TestS3Server.start()
  proxy = await PickyS3Proxy.start(server.endpoint, { answerRetention: true, refuseChecksumHeaders: true })
})
after(async () => {
  await proxy.stop()
  await server.stop()
  cleanup()
})

test('retention on S3: PUT ?retention carries the mode and retain-until date with the body\'s Content-MD5 and no checksum header, never the GOVERNANCE bypass; GET ?retention reads it back', async () => {
  const b = new S3Backend({ bucket: 'test', prefix: 'retention', endpoint: proxy.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
  const h = { type: 'data' as const, name: 'ab'.repeat(32) }
  assert.deepEqual(await b.retention(h), {}, 'an object without retention')
  const until = new Date('2027-02-03T04:05:06.000Z')
  proxy.requests.length = 0
  await b.setRetention(h, undefined, { mode: 'GOVERNANCE', retainUntil: until })
  const put = proxy.requests.find((r) => r.method === 'PUT')!
  assert.match(put.url, /\/test\/retention\/data\/ab\/abab[0-9a-f]*\?retention/)
  assert.equal(put.headers['content-md5'], createHash('md5').update(put.body!).digest('base64'))
  assert.ok(!Object.keys(put.headers).some((k) => k.startsWith('x-amz-checksum-') || k === 'x-amz-sdk-checksum-algorithm'))
  assert.equal(put.headers['x-amz-bypass-governance-retention'], undefined)
  assert.match(put.body!.toString(), /<Mode>GOVERNANCE<\/Mode><RetainUntilDate>2027-02-03T04:05:06(\.000)?Z<\/RetainUntilDate>/)
  assert.deepEqual(await b.retention(h), { mode: 'GOVERNANCE', retainUntil: until })
  assert.match(proxy.requests.at(-1)!.url, /\?retention/)
  await b.close()
})

test('retention on S3: a refusal (403) is PERMISSION_DENIED, so a backup can warn and go on', async () => {
  // A store that refuses every request, as one refuses a credential without s3:PutObjectRetention.
  const { createServer } = await import('node:http')
  const denying = createServer((_req, res) => {
    const xml = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
    res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) })
    res.end(xml)
  })
  await new Promise<void>((r) => denying.listen(0, '127.0.0.1', r))
  const port = (denying.address() as { port: number }).port
  const d = new S3Backend({ bucket: 'test', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } })
  await assert.rejects(d.setRetention({ type: 'index', name: 'cd'.repeat(32) }, undefined, { mode: 'GOVERNANCE', retainUntil: new Date() }), (e) => e instanceof PermissionDeniedError)
  await d.close()
  denying.close()
})
