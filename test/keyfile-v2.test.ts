// Key files version 2: only the KDF settings and salt (and the sealed master key) stay outside; the
// host name, user name and creation time are sealed under a key derived from the master key, so the
// storage learns none of them and every opener can still list them. Repositories whose key files
// were written before (version 1, metadata in plaintext) still open: test/fixtures/keyfile-v1-repo
// was made by the program before this change.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readdirSync, readFileSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { decode } from '../src/codec/index.js'
import { LocalBackend, MemoryBackend, Repository } from '../src/index.js'
import { cleanup, FAST_KDF, tempDir } from './helpers.js'

after(cleanup)

const FIXTURE = fileURLToPath(new URL('./fixtures/keyfile-v1-repo', import.meta.url))

test('a new key file holds only the KDF settings, the sealed master key and sealed metadata; openers list the metadata', async () => {
  const backend = new MemoryBackend()
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF })
  await repo.addKey({ key: new Uint8Array(32).fill(3) })
  for (const [k, bytes] of backend.files) {
    if (!k.startsWith('keys/')) continue
    const v = decode(bytes) as Record<string, unknown>
    assert.deepEqual(Object.keys(v), ['v', 'kdf', 'sealed', 'meta'])
    assert.equal(v.v, 2)
    const text = Buffer.from(bytes).toString('latin1')
    // (a name of fewer than 4 bytes turns up in random bytes by chance: a host named "vm" did)
    for (const secretish of [hostname(), userInfo().username, String(new Date().getUTCFullYear())].filter((x) => x.length >= 4)) assert.ok(!text.includes(secretish), `"${secretish}" is not in the stored key file`)
  }
  const listed = await repo.keyFiles()
  assert.equal(listed.length, 2)
  for (const k of listed) {
    assert.equal(k.host, hostname())
    assert.equal(k.user, userInfo().username)
    assert.ok(Math.abs(Date.parse(k.created) - Date.now()) < 60_000)
  }
  const other = await Repository.open({ backend, key: new Uint8Array(32).fill(3) })
  assert.deepEqual((await other.keyFiles()).map((k) => k.host), [hostname(), hostname()], 'another key of the repository reads every key file\'s metadata')
})

test('a repository whose key file was written before (version 1) opens, restores, lists its key file, and takes a version 2 key beside it', async () => {
  const dir = join(tempDir('kf1'), 'repo')
  cpSync(FIXTURE, dir, { recursive: true })
  const [keyName] = readdirSync(join(dir, 'keys'))
  assert.equal((decode(readFileSync(join(dir, 'keys', keyName))) as { v: number }).v, 1, 'the fixture has a version 1 key file')
  const repo = await Repository.open({ backend: new LocalBackend(dir), password: 'fixture password' })
  const out = tempDir('kf1-out')
  await repo.restore('latest', out)
  assert.equal(readFileSync(join(out, 'notes', 'MEMORY.md'), 'utf8'), '# made by a key-file v1 program\n')
  const [v1] = await repo.keyFiles()
  assert.equal(v1.kdf, 'argon2id13')
  assert.ok(v1.host.length > 0 && !Number.isNaN(Date.parse(v1.created)), 'its plaintext metadata is read as before')
  const added = await repo.addKey({ password: 'second' }, FAST_KDF)
  assert.equal((decode(readFileSync(join(dir, 'keys', added))) as { v: number }).v, 2)
  const again = await Repository.open({ backend: new LocalBackend(dir), password: 'second' })
  assert.equal(again.id, repo.id)
  assert.equal((await again.keyFiles()).length, 2)
})
