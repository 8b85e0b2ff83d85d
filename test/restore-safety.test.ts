import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { UnsafePathError, CorruptObjectError } from '../src/index.js'
import { sealBlob } from '../src/crypto/seal.js'
import { toHex } from '../src/crypto/ids.js'
import { BlobType } from '../src/repository/repofile.js'
import { cleanup, forgedFile, forgedMeta, forgeSnapshot, memoryRepo, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

for (const [label, name] of [
  ['..', '..'],
  ['.', '.'],
  ['a slash', '../../etc/passwd'],
  ['an absolute path', '/etc/evil'],
  ['a NUL byte', 'a\0b'],
  ['an empty name', ''],
] as const) {
  test(`restore rejects a tree name that is ${label}`, async () => {
    const { repo } = await memoryRepo()
    await forgeSnapshot(repo, async (c) => [forgedFile(name, c)])
    const out = join(tempDir('unsafe'), 'target')
    await assert.rejects(repo.restore('latest', out), UnsafePathError)
    assert.equal(existsSync(join(out, '..', 'evil')), false)
  })
}

test('restore rejects a tree with duplicate names (a symlink and a folder of the same name)', async () => {
  const { repo } = await memoryRepo()
  await forgeSnapshot(repo, async (c, dir) => {
    const sub = await dir([forgedFile('payload', c)])
    return [
      { ...forgedMeta, name: Buffer.from('a'), type: 'symlink', size: 0, target: Buffer.from('/tmp') },
      { ...forgedMeta, name: Buffer.from('a'), type: 'dir', size: 0, subtree: sub },
    ]
  })
  await assert.rejects(repo.restore('latest', tempDir('unsafe')), CorruptObjectError)
})

test('restore replaces a symlink in the target instead of writing through it', async () => {
  const base = tempDir('unsafe')
  const outside = join(base, 'outside')
  mkdirSync(outside)
  const src = join(base, 'memory')
  mkdirSync(src)
  writeFileSync(join(src, 'note.md'), 'restored content')
  const { repo } = await memoryRepo()
  await repo.backup([src])
  const target = join(base, 'target')
  mkdirSync(target)
  symlinkSync(outside, join(target, 'memory')) // planted: target/memory -> outside
  symlinkSync(join(outside, 'victim'), join(base, 'unused'))
  await repo.restore('latest', target)
  assert.deepEqual(readdirSync(outside), [], 'nothing may be written through the planted link')
  assert.equal(readFileSync(join(target, 'memory', 'note.md'), 'utf8'), 'restored content')
})

test('a folder in the target where the snapshot has a file is reported naming it; nothing else is lost and no temporary file is left', async () => {
  const base = tempDir('inway')
  const src = join(base, 'memory')
  mkdirSync(src)
  writeFileSync(join(src, 'a.md'), 'first')
  writeFileSync(join(src, 'b.md'), 'second')
  const { repo } = await memoryRepo()
  await repo.backup([src])
  for (const filled of [false, true]) {
    const target = join(base, `target-${filled}`)
    mkdirSync(join(target, 'memory', 'b.md'), { recursive: true }) // a folder where the file goes
    if (filled) writeFileSync(join(target, 'memory', 'b.md', 'keep.txt'), 'mine')
    const s = await repo.restore('latest', target)
    assert.equal(s.errors.length, 1)
    assert.match(s.errors[0].path, /b\.md$/)
    assert.match(s.errors[0].message, /directory is in the way/)
    assert.equal(readFileSync(join(target, 'memory', 'a.md'), 'utf8'), 'first')
    assert.deepEqual(readdirSync(join(target, 'memory')).filter((n) => n.endsWith('.tmp')), [], 'no temporary file is left')
    if (filled) assert.equal(readFileSync(join(target, 'memory', 'b.md', 'keep.txt'), 'utf8'), 'mine', 'the folder in the way is untouched')
  }
})

// A target that refuses writes part-way (a file-size limit stands in for a full disk: writes beyond
// it fail with EFBIG): the restore fails with a TargetError naming the file and leaves no temporary
// file behind, on the calling thread and with blob-opening workers alike.
for (const threads of [0, 2]) {
  test(`a restore (${threads} threads) into a target that refuses writes fails clearly and leaves no temporary files`, async () => {
    const { LocalBackend, Repository } = await import('../src/index.js')
    const { FAST_KDF, randomBytesSeeded } = await import('./helpers.js')
    const { spawnSync } = await import('node:child_process')
    const base = tempDir('efbig')
    const src = join(base, 'src')
    mkdirSync(join(src, 'sub'), { recursive: true })
    for (let i = 0; i < 20; i++) writeFileSync(join(src, 'sub', `note-${i}.md`), `note ${i}\n`.repeat(50))
    writeFileSync(join(src, 'big.bin'), randomBytesSeeded(3_000_000, 11))
    const repo = await Repository.init({ backend: new LocalBackend(join(base, 'repo')), password: 'pw', argon2: FAST_KDF })
    await repo.backup([src])
    const out = join(base, 'out')
    const script = `
      import { LocalBackend, Repository } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)}
      const repo = await Repository.open({ backend: new LocalBackend(process.env.REPO), password: 'pw' })
      try {
        await repo.restore('latest', process.env.OUT, { threads: Number(process.env.THREADS) })
        console.log(JSON.stringify({ ok: true }))
      } catch (e) {
        console.log(JSON.stringify({ name: e.constructor.name, code: e.code, message: e.message }))
      }`
    // ulimit -f counts 1 KiB blocks: 1 MiB lets the notes through and stops big.bin.
    const r = spawnSync('bash', ['-c', `ulimit -f 1024; exec "${process.execPath}" --import tsx --input-type=module -e "$SCRIPT"`], {
      env: { ...process.env, SCRIPT: script, REPO: join(base, 'repo'), OUT: out, THREADS: String(threads) },
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.equal(r.status, 0, r.stderr)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!)
    assert.equal(res.name, 'TargetError', r.stdout)
    assert.equal(res.code, 'TARGET_ERROR')
    assert.match(res.message, /big\.bin/)
    const leftovers: string[] = []
    const scan = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) scan(join(d, e.name))
        else if (e.name.endsWith('.tmp')) leftovers.push(e.name)
      }
    }
    scan(out)
    assert.deepEqual(leftovers, [])
    assert.ok(!existsSync(join(out, 'src', 'big.bin')), 'the file that failed is not there under its name')
  })
}

