import { compress, type Codec } from '../compression/index.js'
import { blobId } from '../crypto/ids.js'
import { BLOB_OVERHEAD, sealBlobInto } from '../crypto/seal.js'
import type { BlobIndex } from '../repository/blob-index.js'
import type { Packer } from '../repository/packer.js'
import { BlobType } from '../repository/repofile.js'
import type { SealedBlob, SealPool } from './seal-pool.js'

/**
 * Bytes a backup seals on the calling thread before it hands sealing to a worker (see SealPool):
 * starting one costs more than sealing a few edits. Measured (Node 24, raw key, 4 alternating runs)
 * on the 1 GB mixed set's 1% edits, which store 2–4 MB: at 2 MiB the worker started and the re-backup
 * took 0.42–0.50 → 0.55–0.60 s; at 8 MiB it stays on this thread, 0.41–0.53 → 0.43–0.55 s. The
 * memory folder's first backup (50 MB) is as fast either way.
 */
export const SEAL_INLINE_BYTES = 8 * 1024 * 1024

/** Counts of what a backup added to the repository. */
export interface BlobStats {
  dataBlobsAdded: number
  treeBlobsAdded: number
  /** Plaintext bytes of the blobs added. */
  bytesAdded: number
  /** Sealed (compressed and encrypted) bytes of the blobs added. */
  bytesStored: number
}

/**
 * The write path of one blob: id → dedup against the index and the blobs already queued in this
 * backup → compress where it pays → seal → packer. Pure work on buffers, so it can move into a
 * worker thread unchanged.
 */
export class BlobSaver {
  /** Blobs handed to the packer whose pack is not yet stored (latin1 key: type + id). */
  private readonly pending = new Set<string>()
  readonly stats: BlobStats = { dataBlobsAdded: 0, treeBlobsAdded: 0, bytesAdded: 0, bytesStored: 0 }
  private sealer?: { pool: SealPool; allowed: () => boolean }
  /** Plaintext bytes sealed on this thread so far. */
  private sealedHere = 0
  /** Where blobs are sealed on this thread, reused (see save). */
  private scratch = Buffer.alloc(0)

  constructor(
    private readonly idKey: Buffer,
    private readonly encryptionKey: Buffer,
    private readonly index: BlobIndex,
    private readonly packer: Packer,
    private readonly codec: Codec,
  ) {}

  /**
   * Lets new blobs be compressed and sealed by `pool` while `allowed()` holds (the backup's chunk
   * workers are not running), once SEAL_INLINE_BYTES have been sealed here.
   */
  offloadTo(pool: SealPool, allowed: () => boolean): void {
    this.sealer = { pool, allowed }
  }

  /**
   * From now on new blobs go to the sealing worker (see offloadTo) at once, and it is started now:
   * for a backup known to have much more than SEAL_INLINE_BYTES to seal (a first backup of small
   * files), whose first megabytes would otherwise be compressed on this thread while the worker
   * waits to be started.
   */
  sealOffThreadNow(): void {
    if (!this.sealer) return
    this.sealedHere = Math.max(this.sealedHere, SEAL_INLINE_BYTES)
    this.sealer.pool.prestart()
  }

  /** The packer's side of the sealing worker: a batch of blobs sealed back to back in `run`. */
  async packSealed(blobs: SealedBlob[], run: Uint8Array): Promise<void> {
    // One write per stretch of blobs of one type (a batch holds data blobs, now and then a tree).
    let start = 0
    let offset = 0
    for (let i = 1; i <= blobs.length; i++) {
      if (i < blobs.length && blobs[i].type === blobs[start].type) continue
      const stretch = blobs.slice(start, i)
      const bytes = stretch.reduce((n, b) => n + b.length, 0)
      await this.packer.addRun(blobs[start].type, stretch, run.subarray(offset, offset + bytes))
      for (const b of stretch) this.count(b.type, b.rawLength, b.length)
      offset += bytes
      start = i
    }
  }

  /** Waits until every blob sealed off this thread is in the packer. */
  async flush(): Promise<void> {
    await this.sealer?.pool.flush()
  }

  /** Stops the sealing worker (blobs it had not sealed yet are dropped). */
  async close(): Promise<void> {
    await this.sealer?.pool.close()
  }

  /** Called when a pack is stored: its blobs are in the index from now on. */
  stored(type: BlobType, id: Buffer): void {
    this.pending.delete(type + id.toString('latin1'))
  }

  /** Stores a blob sealed elsewhere (by a chunk worker) unless the repository already has it. */
  async addSealed(type: BlobType, id: Buffer, sealed: Uint8Array, rawLength: number, codec: number): Promise<void> {
    if (this.index.has(type, id)) return
    const key = type + id.toString('latin1')
    if (this.pending.has(key)) return
    this.pending.add(key)
    await this.packer.add(type, Buffer.from(id), sealed, rawLength, codec)
    this.count(type, rawLength, sealed.length)
  }

  private count(type: BlobType, raw: number, sealed: number): void {
    if (type === BlobType.Tree) this.stats.treeBlobsAdded++
    else this.stats.dataBlobsAdded++
    this.stats.bytesAdded += raw
    this.stats.bytesStored += sealed
  }

  /** Stores one blob unless the repository already has it; returns its id (`id`: computed already). */
  async save(type: BlobType, data: Uint8Array, knownId?: Buffer): Promise<Buffer> {
    const id = knownId ?? blobId(this.idKey, data)
    if (this.index.has(type, id)) return id
    const key = type + id.toString('latin1')
    if (this.pending.has(key)) return id
    this.pending.add(key)
    const tryCompress = type === BlobType.Tree || data.length > 0
    if (this.sealer && this.sealedHere >= SEAL_INLINE_BYTES && this.sealer.allowed()) {
      await this.sealer.pool.add(type, id, data, tryCompress)
      return id
    }
    this.sealedHere += data.length
    const packed = tryCompress ? compress(this.codec, data) : undefined
    const plain = packed ?? data
    if (this.scratch.length < plain.length + BLOB_OVERHEAD) this.scratch = Buffer.allocUnsafeSlow(plain.length + BLOB_OVERHEAD)
    const length = sealBlobInto(this.encryptionKey, id, plain, this.scratch, 0)
    // The packer writes (or copies) the blob before its first await, so the scratch is free again
    // when the next save() runs, concurrent or not.
    await this.packer.add(type, id, this.scratch.subarray(0, length), data.length, packed ? this.codec : 0)
    this.count(type, data.length, length)
    return id
  }
}
