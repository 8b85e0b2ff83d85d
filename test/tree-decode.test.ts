// The tree decoder's fast path (repository/tree-decode.ts) against the general one (MessagePack,
// then the schema and checkTree): on any bytes, the fast path either gives up or gives exactly what
// the general path gives, and decodeTree accepts and refuses exactly what the general path does, with
// the same message. And trees a backup writes never leave the fast path.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { decode, encode } from '../src/codec/index.js'
import { BlobType, checkTree, decodeObject, treeSchema, type Tree, type TreeNode } from '../src/repository/repofile.js'
import { decodeTree, fastTree } from '../src/repository/tree-decode.js'
import { Repository } from '../src/index.js'
import { memoryRepo, tempDir } from './helpers.js'
import { byteDamage, hostileValue } from './support/damage.js'

/** What the general path makes of the bytes: the tree, or its error message (`invariants`: checkTree too). */
function general(bytes: Uint8Array, invariants = true): { tree: Tree } | { error: string } {
  try {
    const tree = decodeObject(treeSchema, bytes)
    if (invariants) checkTree(tree)
    return { tree }
  } catch (e) {
    return { error: (e as Error).message }
  }
}

function viaDecodeTree(bytes: Uint8Array): { tree: Tree } | { error: string } {
  try {
    return { tree: decodeTree(bytes) }
  } catch (e) {
    return { error: (e as Error).message }
  }
}

/** Integers as a file system may give them: small, past 32 bits (written as float64), up to 2^53 - 1. */
const anyCount = fc.oneof(fc.nat(300), fc.nat(), fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }))
const seconds = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 33 }), fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }))
const time = fc.tuple(seconds, fc.integer({ min: 0, max: 999_999_999 }))

const node: fc.Arbitrary<Omit<TreeNode, 'name'>> = fc
  .record({
    type: fc.constantFrom('file', 'dir', 'symlink'),
    mode: fc.integer({ min: 0, max: 0o177777 }),
    uid: anyCount,
    gid: anyCount,
    mtime: time,
    ctime: time,
    size: anyCount,
    inode: anyCount,
    dev: anyCount,
    ids: fc.nat(70),
    target: fc.uint8Array({ maxLength: 300 }),
    id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  })
  .map(({ ids, target, id, ...n }) => {
    const kind = n.type as TreeNode['type']
    if (kind === 'file') return { ...n, type: kind, content: Buffer.alloc(ids * 32, ids) }
    if (kind === 'dir') return { ...n, type: kind, subtree: Buffer.from(id) }
    return { ...n, type: kind, target: Buffer.from(target) }
  })

/** Valid trees: unique names in byte order, each node of its kind's fields, keys in any order. */
const trees: fc.Arbitrary<{ tree: Tree; shuffled: boolean }> = fc
  .record({
    names: fc.uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 40, selector: (n) => Buffer.from(n).toString('latin1') }),
    nodes: fc.array(node, { minLength: 40, maxLength: 40 }),
    shuffled: fc.boolean(),
    seed: fc.nat(),
  })
  .map(({ names, nodes, shuffled, seed }) => {
    const sorted = names.map((n) => Buffer.from(n)).sort(Buffer.compare)
    const out = sorted.map((name, i) => {
      const n: TreeNode = { name, ...nodes[i] }
      if (!shuffled) return n
      // The same node with its keys in another order (another encoder may write them so).
      const keys = Object.keys(n)
      for (let k = keys.length - 1; k > 0; k--) {
        const j = (seed + k * 7919) % (k + 1)
        ;[keys[k], keys[j]] = [keys[j], keys[k]]
      }
      return Object.fromEntries(keys.map((k) => [k, n[k as keyof TreeNode]])) as TreeNode
    })
    return { tree: { v: 1 as const, nodes: out }, shuffled }
  })

test('valid trees, in any key order and with integers of every width: the fast path takes them and gives what the general path gives', () => {
  fc.assert(
    fc.property(trees, ({ tree }) => {
      const bytes = encode(tree)
      const fast = fastTree(bytes)
      assert.ok(fast, 'the fast path gave up on a valid tree')
      assert.deepStrictEqual(fast, (general(bytes) as { tree: Tree }).tree)
      assert.deepStrictEqual(Object.keys(fast.nodes[0] ?? {}), Object.keys(decodeObject(treeSchema, bytes).nodes[0] ?? {}))
    }),
    { numRuns: 300 },
  )
})