test('blob-opening workers read sealed blobs from shared memory at any offset and write the plaintexts one after another into a shared buffer', async () => {
  const { BlobOpenFailed, BlobOpenPool } = await import('../src/repository/blob-open-pool.js')
  const { blobId, sealBlob } = await import('../src/crypto/index.js')
  const { repo } = await memoryRepo()
  const plains = [Buffer.from('a small blob'), randomBytesSeeded(70_000, 3), Buffer.from('third')]
  const ids = plains.map((p) => blobId(repo.keys.blobId, p))
  const sealed = plains.map((p, i) => sealBlob(repo.keys.encryption, ids[i], p))
  const shared = (n: number) => Buffer.from(new SharedArrayBuffer(n))
  const region = shared(5 + sealed.reduce((a, s) => a + s.length, 0))
  let at = 5
  const blobs: Array<[number, number, number, number]> = []
  for (let i = 0; i < sealed.length; i++) {
    region.set(sealed[i], at)
    blobs.push([at - 2, sealed[i].length, plains[i].length, 0])
    at += sealed[i].length
  }
  const data = region.subarray(2) // a view at an offset into the shared buffer
  const out = shared(100_000).subarray(7)
  const pool = new BlobOpenPool(repo.keys, 1)
  try {
    await pool.open(data, ids, blobs, out)
    assert.deepEqual(out.subarray(0, plains[0].length + plains[1].length + plains[2].length), Buffer.concat(plains))
    // Without an output buffer (a check) the blobs are only verified; files cannot be written so.
    await pool.open(data, ids, blobs)
    await assert.rejects(pool.open(data, ids, blobs, undefined, [[], [], []]), /output buffer/)
    // A flipped byte in the second blob: it is named, by its index in the batch, with or without output.
    region[blobs[1][0] + 2 + 40] ^= 1
    await assert.rejects(pool.open(data, ids, blobs, out), (e: unknown) => e instanceof BlobOpenFailed && e.index === 1)
    await assert.rejects(pool.open(data, ids, blobs), (e: unknown) => e instanceof BlobOpenFailed && e.index === 1)
    // Buffers that are not shared memory are refused rather than copied.
    await assert.rejects(pool.open(Buffer.from(data), ids, blobs, out), /shared memory/)
  } finally {
    await pool.close()
  }
})

