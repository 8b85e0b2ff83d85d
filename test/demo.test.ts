// The README's first command ends in `npm run demo`: the demo must run start to end and tell the
// story it claims (an unchanged sync writes nothing, the in-place restore and its undo work; the demo
// itself checks the restored bytes and throws otherwise).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

test('npm run demo: sync, unchanged sync, edit, status, staged restore, in-place restore and undo', () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'cli.js')), 'build first (npm test does)')
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_') && !k.startsWith('OPENCLAW_')) env[k] = v
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'demo.mjs'), '--clean'], { env, encoding: 'utf8', timeout: 120_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /nothing changed since snapshot [0-9a-f]{8}: nothing was written/)
  assert.match(r.stdout, /Keep a copy off this machine/)
  assert.match(r.stdout, /restored in place \(undo with: session-sync sync undo restore-/)
  assert.match(r.stdout, /Planned the tomato beds/)
  assert.doesNotMatch(r.stdout, /never-backed-up/, 'the .env file is never shown or backed up')
})
