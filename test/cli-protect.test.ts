// The CLI's protected-repository commands on storage that cannot be protected (a local folder):
// init --protect is refused with what to do, and doctor observes nothing it cannot see.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanup, fails, tempDir } from './helpers.js'

after(cleanup)

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'dist', 'cli.js')

function cli(args: string[]) {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_')) env[k] = v
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...env, SESSION_SYNC_PASSWORD: 'pw', SESSION_SYNC_NO_CACHE: '1' }, input: '', encoding: 'utf8', timeout: 60_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('init --protect on a local folder is refused (NOT_PROTECTABLE) and creates nothing; doctor there reports versioning not observed and exits 1', () => {
  const repo = join(tempDir('cli-protect'), 'repo')
  const refused = cli(['-r', repo, 'init', '--protect', '--kdf-memory', '8', '--kdf-passes', '1'])
  fails(refused, /cannot hold a protected repository: this storage keeps no old versions/)
  assert.equal(existsSync(join(repo, 'config')), false)
  const made = cli(['-r', repo, 'init', '--kdf-memory', '8', '--kdf-passes', '1'])
  assert.equal(made.status, 0, made.stderr)
  const doctor = cli(['-r', repo, '--json', 'doctor'])
  assert.equal(doctor.status, 1, doctor.stderr)
  const report = JSON.parse(doctor.stdout)
  assert.equal(report.ok, false)
  assert.equal(report.protectedRepository, false)
  assert.deepEqual(report.checks.map((c: { check: string; status: string }) => [c.check, c.status]), [['versioning', 'not-observed']])
  const text = cli(['-r', repo, 'doctor'])
  assert.match(text.stdout, /^NO  versioning: this storage keeps no old versions/m)
})

test('--as-of, recover and check --versions on a local folder (no versions) fail with NO_VERSIONS and say why', () => {
  const repo = join(tempDir('cli-as-of'), 'repo')
  assert.equal(cli(['-r', repo, 'init', '--kdf-memory', '8', '--kdf-passes', '1']).status, 0)
  for (const args of [['--as-of', '2d', 'snapshots'], ['recover', '--to', join(tempDir('cli-as-of'), 'copy')], ['check', '--versions']]) {
    const r = cli(['-r', repo, '--json', ...args])
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`)
    assert.equal(JSON.parse(r.stdout).error.code, 'NO_VERSIONS')
    assert.match(r.stderr, /keeps no old versions of its files/)
  }
  const bad = cli(['-r', repo, '--as-of', 'yesterday-ish', 'snapshots'])
  fails(bad, /--as-of takes a time/)
})
