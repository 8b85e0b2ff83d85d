import { ID_BYTES } from '../crypto/ids.js'
import type { BlobType } from './repofile.js'

/** Where one blob lives: its pack and its byte range there, and how to turn it back into plaintext. */
export interface BlobLocation {
  type: BlobType
  packId: Buffer
  offset: number
  length: number
  rawLength: number
  codec: number
}

/**
 * The in-memory index: blob (type, id) → location, kept compact. Ids sit back to back in one
 * buffer, the other fields in typed arrays, and an open-addressing table of entry numbers finds
 * them (ids are HMAC outputs, so their first four bytes are already a good hash). About 57 bytes a
 * blob, against several hundred for a Map of hex strings.
 */
export class BlobIndex {
  private count = 0
  private cap: number
  private ids: Buffer
  private pack: Uint32Array
  private offset: Uint32Array
  private length: Uint32Array
  private raw: Uint32Array
  /** type in bit 0, codec in bits 1..7 */
  private meta: Uint8Array
  private table: Int32Array
  private mask: number
  private readonly packIds: Buffer[] = []
  private readonly packNumbers = new Map<string, number>()
  /** The pack packNumber returned last, and the buffer it was asked for with (compared by identity first). */
  private lastPackNumber = 0
  private lastPackArg?: Buffer

  constructor(initialCapacity = 1024) {
    this.cap = Math.max(16, initialCapacity)
    this.ids = Buffer.alloc(this.cap * ID_BYTES)
    this.pack = new Uint32Array(this.cap)
    this.offset = new Uint32Array(this.cap)
    this.length = new Uint32Array(this.cap)
    this.raw = new Uint32Array(this.cap)
    this.meta = new Uint8Array(this.cap)
    const size = nextPow2(Math.ceil((this.cap * 4) / 3) + 1)
    this.table = new Int32Array(size)
    this.mask = size - 1
  }

  get size(): number {
    return this.count
  }

  get packCount(): number {
    return this.packIds.length
  }

  /** Bytes held by this index's arrays (for the benchmark's bytes-per-blob figure). */
  get memoryBytes(): number {
    return this.ids.length + this.cap * (4 * 4 + 1) + this.table.byteLength + this.packIds.length * (ID_BYTES + 80)
  }

  /** Registers a pack and returns its number. */
  private packNumber(packId: Buffer): number {
    // Blobs come pack by pack (an index file's, a stored pack's), usually with one buffer for the
    // pack's id: compare with the last one first, by identity, then by bytes.
    if (packId === this.lastPackArg) return this.lastPackNumber
    const last = this.packIds[this.lastPackNumber]
    if (last !== undefined && last.equals(packId)) {
      this.lastPackArg = packId
      return this.lastPackNumber
    }
    const key = packId.toString('latin1')
    let n = this.packNumbers.get(key)
    if (n === undefined) {
      n = this.packIds.length
      this.packIds.push(Buffer.from(packId))
      this.packNumbers.set(key, n)
    }
    this.lastPackNumber = n
    this.lastPackArg = packId
    return n
  }

  hasPack(packId: Buffer): boolean {
    return this.packNumbers.has(packId.toString('latin1'))
  }

  /**
   * Adds a blob; a blob already present keeps its first location. Returns false when it was present.
   * `packId` must not change afterwards (the last one is recognised by identity).
   */
  add(type: BlobType, id: Uint8Array, packId: Buffer, offset: number, length: number, rawLength: number, codec: number): boolean {
    return this.addAt(type, id, 0, packId, offset, length, rawLength, codec)
  }

  /** As add, with the id at `at` in `ids` (an index file's plaintext, read without a view of each id). */
  addAt(type: BlobType, ids: Uint8Array, at: number, packId: Buffer, offset: number, length: number, rawLength: number, codec: number): boolean {
    if (this.findAt(type, ids, at) >= 0) return false
    if (this.count === this.cap) this.grow()
    const i = this.count++
    const to = i * ID_BYTES
    for (let k = 0; k < ID_BYTES; k++) this.ids[to + k] = ids[at + k]!
    this.pack[i] = this.packNumber(packId)
    this.offset[i] = offset
    this.length[i] = length
    this.raw[i] = rawLength
    this.meta[i] = type | (codec << 1)
    if (this.count * 4 > this.table.length * 3) this.rehash(this.table.length * 2)
    else this.insert(i)
    return true
  }

  /** Entry number of (type, id), or -1. */
  find(type: BlobType, id: Uint8Array): number {
    return this.findAt(type, id, 0)
  }

  /**
   * Entry number of (type, the id at `at` in `ids`), or -1: for ids back to back (a file node's
   * content) without a view of each.
   */
  findAt(type: BlobType, ids: Uint8Array, at: number): number {
    let slot = ((ids[at] | (ids[at + 1] << 8) | (ids[at + 2] << 16) | (ids[at + 3] << 24)) >>> 0) & this.mask
    for (;;) {
      const e = this.table[slot]
      if (e === 0) return -1
      const i = e - 1
      if ((this.meta[i] & 1) === type && this.idEquals(i, ids, at)) return i
      slot = (slot + 1) & this.mask
    }
  }

