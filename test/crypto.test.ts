import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { sealBlobInto, blobId, createKeyFile, deriveKeys, newMasterKey, openBlob, openFile, openKeyFile, parseKeyFile, sealBlob, sealFile, AuthenticationFailed, UnknownKeyScheme } from '../src/crypto/index.js'
import { sealFileParts } from '../src/crypto/seal.js'
import { argon2idLibsodium, argon2idLibsodiumWorker, argon2idNative } from '../src/crypto/keyfile.js'
import { InvalidOptionsError } from '../src/errors/index.js'
import { FAST_KDF } from './helpers.js'

test('blob sealing round-trips and detects any flipped byte', () => {
  const keys = deriveKeys(newMasterKey())
  const data = randomBytes(1000)
  const id = blobId(keys.blobId, data)
  const sealed = sealBlob(keys.encryption, id, data)
  assert.equal(sealed.length, data.length + 28)
  assert.deepEqual(openBlob(keys.encryption, id, sealed), data)
  for (const pos of [0, 11, 12, 500, sealed.length - 1]) {
    const bad = Buffer.from(sealed)
    bad[pos] ^= 1
    assert.throws(() => openBlob(keys.encryption, id, bad), AuthenticationFailed)
  }
  // The id is bound as associated data: a blob cannot be passed off under another id.
  assert.throws(() => openBlob(keys.encryption, blobId(keys.blobId, Buffer.from('x')), sealed), AuthenticationFailed)
})

test('blob ids are keyed: another repository gives another id for the same bytes', () => {
  const a = deriveKeys(newMasterKey())
  const b = deriveKeys(newMasterKey())
  const data = Buffer.from('same content')
  assert.notDeepEqual(blobId(a.blobId, data), blobId(b.blobId, data))
  assert.deepEqual(blobId(a.blobId, data), blobId(a.blobId, data))
})

test('standalone files are bound to their kind and reject unknown key schemes', () => {
  const keys = deriveKeys(newMasterKey())
  const sealed = sealFile(keys.encryption, 'snapshot', Buffer.from('hello'))
  assert.equal(openFile(keys.encryption, 'snapshot', sealed).toString(), 'hello')
  assert.throws(() => openFile(keys.encryption, 'index', sealed), AuthenticationFailed)
  const other = Buffer.from(sealed)
  other[0] = 7
  assert.throws(() => openFile(keys.encryption, 'snapshot', other), UnknownKeyScheme)
  assert.throws(() => openFile(keys.encryption, 'snapshot', sealed.subarray(0, 20)), AuthenticationFailed)
})

test('key files open with the right password or raw key only', async () => {
  const master = newMasterKey()
  const kf = parseKeyFile(await createKeyFile(master, { password: 'correct horse' }, FAST_KDF))
  assert.deepEqual(await openKeyFile(kf, { password: 'correct horse' }), master)
  assert.equal(await openKeyFile(kf, { password: 'wrong' }), undefined)
  const raw = randomBytes(32)
  const kr = parseKeyFile(await createKeyFile(master, { key: raw }))
  assert.deepEqual(await openKeyFile(kr, { key: raw }), master)
  assert.equal(await openKeyFile(kr, { key: randomBytes(32) }), undefined)
  assert.equal(await openKeyFile(kr, { password: 'correct horse' }), undefined)
})

test('key files with absurd KDF parameters are rejected before any work', async () => {
  const { encode } = await import('../src/codec/index.js')
  const bytes = encode({ v: 1, kdf: { alg: 'argon2id13', opsLimit: 3, memLimitBytes: 2 ** 40, salt: randomBytes(16) }, host: 'h', user: 'u', created: 'now', sealed: randomBytes(72) })
  assert.throws(() => parseKeyFile(bytes), /invalid key file/)
})