test('blob-opening workers write each plaintext into every file position asked for, and name the write that fails', async () => {
  const { BlobOpenPool, BlobWriteFailed } = await import('../src/repository/blob-open-pool.js')
  const { blobId, sealBlob } = await import('../src/crypto/index.js')
  const { openSync, closeSync } = await import('node:fs')
  const { repo } = await memoryRepo()
  const plains = [randomBytesSeeded(50_000, 21), Buffer.from('second blob')]
  const ids = plains.map((p) => blobId(repo.keys.blobId, p))
  const sealed = plains.map((p, i) => sealBlob(repo.keys.encryption, ids[i], p))
  const data = Buffer.from(new SharedArrayBuffer(sealed[0].length + sealed[1].length))
  data.set(sealed[0], 0)
  data.set(sealed[1], sealed[0].length)
  const blobs: Array<[number, number, number, number]> = [
    [0, sealed[0].length, plains[0].length, 0],
    [sealed[0].length, sealed[1].length, plains[1].length, 0],
  ]
  const out = Buffer.from(new SharedArrayBuffer(60_000))
  const dir = tempDir('worker-writes')
  const a = join(dir, 'a')
  const b = join(dir, 'b')
  const fa = openSync(a, 'w+')
  const fb = openSync(b, 'w+')
  const pool = new BlobOpenPool(repo.keys, 1)
  try {
    // The first blob twice in `a` (a file that repeats a chunk) and once in `b`; the second after it in `b`.
    await pool.open(data, ids, blobs, out, [
      [
        [fa, 0],
        [fa, plains[0].length],
        [fb, 0],
      ],
      [[fb, plains[0].length]],
    ])
    assert.deepEqual(readFileSync(a), Buffer.concat([plains[0], plains[0]]))
    assert.deepEqual(readFileSync(b), Buffer.concat(plains))
    // A descriptor open for reading only: the write fails, and the error names blob 1, target 0.
    const readOnly = openSync(a, 'r')
    try {
      await assert.rejects(
        pool.open(data, ids, blobs, out, [[[fa, 0]], [[readOnly, 0]]]),
        (e: unknown) => e instanceof BlobWriteFailed && e.index === 1 && e.target === 0 && e.code === 'EBADF',
      )
    } finally {
      closeSync(readOnly)
    }
  } finally {
    await pool.close()
    closeSync(fa)
    closeSync(fb)
  }
})

test('blob-opening workers create, write and finish a file of one blob: private while written, then owner, mode, times and rename; a failure to create or to finish is named', async () => {
  const { BlobOpenPool, BlobWriteFailed, CREATE } = await import('../src/repository/blob-open-pool.js')
  const { blobId, sealBlob } = await import('../src/crypto/index.js')
  const { fromErrorChain } = await import('../src/runtime/file-meta.js')
  const { lstatSync, mkdirSync: mkdir, writeFileSync: write, existsSync } = await import('node:fs')
  const { repo } = await memoryRepo()
  const plains = [Buffer.from('first file\n'.repeat(100)), Buffer.from('second file'), Buffer.from('third')]
  const ids = plains.map((p) => blobId(repo.keys.blobId, p))
  const sealed = plains.map((p, i) => sealBlob(repo.keys.encryption, ids[i], p))
  const data = Buffer.from(new SharedArrayBuffer(sealed.reduce((n, x) => n + x.length, 0)))
  const blobs: Array<[number, number, number, number]> = []
  let at = 0
  sealed.forEach((x, i) => {
    data.set(x, at)
    blobs.push([at, x.length, plains[i].length, 0])
    at += x.length
  })
  const out = Buffer.from(new SharedArrayBuffer(4096))
  const dir = tempDir('worker-finish')
  const file = (name: string, mode: number, mtime: [number, number]) => ({ tmp: Buffer.from(join(dir, `.${name}.tmp`)), path: Buffer.from(join(dir, name)), meta: { uid: 0, gid: 0, mode, mtime }, chown: false })
  const pool = new BlobOpenPool(repo.keys, 1)
  try {
    // Three files made whole by one write each: created, written, given mode and times, renamed.
    const failures = await pool.open(data, ids, blobs, out, [[[CREATE, 0, file('a', 0o640, [1_600_000_000, 123_456_789])]], [[CREATE, 0, file('b', 0o600, [1_500_000_000, 0])]], [[CREATE, 0, file('c', 0o444, [1_400_000_000, 999_999_999])]]])
    assert.deepEqual(failures, [])
    plains.forEach((p, i) => assert.deepEqual(readFileSync(join(dir, 'abc'[i])), p))
    assert.equal(lstatSync(join(dir, 'a')).mode & 0o7777, 0o640)
    assert.equal(lstatSync(join(dir, 'c')).mode & 0o7777, 0o444)
    assert.equal(lstatSync(join(dir, 'a'), { bigint: true }).mtimeNs / 1000n, 1_600_000_000_123_456n) // to the microsecond, as a restore sets times
    assert.ok(!existsSync(join(dir, '.a.tmp')), 'no temporary name is left')

    // A folder where the second file goes: written, not finished; the others are.
    mkdir(join(dir, 'd2', 'x'), { recursive: true })
    const again = await pool.open(data, ids, blobs, out, [[[CREATE, 0, file('d1', 0o600, [1, 0])]], [[CREATE, 0, file('d2', 0o600, [1, 0])]], [[CREATE, 0, file('d3', 0o600, [1, 0])]]])
    assert.equal(again.length, 1)
    assert.deepEqual(again[0].slice(0, 2), [1, 0])
    assert.equal(fromErrorChain(again[0][2]).message, 'a directory is in the way')
    assert.ok(existsSync(join(dir, 'd1')) && existsSync(join(dir, 'd3')))

    // A temporary name that exists already is never written through: the write fails (EEXIST),
    // naming blob 1; blob 0's file was finished before it, blob 2's never created.
    write(join(dir, '.e2.tmp'), 'someone else')
    await assert.rejects(
      pool.open(data, ids, blobs, out, [[[CREATE, 0, file('e1', 0o600, [1, 0])]], [[CREATE, 0, file('e2', 0o600, [1, 0])]], [[CREATE, 0, file('e3', 0o600, [1, 0])]]]),
      (e: unknown) => e instanceof BlobWriteFailed && e.index === 1 && e.target === 0 && e.code === 'EEXIST' && !e.created && e.finishFailures.length === 0,
    )
    assert.deepEqual(readFileSync(join(dir, 'e1')), plains[0])
    assert.equal(readFileSync(join(dir, '.e2.tmp'), 'utf8'), 'someone else')
    assert.ok(!existsSync(join(dir, '.e3.tmp')) && !existsSync(join(dir, 'e3')))
  } finally {
    await pool.close()
  }
})

