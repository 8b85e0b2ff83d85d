// The built CLI (dist/cli.js), driven as a user would: real processes, local repositories, stdin
// that is not a terminal. `npm test` builds before it tests. Every run starts a process (~0.5 s),
// so the tests share one repository where they can.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanup, describeTree, fails, randomBytesSeeded, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'dist', 'cli.js')
const PASSWORD = { SESSION_SYNC_PASSWORD: 'correct horse battery staple' }
/** Cheap Argon2id for the repositories created here. */
const CHEAP_KDF = ['--kdf-memory', '8', '--kdf-passes', '1']

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI with this process's environment minus every SESSION_SYNC_* variable, plus `env`. */
function cli(args: string[], env: Record<string, string> = PASSWORD): Run {
  const base: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_')) base[k] = v
  // input: '' gives the child a pipe for stdin, so it is never a terminal (no password prompt).
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...base, ...env }, input: '', encoding: 'utf8', timeout: 60_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `expected success, got exit ${r.status}; stderr: ${r.stderr}`)
  return r
}

/** Exactly one JSON value on stdout (JSON.parse refuses anything more), on one line. */
function json<T = any>(r: Run): T {
  ok(r)
  assert.ok(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, `one line of JSON expected on stdout, got: ${JSON.stringify(r.stdout)}`)
  return JSON.parse(r.stdout) as T
}

/** The same failure with --json: the error as one JSON object on stdout, still one line on stderr. */
function failsJson(r: Run, code: string, message: RegExp): void {
  fails(r, message)
  const v = json<{ error: { code: string; message: string } }>({ ...r, status: 0 })
  assert.equal(v.error.code, code)
  assert.match(v.error.message, message)
}

/** A small source tree `<base>/memory`: 5 files, 6 dirs (with itself), 1 symlink. */
function makeSource(base: string): string {
  const src = join(base, 'memory')
  mkdirSync(join(src, 'notes', 'deep'), { recursive: true })
  mkdirSync(join(src, 'node_modules', 'pkg'), { recursive: true })
  mkdirSync(join(src, 'empty'))
  writeFileSync(join(src, 'notes', 'a.md'), '# note a\n'.repeat(200))
  writeFileSync(join(src, 'notes', 'deep', 'b.bin'), randomBytesSeeded(150_000, 3))
  writeFileSync(join(src, 'top.txt'), 'top')
  writeFileSync(join(src, 'debug.log'), 'log line\n')
  writeFileSync(join(src, 'node_modules', 'pkg', 'index.js'), 'module.exports = 1\n')
  symlinkSync('notes/a.md', join(src, 'link'))
  return src
}

const hexPath = (p: string) =>
  p
    .split('/')
    .map((n) => Buffer.from(n).toString('hex'))
    .join('/')
const plainPath = (h: string) =>
  h
    .split('/')
    .map((n) => Buffer.from(n, 'hex').toString())
    .join('/')

