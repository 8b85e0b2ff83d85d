// S3 set-up from the command line against the S3 test server: --s3-endpoint for the presets that
// need one, unknown schemes and malformed endpoints refused, missing credentials said plainly.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { cleanup, fails, tempDir } from '../helpers.js'
import { TestS3Server } from '../s3.js'
import { CHEAP_KDF, PASSWORD, cli, ok, requireBuilt } from './run.js'

let server: TestS3Server
let home: string
const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }

before(async () => {
  requireBuilt()
  server = await TestS3Server.start(['test'])
  home = tempDir('cli-s3-home')
})
after(async () => {
  await server.stop()
  cleanup()
})

test('--s3-provider minio takes its endpoint from --s3-endpoint', () => {
  const env = { ...PASSWORD, ...creds, HOME: home }
  fails(cli(['--repo', 's3:test/minio', '--s3-provider', 'minio', 'init', ...CHEAP_KDF], env), /needs an endpoint URL: give --s3-endpoint/)
  ok(cli(['--repo', 's3:test/minio', '--s3-provider', 'minio', '--s3-endpoint', server.endpoint, 'init', ...CHEAP_KDF], env))
  assert.match(ok(cli(['--repo', 's3:test/minio', '--s3-endpoint', server.endpoint, 'snapshots'], env)).stdout, /no snapshots/)
})

test('unknown schemes and malformed endpoints are refused', () => {
  const env = { ...PASSWORD, ...creds, HOME: home }
  fails(cli(['--repo', 's3:htp://127.0.0.1:1/test', 'snapshots'], env), /not a valid S3 location: .*not "htp:"/)
  fails(cli(['--repo', 's3:test', '--s3-endpoint', 'ftp://127.0.0.1', 'snapshots'], env), /"ftp:\/\/127.0.0.1" is not an endpoint URL/)
  fails(cli(['--repo', 's3:test', '--s3-endpoint', 'http://127.0.0.1:9000/bucket', 'snapshots'], env), /not an endpoint URL/)
})

test('missing credentials say which variables or profile to set', () => {
  const env = { ...PASSWORD, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', AWS_SHARED_CREDENTIALS_FILE: `${home}/none`, AWS_CONFIG_FILE: `${home}/none` }
  fails(cli(['--repo', `s3:${server.endpoint}/test/nocreds`, 'snapshots'], env), /no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY .* or AWS_PROFILE/)
})