for (const threads of [0, 2]) {
  test(`an entry already at a restore's temporary name is neither written through nor removed (${threads} threads)`, async () => {
    const { createRequire, syncBuiltinESMExports } = await import('node:module')
    const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
    const { repo } = await memoryRepo()
    const src = join(tempDir('tmp-name'), 'memory')
    mkdirSync(src, { recursive: true })
    writeFileSync(join(src, 'a.md'), 'hello\n'.repeat(50))
    await repo.backup([src])
    const target = join(tempDir('tmp-name'), 'target')
    mkdirSync(join(target, 'memory'), { recursive: true })
    // The temporary names' random tag made predictable, as one who can watch the folder might guess it.
    const foreign = join(target, 'memory', '.session-sync-000000000000-0.tmp')
    writeFileSync(foreign, 'someone else\n')
    const randomBytes = crypto.randomBytes
    ;(crypto as { randomBytes: unknown }).randomBytes = (n: number) => (n === 6 ? Buffer.alloc(6) : randomBytes(n))
    syncBuiltinESMExports()
    let s
    try {
      s = await repo.restore('latest', target, { threads })
    } finally {
      ;(crypto as { randomBytes: unknown }).randomBytes = randomBytes
      syncBuiltinESMExports()
    }
    assert.deepEqual(
      s.errors.map((e) => e.message),
      [`EEXIST: file already exists, open '${foreign}'`],
    )
    assert.equal(readFileSync(foreign, 'utf8'), 'someone else\n')
    assert.equal(existsSync(join(target, 'memory', 'a.md')), false)
  })
}

test('an index entry claiming more bytes than any chunk is an error before any buffer is sized from it', async () => {
  const { BlobType } = await import('../src/repository/repofile.js')
  const { repo } = await memoryRepo()
  const fake = Buffer.alloc(32, 7)
  let evil: Buffer = Buffer.alloc(0)
  await forgeSnapshot(repo, async (c) => {
    evil = c
    return [forgedFile('huge', fake, 2 ** 31)]
  })
  // The fake entry points at a real blob's bytes and claims 2 GiB of plaintext.
  const index = await repo.index()
  const loc = index.get(BlobType.Data, evil)!
  index.add(BlobType.Data, fake, loc.packId, loc.offset, loc.length, 2 ** 31, loc.codec)
  const out = tempDir('huge')
  await assert.rejects(repo.restore('latest', out), (e: unknown) => e instanceof CorruptObjectError && /more than the largest chunk/.test(e.message))
  assert.equal(existsSync(join(out, 'huge')), false)
})

