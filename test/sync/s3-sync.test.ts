// The sync layer against a real S3-compatible server on 127.0.0.1: request counts of an unchanged
// sync and of one edited note, a second device, and secrets kept in the workspace file (they work,
// they warn, and their values are in no log line, no status, no stored object).
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { WorkspaceSync, type SessionSyncError } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'
import { TestS3Server } from '../s3.js'

let server: TestS3Server
before(async () => {
  server = await TestS3Server.start(['agents'])
})
after(async () => {
  await server.stop()
  cleanup()
})

function workspace(root: string, files = 200): string {
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n')
  for (let i = 0; i < files; i++) writeFileSync(join(ws, 'memory', `note-${i}.md`), `note ${i}\n${'words of the day '.repeat(50 + i)}`)
  return ws
}

/** Every file under a folder, read whole. */
function contentsUnder(dir: string): Buffer[] {
  const out: Buffer[] = []
  for (const n of readdirSync(dir)) {
    const p = join(dir, n)
    if (statSync(p).isDirectory()) out.push(...contentsUnder(p))
    else out.push(readFileSync(p))
  }
  return out
}

test('an unchanged sync on S3 makes no request; one edited note takes at most 5 PUTs; secrets in the workspace file work, warn and leak nowhere', async () => {
  const root = tempDir('s3sync')
  const ws = workspace(root)
  // s3rver accepts only its own credentials, so the secret is the one it knows.
  const secret = 'S3RVER'
  const config = { provider: 'custom', endpoint: server.endpoint, bucket: 'agents', path_prefix: 'team', key_id: 'S3RVER', secret_key: secret, debounce_seconds: 0 }
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify(config))
  const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }
  const sync = WorkspaceSync.create({ workspace: ws, env })
  assert.ok(sync.configWarnings.some((w) => /secret_key/.test(w) && /AWS_SECRET_ACCESS_KEY/.test(w)))
  await sync.init()
  const first = await sync.syncNow()
  assert.equal(first.result, 'ok')

  const unchanged = await sync.syncNow()
  assert.equal(unchanged.result, 'unchanged')
  assert.deepEqual([unchanged.requests.PUT, unchanged.requests.DELETE], [0, 0])
  assert.ok(unchanged.requests.LIST <= 1 && unchanged.requests.GET <= 1, JSON.stringify(unchanged.requests))

  writeFileSync(join(ws, 'memory', 'note-7.md'), 'an edited note\n')
  const edited = await sync.syncNow()
  assert.equal(edited.filesChanged, 1)
  assert.ok(edited.requests.PUT <= 5, `PUTs: ${edited.requests.PUT}`)

  const status = await sync.status()
  assert.ok(status.warnings.some((w) => /secret_key/.test(w)))
  assert.equal(status.storageReachable, true)
  assert.ok(status.location?.includes('agents'))
  const said = JSON.stringify([status, sync.log({ limit: 100 }), readFileSync(join(ws, 'memory', 'sync-dashboard.html'), 'utf8')])
  const outputs = said.replaceAll('S3RVER', '') // the key id is no secret; its value equals the secret here
  assert.ok(!outputs.includes(secret))
  for (const object of contentsUnder(server.directory)) assert.ok(!object.includes(Buffer.from('session-sync-config')), 'the config file is never backed up')
  await sync.close()
})

test('a second device on S3 restores with the key from the environment; unreachable storage is one clear error', async () => {
  const root = tempDir('s3sync')
  const wsA = workspace(join(root, 'a'), 20)
  const config = { provider: 'minio', endpoint: server.endpoint, bucket: 'agents', path_prefix: 'two', debounce_seconds: 0 }
  const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }
  writeFileSync(join(wsA, 'session-sync-config.json'), JSON.stringify(config))
  const a = WorkspaceSync.create({ workspace: wsA, env: { SESSION_SYNC_STATE_DIR: join(root, 'a', 'state'), HOME: root, ...creds } })
  await a.init()
  await a.syncNow()

  const wsB = join(root, 'b', 'workspace')
  mkdirSync(wsB, { recursive: true })
  writeFileSync(join(wsB, 'session-sync-config.json'), JSON.stringify(config))
  const b = WorkspaceSync.create({ workspace: wsB, env: { SESSION_SYNC_STATE_DIR: join(root, 'b', 'state'), HOME: root, SESSION_SYNC_KEY: a.showKey(), ...creds } })
  const r = await b.restore({ timestamp: 'latest', inPlace: true })
  assert.equal(r.applied?.written, 21)
  assert.equal(readFileSync(join(wsB, 'memory', 'note-3.md'), 'utf8'), readFileSync(join(wsA, 'memory', 'note-3.md'), 'utf8'))
  const s = await b.syncNow()
  assert.equal(s.result, 'ok')

  const wsC = join(root, 'c', 'workspace')
  mkdirSync(wsC, { recursive: true })
  writeFileSync(join(wsC, 'session-sync-config.json'), JSON.stringify({ ...config, endpoint: 'http://127.0.0.1:9' }))
  const c = WorkspaceSync.create({ workspace: wsC, env: { SESSION_SYNC_STATE_DIR: join(root, 'c', 'state'), HOME: root, SESSION_SYNC_KEY: a.showKey(), ...creds } })
  await assert.rejects(c.syncNow(), (e: SessionSyncError) => {
    assert.equal(e.code, 'STORAGE_UNREACHABLE')
    assert.match(e.message, /127\.0\.0\.1:9/)
    // One sentence of advice, said once
    assert.doesNotMatch(e.message, /\.\./)
    assert.equal(e.message.match(/Check the endpoint/g)?.length, 1, e.message)
    return true
  })
  await a.close()
  await b.close()
  await c.close()
})
