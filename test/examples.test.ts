// Runs the scripts in examples/ as a user would (against the built package, which they import by
// its name), so they never rot.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanup, randomBytesSeeded, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const EXAMPLES = join(ROOT, 'examples')

before(() => {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: build it first with "npm run build" (npm test builds before it tests)')
})
after(cleanup)

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs examples/<script> in cwd, with this process's environment minus SESSION_SYNC_*, plus env. */
function example(script: string, args: string[], cwd: string, env: Record<string, string> = {}): Run {
  const base: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_')) base[k] = v
  const r = spawnSync(process.execPath, [join(EXAMPLES, script), ...args], { cwd, env: { ...base, ...env }, input: '', encoding: 'utf8', timeout: 60_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `expected success, got exit ${r.status}; stderr: ${r.stderr}`)
  return r
}

function fails(r: Run, message: RegExp): void {
  assert.equal(r.status, 1, `expected exit 1, got ${r.status}; stdout: ${r.stdout}`)
  assert.match(r.stderr, message)
}

test('backup-folder, list-snapshots and restore-file: back up twice, list both, restore one file byte for byte', () => {
  const work = tempDir('examples')
  const env = { SESSION_SYNC_REPOSITORY: join(work, 'repo'), SESSION_SYNC_PASSWORD: 'examples test password' }
  mkdirSync(join(work, 'docs', 'sub'), { recursive: true })
  const photo = randomBytesSeeded(300_000, 42)
  writeFileSync(join(work, 'docs', 'sub', 'photo.bin'), photo)
  writeFileSync(join(work, 'docs', 'notes.md'), '# notes\n')
  writeFileSync(join(work, 'docs', 'todo.txt'), 'nothing\n')

  const first = ok(example('backup-folder.mjs', ['docs'], work, env))
  assert.match(first.stdout, /^created repository [0-9a-f]{10} at /m)
  assert.match(first.stdout, /^snapshot [0-9a-f]{8} saved: 3 new, 0 changed, 0 unmodified files/m)
  assert.ok(existsSync(join(work, 'repo', 'config')))

  writeFileSync(join(work, 'docs', 'notes.md'), '# notes\n\nchanged before the second backup\n')
  const second = ok(example('backup-folder.mjs', ['docs'], work, env))
  assert.doesNotMatch(second.stdout, /created repository/)
  assert.match(second.stdout, /^snapshot [0-9a-f]{8} saved: 0 new, 1 changed, 2 unmodified files/m)

  const list = ok(example('list-snapshots.mjs', [], work, env)).stdout.trim().split('\n')
  assert.equal(list.length, 2, list.join('\n'))
  for (const line of list) assert.match(line, new RegExp(`^[0-9a-f]{8}  \\d{4}-\\d\\d-\\d\\dT.*  ${join(work, 'docs')}  3 files$`))

  const restored = ok(example('restore-file.mjs', ['docs/sub/photo.bin', 'out'], work, env))
  assert.match(restored.stdout, /^restored docs\/sub\/photo\.bin from snapshot [0-9a-f]{8} into .*: 1 files, 300000 bytes/)
  assert.ok(readFileSync(join(work, 'out', 'docs', 'sub', 'photo.bin')).equals(photo))
  assert.ok(!existsSync(join(work, 'out', 'docs', 'notes.md')), 'only the asked-for path is restored')

  ok(example('restore-file.mjs', ['docs/notes.md'], work, env)) // default target ./restored
  assert.equal(readFileSync(join(work, 'restored', 'docs', 'notes.md'), 'utf8'), '# notes\n\nchanged before the second backup\n')
})

test('the examples default to ./example-repo and the example password', () => {
  const work = tempDir('examples')
  mkdirSync(join(work, 'folder'))
  writeFileSync(join(work, 'folder', 'a.txt'), 'a')
  ok(example('backup-folder.mjs', [join(work, 'folder')], work))
  assert.ok(existsSync(join(work, 'example-repo', 'config')))
  assert.equal(ok(example('list-snapshots.mjs', [], work)).stdout.trim().split('\n').length, 1)
  ok(example('restore-file.mjs', ['folder/a.txt'], work))
  assert.equal(readFileSync(join(work, 'restored', 'folder', 'a.txt'), 'utf8'), 'a')
})

test('the examples exit non-zero with a clear message on errors', () => {
  const work = tempDir('examples')
  const repo = join(work, 'repo')
  const env = { SESSION_SYNC_REPOSITORY: repo, SESSION_SYNC_PASSWORD: 'right' }
  mkdirSync(join(work, 'folder'))
  writeFileSync(join(work, 'folder', 'a.txt'), 'a')

  fails(example('backup-folder.mjs', [], work, env), /usage: node backup-folder\.mjs <folder>/)
  fails(example('list-snapshots.mjs', [], work, env), /listing snapshots failed: .* is not a session-sync repository/)
  fails(example('restore-file.mjs', [], work, env), /usage: node restore-file\.mjs/)
  fails(example('backup-folder.mjs', [join(work, 'missing')], work, env), /backup failed: cannot read/)

  ok(example('backup-folder.mjs', ['folder'], work, env))
  // A wrong password must not be mistaken for a missing repository.
  fails(example('backup-folder.mjs', ['folder'], work, { ...env, SESSION_SYNC_PASSWORD: 'wrong' }), /backup failed: wrong password/)
  fails(example('list-snapshots.mjs', [], work, { ...env, SESSION_SYNC_PASSWORD: 'wrong' }), /listing snapshots failed: wrong password/)
  fails(example('restore-file.mjs', ['folder/nope.txt'], work, env), /restore failed: "folder\/nope\.txt" is not in snapshot [0-9a-f]{8}/)
})
