// Which part of a snapshot lands where: `latest:memory` (restic's SNAPSHOT:FOLDER) restores a
// folder's contents into the target itself; include patterns are taken relative to the backed-up
// folder as users write them, or from its name as `ls` shows paths; an include that matches nothing
// and a target that cannot be created are errors said at once.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, describeTree, fails, tempDir } from '../helpers.js'
import { CHEAP_KDF, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string

before(() => {
  requireBuilt()
  base = tempDir('cli-restore-paths')
  repo = join(base, 'repo')
  const ws = join(base, 'ws')
  mkdirSync(join(ws, 'memory', 'notes'), { recursive: true })
  writeFileSync(join(ws, 'memory', 'a.md'), 'a\n')
  writeFileSync(join(ws, 'memory', 'notes', 'b.md'), 'b\n')
  writeFileSync(join(ws, 'other.txt'), 'other\n')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  ok(cli(['--repo', repo, 'backup', ws]))
})
after(cleanup)

const files = (dir: string) =>
  Object.entries(describeTree(dir))
    .filter(([, v]) => (v as { type: string }).type === 'file')
    .map(([k]) =>
      k
        .split('/')
        .map((n) => Buffer.from(n, 'hex').toString())
        .join('/'),
    )
    .sort()

test('latest:memory restores the folder\'s contents into the target itself', () => {
  const t = join(base, 'sub')
  const r = json<{ filesRestored: number }>(cli(['--repo', repo, '--json', 'restore', 'latest:memory', '--target', t]))
  assert.equal(r.filesRestored, 2)
  assert.deepEqual(files(t), ['a.md', 'notes/b.md'])
  // The path as ls shows it, from the backed-up folder's name, too.
  ok(cli(['--repo', repo, 'restore', 'latest:ws/memory', '--target', join(base, 'sub1')]))
  assert.deepEqual(files(join(base, 'sub1')), ['a.md', 'notes/b.md'])
  // An id prefix works the same, and a folder the snapshot lacks is named with what it has.
  const id = json<Array<{ id: string }>>(cli(['--repo', repo, '--json', 'snapshots']))[0].id
  ok(cli(['--repo', repo, 'restore', `${id.slice(0, 8)}:ws/memory/notes`, '--target', join(base, 'sub2')]))
  assert.deepEqual(files(join(base, 'sub2')), ['b.md'])
  fails(cli(['--repo', repo, 'restore', 'latest:ws/nope', '--target', join(base, 'sub3')]), /has no folder "ws\/nope"; paths in it start with "ws"/)
})

test('-i takes patterns relative to the backed-up folder (memory/**) as well as from its name (ws/memory/**)', () => {
  const rel = join(base, 'rel')
  assert.equal(json<{ filesRestored: number }>(cli(['--repo', repo, '--json', 'restore', 'latest', '--target', rel, '-i', 'memory/**'])).filesRestored, 2)
  assert.deepEqual(files(rel), ['ws/memory/a.md', 'ws/memory/notes/b.md'])
  const named = join(base, 'named')
  assert.equal(json<{ filesRestored: number }>(cli(['--repo', repo, '--json', 'restore', 'latest', '--target', named, '-i', 'ws/memory/**'])).filesRestored, 2)
  assert.deepEqual(files(named), ['ws/memory/a.md', 'ws/memory/notes/b.md'])
})

test('an include that matches nothing exits 1 with a hint', () => {
  const line = fails(cli(['--repo', repo, 'restore', 'latest', '--target', join(base, 'none'), '-i', 'memroy/**']), /--include "memroy\/\*\*" matched nothing/)
  assert.match(line, /start with "ws\/"/)
  assert.match(line, /session-sync ls /)
})

test('a target that cannot be created fails at once with its reason', () => {
  const r = cli(['--repo', repo, 'restore', 'latest', '--target', '/proc/nope/x'], undefined, { timeout: 30_000 })
  assert.equal(r.signal ?? null, null, 'the restore ended by itself')
  fails(r, /cannot create the folder \/proc\/nope \(ENOENT\)/)
})
