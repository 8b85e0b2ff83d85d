import type { Backend } from '../backend/backend.js'
import { storageId, toHex } from '../crypto/ids.js'
import { KEY_SCHEME_MASTER_V1, sealFile } from '../crypto/seal.js'
import { BlobType, encodeObject, FORMAT_VERSION, type PackHeader } from './repofile.js'

/** A pack that has been stored: what the index needs to know about it. */
export interface StoredPack {
  id: Buffer
  size: number
  scheme: number
  keyId: number
  /** [type, id, offset, sealed length, raw length, codec] */
  blobs: Array<[BlobType, Buffer, number, number, number, number]>
}

export interface PackerOptions {
  backend: Backend
  encryptionKey: Buffer
  /** Target size of a pack in bytes. */
  packSize: number
  /** Packs being uploaded at once before add() waits. */
  maxInFlight: number
  /** Awaited before every upload (the backup takes its lock lazily there). */
  beforeSave?: () => Promise<void>
  /** Called once a pack is stored, in completion order. */
  onStored: (pack: StoredPack) => void | Promise<void>
}

/** Index entries for a pack's header entries: offsets are the running sum of sealed lengths. */
export function locateBlobs(entries: PackHeader['blobs']): StoredPack['blobs'] {
  let offset = 0
  return entries.map(([type, blobId, length, raw, codec]) => {
    const e: StoredPack['blobs'][number] = [type, Buffer.from(blobId), offset, length, raw, codec]
    offset += length
    return e
  })
}

class OpenPack {
  used = 0
  readonly entries: PackHeader['blobs'] = []
  constructor(public buf: Buffer) {}
}

/**
 * Collects sealed blobs into packs: blobs back to back in one preallocated buffer, then the sealed
 * header, then its length (u32 LE). Data and tree blobs go to separate packs. A full pack is
 * uploaded in the background; add() waits only when `maxInFlight` uploads are already running.
 */
export class Packer {
  private readonly open = new Map<BlobType, OpenPack>()
  private readonly inFlight = new Set<Promise<void>>()
  private readonly spare: Buffer[] = []
  private failure: unknown
  packsStored = 0
  bytesStored = 0

  constructor(private readonly opts: PackerOptions) {}

  /**
   * Adds one sealed blob. Safe to call concurrently: the open packs change only synchronously, and
   * the wait for an upload slot comes after the blob is in place.
   */
  async add(type: BlobType, id: Buffer, sealed: Uint8Array, rawLength: number, codec: number): Promise<void> {
    this.rethrow()
    let pack = this.open.get(type)
    let full: OpenPack | undefined
    if (pack && pack.used > 0 && pack.used + sealed.length > this.opts.packSize) {
      full = pack
      pack = undefined
    }
    if (!pack) {
      pack = new OpenPack(this.takeBuffer(Math.max(this.opts.packSize, sealed.length) + 64 * 1024))
      this.open.set(type, pack)
    }
    pack.buf.set(sealed, pack.used)
    pack.entries.push([type, id, sealed.length, rawLength, codec])
    pack.used += sealed.length
    if (full) await this.finish(full)
  }

  /** Seals and uploads every open pack and waits for all uploads. */
  async flush(): Promise<void> {
    for (const [type, pack] of [...this.open]) {
      this.open.delete(type)
      await this.finish(pack)
    }
    await Promise.allSettled([...this.inFlight])
    this.rethrow()
  }

  /** Drops open packs without storing them (after an abort or error). */
  async discard(): Promise<void> {
    this.open.clear()
    await Promise.allSettled([...this.inFlight])
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure
  }

  private takeBuffer(size: number): Buffer {
    const i = this.spare.findIndex((b) => b.length >= size)
    if (i >= 0) return this.spare.splice(i, 1)[0]
    return Buffer.allocUnsafe(size)
  }

  private async finish(pack: OpenPack): Promise<void> {
    if (pack.entries.length === 0) return
    const header = sealFile(
      this.opts.encryptionKey,
      'pack-header',
      encodeObject({ v: FORMAT_VERSION, scheme: KEY_SCHEME_MASTER_V1, keyId: 0, blobs: pack.entries } satisfies PackHeader),
    )
    let buf = pack.buf
    const total = pack.used + header.length + 4
    if (total > buf.length) {
      buf = Buffer.allocUnsafe(total)
      pack.buf.copy(buf, 0, 0, pack.used)
    }
    header.copy(buf, pack.used)
    buf.writeUInt32LE(header.length, pack.used + header.length)
    const bytes = buf.subarray(0, total)
    const id = storageId(bytes)
    const blobs = locateBlobs(pack.entries)
    while (this.inFlight.size >= this.opts.maxInFlight) await Promise.race(this.inFlight)
    this.rethrow()
    const upload = (async () => {
      try {
        await this.opts.beforeSave?.()
        await this.opts.backend.save({ type: 'data', name: toHex(id) }, bytes)
        this.packsStored++
        this.bytesStored += total
        await this.opts.onStored({ id, size: total, scheme: KEY_SCHEME_MASTER_V1, keyId: 0, blobs })
      } catch (e) {
        this.failure ??= e
      } finally {
        if (this.spare.length < this.opts.maxInFlight + 2) this.spare.push(buf)
      }
    })()
    this.inFlight.add(upload)
    void upload.finally(() => this.inFlight.delete(upload))
  }
}
