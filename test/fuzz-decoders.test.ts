// Fuzzing the decoders of every stored structure (fast-check): random bytes, valid objects with
// bytes changed or cut, any MessagePack value, and valid objects with one field replaced by a hostile
// value, each validly sealed where the structure is sealed (so it gets past authentication, as it
// would from another holder of the key). Each must be accepted or refused with the library's typed
// error (SessionSyncError with a stable code), never a TypeError, RangeError or a hang; the repository
// goes on past what it can skip (key files, locks). Runs are few, so the file takes seconds.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { decode, encode } from '../src/codec/index.js'
import { openFile, sealFile, storageId, toHex } from '../src/crypto/index.js'
import { parseKeyFile } from '../src/crypto/keyfile.js'
import { SessionSyncError } from '../src/errors/index.js'
import { MemoryBackend, Repository } from '../src/index.js'
import { Lock, listLocks, lockSchema } from '../src/repository/lock.js'
import { locateBlobs } from '../src/repository/packer.js'
import { BlobType, checkTree, configSchema, decodeObject, indexFileSchema, packHeaderSchema, snapshotSchema, treeSchema } from '../src/repository/repofile.js'
import { memoryRepo, tempDir } from './helpers.js'

const RUNS = 150

/** Values a hostile writer may encode in place of any field. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ maxDepth: 2, maxKeys: 4, withBigInt: false, withBoxedValues: false, withMap: false, withSet: false, withTypedArray: false, withSparseArray: false, withNullPrototype: true }),
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom(-1, 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.NaN, Infinity, 1.5, '', 'x'.repeat(5000), null, [], {}, { __proto__: { v: 1 } }),
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 5 }),
)

type Path = Array<string | number>

function paths(v: unknown, at: Path = [], out: Path[] = [], depth = 0): Path[] {
  out.push(at)
  if (depth > 5 || v === null || typeof v !== 'object' || v instanceof Uint8Array) return out
  const entries = Array.isArray(v) ? v.slice(0, 4).map((x, i) => [i, x] as const) : Object.entries(v)
  for (const [k, x] of entries) paths(x, [...at, k], out, depth + 1)
  return out
}

function replaced(v: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value
  const copy: any = Array.isArray(v) ? [...v] : { ...(v as object) }
  copy[path[0]] = replaced(copy[path[0]], path.slice(1), value)
  return copy
}

/** Plaintexts to feed a decoder, made from valid samples of its structure. */
function payloads(samples: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const values = samples.map((s) => decode(s))
  return fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc
      .tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }))
      .map(([s, edits]) => {
        const c = Buffer.from(s)
        for (const [i, b] of edits) c[i % c.length] = b
        return c
      }),
    fc.tuple(fc.constantFrom(...samples), fc.nat()).map(([s, n]) => s.subarray(0, n % s.length)),
    hostile.map((v) => encode(v)),
    fc
      .tuple(fc.nat(values.length - 1), fc.nat(), hostile)
      .map(([which, p, value]) => {
        const all = paths(values[which])
        return encode(replaced(values[which], all[p % all.length], value))
      }),
  )
}

/** A failure the library reports: its own typed error, with a stable code and a message. */
function assertTyped(e: unknown, what: string): void {
  assert.ok(e instanceof SessionSyncError, `${what}: expected a typed error, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack}`)
  assert.match(e.code, /^[A-Z_]+$/)
  assert.ok(e.message.length > 0)
}

let repo: Repository
let backend: MemoryBackend
const samples: Record<'config' | 'index' | 'snapshot' | 'tree' | 'lock' | 'pack-header' | 'key', Uint8Array[]> = { config: [], index: [], snapshot: [], tree: [], lock: [], 'pack-header': [], key: [] }