// One repository with one snapshot of `src`, made with the human-readable output.
let base: string
let repo: string
let src: string
let initRun: Run
let backupRun: Run
let snapshotId: string

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first with "npm run build" (npm test builds before it tests)`)
  base = tempDir('cli')
  repo = join(base, 'repo')
  src = makeSource(base)
  initRun = cli(['--repo', repo, 'init', ...CHEAP_KDF])
  backupRun = cli(['--repo', repo, 'backup', src])
  snapshotId = readdirSync(join(repo, 'snapshots'))[0] ?? ''
})
after(cleanup)

test('init → backup → snapshots → ls → restore → cat config/snapshot/tree, human-readable', () => {
  assert.match(ok(initRun).stdout, /created repository [0-9a-f]{10} at /)
  ok(backupRun)
  assert.match(backupRun.stdout, /Files: +5 new, 0 changed, 0 unmodified/)
  assert.match(backupRun.stdout, new RegExp(`snapshot ${snapshotId.slice(0, 8)} saved`))
  const short = snapshotId.slice(0, 8)

  const s = ok(cli(['--repo', repo, 'snapshots']))
  assert.match(s.stdout, new RegExp(`^${short} `, 'm'))
  assert.match(s.stdout, /^1 snapshots$/m)

  assert.deepEqual(ok(cli(['--repo', repo, 'ls', short])).stdout.trim().split('\n'), [
    'memory/',
    'memory/debug.log',
    'memory/empty/',
    'memory/link -> notes/a.md',
    'memory/node_modules/',
    'memory/node_modules/pkg/',
    'memory/node_modules/pkg/index.js',
    'memory/notes/',
    'memory/notes/a.md',
    'memory/notes/deep/',
    'memory/notes/deep/b.bin',
    'memory/top.txt',
  ])
  assert.deepEqual(ok(cli(['--repo', repo, 'ls', snapshotId, 'memory/notes'])).stdout.trim().split('\n'), ['memory/notes/', 'memory/notes/a.md', 'memory/notes/deep/', 'memory/notes/deep/b.bin'])

  const out = join(base, 'restored-human')
  const rs = ok(cli(['--repo', repo, 'restore', short, '--target', out]))
  assert.match(rs.stdout, new RegExp(`restored snapshot ${short} to .*: 5 files, 6 dirs, 1 symlinks`))
  assert.deepEqual(describeTree(join(out, 'memory')), describeTree(src))

  // cat prints JSON (indented without --json).
  const config = JSON.parse(ok(cli(['--repo', repo, 'cat', 'config'])).stdout)
  assert.equal(config.v, 1)
  assert.match(config.id, /^[0-9a-f]{64}$/)
  const snap = JSON.parse(ok(cli(['--repo', repo, 'cat', 'snapshot', short])).stdout)
  assert.equal(snap.id, snapshotId)
  assert.deepEqual(snap.paths, [src])
  const tree = JSON.parse(ok(cli(['--repo', repo, 'cat', 'tree', snap.tree])).stdout)
  assert.deepEqual(
    tree.nodes.map((n: { name: string; type: string }) => [Buffer.from(n.name, 'hex').toString(), n.type]),
    [['memory', 'dir']],
  )
})

test('--json on every command prints exactly one JSON value on stdout', () => {
  // init and backup with --json: in the key and --skip-if-unchanged tests below.
  // Global options after the command name work too.
  const snaps = json<Array<{ id: string; paths: string[]; time: string }>>(cli(['snapshots', '--repo', repo, '--json']))
  assert.deepEqual(
    snaps.map((s) => s.id),
    [snapshotId],
  )
  assert.deepEqual(snaps[0].paths, [src])
  assert.ok(!Number.isNaN(Date.parse(snaps[0].time)))

  const entries = json<Array<{ path: string; type: string; size: number; target?: string }>>(cli(['--repo', repo, '--json', 'ls', snapshotId]))
  assert.equal(entries.length, 12)
  const bin = entries.find((e) => e.path === 'memory/notes/deep/b.bin')
  assert.equal(bin?.type, 'file')
  assert.equal(bin?.size, 150_000)
  assert.equal(entries.find((e) => e.path === 'memory/link')?.target, 'notes/a.md')

  const r = json<{ snapshotId: string; filesRestored: number; symlinksRestored: number; idsVerified: boolean }>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', join(base, 'restored-json')]))
  assert.equal(r.snapshotId, snapshotId)
  assert.equal(r.filesRestored, 5)
  assert.equal(r.symlinksRestored, 1)
  assert.equal(r.idsVerified, true, 'ids are verified by default')
  const v = json<{ filesRestored: number; idsVerified: boolean }>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', join(base, 'restored-unverified'), '--no-verify-ids']))
  assert.equal(v.idsVerified, false)
  assert.equal(v.filesRestored, r.filesRestored)
  assert.equal(v.filesRestored, 5)

  const config = json<{ packSize: number }>(cli(['--repo', repo, '--json', 'cat', 'config']))
  assert.equal(config.packSize, 16 * 1024 * 1024)
  const snap = json<{ id: string; tree: string }>(cli(['--repo', repo, '--json', 'cat', 'snapshot', snapshotId]))
  assert.equal(snap.id, snapshotId)
  const tree = json<{ nodes: unknown[] }>(cli(['--repo', repo, '--json', 'cat', 'tree', snap.tree]))
  assert.equal(tree.nodes.length, 1)
  const key = json<{ kdf: string }>(cli(['--repo', repo, '--json', 'cat', 'key', readdirSync(join(repo, 'keys'))[0]]))
  assert.equal(key.kdf, 'argon2id13')
  const index = json<{ packs: Array<{ id: string; blobs: unknown[] }> }>(cli(['--repo', repo, '--json', 'cat', 'index', readdirSync(join(repo, 'index'))[0]]))
  assert.ok(index.packs.length >= 1)
  const pack = json<{ blobs: unknown[] }>(cli(['--repo', repo, '--json', 'cat', 'pack', index.packs[0].id]))
  assert.equal(pack.blobs.length, index.packs[0].blobs.length)
})

test('SESSION_SYNC_REPOSITORY stands in for --repo, and --repo wins over it', () => {
  assert.equal(json<unknown[]>(cli(['--json', 'snapshots'], { ...PASSWORD, SESSION_SYNC_REPOSITORY: repo })).length, 1)
  assert.equal(json<unknown[]>(cli(['--json', '--repo', repo, 'snapshots'], { ...PASSWORD, SESSION_SYNC_REPOSITORY: join(base, 'elsewhere') })).length, 1)
  const fresh = join(base, 'env-repo')
  ok(cli(['init', ...CHEAP_KDF], { ...PASSWORD, SESSION_SYNC_REPOSITORY: fresh }))
  assert.ok(existsSync(join(fresh, 'config')))
  failsJson(cli(['--json', 'snapshots']), 'INVALID_OPTIONS', /no repository given/)
})

test('--password-file gives the password (without its trailing newline) and wins over SESSION_SYNC_PASSWORD', () => {
  const pwRepo = join(base, 'pw-repo')
  const pwFile = join(base, 'pw')
  writeFileSync(pwFile, 'from a file\n')
  ok(cli(['--repo', pwRepo, '--password-file', pwFile, 'init', ...CHEAP_KDF], {}))
  assert.deepEqual(json(cli(['--repo', pwRepo, '--json', 'snapshots'], { SESSION_SYNC_PASSWORD: 'from a file' })), [])
  assert.deepEqual(json(cli(['--repo', pwRepo, '--json', '--password-file', pwFile, 'snapshots'], { SESSION_SYNC_PASSWORD: 'not the password' })), [])
  writeFileSync(pwFile, 'not it\n')
  failsJson(cli(['--repo', pwRepo, '--json', '--password-file', pwFile, 'snapshots'], {}), 'WRONG_PASSWORD', /password/)
  failsJson(cli(['--repo', pwRepo, '--json', '--password-file', join(base, 'no-such-file'), 'snapshots'], {}), 'INVALID_OPTIONS', /cannot read password file/)
})

test('SESSION_SYNC_KEY: a repository made with a raw base64 key opens with that key only', () => {
  const keyRepo = join(base, 'key-repo')
  const key = randomBytes(32).toString('base64')
  const created = json<{ id: string; location: string }>(cli(['--repo', keyRepo, '--json', 'init'], { SESSION_SYNC_KEY: key }))
  assert.match(created.id, /^[0-9a-f]{64}$/)
  assert.equal(created.location, keyRepo)
  assert.deepEqual(json(cli(['--repo', keyRepo, '--json', 'snapshots'], { SESSION_SYNC_KEY: key })), [])
  const keyFile = join(base, 'key')
  writeFileSync(keyFile, `${key}\n`)
  const kf = json<{ kdf: string }>(cli(['--repo', keyRepo, '--json', '--key-file', keyFile, 'cat', 'key', readdirSync(join(keyRepo, 'keys'))[0]], {}))
  assert.equal(kf.kdf, 'raw')

  failsJson(cli(['--repo', keyRepo, '--json', 'snapshots'], { SESSION_SYNC_KEY: randomBytes(32).toString('base64') }), 'WRONG_PASSWORD', /wrong password or key/)
  failsJson(cli(['--repo', keyRepo, '--json', 'snapshots'], PASSWORD), 'WRONG_PASSWORD', /wrong password or key/)
  failsJson(cli(['--repo', repo, '--json', 'snapshots'], { SESSION_SYNC_KEY: key }), 'WRONG_PASSWORD', /wrong password or key/)
  failsJson(cli(['--repo', keyRepo, '--json', 'snapshots'], { SESSION_SYNC_KEY: 'dG9vIHNob3J0' }), 'INVALID_OPTIONS', /32 bytes/)
})

test('errors exit non-zero with one clear line on stderr (and, with --json, a JSON error object)', () => {
  // wrong password
  const wrong = { SESSION_SYNC_PASSWORD: 'hunter2-not-it' }
  const bad = cli(['--repo', repo, 'snapshots'], wrong)
  const line = fails(bad, /password/)
  assert.ok(!line.includes(wrong.SESSION_SYNC_PASSWORD), 'the password is not echoed')
  assert.equal(bad.stdout, '', 'nothing on stdout without --json')
  failsJson(cli(['--repo', repo, '--json', 'snapshots'], wrong), 'WRONG_PASSWORD', /password/)

  // not a repository: an empty folder, a missing one
  const empty = join(base, 'empty-dir')
  mkdirSync(empty)
  assert.ok(fails(cli(['--repo', empty, 'snapshots']), /is not a session-sync repository/).includes(empty))
  failsJson(cli(['--repo', join(base, 'missing'), '--json', 'ls', 'latest']), 'NOT_A_REPOSITORY', /not a session-sync repository/)

  // missing snapshot
  fails(cli(['--repo', repo, 'restore', 'deadbeef', '--target', join(base, 'x')]), /no snapshot matches "deadbeef"/)
  assert.ok(!existsSync(join(base, 'x')), 'nothing is created for a snapshot that does not exist')
  failsJson(cli(['--repo', repo, '--json', 'ls', '2001-01-01T00:00:00Z']), 'INVALID_OPTIONS', /no snapshot at or before 2001-01-01T00:00:00Z .*: the earliest is /)

  // init twice
  failsJson(cli(['--repo', repo, '--json', 'init', ...CHEAP_KDF]), 'REPOSITORY_EXISTS', /already holds a repository/)

  // no password at all, and stdin is not a terminal
  fails(cli(['--repo', repo, 'snapshots'], {}), /no password/)
  failsJson(cli(['--repo', join(base, 'new'), '--json', 'init', ...CHEAP_KDF], {}), 'INVALID_OPTIONS', /no password/)
  assert.ok(!existsSync(join(base, 'new', 'config')), 'no repository without a password')

  // a missing source path
  failsJson(cli(['--repo', repo, '--json', 'backup', join(base, 'does-not-exist')]), 'SOURCE_ERROR', /cannot read/)
})

test('--skip-if-unchanged stores no snapshot when nothing changed, and one when something did', () => {
  const skipRepo = join(base, 'skip-repo')
  const skipSrc = join(base, 'skip-src')
  mkdirSync(skipSrc)
  writeFileSync(join(skipSrc, 'a.txt'), 'a')
  writeFileSync(join(skipSrc, 'b.txt'), 'b')
  ok(cli(['--repo', skipRepo, 'init', ...CHEAP_KDF]))
  const first = json<{ snapshotId: string; skipped: boolean; filesNew: number; errors: unknown[] }>(cli(['--repo', skipRepo, '--json', 'backup', '--skip-if-unchanged', skipSrc]))
  assert.match(first.snapshotId, /^[0-9a-f]{64}$/)
  assert.equal(first.skipped, false)
  assert.equal(first.filesNew, 2)
  assert.deepEqual(first.errors, [])

  const same = ok(cli(['--repo', skipRepo, 'backup', '--skip-if-unchanged', skipSrc]))
  assert.match(same.stdout, /Nothing changed since the parent snapshot: no snapshot stored/)
  const sameJson = json<{ skipped: boolean; snapshotId?: string; filesUnmodified: number }>(cli(['--repo', skipRepo, '--json', 'backup', '--skip-if-unchanged', skipSrc]))
  assert.equal(sameJson.skipped, true)
  assert.equal(sameJson.snapshotId, undefined)
  assert.equal(sameJson.filesUnmodified, 2)
  assert.equal(readdirSync(join(skipRepo, 'snapshots')).length, 1)

  writeFileSync(join(skipSrc, 'b.txt'), 'changed')
  const changed = json<{ skipped: boolean; snapshotId?: string; filesChanged: number }>(cli(['--repo', skipRepo, '--json', 'backup', '--skip-if-unchanged', skipSrc]))
  assert.equal(changed.skipped, false)
  assert.equal(changed.filesChanged, 1)
  assert.deepEqual(readdirSync(join(skipRepo, 'snapshots')).sort(), [first.snapshotId, changed.snapshotId].sort())
})

test('--exclude, --exclude-file and --exclude-larger-than leave paths out', () => {
  const patterns = join(base, 'excludes.txt')
  writeFileSync(patterns, '# logs\n*.log\n\n')
  const b = json<{ snapshotId: string }>(cli(['--repo', repo, '--json', 'backup', '-e', 'node_modules/', '--exclude', 'empty', '--exclude-file', patterns, '--exclude-larger-than', '100K', src]))
  const paths = json<Array<{ path: string }>>(cli(['--repo', repo, '--json', 'ls', b.snapshotId])).map((e) => e.path)
  assert.deepEqual(paths, ['memory', 'memory/link', 'memory/notes', 'memory/notes/a.md', 'memory/notes/deep', 'memory/top.txt'])
  failsJson(cli(['--repo', repo, '--json', 'backup', '--exclude-larger-than', 'lots', src]), 'INVALID_OPTIONS', /not a size/)
})

test('restore --include restores only the included path', () => {
  const out = join(base, 'only-a')
  const r = json<{ filesRestored: number }>(cli(['--repo', repo, '--json', 'restore', snapshotId, '--target', out, '--include', 'memory/notes/a.md']))
  assert.equal(r.filesRestored, 1)
  const restored = describeTree(out)
  assert.deepEqual(Object.keys(restored).map(plainPath), ['memory', 'memory/notes', 'memory/notes/a.md'])
  assert.deepEqual(restored[hexPath('memory/notes/a.md')], describeTree(src)[hexPath('notes/a.md')])
})

test('restore --exclude leaves the excluded paths out, at any depth', () => {
  const out = join(base, 'no-notes')
  ok(cli(['--repo', repo, 'restore', snapshotId, '--target', out, '-e', 'memory/notes', '--exclude', '**/index.js']))
  assert.deepEqual(Object.keys(describeTree(join(out, 'memory'))).map(plainPath), ['debug.log', 'empty', 'link', 'node_modules', 'node_modules/pkg', 'top.txt'])
})
