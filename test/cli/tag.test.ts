// tag: --add, --remove and --set with restic's meanings; a changed snapshot gets a new id and keeps
// everything else (its tree restores the same).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, describeTree, fails, tempDir } from '../helpers.js'
import { CHEAP_KDF, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string
let src: string
type Snap = { id: string; tags: string[]; tree: string; time: string; paths: string[]; host: string }
const snapshots = (): Snap[] => json(cli(['--repo', repo, '--json', 'snapshots']))

before(() => {
  requireBuilt()
  base = tempDir('cli-tag')
  repo = join(base, 'repo')
  src = join(base, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a.md'), 'one\n')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  ok(cli(['--repo', repo, 'backup', src, '--tag', 'daily']))
  writeFileSync(join(src, 'a.md'), 'two\n')
  ok(cli(['--repo', repo, 'backup', src, '--tag', 'daily']))
})
after(cleanup)

test('tag --add on latest: a new id, the same time, tree, paths and host; the other snapshot untouched', () => {
  const [first, second] = snapshots()
  const r = json(cli(['--repo', repo, '--json', 'tag', '--add', 'keep', 'latest']))
  assert.equal(r.changed.length, 1)
  assert.equal(r.changed[0].from, second.id)
  const after = snapshots()
  assert.deepEqual(after.map((s) => s.id), [first.id, r.changed[0].to])
  const tagged = after[1]
  assert.notEqual(tagged.id, second.id)
  assert.deepEqual(tagged.tags, ['daily', 'keep'])
  assert.deepEqual({ tree: tagged.tree, time: tagged.time, paths: tagged.paths, host: tagged.host }, { tree: second.tree, time: second.time, paths: second.paths, host: second.host })
  assert.deepEqual(after[0], first)
  assert.deepEqual(json(cli(['--repo', repo, '--json', 'snapshots', '--tag', 'keep'])).map((s: Snap) => s.id), [tagged.id])
  const out = join(base, 'restored')
  ok(cli(['--repo', repo, 'restore', tagged.id.slice(0, 8), '--target', out]))
  assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
  assert.match(ok(cli(['--repo', repo, 'check'])).stdout, /no errors were found/)
})

test('tag --remove and --set, by filter or on every snapshot; what is already so is left alone', () => {
  const r = json(cli(['--repo', repo, '--json', 'tag', '--remove', 'daily', '--tag', 'keep']))
  assert.equal(r.changed.length, 1)
  assert.deepEqual(snapshots().map((s) => s.tags), [['daily'], ['keep']])
  const again = ok(cli(['--repo', repo, 'tag', '--add', 'keep', 'latest']))
  assert.match(again.stdout, /changed 0 snapshots, 1 already as asked/)
  ok(cli(['--repo', repo, 'tag', '--set', 'a', '--set', 'b']))
  assert.deepEqual(snapshots().map((s) => s.tags), [['a', 'b'], ['a', 'b']])
  ok(cli(['--repo', repo, 'tag', '--set', '']))
  assert.deepEqual(snapshots().map((s) => s.tags), [[], []])
})

test('tag refuses --set with --add, nothing to change, and a tag with a comma', () => {
  fails(cli(['--repo', repo, 'tag', '--set', 'x', '--add', 'y', 'latest']), /--set replaces every tag: give it alone/)
  fails(cli(['--repo', repo, 'tag', 'latest']), /nothing to change: give --add, --remove or --set/)
  fails(cli(['--repo', repo, 'tag', '--add', 'a,b', 'latest']), /"a,b" is not a tag/)
  fails(cli(['--repo', repo, 'tag', '--add', 'x', '--host', 'nowhere']), /no snapshot matches/)
})
