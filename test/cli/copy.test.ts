// copy: snapshots of another repository (its own password) into this one, with their time, host,
// paths and tags, restoring to the same files; a second copy finds them there and copies nothing.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, describeTree, fails, randomBytesSeeded, tempDir } from '../helpers.js'
import { CHEAP_KDF, PASSWORD, cli, json, ok, requireBuilt } from './run.js'

let base: string
let from: string
let to: string
let src: string
const FROM = { SESSION_SYNC_PASSWORD: 'another password' }
type Snap = { id: string; time: string; host: string; paths: string[]; tags: string[] }

before(() => {
  requireBuilt()
  base = tempDir('cli-copy')
  from = join(base, 'from')
  to = join(base, 'to')
  src = join(base, 'ws')
  mkdirSync(join(src, 'memory'), { recursive: true })
  writeFileSync(join(src, 'MEMORY.md'), 'one\n')
  writeFileSync(join(src, 'memory', 'data.bin'), randomBytesSeeded(400_000, 5))
  ok(cli(['--repo', from, 'init', ...CHEAP_KDF], FROM))
  ok(cli(['--repo', from, 'backup', src, '--host', 'laptop', '--tag', 'daily', '--time', '2026-11-01 10:00:00+00:00'], FROM))
  writeFileSync(join(src, 'MEMORY.md'), 'two\n')
  ok(cli(['--repo', from, 'backup', src, '--host', 'laptop'], FROM))
  ok(cli(['--repo', to, 'init', ...CHEAP_KDF]))
})
after(cleanup)

test('copy --from-repo: every snapshot with its time, host, paths and tags; the copy restores to the same files', () => {
  const pwFile = join(base, 'from-pw.txt')
  writeFileSync(pwFile, `${FROM.SESSION_SYNC_PASSWORD}\n`)
  const r = json(cli(['--repo', to, '--json', 'copy', '--from-repo', from, '--from-password-file', pwFile]))
  assert.equal(r.copied.length, 2)
  const pick = (s: Snap) => ({ time: s.time, host: s.host, paths: s.paths, tags: s.tags })
  const source: Snap[] = json(cli(['--repo', from, '--json', 'snapshots'], FROM))
  const copied: Snap[] = json(cli(['--repo', to, '--json', 'snapshots']))
  assert.deepEqual(copied.map(pick), source.map(pick))
  const out = tempDir('cli-copy-out')
  ok(cli(['--repo', to, 'restore', 'latest', '--target', out]))
  assert.deepEqual(describeTree(join(out, 'ws')), describeTree(src))
  assert.match(ok(cli(['--repo', to, 'check', '--read-data'])).stdout, /no errors were found/)
})

test('a second copy finds the snapshots there and copies nothing; the source from the environment', () => {
  const r = ok(cli(['--repo', to, 'copy'], { ...PASSWORD, SESSION_SYNC_FROM_REPOSITORY: from, SESSION_SYNC_FROM_PASSWORD: FROM.SESSION_SYNC_PASSWORD }))
  assert.match(r.stdout, /copied 0 snapshots, 2 already in the destination/)
  fails(cli(['--repo', to, 'copy']), /no source repository: give --from-repo/)
  fails(cli(['--repo', to, 'copy', '--from-repo', to], { ...PASSWORD, SESSION_SYNC_FROM_PASSWORD: PASSWORD.SESSION_SYNC_PASSWORD }), /the same repository/)
})
