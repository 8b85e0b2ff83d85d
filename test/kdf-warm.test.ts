// The Argon2id worker started ahead (warmArgon2idWorker): the CLI starts it before it loads, on a
// Node without node:crypto's Argon2id, when its arguments say a password will open a repository.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { MemoryBackend, Repository } from '../src/index.js'
import { argon2idOnWorker, argon2WorkerCounts, hasNativeArgon2id, warmArgon2idWaiting, warmArgon2idWorker } from '../src/crypto/argon2-worker.js'
import { argon2idLibsodium } from '../src/crypto/keyfile.js'
import { willDerivePasswordKey } from '../src/cli/kdf-guess.js'
import { CHEAP_KDF, cli, requireBuilt } from './cli/run.js'
import { cleanup, tempDir } from './helpers.js'

after(cleanup)

// The known answer of test/crypto.test.ts (libsodium and node:crypto agree on it).
const KAT = {
  password: Buffer.from('correct horse battery staple \u2713', 'utf8'),
  salt: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
  params: { opsLimit: 2, memLimitBytes: 64 * 1024 + 512 },
  key: 'c6ebce1e0d4618401341a1c7ff5b85ebb654ad26635d01ab2a4d5a9447a1f805',
}

/** Waits until `done()` holds, up to 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 50))
}

test('a worker started ahead derives the known answer when taken, once', { timeout: 60_000 }, async () => {
  warmArgon2idWorker({ evenWithNative: true })
  assert.equal(warmArgon2idWaiting(), true)
  const fresh = argon2WorkerCounts.fresh
  assert.equal(Buffer.from(await argon2idOnWorker(KAT.password, KAT.salt, KAT.params)).toString('hex'), KAT.key)
  assert.equal(argon2WorkerCounts.fresh, fresh, 'the worker started ahead answered: no other was started')
  assert.equal(warmArgon2idWaiting(), false, 'taken')
  // The next derivation starts a worker of its own, with the same answer.
  const params = { opsLimit: 1, memLimitBytes: 1024 * 1024 }
  assert.deepEqual(Buffer.from(await argon2idOnWorker(Buffer.from('pw'), Buffer.alloc(16, 5), params)), Buffer.from(await argon2idLibsodium(Buffer.from('pw'), Buffer.alloc(16, 5), params)))
  assert.equal(argon2WorkerCounts.fresh, fresh + 1)
})

test('a worker started ahead that fails leaves the derivation to a new one', { timeout: 60_000 }, async () => {
  warmArgon2idWorker({ evenWithNative: true, libsodium: join(tempDir(), 'no-such-module.js') })
  assert.equal(warmArgon2idWaiting(), true)
  const fresh = argon2WorkerCounts.fresh
  assert.equal(Buffer.from(await argon2idOnWorker(KAT.password, KAT.salt, KAT.params)).toString('hex'), KAT.key)
  assert.equal(argon2WorkerCounts.fresh, fresh + 1, 'a new worker derived it')
})

test('a worker started ahead and not taken stops', { timeout: 30_000 }, async () => {
  const exited = argon2WorkerCounts.aheadExited
  warmArgon2idWorker({ evenWithNative: true, spareMs: 300 })
  assert.equal(warmArgon2idWaiting(), true)
  await until(() => argon2WorkerCounts.aheadExited > exited)
  assert.equal(argon2WorkerCounts.aheadExited, exited + 1, 'its thread ended')
  assert.equal(warmArgon2idWaiting(), false)
})

test('a repository opened with a raw key stops a worker started ahead for a password', { timeout: 30_000 }, async () => {
  const key = randomBytes(32)
  const backend = new MemoryBackend()
  await (await Repository.init({ backend, key })).close()
  warmArgon2idWorker({ evenWithNative: true })
  assert.equal(warmArgon2idWaiting(), true)
  const exited = argon2WorkerCounts.aheadExited
  await (await Repository.open({ backend, key })).close()
  assert.equal(warmArgon2idWaiting(), false, 'not left waiting for 30 s')
  await until(() => argon2WorkerCounts.aheadExited > exited)
  assert.equal(argon2WorkerCounts.aheadExited, exited + 1, 'its thread ended')
})

test('only a Node without node:crypto’s Argon2id starts one by default', () => {
  warmArgon2idWorker()
  assert.equal(warmArgon2idWaiting(), !hasNativeArgon2id())
  // (One started here stops unused: it does not keep the test's process alive.)
})

test('the CLI guesses from its arguments whether a password will open a repository', () => {
  const none = {}
  assert.equal(willDerivePasswordKey(['backup', '/data'], none), true, 'a prompt or a password in the environment')
  assert.equal(willDerivePasswordKey(['-r', '/repo', '--json', 'snapshots'], { SESSION_SYNC_PASSWORD: 'x' }), true)
  assert.equal(willDerivePasswordKey(['key', 'list'], none), true)
  assert.equal(willDerivePasswordKey(['backup', '/data', '--key-file', 'k'], none), false, 'a raw key')
  assert.equal(willDerivePasswordKey(['backup', '--key-file=k', '/data'], none), false)
  assert.equal(willDerivePasswordKey(['backup', '/data'], { SESSION_SYNC_KEY_FILE: 'k' }), false, 'a raw key in the environment')
  assert.equal(willDerivePasswordKey(['backup', '/data'], { SESSION_SYNC_KEY: 'k' }), false)
  assert.equal(willDerivePasswordKey(['backup', '/data', '--password-file', 'p'], { SESSION_SYNC_KEY_FILE: 'k' }), true, 'a password file wins over the environment')
  assert.equal(willDerivePasswordKey(['backup', '--help'], none), false)
  assert.equal(willDerivePasswordKey(['--version'], none), false)
  assert.equal(willDerivePasswordKey([], none), false)
  assert.equal(willDerivePasswordKey(['sync', 'status'], none), false, 'the sync commands keep their own key')
  assert.equal(willDerivePasswordKey(['dashboard'], none), false)
  assert.equal(willDerivePasswordKey(['help', 'backup'], none), false)
  assert.equal(willDerivePasswordKey(['-r', '/repo', 'recover', '--to', '/other'], none), false, 'recover copies without a key')
})

test('CLI commands with a password open the repository, and one that fails before its key exits at once', { timeout: 120_000 }, () => {
  requireBuilt()
  const repo = join(tempDir(), 'repo')
  mkdirSync(repo)
  const r = cli(['-r', repo, 'init', ...CHEAP_KDF])
  assert.equal(r.status, 0, r.stderr)
  const s = cli(['-r', repo, '--json', 'snapshots'])
  assert.equal(s.status, 0, s.stderr)
  assert.deepEqual(JSON.parse(s.stdout), [])
  // No repository there: the command fails before any key is derived, and the worker started
  // ahead (on Node 20) must not keep the process waiting for its 30 s.
  const started = Date.now()
  const f = cli(['-r', join(tempDir(), 'nothing-here'), 'snapshots'], undefined, { timeout: 20_000 })
  assert.equal(f.status, 1, `exit 1 expected, got ${f.status} (${f.signal ?? ''}): ${f.stderr}`)
  assert.ok(Date.now() - started < 15_000, 'exited promptly')
})
