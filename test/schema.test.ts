import { test } from 'node:test'
import assert from 'node:assert/strict'
import { array, bool, bytes, int, literal, num, object, oneOf, optional, parse, SchemaError, str, tuple, variant } from '../src/codec/schema.js'
import { encode } from '../src/codec/index.js'
import { decodeObject, indexFileSchema, nodeSchema, treeSchema } from '../src/repository/repofile.js'

const fails = (f: () => unknown, message: string) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SchemaError, String(e))
    assert.equal(e.message, message)
    return true
  })

test('scalars: ints are safe integers within bounds, numbers finite, strings and arrays bounded', () => {
  const u8 = int(0, 255)
  assert.equal(parse(u8, 255), 255)
  fails(() => parse(u8, 256), 'value: Too big: expected number to be <=255')
  fails(() => parse(u8, -1), 'value: Too small: expected number to be >=0')
  fails(() => parse(u8, 1.5), 'value: Invalid input: expected int, received number')
  fails(() => parse(u8, '1'), 'value: Invalid input: expected number, received string')
  fails(() => parse(int(), 2 ** 60), 'value: Too big: expected int to be <=9007199254740991')
  fails(() => parse(num(0), NaN), 'value: Invalid input: expected number, received NaN')
  fails(() => parse(num(0), Infinity), 'value: Invalid input: expected number, received Infinity')
  assert.equal(parse(num(0), 0.5), 0.5)
  fails(() => parse(str(3), 'abcd'), 'value: Too big: expected string to have <=3 characters')
  fails(() => parse(array(bool(), 1), [true, false]), 'value: Too big: expected array to have <=1 items')
  fails(() => parse(literal(1), 2), 'value: Invalid input: expected 1')
  fails(() => parse(oneOf(['a', 'b']), 'c'), 'value: Invalid option: expected one of "a"|"b"')
  fails(() => parse(bytes({ length: 2 }, 'two bytes please'), Buffer.alloc(3)), 'value: two bytes please')
  fails(() => parse(bytes({ multipleOf: 2 }, 'pairs please'), Buffer.alloc(3)), 'value: pairs please')
  assert.equal(parse(bytes({ multipleOf: 2 }), Buffer.alloc(4)).length, 4)
  fails(() => parse(bytes(), [1, 2]), 'value: must be bytes')
})

test('objects drop unknown keys, keep schema order, and leave absent optional keys absent', () => {
  const s = object({ a: int(), b: optional(str()), c: optional(int()) })
  const input = { c: 3, x: 'extra', a: 1 }
  const out = parse(s, input)
  assert.deepEqual(Object.keys(out), ['a', 'c'])
  assert.deepEqual(out, { a: 1, c: 3 })
  assert.equal('x' in input, true, 'the input is not changed')
  fails(() => parse(s, { b: 'x' }), 'a: Invalid input: expected number, received undefined')
  fails(() => parse(s, []), 'value: Invalid input: expected object, received array')
  fails(() => parse(s, null), 'value: Invalid input: expected object, received null')
})

test('tuples have exactly their length; arrays come back as they are unless an element changed', () => {
  const t = tuple([int(), str()])
  const ok = [1, 'a']
  assert.equal(parse(t, ok), ok)
  fails(() => parse(t, [1]), 'value: Too small: expected array to have >=2 items')
  fails(() => parse(t, [1, 'a', 2]), 'value: Too big: expected array to have <=2 items')
  const list = [ok, ok]
  assert.equal(parse(array(t), list), list)
  const objs = [{ a: 1 }, { a: 2, extra: true }]
  const cleaned = parse(array(object({ a: int() })), objs)
  assert.deepEqual(cleaned, [{ a: 1 }, { a: 2 }])
})

test('variants choose by their tag and name a bad tag', () => {
  const v = variant('kind', { one: object({ kind: literal('one'), n: int() }), two: object({ kind: literal('two') }) })
  assert.deepEqual(parse(v, { kind: 'two', n: 'ignored' }), { kind: 'two' })
  fails(() => parse(v, { kind: 'one', n: 'x' }), 'n: Invalid input: expected number, received string')
  fails(() => parse(v, { kind: 'three' }), "kind: Invalid discriminator value. Expected 'one' | 'two'")
  fails(() => parse(v, { kind: 'toString' }), "kind: Invalid discriminator value. Expected 'one' | 'two'")
})

test('decodeObject names the path of the first problem in a repository object', () => {
  const entry = (id: Buffer) => [0, id, 0, 10, 10, 0]
  const good = Buffer.alloc(32)
  const packs = [0, 1, 2, 3].map(() => ({ id: good, size: 1, scheme: 1, keyId: 0, blobs: Array.from({ length: 20 }, () => entry(good)) }))
  packs[3]!.blobs[17] = entry(Buffer.alloc(31))
  assert.throws(() => decodeObject(indexFileSchema, encode({ v: 1, supersedes: [], packs })), { message: 'packs.3.blobs.17.1: an id must be 32 bytes' })
  const node = { name: Buffer.from('a'), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: [0, 0], ctime: [0, 1e9], size: 0, inode: 0, dev: 0, content: Buffer.alloc(33) }
  assert.throws(() => decodeObject(treeSchema, encode({ v: 1, nodes: [node] })), { message: 'nodes.0.ctime.1: Too big: expected number to be <=999999999' })
  node.ctime = [0, 0]
  assert.throws(() => decodeObject(treeSchema, encode({ v: 1, nodes: [node] })), { message: 'nodes.0.content: content must be a list of 32-byte ids' })
  assert.throws(() => decodeObject(nodeSchema, encode('x')), { message: 'value: Invalid input: expected object, received string' })
})
