import { describe, test, after, before } from 'node:test'
import { TestS3Server } from './s3.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, MemoryBackend, ObjectLockModel, type Backend, ObjectNotFoundError, BackendError } from '../src/index.js'
import { cleanup, tempDir } from './helpers.js'

after(cleanup)

/** One conformance suite for every backend. */
function conformance(name: string, make: () => Backend) {
  describe(`backend conformance: ${name}`, () => {
    test('save, load, range, stat, list, remove', async () => {
      const b = make()
      const data = randomBytes(10_000)
      const id = randomBytes(32).toString('hex')
      await b.save({ type: 'data', name: id }, data)
      assert.deepEqual(Buffer.from(await b.load({ type: 'data', name: id })), data)
      assert.deepEqual(Buffer.from(await b.load({ type: 'data', name: id }, { offset: 1234, length: 5000 })), data.subarray(1234, 6234))
      assert.deepEqual(await b.stat({ type: 'data', name: id }), { size: 10_000 })
      const names = []
      for await (const f of b.list('data')) names.push(f)
      assert.deepEqual(names.map((f) => ({ name: f.name, size: f.size })), [{ name: id, size: 10_000 }])
      const age = Date.now() - names[0].modified!.getTime()
      assert.ok(age >= -5000 && age < 60_000, `modified time is ${age} ms old`)
      const none = []
      for await (const f of b.list('index')) none.push(f)
      assert.deepEqual(none, [])
      await b.remove({ type: 'data', name: id })
      await assert.rejects(b.load({ type: 'data', name: id }), ObjectNotFoundError)
      await assert.rejects(b.stat({ type: 'data', name: id }), ObjectNotFoundError)
      await b.remove({ type: 'data', name: id }) // removing is idempotent: a crashed prune may retry it
      const left = []
      for await (const f of b.list('data')) left.push(f)
      assert.deepEqual(left, [])
    })

    test('lists many files of each type; config is listed by its name', async () => {
      const b = make()
      const want = new Set<string>()
      for (let i = 0; i < 300; i++) {
        const id = randomBytes(32).toString('hex')
        want.add(id)
        await b.save({ type: 'snapshots', name: id }, Buffer.from([i & 255]))
      }
      await b.save({ type: 'config', name: 'config' }, Buffer.from('c'))
      const got = new Set<string>()
      for await (const f of b.list('snapshots')) got.add(f.name)
      assert.deepEqual(got, want)
      const cfg = []
      for await (const f of b.list('config')) cfg.push(f.name)
      assert.deepEqual(cfg, ['config'])
    })

    test('ifAbsent refuses to overwrite, plain save replaces', async () => {
      const b = make()
      const h = { type: 'keys' as const, name: randomBytes(32).toString('hex') }
      await b.save(h, Buffer.from('one'), { ifAbsent: true })
      await assert.rejects(b.save(h, Buffer.from('two'), { ifAbsent: true }), BackendError)
      assert.equal(Buffer.from(await b.load(h)).toString(), 'one')
      await b.save(h, Buffer.from('three'))
      assert.equal(Buffer.from(await b.load(h)).toString(), 'three')
    })

    test('a range beyond the end is an error, not a short read', async () => {
      const b = make()
      const h = { type: 'index' as const, name: randomBytes(32).toString('hex') }
      await b.save(h, Buffer.alloc(100))
      await assert.rejects(b.load(h, { offset: 90, length: 20 }), BackendError)
    })
  })
}

conformance('memory', () => new MemoryBackend())
conformance('object-lock model (owner, GOVERNANCE default retention)', () => new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 1 }, requireChecksum: false }).backend('owner'))
conformance('local', () => new LocalBackend(join(tempDir('backend'), 'repo')))

let server: TestS3Server | undefined
before(async () => {
  server = await TestS3Server.start()
})
after(async () => {
  await server?.stop()
})
let s3Prefix = 0
conformance('s3 (a real S3-compatible server on 127.0.0.1)', () => server!.backend({ prefix: `repo${++s3Prefix}`, listPageSize: 50 })) // listings span several pages

test('local backend leaves no temporary files behind and stores data under data/<2 hex>/', async () => {
  const root = join(tempDir('backend'), 'repo')
  const b = new LocalBackend(root)
  const id = 'ab' + randomBytes(31).toString('hex')
  await b.save({ type: 'data', name: id }, Buffer.from('x'))
  assert.deepEqual(readdirSync(join(root, 'data', 'ab')), [id])
})

test('local backend reports an unwritable location as a backend error', async () => {
  const file = join(tempDir('backend'), 'a-file')
  writeFileSync(file, 'x')
  const b = new LocalBackend(join(file, 'repo')) // a path below a regular file cannot be created
  await assert.rejects(b.save({ type: 'config', name: 'config' }, Buffer.from('x')), BackendError)
})

