/**
 * The chunker's table: 256 31-bit values, one per byte value, that the rolling hash adds in.
 *
 * The construction is the one of @ronomon/deduplication: run AES-256-CTR over 1024 zero bytes
 * (key and 16-byte IV given below), read the key stream as 256 big-endian uint32 and clear the
 * high bit of each. Clearing the high bit keeps `(hash >>> 1) + table[b]` below 2^32.
 *
 * - `unkeyedTable()` uses the all-zero key and reproduces the public table (TABLE[0] = 0x5c95c078),
 *   so chunk boundaries match the published FastCDC "ronomon" vectors.
 * - `keyedTable(key)` uses the repository's secret chunker subkey instead. Boundaries then depend
 *   on the key, so an observer of chunk sizes cannot tell whether a repository holds a known file.
 */
import { createCipheriv } from 'node:crypto'

const TABLE_SIZE = 256
const KEY_BYTES = 32
const IV = new Uint8Array(16)

function buildTable(key: Uint8Array): Int32Array {
  const cipher = createCipheriv('aes-256-ctr', key, IV)
  const stream = Buffer.concat([cipher.update(new Uint8Array(TABLE_SIZE * 4)), cipher.final()])
  const table = new Int32Array(TABLE_SIZE)
  for (let i = 0; i < TABLE_SIZE; i++) table[i] = stream.readUInt32BE(i * 4) & 0x7fffffff
  stream.fill(0)
  return table
}

let unkeyed: Int32Array | undefined

/**
 * The public ronomon table (all-zero AES key and IV). Computed once; every call returns a fresh
 * copy, so a caller that mutates its copy cannot corrupt anybody else's.
 */
export function unkeyedTable(): Int32Array {
  if (unkeyed === undefined) unkeyed = buildTable(new Uint8Array(KEY_BYTES))
  return unkeyed.slice()
}

/**
 * The table for a secret 32-byte key (the repository's chunker subkey), all-zero IV.
 * Throws a TypeError unless `key` is a Uint8Array of exactly 32 bytes. Not cached: it is secret
 * material and costs a single AES call over 1 KiB.
 */
export function keyedTable(key: Uint8Array): Int32Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key
    throw new TypeError(`chunker table key must be a Uint8Array of ${KEY_BYTES} bytes, got ${got}`)
  }
  return buildTable(key)
}
