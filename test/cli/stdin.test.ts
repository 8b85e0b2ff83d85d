// backup --stdin: what arrives on standard input becomes one file of the snapshot, recorded as
// /NAME (--stdin-filename); a second such backup finds the first as its parent and dedups.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { cleanup, fails, randomBytesSeeded, tempDir } from '../helpers.js'
import { CHEAP_KDF, CLI, PASSWORD, ROOT, baseEnv, cli, json, ok, requireBuilt } from './run.js'

let repo: string
const data = randomBytesSeeded(1_500_000, 11)

before(() => {
  requireBuilt()
  repo = join(tempDir('cli-stdin'), 'repo')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
})
after(cleanup)

function backupStdin(args: string[], input: Buffer) {
  const r = spawnSync(process.execPath, [CLI, '--repo', repo, '--json', 'backup', '--stdin', ...args], { cwd: ROOT, env: { ...baseEnv(), ...PASSWORD }, input })
  assert.equal(r.status, 0, r.stderr.toString())
  return JSON.parse(r.stdout.toString())
}

test('backup --stdin --stdin-filename stores the input as /NAME; dump gives it back byte for byte', () => {
  const s = backupStdin(['--stdin-filename', 'db.sql'], data)
  assert.equal(s.filesNew, 1)
  const snap = json(cli(['--repo', repo, '--json', 'snapshots'])).at(-1)
  assert.equal(snap.id, s.snapshotId)
  assert.deepEqual(snap.paths, ['/db.sql'])
  assert.deepEqual(json(cli(['--repo', repo, '--json', 'ls', 'latest'])).map((e: { path: string }) => e.path), ['db.sql'])
  const d = spawnSync(process.execPath, [CLI, '--repo', repo, 'dump', 'latest', 'db.sql'], { cwd: ROOT, env: { ...baseEnv(), ...PASSWORD }, maxBuffer: 16 * 1024 * 1024 })
  assert.ok(d.stdout.equals(data))
  const again = backupStdin(['--stdin-filename', 'db.sql'], data)
  assert.equal(again.parent, s.snapshotId, 'the parent is found under the recorded path')
  assert.equal(again.dataBlobsAdded, 0, 'the same input stores no new data')
  const other = backupStdin([], Buffer.from('plain\n'))
  assert.deepEqual(json(cli(['--repo', repo, '--json', 'snapshots'])).find((x: { id: string }) => x.id === other.snapshotId).paths, ['/stdin'])
})

test('backup --stdin refuses paths beside it and a file name with a slash', () => {
  fails(cli(['--repo', repo, 'backup', '--stdin', ROOT]), /--stdin backs up standard input alone/)
  fails(cli(['--repo', repo, 'backup', '--stdin', '--stdin-filename', 'a/b']), /--stdin-filename takes a file name without slashes/)
})