before(async () => {
  ;({ repo, backend } = await memoryRepo({ packSize: 64 * 1024 }))
  const src = join(tempDir('fuzz'), 'memory')
  mkdirSync(join(src, 'notes'), { recursive: true })
  for (let i = 0; i < 5; i++) writeFileSync(join(src, 'notes', `${i}.md`), `# note ${i}\n`.repeat(20 + i))
  await repo.backup([src], { tags: ['fuzz'] })
  const lock = await Lock.acquire(repo, { exclusive: false, settleMs: 0 })
  for (const [k, bytes] of backend.files) {
    const [type, name] = k.split('/')
    if (type === 'config') samples.config.push(openFile(repo.keys.encryption, 'config', bytes))
    if (type === 'keys') samples.key.push(bytes)
    if (type === 'index') samples.index.push(await repo.loadFile('index', name, 'index'))
    if (type === 'snapshots') samples.snapshot.push(await repo.loadFile('snapshots', name, 'snapshot'))
    if (type === 'locks') samples.lock.push(await repo.loadFile('locks', name, 'lock'))
  }
  await lock.release()
  const index = await repo.index()
  for (const [k, bytes] of backend.files) {
    if (!k.startsWith('data/')) continue
    const hlen = Buffer.from(bytes).readUInt32LE(bytes.length - 4)
    samples['pack-header'].push(openFile(repo.keys.encryption, 'pack-header', bytes.subarray(bytes.length - 4 - hlen, bytes.length - 4)))
  }
  for (const s of samples.snapshot) {
    const root = (decode(s) as { tree: Uint8Array }).tree
    samples.tree.push(encode(await repo.loadTree(root)))
    const first = (await repo.loadTree(root)).nodes[0]
    if (first?.subtree) samples.tree.push(encode(await repo.loadTree(first.subtree)))
  }
  assert.ok(index.size > 0)
  for (const [k, v] of Object.entries(samples)) assert.ok(v.length > 0, `a sample of ${k}`)
})

/** Stores a validly sealed standalone file with this plaintext; returns its name. */
async function plant(type: 'index' | 'snapshots' | 'locks', kind: string, plain: Uint8Array): Promise<string> {
  const bytes = sealFile(repo.keys.encryption, kind, plain)
  const name = toHex(storageId(bytes))
  await backend.save({ type, name }, bytes)
  return name
}

test('every schema decoder: any plaintext is a valid value or a plain Error with a reason, never a TypeError or RangeError', async () => {
  const decoders: Array<[keyof typeof samples, (b: Uint8Array) => unknown]> = [
    ['config', (b) => decodeObject(configSchema, b)],
    ['index', (b) => decodeObject(indexFileSchema, b)],
    ['snapshot', (b) => decodeObject(snapshotSchema, b)],
    ['tree', (b) => checkTree(decodeObject(treeSchema, b))],
    ['lock', (b) => decodeObject(lockSchema, b)],
    ['pack-header', (b) => locateBlobs(decodeObject(packHeaderSchema, b).blobs)],
    ['key', (b) => parseKeyFile(b)],
  ]
  for (const [kind, run] of decoders) {
    fc.assert(
      fc.property(payloads(samples[kind]), (plain) => {
        try {
          run(plain)
        } catch (e) {
          assert.ok(e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError) && e.message.length > 0, `${kind}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`)
        }
      }),
      { numRuns: RUNS * 2, seed: 22 },
    )
  }
})

test('snapshots and index files, validly sealed and hostile: loaded, or refused with a typed error; listing snapshots goes on past them', async () => {
  await fc.assert(
    fc.asyncProperty(payloads(samples.snapshot), async (plain) => {
      const name = await plant('snapshots', 'snapshot', plain)
      try {
        await repo.loadSnapshot(name)
      } catch (e) {
        assertTyped(e, 'snapshot')
      }
      await repo.snapshots()
      await backend.remove({ type: 'snapshots', name })
    }),
    { numRuns: RUNS, seed: 22 },
  )
  await fc.assert(
    fc.asyncProperty(payloads(samples.index), async (plain) => {
      const name = await plant('index', 'index', plain)
      try {
        await repo.loadIndexFile(name)
      } catch (e) {
        assertTyped(e, 'index')
      }
      await backend.remove({ type: 'index', name })
    }),
    { numRuns: RUNS, seed: 22 },
  )
})

