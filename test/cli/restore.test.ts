// `session-sync restore` over a target that already holds files: the overwrite policies (restic's
// meanings, if-newer by default), --dry-run, --delete and the summary that counts each.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, tempDir } from '../helpers.js'
import { CHEAP_KDF, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string
let src: string
let snapshotId: string

before(() => {
  requireBuilt()
  base = tempDir('cli-restore')
  repo = join(base, 'repo')
  src = join(base, 'memory')
  mkdirSync(join(src, 'notes'), { recursive: true })
  writeFileSync(join(src, 'notes', 'a.md'), 'note a\n')
  writeFileSync(join(src, 'notes', 'b.md'), 'note b\n')
  writeFileSync(join(src, 'top.txt'), 'top\n')
  // Recorded times well in the past, so that a file edited now is newer than the snapshot's copy.
  const past = new Date('2026-01-02T03:04:05Z')
  for (const f of ['notes/a.md', 'notes/b.md', 'top.txt']) utimesSync(join(src, f), past, past)
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  snapshotId = json<{ snapshotId: string }>(cli(['--repo', repo, '--json', 'backup', src])).snapshotId
})
after(cleanup)

interface Summary {
  filesRestored: number
  filesNew: number
  filesReplaced: number
  filesUnchanged: number
  kept: Array<{ path: string; reason: string }>
  deleted: string[]
  dryRun: boolean
  planned?: { new: string[]; replaced: string[] }
  overwrite: string
}

/** A target restored once, then: a.md edited now (newer), b.md edited with an old time (older), extra files. */
function edited(label: string): string {
  const target = join(base, label)
  ok(cli(['--repo', repo, 'restore', snapshotId, '--target', target]))
  const a = join(target, 'memory', 'notes', 'a.md')
  const b = join(target, 'memory', 'notes', 'b.md')
  writeFileSync(a, 'edited after the backup\n')
  writeFileSync(b, 'older edit\n')
  const older = new Date('2025-06-01T00:00:00Z')
  utimesSync(b, older, older)
  writeFileSync(join(target, 'memory', 'extra.txt'), 'not in the snapshot\n')
  mkdirSync(join(target, 'memory', 'notes', 'extra-dir'))
  writeFileSync(join(target, 'memory', 'notes', 'extra-dir', 'x'), 'x')
  writeFileSync(join(base, `${label}-outside.txt`), 'outside the target\n')
  symlinkSync(join(base, `${label}-outside.txt`), join(target, 'memory', 'link-out'))
  return target
}

const read = (target: string, rel: string) => readFileSync(join(target, 'memory', rel), 'utf8')

test('restore over an edited target keeps a file newer on disk (default if-newer), lists it and exits 3', () => {
  const target = edited('default')
  const r = cli(['--repo', repo, 'restore', snapshotId, '--target', target])
  assert.equal(r.status, 3, r.stderr)
  assert.equal(read(target, 'notes/a.md'), 'edited after the backup\n', 'the newer file is kept')
  assert.equal(read(target, 'notes/b.md'), 'note b\n', 'the older file is replaced')
  assert.match(r.stderr, /kept: .*notes\/a\.md \(newer on disk/)
  assert.match(r.stdout, /files: 0 new, 1 replaced, 1 unchanged, 1 kept \(--overwrite if-newer\), 0 deleted/)
  // With --json: the same counts, the kept file listed, still exit 3.
  const s = json<Summary>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', target]), 3)
  assert.deepEqual([s.filesNew, s.filesReplaced, s.filesUnchanged, s.overwrite], [0, 0, 2, 'if-newer'])
  assert.deepEqual(s.kept.map((k) => [k.path.slice(target.length), k.reason]), [['/memory/notes/a.md', 'newer']])
  assert.ok(existsSync(join(target, 'memory', 'extra.txt')), 'nothing deleted without --delete')
})

test('--overwrite always replaces everything, never replaces nothing, if-changed replaces what differs', () => {
  const always = edited('always')
  const s = json<Summary>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', always, '--overwrite', 'always']))
  assert.deepEqual([s.filesNew, s.filesReplaced, s.filesUnchanged, s.kept.length], [0, 3, 0, 0])
  assert.equal(read(always, 'notes/a.md'), 'note a\n')

  const never = edited('never')
  const n = json<Summary>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', never, '--overwrite', 'never']))
  assert.deepEqual([n.filesReplaced, n.filesUnchanged], [0, 1])
  assert.deepEqual(n.kept.map((k) => k.reason), ['exists', 'exists'])
  assert.equal(read(never, 'notes/b.md'), 'older edit\n')

  const changed = edited('if-changed')
  const c = json<Summary>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', changed, '--overwrite', 'if-changed']))
  assert.deepEqual([c.filesReplaced, c.filesUnchanged, c.kept.length], [2, 1, 0])
  assert.equal(read(changed, 'notes/a.md'), 'note a\n')
  assert.match(cli(['--repo', repo, 'restore', snapshotId, '--target', changed, '--overwrite', 'sometimes']).stderr, /Allowed choices are always, if-changed, if-newer, never/)
})

test('--dry-run lists what would be written, replaced and deleted, and changes nothing', () => {
  const target = edited('dry')
  const fresh = join(base, 'dry-fresh')
  const r = ok(cli(['--repo', repo, 'restore', snapshotId, '--target', fresh, '--dry-run']))
  assert.match(r.stdout, /would write +.*memory\/notes\/a\.md/)
  assert.ok(!existsSync(fresh), 'a dry run creates no target')
  const s = json<Summary>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', target, '--dry-run', '--delete', '--overwrite', 'always']))
  assert.equal(s.dryRun, true)
  assert.deepEqual(s.planned!.replaced.map((p) => p.slice(target.length)), ['/memory/notes/a.md', '/memory/notes/b.md', '/memory/top.txt'])
  assert.deepEqual(s.deleted.map((p) => p.slice(target.length)), ['/memory/extra.txt', '/memory/link-out', '/memory/notes/extra-dir'])
  assert.equal(read(target, 'notes/a.md'), 'edited after the backup\n')
  assert.ok(existsSync(join(target, 'memory', 'extra.txt')))
  const h = ok(cli(['--repo', repo, 'restore', snapshotId, '--target', target, '--dry-run', '--delete', '--overwrite', 'always']))
  assert.match(h.stdout, /would replace +.*notes\/b\.md/)
  assert.match(h.stdout, /would delete +.*extra\.txt/)
  assert.match(h.stdout, /files \(would be\): 0 new, 3 replaced, 0 unchanged, 0 kept \(--overwrite always\), 3 deleted/)
})

test('--delete removes what the snapshot lacks, inside the target only (a link is removed, not followed)', () => {
  const target = edited('delete')
  const s = json<Summary>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', target, '--delete', '--overwrite', 'always']))
  assert.deepEqual(s.deleted.map((p) => p.slice(target.length)), ['/memory/extra.txt', '/memory/link-out', '/memory/notes/extra-dir'])
  assert.ok(!existsSync(join(target, 'memory', 'extra.txt')))
  assert.ok(!existsSync(join(target, 'memory', 'notes', 'extra-dir')))
  assert.equal(readFileSync(join(base, 'delete-outside.txt'), 'utf8'), 'outside the target\n', 'the link\'s target is untouched')
  assert.equal(read(target, 'notes/a.md'), 'note a\n')
})
