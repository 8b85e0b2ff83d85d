import { createHash, createHmac } from 'node:crypto'
import { keyObject } from './key-objects.js'

/** Length of every id in the repository: blob ids and stored-file ids alike. */
export const ID_BYTES = 32

/** A blob's id: HMAC-SHA256 under the repository's id key, so the storage cannot test for known content. */
export function blobId(idKey: Uint8Array, plaintext: Uint8Array): Buffer {
  return createHmac('sha256', keyObject(idKey)).update(plaintext).digest()
}

/** A stored file's id: SHA-256 of its stored (encrypted) bytes, checkable without any key. */
export function storageId(stored: Uint8Array): Buffer {
  return createHash('sha256').update(stored).digest()
}

export function toHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}

const HEX_ID = /^[0-9a-f]{64}$/

export function isHexId(s: string): boolean {
  return HEX_ID.test(s)
}

export function fromHex(s: string): Buffer {
  if (!isHexId(s)) throw new TypeError(`not a 64-character lower-case hex id: ${s}`)
  return Buffer.from(s, 'hex')
}
