import { ID_BYTES } from '../crypto/ids.js'
import { InternalError } from '../errors/index.js'
import { arrayLength, bail, bin, binAt, integer, intIn, left, mapLength, readWhole, source, str, was } from '../codec/fast-read.js'
import type { BlobIndex } from './blob-index.js'
import { FORMAT_VERSION } from './repofile.js'

/**
 * Index files on the fast path: every process that opens a repository reads them all into its
 * BlobIndex. The general path (`decodeObject(indexFileSchema, …)`) builds a MessagePack object, an
 * array and a view for every blob, then the schema's copy of each, and the loop over them builds
 * more: on a repository of 22,000 blobs, 120–150 ms in a fresh process, a third of it collecting
 * that garbage. This reads the bytes twice instead, building nothing per blob: once to check them
 * (scanIndexFile, as the schema would), once to add each blob to the index where it lies
 * (addIndexFile). It takes exactly what our encoder writes (a pack's id before its blobs); anything
 * else goes to the general path, which decides (see codec/fast-read.ts).
 */

/** What loading the index needs of a checked index file before adding its blobs. */
export interface ScannedIndexFile {
  supersedes: Buffer[]
  /** Blob entries in it (for the index's first capacity). */
  blobs: number
}

/** Checks an index file's plaintext as the schema would: its supersedes and blob count, or undefined where the general decoder must decide. */
export function scanIndexFile(plain: Uint8Array): ScannedIndexFile | undefined {
  return readWhole(plain, () => readIndexFile(undefined))
}

/**
 * Adds the blobs of an index file that scanIndexFile accepted to `idx` (a blob already there keeps
 * its first location), calling `onPack` with each pack's id.
 */
export function addIndexFile(plain: Uint8Array, idx: BlobIndex, onPack?: (packId: Buffer) => void): void {
  if (readWhole(plain, () => readIndexFile({ idx, onPack })) === undefined) throw new InternalError('an index file that scanIndexFile accepted did not read the second time')
}

interface Sink {
  idx: BlobIndex
  onPack?: (packId: Buffer) => void
}

const U32 = 0xffffffff
const MAX = Number.MAX_SAFE_INTEGER

function id32(): Buffer {
  const b = bin()
  if (b.length !== ID_BYTES) bail()
  return b
}

function readIndexFile(sink: Sink | undefined): ScannedIndexFile {
  const keys = mapLength()
  let v: number | undefined
  let supersedes: Buffer[] | undefined
  let packs = false
  let blobs = 0
  for (let i = 0; i < keys; i++) {
    const n = str()
    if (was(n, 'v') && v === undefined) {
      v = integer()
      if (v !== FORMAT_VERSION) bail()
    } else if (was(n, 'supersedes') && supersedes === undefined) {
      const count = arrayLength()
      if (count > left()) bail()
      supersedes = []
      for (let j = 0; j < count; j++) supersedes.push(id32())
    } else if (was(n, 'packs') && !packs) {
      packs = true
      const count = arrayLength()
      if (count > left()) bail()
      for (let j = 0; j < count; j++) blobs += readPack(sink)
    } else bail()
  }
  if (v === undefined || supersedes === undefined || !packs) bail()
  return { supersedes, blobs }
}

const PACK_KEYS = ['id', 'size', 'scheme', 'keyId', 'blobs'] as const
const ALL_PACK_KEYS = (1 << PACK_KEYS.length) - 1

function packKey(n: number): number {
  for (let k = 0; k < PACK_KEYS.length; k++) if (was(n, PACK_KEYS[k]!)) return k
  return bail()
}

/** One pack of an index file: its blob count. */
function readPack(sink: Sink | undefined): number {
  const keys = mapLength()
  let seen = 0
  let packId: Buffer | undefined
  let count = 0
  for (let i = 0; i < keys; i++) {
    const k = packKey(str())
    const bit = 1 << k
    if (seen & bit) bail()
    seen |= bit
    switch (k) {
      case 0:
        packId = id32()
        sink?.onPack?.(packId)
        break
      case 1:
        intIn(0, MAX)
        break
      case 2:
        intIn(0, 255)
        break
      case 3:
        intIn(0, U32)
        break
      default: {
        if (!packId) bail() // our encoder writes the id first
        count = arrayLength()
        // Each entry takes more than 32 bytes: a count beyond the bytes left is not worth reading.
        if (count > left()) bail()
        for (let j = 0; j < count; j++) readEntry(packId, sink)
      }
    }
  }
  if (seen !== ALL_PACK_KEYS) bail()
  return count
}

/** [type, id, offset, sealed length, raw length, codec] */
function readEntry(packId: Buffer, sink: Sink | undefined): void {
  if (arrayLength() !== 6) bail()
  const type = integer()
  if (type !== 0 && type !== 1) bail()
  const at = binAt(ID_BYTES)
  const offset = intIn(0, U32)
  const length = intIn(0, U32)
  const raw = intIn(0, U32)
  const codec = intIn(0, 255)
  sink?.idx.addAt(type, source(), at, packId, offset, length, raw, codec)
}