  /** The raw (plaintext) length of entry `i` (see find). */
  rawLengthAt(i: number): number {
    return this.raw[i]
  }

  has(type: BlobType, id: Uint8Array): boolean {
    return this.find(type, id) >= 0
  }

  get(type: BlobType, id: Uint8Array): BlobLocation | undefined {
    const i = this.find(type, id)
    return i < 0 ? undefined : this.at(i)
  }

  at(i: number): BlobLocation {
    return {
      type: (this.meta[i] & 1) as BlobType,
      packId: this.packIds[this.pack[i]],
      offset: this.offset[i],
      length: this.length[i],
      rawLength: this.raw[i],
      codec: this.meta[i] >> 1,
    }
  }

  /** The ids of every blob of one type, back to back, in a buffer of their own. */
  idsOfType(type: BlobType): { ids: ArrayBuffer; count: number } {
    let count = 0
    for (let i = 0; i < this.count; i++) if ((this.meta[i] & 1) === type) count++
    const ids = new ArrayBuffer(count * ID_BYTES)
    const view = new Uint8Array(ids)
    let o = 0
    for (let i = 0; i < this.count; i++) {
      if ((this.meta[i] & 1) !== type) continue
      view.set(this.ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES), o)
      o += ID_BYTES
    }
    return { ids, count }
  }

  /**
   * This index's bytes for the index memo (see Repository.loadIndex), as views of its arrays, not
   * copies: the entry and pack counts (u32 LE each), the packs' ids, then the entries' ids, pack
   * numbers, offsets, lengths and raw lengths (u32 in this machine's order: callers write a memo only
   * on a little-endian one) and type-and-codec bytes.
   */
  memoParts(): Uint8Array[] {
    const n = this.count
    const head = Buffer.allocUnsafe(8)
    head.writeUInt32LE(n, 0)
    head.writeUInt32LE(this.packIds.length, 4)
    const bytes = (a: Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, n * 4)
    return [head, ...this.packIds, this.ids.subarray(0, n * ID_BYTES), bytes(this.pack), bytes(this.offset), bytes(this.length), bytes(this.raw), this.meta.subarray(0, n)]
  }

  /** An index from memoParts' bytes, joined; throws when they are not such bytes (or name a blob twice). */
  static fromMemo(bytes: Buffer): BlobIndex {
    if (bytes.length < 8) throw new Error('index memo cut short')
    const n = bytes.readUInt32LE(0)
    const packs = bytes.readUInt32LE(4)
    if (bytes.length !== 8 + packs * ID_BYTES + n * (ID_BYTES + 4 * 4 + 1)) throw new Error('index memo of the wrong length')
    const idx = new BlobIndex(n)
    let at = 8
    for (let p = 0; p < packs; p++, at += ID_BYTES) idx.packNumber(Buffer.from(bytes.subarray(at, at + ID_BYTES)))
    if (idx.packIds.length !== packs) throw new Error('index memo names a pack twice')
    bytes.copy(idx.ids, 0, at, (at += n * ID_BYTES))
    // Copied out (a typed array's view needs an aligned offset).
    for (const a of [idx.pack, idx.offset, idx.length, idx.raw]) {
      new Uint8Array(a.buffer, a.byteOffset, n * 4).set(bytes.subarray(at, (at += n * 4)))
    }
    idx.meta.set(bytes.subarray(at, at + n))
    for (let i = 0; i < n; i++) {
      if (idx.pack[i] >= packs) throw new Error('index memo names a pack it does not list')
      if (idx.findAt((idx.meta[i] & 1) as BlobType, idx.ids, i * ID_BYTES) >= 0) throw new Error('index memo names a blob twice')
      idx.count = i + 1
      idx.insert(i)
    }
    return idx
  }

  private idEquals(i: number, id: Uint8Array, at: number): boolean {
    const base = i * ID_BYTES
    const ids = this.ids
    for (let k = 0; k < ID_BYTES; k++) if (ids[base + k] !== id[at + k]) return false
    return true
  }

  private insert(i: number): void {
    let slot = this.ids.readUInt32LE(i * ID_BYTES) & this.mask
    while (this.table[slot] !== 0) slot = (slot + 1) & this.mask
    this.table[slot] = i + 1
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size)
    this.mask = size - 1
    for (let i = 0; i < this.count; i++) this.insert(i)
  }

  private grow(): void {
    const cap = Math.ceil(this.cap * 1.5)
    const ids = Buffer.alloc(cap * ID_BYTES)
    this.ids.copy(ids)
    this.ids = ids
    this.pack = growU32(this.pack, cap)
    this.offset = growU32(this.offset, cap)
    this.length = growU32(this.length, cap)
    this.raw = growU32(this.raw, cap)
    const meta = new Uint8Array(cap)
    meta.set(this.meta)
    this.meta = meta
    this.cap = cap
  }
}

function nextPow2(n: number): number {
  let p = 16
  while (p < n) p *= 2
  return p
}

function growU32(a: Uint32Array, cap: number): Uint32Array {
  const b = new Uint32Array(cap)
  b.set(a)
  return b
}