// Key files must open on every Node version, whichever Argon2id derived them: a fixed answer (the same
// from libsodium on any Node and from node:crypto on Node 24.7+), with memory not a whole number of KiB.
const KAT = {
  password: Buffer.from('correct horse battery staple \u2713', 'utf8'),
  salt: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
  params: { opsLimit: 2, memLimitBytes: 64 * 1024 + 512 },
  key: 'c6ebce1e0d4618401341a1c7ff5b85ebb654ad26635d01ab2a4d5a9447a1f805',
}

test('Argon2id through libsodium gives the known answer', async () => {
  assert.equal(Buffer.from(await argon2idLibsodium(KAT.password, KAT.salt, KAT.params)).toString('hex'), KAT.key)
})

test(
  'Argon2id through node:crypto gives exactly what libsodium gives',
  { skip: argon2idNative ? false : `node:crypto has no argon2 on Node ${process.version} (it came in 24.7); libsodium derives every key here` },
  async () => {
    assert.equal(Buffer.from(await argon2idNative!(KAT.password, KAT.salt, KAT.params)).toString('hex'), KAT.key)
    const cases = [
      { opsLimit: 1, memLimitBytes: 8192, pw: 0 },
      { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024, pw: 13 },
      { opsLimit: 3, memLimitBytes: 1024 * 1024 + 1023, pw: 100 },
      { opsLimit: 4, memLimitBytes: 256 * 1024, pw: 1 },
    ]
    for (const { pw, ...params } of cases) {
      const password = randomBytes(pw)
      const salt = randomBytes(16)
      const theirs = Buffer.from(await argon2idLibsodium(password, salt, params))
      assert.deepEqual(Buffer.from(await argon2idNative!(password, salt, params)), theirs, JSON.stringify(params))
    }
  },
)

test('a key file is not created with Argon2id parameters it could not be opened with', async () => {
  const master = newMasterKey()
  for (const bad of [{ opsLimit: 0, memLimitBytes: 8192 }, { opsLimit: 65, memLimitBytes: 8192 }, { opsLimit: 1.5, memLimitBytes: 8192 }, { opsLimit: 1, memLimitBytes: 4096 }, { opsLimit: 1, memLimitBytes: NaN }]) {
    await assert.rejects(createKeyFile(master, { password: 'pw' }, bad), InvalidOptionsError, JSON.stringify(bad))
  }
  // A raw key uses no Argon2id, so the parameters do not matter.
  parseKeyFile(await createKeyFile(master, { key: randomBytes(32) }, { opsLimit: 0, memLimitBytes: 0 }))
})

test('sealing into a reused buffer gives a blob that opens like any other', () => {
  const keys = deriveKeys(newMasterKey())
  const data = randomBytes(5000)
  const id = blobId(keys.blobId, data)
  const out = Buffer.alloc(20_000, 0xee)
  const n = sealBlobInto(keys.encryption, id, data, out, 1234)
  assert.equal(n, data.length + 28)
  assert.deepEqual(openBlob(keys.encryption, id, out.subarray(1234, 1234 + n)), data)
  assert.equal(out[1233], 0xee, 'nothing before the offset is touched')
  assert.equal(out[1234 + n], 0xee, 'nothing after the blob is touched')
  assert.throws(() => sealBlobInto(keys.encryption, id, data, out, 16_000), RangeError)
})

test('XChaCha20-Poly1305 on node:crypto matches libsodium byte for byte', async () => {
  const { xchachaSeal, xchachaOpen } = await import('../src/crypto/xchacha.js')
  const sodium = (await import('libsodium-wrappers-sumo')).default
  await sodium.ready
  for (let i = 0; i < 40; i++) {
    const key = randomBytes(32)
    const nonce = randomBytes(24)
    const msg = randomBytes(i * 13)
    const aad = randomBytes((i % 4) * 5)
    const theirs = Buffer.from(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, aad, null, nonce, key))
    assert.deepEqual(xchachaSeal(key, nonce, msg, aad), theirs)
    assert.deepEqual(xchachaOpen(key, nonce, theirs, aad), msg)
    const bad = Buffer.from(theirs)
    bad[bad.length - 1] ^= 1
    assert.equal(xchachaOpen(key, nonce, bad, aad), undefined)
  }
})

