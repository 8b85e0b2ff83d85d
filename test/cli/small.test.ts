// Small things users notice: usage errors in one line with a hint (and as JSON with --json), and a
// one-shot command stopped by SIGTERM exits 143 (SIGINT: 130).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, Repository } from '../../src/index.js'
import { Lock } from '../../src/repository/lock.js'
import { cleanup, fails, tempDir } from '../helpers.js'
import { CHEAP_KDF, CLI, PASSWORD, ROOT, baseEnv, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string

before(() => {
  requireBuilt()
  base = tempDir('cli-small')
  repo = join(base, 'repo')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
})
after(cleanup)

test('a mistyped command gives one line with a hint, not the whole help', () => {
  const line = fails(cli(['--repo', repo, 'bakup', base]), /unknown command 'bakup' \(did you mean backup\?\)/)
  assert.match(line, /see "session-sync --help"/)
  fails(cli(['--repo', repo, 'snapshots', '--bogus']), /unknown option '--bogus'/)
  // A message commander ends with a period reads as one sentence before the hint.
  assert.match(fails(cli(['--repo', repo, 'restore', 'latest', '-t', base, '--overwrite', 'sometimes']), /Allowed choices are always, if-changed, if-newer, never; see "session-sync --help"/), /never; see/)
})

test('--json prints a JSON error object on usage errors too', () => {
  const r = cli(['--repo', repo, '--json', 'restore', 'latest'])
  fails(r, /required option '-t, --target <dir>' not specified/)
  const v = json<{ error: { code: string; message: string } }>({ ...r, status: 0 })
  assert.equal(v.error.code, 'USAGE')
  assert.match(v.error.message, /--target/)
})

test('SIGTERM ends a one-shot command with 143', async () => {
  const src = join(base, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a'), 'a')
  // An exclusive lock held here: the backup waits for it (--retry-lock), and is stopped while it waits.
  const opened = await Repository.open({ backend: new LocalBackend(repo), password: PASSWORD.SESSION_SYNC_PASSWORD })
  const lock = await Lock.acquire(opened, { exclusive: true, settleMs: 10 })
  try {
    const child = spawn(process.execPath, [CLI, '--repo', repo, 'backup', '--retry-lock', '10m', src], { cwd: ROOT, env: { ...baseEnv(), ...PASSWORD }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    const waiting = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (stderr.includes('waiting up to')) resolve()
      }),
    )
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    await waiting
    child.kill('SIGTERM')
    assert.equal(await exited, 143, stderr)
    assert.match(stderr, /session-sync: .*aborted/)
  } finally {
    await lock.release()
    await opened.close()
  }
})