test('a blob sealed under another content\'s id (another device holding the key, or a writer\'s mistake): the default restore and check --read-data find it, verifyIds false writes it; a blob changed in storage fails every restore', async () => {
  const { repo, backend } = await memoryRepo({ compression: 'off' })
  const src = join(tempDir('verify-ids'), 'src')
  mkdirSync(src)
  const data = randomBytesSeeded(300_000, 5)
  writeFileSync(join(src, 'a.bin'), data)
  const { snapshotId } = await repo.backup([src])
  const root = await repo.loadTree(Buffer.from((await repo.loadSnapshot(snapshotId!)).tree, 'hex'))
  const dir = await repo.loadTree(root.nodes[0].subtree!)
  const id = Buffer.from(dir.nodes.find((n) => Buffer.from(n.name).toString() === 'a.bin')!.content!.subarray(0, 32))
  const loc = (await repo.index()).get(BlobType.Data, id)!
  // Other bytes of the same length, sealed under the first chunk's id with the repository's key.
  const other = randomBytesSeeded(loc.rawLength, 99)
  const sealed = sealBlob(repo.keys.encryption, id, other)
  assert.equal(sealed.length, loc.length)
  const pack = backend.files.get(`data/${toHex(loc.packId)}`)!
  const original = Buffer.from(pack.subarray(loc.offset, loc.offset + loc.length))
  pack.set(sealed, loc.offset)

  for (const threads of [0, 1]) {
    const out = tempDir('verify-ids-out')
    for (const opts of [{}, { verifyIds: true }]) {
      await assert.rejects(
        repo.restore('latest', out, { threads, ...opts }),
        (e: unknown) => e instanceof CorruptObjectError && e.code === 'CORRUPT_OBJECT' && /does not match its id/.test(e.message),
        `threads ${threads}, ${JSON.stringify(opts)}`,
      )
    }
    // With verifyIds false the blob is authentic (it opens under its id's key) and is written as sealed.
    const plain = tempDir('verify-ids-out')
    const s = await repo.restore('latest', plain, { threads, verifyIds: false })
    assert.equal(s.idsVerified, false)
    assert.equal(s.bytesRestored, data.length)
    const restored = readFileSync(join(plain, 'src', 'a.bin'))
    assert.ok(restored.subarray(0, loc.rawLength).equals(other), 'the first chunk is the bytes sealed under its id')
    assert.ok(restored.subarray(loc.rawLength).equals(data.subarray(loc.rawLength)), 'the rest of the file is intact')
  }
  const report = await repo.check({ readData: true })
  assert.deepEqual(report.problems.map((p) => [p.kind, p.object]), [['blob-corrupt', `blob ${toHex(id)}`]])

  // Back to the original blob, then one byte changed in storage: every restore fails on it.
  pack.set(original, loc.offset)
  const good = tempDir('verify-ids-out')
  assert.equal((await repo.restore('latest', good, { threads: 1 })).idsVerified, true, 'ids are verified by default')
  assert.ok(readFileSync(join(good, 'src', 'a.bin')).equals(data))
  pack[loc.offset + 100] ^= 1
  for (const threads of [0, 1]) {
    for (const verifyIds of [false, true]) {
      await assert.rejects(repo.restore('latest', tempDir('verify-ids-out'), { threads, verifyIds }), CorruptObjectError, `threads ${threads}, verifyIds ${verifyIds}`)
    }
  }
})

test('set-user-ID and set-group-ID bits are dropped on restore unless keepSetid asks for them', async () => {
  const base = tempDir('setid')
  const src = join(base, 'bin')
  mkdirSync(src)
  writeFileSync(join(src, 'suid'), '#!/bin/sh\n')
  writeFileSync(join(src, 'sgid'), '#!/bin/sh\n')
  writeFileSync(join(src, 'sticky'), 'x')
  chmodSync(join(src, 'suid'), 0o4755)
  chmodSync(join(src, 'sgid'), 0o2750)
  chmodSync(join(src, 'sticky'), 0o1644)
  const { repo } = await memoryRepo()
  await repo.backup([src])
  const modes = (dir: string) => Object.fromEntries(['suid', 'sgid', 'sticky'].map((n) => [n, (lstatSync(join(dir, 'bin', n)).mode & 0o7777).toString(8)]))
  const plain = join(base, 'plain')
  await repo.restore('latest', plain)
  assert.deepEqual(modes(plain), { suid: '755', sgid: '750', sticky: '1644' })
  const kept = join(base, 'kept')
  await repo.restore('latest', kept, { keepSetid: true })
  assert.deepEqual(modes(kept), { suid: '4755', sgid: '2750', sticky: '1644' })
})