test('any damage: the fast path gives up or agrees with the general path, and decodeTree accepts and refuses as it does', () => {
  const samples = fc.sample(trees, { numRuns: 30, seed: 7 }).map(({ tree }) => encode(tree))
  const values = samples.map((s) => decode(s) as Tree)
  const hostile = hostileValue([-1, 2 ** 32, 2 ** 53, -(2 ** 53), 0o200000, 1e9, Number.NaN, 1.5, -0, '', 'file', 'dir', 'symlink', 'link', null, undefined, [], [1], [1, 2, 3], {}])
  const payload = fc.oneof(
    // bytes changed, cut short, or with bytes after them
    ...byteDamage(samples),
    // one field of one node replaced, removed, repeated, or a key added
    fc.tuple(fc.nat(values.length - 1), fc.nat(), fc.constantFrom('name', 'type', 'mode', 'uid', 'gid', 'mtime', 'ctime', 'size', 'inode', 'dev', 'target', 'content', 'subtree', 'other', '__proto__'), hostile, fc.boolean()).map(([w, i, key, value, remove]) => {
      const t = values[w]
      if (t.nodes.length === 0) return encode({ ...t, [key]: value })
      const nodes = t.nodes.map((n) => ({ ...n }))
      const n = nodes[i % nodes.length] as Record<string, unknown>
      if (remove) delete n[key]
      else Object.defineProperty(n, key, { value, enumerable: true, writable: true, configurable: true }) // an own "__proto__" too
      return encode({ v: t.v, nodes })
    }),
    fc.tuple(fc.nat(values.length - 1), fc.constantFrom('v', 'nodes', 'other'), hostile).map(([w, key, value]) => encode({ ...values[w], [key]: value })),
    hostile.map((v) => encode(v)),
  )
  fc.assert(
    fc.property(payload, (bytes) => {
      // fastTree is the schema's part (decodeTree checks the invariants after either path).
      const decoded = general(bytes, false)
      const fast = fastTree(bytes)
      if (fast) {
        assert.ok('tree' in decoded, `the fast path took bytes the general path refuses (${(decoded as { error: string }).error})`)
        assert.deepStrictEqual(fast, decoded.tree)
      }
      assert.deepStrictEqual(viaDecodeTree(bytes), general(bytes))
    }),
    { numRuns: 3000 },
  )
})

test('trees a backup writes stay on the fast path: files, an empty file, folders, a symlink, a name that is not UTF-8', async () => {
  const { repo } = await memoryRepo()
  const src = join(tempDir('tree-decode'), 'memory')
  mkdirSync(join(src, 'daily', 'deep'), { recursive: true })
  writeFileSync(join(src, 'MEMORY.md'), '# memory\n'.repeat(50))
  writeFileSync(join(src, 'empty.md'), '')
  writeFileSync(join(src, 'daily', 'deep', 'note.md'), 'x'.repeat(5000))
  writeFileSync(Buffer.from(join(src, 'daily', 'caf\xe9.md'), 'latin1'), 'latin1 name')
  symlinkSync('MEMORY.md', join(src, 'link.md'))
  const summary = await repo.backup([src])
  let trees = 0
  const visit = async (id: Uint8Array) => {
    const plain = await repo.loadBlob(BlobType.Tree, id)
    const fast = fastTree(plain)
    assert.ok(fast, 'a tree the backup wrote left the fast path')
    assert.deepStrictEqual(fast, (general(plain) as { tree: Tree }).tree)
    trees++
    for (const n of fast.nodes) if (n.subtree) await visit(n.subtree)
  }
  await visit(Buffer.from(summary.tree, 'hex'))
  assert.equal(trees, 4) // the root, memory, daily, deep
})

test('loadTree keeps a tree loaded once as its plaintext and one loaded again decoded; neither reads storage again', async () => {
  const { repo: writer, backend } = await memoryRepo()
  const src = join(tempDir('tree-cache'), 'memory')
  mkdirSync(join(src, 'daily'), { recursive: true })
  writeFileSync(join(src, 'MEMORY.md'), '# memory\n')
  writeFileSync(join(src, 'daily', 'note.md'), 'a note')
  for (let i = 0; i < 20; i++) writeFileSync(join(src, `2026-12-${String(i + 1).padStart(2, '0')}.md`), '')
  const { tree } = await writer.backup([src])
  const expected = decodeTree(await writer.loadBlob(BlobType.Tree, Buffer.from(tree, 'hex')))
  const repo = await Repository.open({ backend, password: 'test', cacheDir: false })
  let loads = 0
  const load = backend.load.bind(backend)
  backend.load = (h, r) => {
    if (h.type === 'data') loads++
    return load(h, r)
  }
  const id = Buffer.from(tree, 'hex')
  const first = await repo.loadTree(id)
  assert.equal(loads, 1, 'the first load reads the tree pack')
  assert.deepStrictEqual(first, expected)
  // What is kept is the plaintext, in a buffer of its own (not a view of a shared pool's slab, which
  // the cache's size would not count).
  const plain = (repo as unknown as { treePlains: Map<string, Uint8Array> }).treePlains.get(tree)
  assert.ok(plain, 'the plaintext is kept')
  assert.equal(plain.byteLength, plain.buffer.byteLength)
  // Without the tree packs held (the index dropped with them), the plaintext is all there is.
  repo.invalidateIndex()
  // Decoded again from the kept plaintext: a tree of its own, not the first one kept.
  const second = await repo.loadTree(id)
  assert.equal(loads, 1, 'the second load read storage again')
  assert.notStrictEqual(second, first)
  assert.deepStrictEqual(second, expected)
  // Loaded twice: kept decoded from now on.
  assert.strictEqual(await repo.loadTree(id), second)
  // A tree of many entries compresses (on Node 20 with brotli, whose small outputs are views of a
  // shared pool): what is kept of it is a buffer of its own too.
  const memoryTree = first.nodes.find((n) => Buffer.from(n.name).toString() === 'memory')!.subtree!
  const memory = await repo.loadTree(memoryTree)
  assert.equal(loads, 2, 'one read for the second tree')
  const memoryPlain = (repo as unknown as { treePlains: Map<string, Uint8Array> }).treePlains.get(Buffer.from(memoryTree).toString('hex'))!
  assert.equal(memoryPlain.byteLength, memoryPlain.buffer.byteLength)
  // A tree loaded by a caller that will load it again is kept decoded at once.
  const dailyTree = memory.nodes.find((n) => Buffer.from(n.name).toString() === 'daily')!.subtree!
  const daily = await repo.loadTree(dailyTree, undefined, { again: true })
  assert.strictEqual(await repo.loadTree(dailyTree), daily)
  assert.equal(loads, 2)
})