test('sealing into a buffer in slices: every length around the slice size opens, and tampering is caught', () => {
  const keys = deriveKeys(newMasterKey())
  for (const len of [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 17]) {
    const data = randomBytes(len)
    const id = blobId(keys.blobId, data)
    const out = Buffer.alloc(len + 28 + 10, 0xee)
    const n = sealBlobInto(keys.encryption, id, data, out, 5)
    assert.equal(n, len + 28)
    assert.equal(out[5 + n], 0xee)
    assert.deepEqual(openBlob(keys.encryption, id, out.subarray(5, 5 + n)), data)
    if (len > 65_536) {
      const bad = Buffer.from(out.subarray(5, 5 + n))
      bad[12 + 65_536] ^= 0x40 // first byte of the second slice
      assert.throws(() => openBlob(keys.encryption, id, bad), AuthenticationFailed)
    }
  }
})

test('Argon2id on a worker thread gives the known answer, and leaves the process without the KDF memory', async () => {
  assert.equal(Buffer.from(await argon2idLibsodiumWorker(KAT.password, KAT.salt, KAT.params)).toString('hex'), KAT.key)
  const big = { opsLimit: 1, memLimitBytes: 64 * 1024 * 1024 }
  const before = process.memoryUsage().rss
  const a = await argon2idLibsodiumWorker(Buffer.from('pw'), Buffer.alloc(16, 3), big)
  // The worker's isolate is torn down after it answers: wait for that (up to 3 s on a busy machine).
  let grew = process.memoryUsage().rss - before
  for (let i = 0; i < 60 && grew >= 48 * 1024 * 1024; i++) {
    await new Promise((r) => setTimeout(r, 50))
    grew = process.memoryUsage().rss - before
  }
  assert.ok(grew < 48 * 1024 * 1024, `resident memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB after a 64 MiB KDF on a worker`)
  assert.deepEqual(Buffer.from(a), Buffer.from(await argon2idLibsodium(Buffer.from('pw'), Buffer.alloc(16, 3), big)))
})

test('every seal draws a fresh nonce (and every file a fresh salt), across refills of the random buffer', () => {
  const key = randomBytes(32)
  const id = randomBytes(32)
  const plain = Buffer.from('the same plaintext every time')
  const nonces = new Set<string>()
  const out = Buffer.alloc(plain.length + 28)
  for (let i = 0; i < 1500; i++) {
    nonces.add(sealBlob(key, id, plain).subarray(0, 12).toString('hex'))
    sealBlobInto(key, id, plain, out, 0)
    nonces.add(out.subarray(0, 12).toString('hex'))
  }
  assert.equal(nonces.size, 3000)
  const salts = new Set<string>()
  for (let i = 0; i < 500; i++) salts.add(sealFile(key, 'snapshot', plain).subarray(5, 5 + 32 + 12).toString('hex'))
  assert.equal(salts.size, 500)
})

test('a file sealed part by part, as it is written, opens to its parts joined; any byte changed fails', () => {
  const keys = deriveKeys(newMasterKey())
  // Parts of every size around the sealer's 64 KiB slice: gathered when small, sliced when large.
  const sizes = [0, 1, 36, 2000, 65535, 65536, 65537, 3, 200_000, 40, 0, 70_000, 12]
  const parts = sizes.map((n, i) => Buffer.alloc(n, i + 1).map((b, j) => (b + j) & 0xff))
  const out: Buffer[] = []
  sealFileParts(keys.encryption, 'memo', parts, (b) => out.push(Buffer.from(b)))
  const sealed = Buffer.concat(out)
  assert.deepEqual(openFile(keys.encryption, 'memo', sealed), Buffer.concat(parts))
  assert.throws(() => openFile(keys.encryption, 'index', sealed), AuthenticationFailed)
  for (const at of [0, 40, sealed.length >> 1, sealed.length - 1]) {
    const bad = Buffer.from(sealed)
    bad[at] ^= 1
    assert.throws(() => openFile(keys.encryption, 'memo', bad))
  }
})