test('local backend stores a staged file by link: idempotent for the same file, refused for a different one, never listed while staged', async () => {
  const root = tempDir('stage')
  const b = new LocalBackend(root)
  const path = b.stagingPath()
  const { mkdirSync } = await import('node:fs')
  mkdirSync(join(root, 'data'), { recursive: true })
  const data = randomBytes(70_000)
  writeFileSync(path, data)
  const listed = async () => {
    const out: string[] = []
    for await (const f of b.list('data')) out.push(f.name)
    return out
  }
  assert.deepEqual(await listed(), [], 'a staging file is not a pack')
  const id = randomBytes(32).toString('hex')
  await b.saveFile({ type: 'data', name: id }, path)
  await b.saveFile({ type: 'data', name: id }, path) // a retry after a lost answer
  assert.deepEqual(Buffer.from(await b.load({ type: 'data', name: id })), data)
  assert.deepEqual(await listed(), [id])
  const other = b.stagingPath()
  writeFileSync(other, data.subarray(1))
  await assert.rejects(b.saveFile({ type: 'data', name: id }, other), BackendError)
  // Leftover staging files are what removeIncomplete removes.
  assert.equal(await b.removeIncomplete(0), 2)
  assert.deepEqual(readdirSync(join(root, 'data')).filter((n) => n.startsWith('.tmp-')), [])
  assert.deepEqual(Buffer.from(await b.load({ type: 'data', name: id })), data)
})

test('a backup to a local repository builds packs in staging files: none is left, and every pack is named by its SHA-256', async () => {
  const { Repository } = await import('../src/index.js')
  const { FAST_KDF, SMALL_CHUNKS, randomBytesSeeded } = await import('./helpers.js')
  const { packNameMatches } = await import('../src/crypto/ids.js')
  const { mkdirSync, readFileSync } = await import('node:fs')
  const base = tempDir('staged-backup')
  const src = join(base, 'src')
  mkdirSync(src)
  for (let i = 0; i < 30; i++) writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(40_000 + i * 997, i))
  const repo = await Repository.init({ backend: new LocalBackend(join(base, 'repo')), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 256 * 1024 })
  for (const threads of [0, 2]) await repo.backup([src], { threads, parent: false })
  const dataDir = join(base, 'repo', 'data')
  assert.deepEqual(readdirSync(dataDir).filter((n) => !/^[0-9a-f]{2}$/.test(n)), [], 'no staging file left')
  let packs = 0
  for (const d of readdirSync(dataDir)) {
    for (const n of readdirSync(join(dataDir, d))) {
      assert.equal(packNameMatches(n, readFileSync(join(dataDir, d, n))), 'trailer')
      packs++
    }
  }
  assert.ok(packs >= 4, `${packs} packs`)
  const c = await repo.check({ readData: true })
  assert.deepEqual(c.problems, [])
  assert.ok(c.ok)
})

test('loadInto reads a range into the caller\'s buffer on the local backend and through every decorator', async () => {
  const { withRetry, withRequestCounter, withConcurrencyLimit, withFaults } = await import('../src/index.js')
  const local = new LocalBackend(tempDir('load-into'))
  const data = randomBytes(50_000)
  const id = randomBytes(32).toString('hex')
  await local.save({ type: 'data', name: id }, data)
  const counted = withRequestCounter(local)
  const stack = withRetry(withConcurrencyLimit(withFaults(counted, { rate: 0 }), 2), { retries: 0 })
  for (const b of [local, stack]) {
    assert.ok(b.loadInto, 'loadInto is offered')
    const out = Buffer.alloc(20_000, 0xee)
    await b.loadInto!({ type: 'data', name: id }, { offset: 1000, length: 15_000 }, out)
    assert.deepEqual(out.subarray(0, 15_000), data.subarray(1000, 16_000))
    assert.equal(out[15_000], 0xee, 'nothing past the range is written')
    await assert.rejects(b.loadInto!({ type: 'data', name: id }, { offset: 45_000, length: 10_000 }, out), (e: unknown) => e instanceof BackendError && /beyond the end/.test(e.message))
    await assert.rejects(b.loadInto!({ type: 'data', name: randomBytes(32).toString('hex') }, { offset: 0, length: 10 }, out), ObjectNotFoundError)
  }
  await assert.rejects(local.loadInto({ type: 'data', name: id }, { offset: 0, length: 30_000 }, Buffer.alloc(10)), RangeError)
  assert.equal(counted.counts.GET, 3)
  assert.equal(counted.counts.bytesDown, 15_000)
  assert.equal((new MemoryBackend() as Backend).loadInto, undefined, 'optional: backends without it are read with load()')
})
