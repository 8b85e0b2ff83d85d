// --cacert: an https S3 endpoint whose certificate no system CA vouches for is refused with what to
// do, and works with the certificate given (an https proxy in front of the S3 test server).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createServer, type Server } from 'node:https'
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, fails, tempDir } from '../helpers.js'
import { TestS3Server } from '../s3.js'
import { CHEAP_KDF, PASSWORD, ROOT, cliAsync as cli, ok, requireBuilt } from './run.js'

const CERT = join(ROOT, 'test', 'fixtures', 'tls', 'server-cert.pem')
const KEY = join(ROOT, 'test', 'fixtures', 'tls', 'server-key.pem')
let s3: TestS3Server
let proxy: Server
let endpoint: string
let env: Record<string, string>

before(async () => {
  requireBuilt()
  s3 = await TestS3Server.start(['test'])
  const target = new URL(s3.endpoint)
  proxy = createServer({ cert: readFileSync(CERT), key: readFileSync(KEY) }, (req, res) => {
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  endpoint = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`
  env = { ...PASSWORD, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', HOME: tempDir('cli-cacert-home') }
})
after(async () => {
  proxy.closeAllConnections()
  await new Promise((r) => proxy.close(r))
  await s3.stop()
  cleanup()
})

test('an https endpoint with a certificate no system CA vouches for: refused, saying to give --cacert', async () => {
  fails(await cli(['--repo', `s3:${endpoint}/test/untrusted`, 'init', ...CHEAP_KDF], env), /TLS certificate is not trusted .*give the certificate of its CA with --cacert FILE/)
})

test('with --cacert (or SESSION_SYNC_CACERT) init, backup and restore go through it', async () => {
  const repo = `s3:${endpoint}/test/trusted`
  ok(await cli(['--repo', repo, '--cacert', CERT, 'init', ...CHEAP_KDF], env))
  const src = join(tempDir('cli-cacert'), 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a.md'), 'over TLS\n')
  ok(await cli(['--repo', repo, '--cacert', CERT, 'backup', src], env))
  const out = tempDir('cli-cacert-out')
  ok(await cli(['--repo', repo, 'restore', 'latest', '--target', out], { ...env, SESSION_SYNC_CACERT: CERT }))
  assert.equal(readFileSync(join(out, 'src', 'a.md'), 'utf8'), 'over TLS\n')
  fails(await cli(['--repo', repo, '--cacert', join(ROOT, 'no-such.pem'), 'snapshots'], env), /cannot read the CA certificate file/)
})
