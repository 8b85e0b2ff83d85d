// The built CLI (dist/cli.js, real processes, local repositories) where a restore or a backup meets
// something in its way: a file in the way of one target file, set-id bits, a prune's exclusive lock.
//
// `npm test` builds dist/ first; run alone: `npx tsup && node --import tsx --test test/cli-hardening.test.ts`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LocalBackend, Repository } from '../src/index.js'
import { Lock } from '../src/repository/lock.js'
import { cleanup, fails, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'dist', 'cli.js')
const PW = 'hardening password'
const PASSWORD = { SESSION_SYNC_PASSWORD: PW }
const CHEAP_KDF = ['--kdf-memory', '8', '--kdf-passes', '1']
const isRoot = process.getuid?.() === 0

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_')) env[k] = v
  return { ...env, ...PASSWORD }
}

function cli(args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: baseEnv(), input: '', encoding: 'utf8', timeout: 120_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The same as cli(), without blocking this process (it holds a lock the child waits for). */
function cliAsync(args: string[], onStderr?: (text: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      onStderr?.(stderr)
    })
    child.once('error', reject)
    child.once('close', (status) => resolve({ status, stdout, stderr }))
  })
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `expected success, got exit ${r.status}; stdout: ${r.stdout}; stderr: ${r.stderr}`)
  return r
}

let base: string
let repo: string
let src: string

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first with "npx tsup" (npm test builds before it tests)`)
  base = tempDir('cli-hard')
  repo = join(base, 'repo')
  src = join(base, 'memory')
  mkdirSync(join(src, 'notes'), { recursive: true })
  for (let i = 0; i < 6; i++) writeFileSync(join(src, 'notes', `n-${i}.md`), `note ${i}\n`.repeat(50))
  writeFileSync(join(src, 'tool'), '#!/bin/sh\necho hi\n')
  chmodSync(join(src, 'tool'), 0o4755)
  writeFileSync(join(src, 'group-tool'), '#!/bin/sh\necho group\n')
  chmodSync(join(src, 'group-tool'), 0o2750)
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  ok(cli(['--repo', repo, 'backup', '--quiet', src]))
})
after(cleanup)

test('restore: a folder in the way of one file is reported, every other file is restored, exit 3 (JSON lists the errors)', () => {
  const target = join(base, 'in-the-way')
  mkdirSync(join(target, 'memory', 'notes', 'n-2.md', 'inside'), { recursive: true })
  const r = cli(['--repo', repo, '--json', 'restore', 'latest', '--target', target])
  assert.equal(r.status, 3, `exit 3 expected; stderr: ${r.stderr}`)
  const s = JSON.parse(r.stdout) as { filesRestored: number; errors: Array<{ path: string; message: string }> }
  assert.deepEqual(
    s.errors.map((e) => e.path),
    [join(target, 'memory', 'notes', 'n-2.md')],
  )
  assert.match(s.errors[0].message, /directory is in the way/)
  assert.equal(s.filesRestored, 7)
  for (const i of [0, 1, 3, 4, 5]) assert.equal(readFileSync(join(target, 'memory', 'notes', `n-${i}.md`), 'utf8'), `note ${i}\n`.repeat(50))
  assert.ok(lstatSync(join(target, 'memory', 'notes', 'n-2.md', 'inside')).isDirectory(), 'what was in the way is left alone')
  assert.match(r.stderr, new RegExp(`error: ${join(target, 'memory', 'notes', 'n-2.md')}: .*directory is in the way`))

  // Human-readable: the error on stderr, the summary says how many could not be restored.
  const target2 = join(base, 'in-the-way-2')
  mkdirSync(join(target2, 'memory', 'notes', 'n-4.md'), { recursive: true })
  const h = cli(['--repo', repo, 'restore', 'latest', '--target', target2])
  assert.equal(h.status, 3)
  assert.match(h.stdout, /1 could not be restored/)
  assert.match(h.stderr, /n-4\.md: .*directory is in the way/)
})

test('restore drops set-user-ID and set-group-ID bits by default and keeps them with --keep-setid (as root)', { skip: !isRoot && 'set-id bits are only restored for root' }, () => {
  const plain = join(base, 'setid-default')
  ok(cli(['--repo', repo, 'restore', 'latest', '--target', plain]))
  assert.equal(lstatSync(join(plain, 'memory', 'tool')).mode & 0o7777, 0o755)
  assert.equal(lstatSync(join(plain, 'memory', 'group-tool')).mode & 0o7777, 0o750)
  const kept = join(base, 'setid-kept')
  ok(cli(['--repo', repo, 'restore', 'latest', '--target', kept, '--keep-setid']))
  assert.equal(lstatSync(join(kept, 'memory', 'tool')).mode & 0o7777, 0o4755)
  assert.equal(lstatSync(join(kept, 'memory', 'group-tool')).mode & 0o7777, 0o2750)
})

test('backup --retry-lock waits for a held exclusive lock, says whose, and succeeds once it is released', async () => {
  writeFileSync(join(src, 'notes', 'later.md'), 'written while the lock is held\n')
  const opened = await Repository.open({ backend: new LocalBackend(repo), password: PW })
  const lock = await Lock.acquire(opened, { exclusive: true, settleMs: 5 })
  let released: Promise<void> | undefined
  try {
    const r = await cliAsync(['--repo', repo, '--json', 'backup', '--retry-lock', '2m', src], (err) => {
      if (!released && /waiting up to 2m for the exclusive lock/.test(err)) released = lock.release()
    })
    await released
    ok(r)
    assert.match(r.stderr, new RegExp(`waiting up to 2m for the exclusive lock held by pid ${process.pid} `))
    assert.equal((JSON.parse(r.stdout) as { filesNew: number }).filesNew, 1)
  } finally {
    await lock.release()
    await opened.close()
  }
})

test('backup --retry-lock fails with a clear message once its time is up; without it, at once', async () => {
  const opened = await Repository.open({ backend: new LocalBackend(repo), password: PW })
  const lock = await Lock.acquire(opened, { exclusive: true, settleMs: 5 })
  try {
    const r = await cliAsync(['--repo', repo, 'backup', '--retry-lock', '1s', src])
    assert.equal(r.status, 1, r.stderr)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 2, r.stderr)
    assert.match(lines[0], new RegExp(`^waiting up to 1s for the exclusive lock held by pid ${process.pid} `))
    assert.match(lines[1], new RegExp(`^session-sync: the repository is still locked exclusively by pid ${process.pid} on .* after waiting 1 s; wait for it to finish, or if that process is gone run "session-sync unlock"$`))
    const now = cli(['--repo', repo, 'backup', src])
    fails(now, /is locked exclusively by pid \d+ on .* since [^;]*; wait for it/)
    const bad = cli(['--repo', repo, 'backup', '--retry-lock', 'soon', src])
    fails(bad, /--retry-lock takes a duration such as 30s/)
  } finally {
    await lock.release()
    await opened.close()
  }
})