test('lock files, validly sealed and hostile: listing locks counts an unreadable one as stale, never throws', async () => {
  await fc.assert(
    fc.asyncProperty(payloads(samples.lock), async (plain) => {
      const name = await plant('locks', 'lock', plain)
      try {
        const locks = await listLocks(repo)
        assert.ok(locks.some((l) => l.id === name))
      } finally {
        await backend.remove({ type: 'locks', name })
      }
    }),
    { numRuns: RUNS, seed: 22 },
  )
})

test('pack headers, sealed or not, with any length trailer: read, or refused with a typed error', async () => {
  const sealed = payloads(samples['pack-header']).map((plain) => {
    const header = sealFile(repo.keys.encryption, 'pack-header', plain)
    const len = Buffer.alloc(4)
    len.writeUInt32LE(header.length)
    return Buffer.concat([Buffer.alloc(16), header, len])
  })
  const raw = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((b) => Buffer.from(b))
  await fc.assert(
    fc.asyncProperty(fc.oneof(sealed, raw), async (bytes) => {
      const name = toHex(storageId(bytes))
      await backend.save({ type: 'data', name }, bytes)
      try {
        locateBlobs((await repo.loadPackHeader(name)).blobs)
      } catch (e) {
        assertTyped(e, 'pack header')
      } finally {
        await backend.remove({ type: 'data', name })
      }
    }),
    { numRuns: RUNS, seed: 22 },
  )
})

test('trees, validly sealed under their own id and hostile: loaded, or refused with a typed error', async () => {
  const { BlobSaver } = await import('../src/archiver/blob-saver.js')
  const { Packer } = await import('../src/repository/packer.js')
  const index = await repo.index()
  await fc.assert(
    fc.asyncProperty(payloads(samples.tree), async (plain) => {
      const packer = new Packer({
        backend,
        encryptionKey: repo.keys.encryption,
        packSize: 1 << 20,
        maxInFlight: 1,
        onStored: (p) => {
          for (const [type, id, offset, length, raw, codec] of p.blobs) index.add(type, id, p.id, offset, length, raw, codec)
        },
      })
      const id = await new BlobSaver(repo.keys.blobId, repo.keys.encryption, index, packer, 0).save(BlobType.Tree, Buffer.from(plain))
      await packer.flush()
      try {
        await repo.loadTree(id)
      } catch (e) {
        assertTyped(e, 'tree')
      }
    }),
    { numRuns: RUNS, seed: 22 },
  )
})

test('key files and config, hostile: the repository opens past a key file it cannot use; a config is refused with a typed error', async () => {
  const key = new Uint8Array(32).fill(7)
  const base = new MemoryBackend()
  await (await Repository.init({ backend: base, key })).close()
  const configName = 'config/config'
  const sealedConfig = base.files.get(configName)!
  const keys = await Repository.open({ backend: base, key })
  const encryption = keys.keys.encryption
  const configSamples = [openFile(encryption, 'config', sealedConfig)]
  const keySamples = [...base.files].filter(([k]) => k.startsWith('keys/')).map(([, v]) => v)
  await fc.assert(
    fc.asyncProperty(payloads(keySamples), async (bytes) => {
      const name = toHex(storageId(bytes))
      // A mutation can give back the real key file's bytes (an edit to the same value): removing that
      // afterwards would remove the real key, and every later run would fail for want of it.
      const real = base.files.has(`keys/${name}`)
      if (!real) await base.save({ type: 'keys', name }, bytes)
      try {
        // A key file this key does not open is someone else's (no warning); one that cannot be read
        // or used is skipped with a warning; either way the repository opens. (A copy of the real key
        // file with its plaintext host, user or time edited still opens: that metadata is not sealed.)
        const r = await Repository.open({ backend: base, key, preferKeyId: name })
        assert.equal(r.id, keys.id)
      } finally {
        if (!real) await base.remove({ type: 'keys', name })
      }
    }),
    { numRuns: RUNS, seed: 22 },
  )
  await fc.assert(
    fc.asyncProperty(payloads(configSamples), async (plain) => {
      base.files.set(configName, sealFile(encryption, 'config', plain))
      try {
        await Repository.open({ backend: base, key })
      } catch (e) {
        assertTyped(e, 'config')
      } finally {
        base.files.set(configName, sealedConfig)
      }
    }),
    { numRuns: RUNS, seed: 22 },
  )
})
