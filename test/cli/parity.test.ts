// What restic users reach for: the password from a command or a file named in the environment, the
// repository from a file, paths from a file, and subcommand help with the global options, the
// environment variables and an example.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, fails, tempDir } from '../helpers.js'
import { CHEAP_KDF, PASSWORD, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string
let src: string
const pw = PASSWORD.SESSION_SYNC_PASSWORD

before(() => {
  requireBuilt()
  base = tempDir('cli-parity')
  repo = join(base, 'repo')
  src = join(base, 'src')
  mkdirSync(join(src, 'notes'), { recursive: true })
  writeFileSync(join(src, 'notes', 'a.md'), 'alpha\n')
  writeFileSync(join(src, 'notes', 'b.md'), 'beta\n')
  writeFileSync(join(src, 'other.txt'), 'other\n')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  ok(cli(['--repo', repo, 'backup', src]))
})
after(cleanup)

test('--password-command and SESSION_SYNC_PASSWORD_COMMAND: the first line the command prints', () => {
  const cmd = `printf '%s\\nsecond line\\n' '${pw}'`
  assert.match(ok(cli(['--repo', repo, '--password-command', cmd, 'snapshots'], {})).stdout, /1 snapshots/)
  assert.match(ok(cli(['--repo', repo, 'snapshots'], { SESSION_SYNC_PASSWORD_COMMAND: cmd })).stdout, /1 snapshots/)
  // A flag wins over the environment.
  fails(cli(['--repo', repo, '--password-command', 'echo wrong', 'snapshots'], { SESSION_SYNC_PASSWORD_COMMAND: cmd }), /wrong password/)
  fails(cli(['--repo', repo, '--password-command', 'exit 7', 'snapshots'], {}), /password command \(--password-command\) failed with exit status 7; run it by hand/)
  fails(cli(['--repo', repo, '--password-command', 'true', 'snapshots'], {}), /printed no password/)
  const file = join(base, 'pw.txt')
  writeFileSync(file, `${pw}\n`)
  fails(cli(['--repo', repo, '--password-command', cmd, '--password-file', file, 'snapshots'], {}), /--password-file or --password-command, not both/)
})

test('SESSION_SYNC_PASSWORD_FILE holds the name of a password file', () => {
  const file = join(base, 'pw-env.txt')
  writeFileSync(file, `${pw}\n`)
  assert.match(ok(cli(['--repo', repo, 'snapshots'], { SESSION_SYNC_PASSWORD_FILE: file })).stdout, /1 snapshots/)
  fails(cli(['--repo', repo, 'snapshots'], { SESSION_SYNC_PASSWORD_FILE: join(base, 'missing') }), /cannot read password file \(SESSION_SYNC_PASSWORD_FILE\)/)
})

test('--repository-file and SESSION_SYNC_REPOSITORY_FILE: the location on the file\'s first line', () => {
  const file = join(base, 'repo.txt')
  writeFileSync(file, `${repo}\n`)
  assert.match(ok(cli(['--repository-file', file, 'snapshots'])).stdout, /1 snapshots/)
  assert.match(ok(cli(['snapshots'], { ...PASSWORD, SESSION_SYNC_REPOSITORY_FILE: file })).stdout, /1 snapshots/)
  fails(cli(['--repo', repo, '--repository-file', file, 'snapshots']), /--repo or --repository-file, not both/)
  const empty = join(base, 'empty.txt')
  writeFileSync(empty, '\n')
  fails(cli(['--repository-file', empty, 'snapshots']), /is empty: write the repository location on its first line/)
  fails(cli(['snapshots']), /no repository given: use --repo or --repository-file, or set SESSION_SYNC_REPOSITORY or SESSION_SYNC_REPOSITORY_FILE/)
})

test('backup --files-from: the listed paths, comments and blank lines skipped; with none, a clear error', () => {
  const list = join(base, 'list.txt')
  writeFileSync(list, `# what to back up\n${join(src, 'notes')}\n\n${join(src, 'other.txt')}\n`)
  const s = json(cli(['--repo', repo, '--json', 'backup', '--files-from', list]))
  assert.equal(s.totalFiles, 3)
  const snap = json(cli(['--repo', repo, '--json', 'snapshots'])).find((x: { id: string }) => x.id === s.snapshotId)
  assert.deepEqual([...snap.paths].sort(), [join(src, 'notes'), join(src, 'other.txt')].sort())
  const none = join(base, 'none.txt')
  writeFileSync(none, '# nothing\n')
  fails(cli(['--repo', repo, 'backup', '--files-from', none]), /no paths in .*none\.txt/)
  fails(cli(['--repo', repo, 'backup']), /nothing to back up: give files or folders, or --files-from FILE/)
})

test('backup --files-from-raw and --files-from-verbatim: NUL-separated names and lines taken as they are', () => {
  // Names a line-based list cannot carry (a newline) or would read differently (a leading #, spaces).
  const odd = join(src, 'odd')
  mkdirSync(odd)
  const newline = join(odd, 'two\nlines.md')
  const hash = join(odd, '# not a comment.md')
  const spaced = join(odd, ' spaced .md')
  for (const f of [newline, hash, spaced]) writeFileSync(f, `${f}\n`)
  const raw = join(base, 'raw.list')
  writeFileSync(raw, `${newline}\0${hash}\0${spaced}\0`)
  const r = json(cli(['--repo', repo, '--json', 'backup', '--files-from-raw', raw]))
  assert.equal(r.totalFiles, 3)
  const snap = json(cli(['--repo', repo, '--json', 'snapshots'])).find((x: { id: string }) => x.id === r.snapshotId)
  assert.deepEqual([...snap.paths].sort(), [newline, hash, spaced].sort())
  const verbatim = join(base, 'verbatim.list')
  writeFileSync(verbatim, `${hash}\n\n${spaced}\n`)
  const v = json(cli(['--repo', repo, '--json', 'backup', '--files-from-verbatim', verbatim]))
  const snapV = json(cli(['--repo', repo, '--json', 'snapshots'])).find((x: { id: string }) => x.id === v.snapshotId)
  assert.deepEqual([...snapV.paths].sort(), [hash, spaced].sort())
  const latin1 = join(base, 'latin1.list')
  writeFileSync(latin1, Buffer.from([0x2f, 0x74, 0xe9, 0x00]))
  fails(cli(['--repo', repo, 'backup', '--files-from-raw', latin1]), /holds a name that is not UTF-8/)
})

test('a subcommand\'s help shows the global options, the environment variables and an example', () => {
  for (const cmd of [['backup'], ['restore'], ['prune'], ['key', 'add']]) {
    const h = ok(cli([...cmd, '--help'], {})).stdout
    assert.match(h, /Global Options:[\s\S]*--repo <location>[\s\S]*--password-command/, cmd.join(' '))
    assert.match(h, /Environment[\s\S]*SESSION_SYNC_REPOSITORY[\s\S]*SESSION_SYNC_PASSWORD_COMMAND[\s\S]*AWS_ACCESS_KEY_ID/, cmd.join(' '))
    assert.match(h, new RegExp(`Example:\\n  .*session-sync -r \\S+ .*${cmd.join(' ')}`), cmd.join(' '))
  }
})

test('--limit-upload and --limit-download (KiB/s, or their variables) are taken; a rate that is not a positive number is refused', () => {
  ok(cli(['--repo', repo, '--limit-upload', '100000', 'backup', src]))
  const out = join(base, 'limited')
  ok(cli(['--repo', repo, 'restore', 'latest', '--target', out], { ...PASSWORD, SESSION_SYNC_LIMIT_DOWNLOAD: '100000' }))
  fails(cli(['--repo', repo, '--limit-upload', '0', 'snapshots']), /--limit-upload must be a number of at least 1, not "0"/)
  fails(cli(['--repo', repo, 'snapshots'], { ...PASSWORD, SESSION_SYNC_LIMIT_DOWNLOAD: 'fast' }), /SESSION_SYNC_LIMIT_DOWNLOAD must be a number/)
})
