import { closeSync, constants, fsync, mkdirSync, openSync, promises as fsp, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { promisify } from 'node:util'
import type { Backend } from '../backend/backend.js'
import { BackendError, SessionSyncError } from '../errors/index.js'
import { packId, toHex } from '../crypto/ids.js'
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

/** A pack being filled: in a memory buffer, or (when the backend can store files) a staging file. */
class OpenPack {
  used = 0
  readonly entries: PackHeader['blobs'] = []
  /** Staging-file mode: the file (open), and the first write that failed. */
  file?: { path: string; fd: number; error?: unknown }
  constructor(public buf?: Buffer) {}
}

/**
 * Collects sealed blobs into packs: blobs back to back, then the sealed header, then its length
 * (u32 LE). Data and tree blobs go to separate packs. A full pack is uploaded in the background;
 * add() waits only when `maxInFlight` uploads are already running.
 *
 * Where the backend offers staging files (the local backend), a pack is written to one as its blobs
 * arrive, then stored by a hard link: no pack is ever held in memory, which is
 * most of a backup's memory otherwise. Other backends get the pack from a reused memory buffer.
 */
/**
 * Room kept after a pack's blobs for its header, so finishing a pack needs no larger buffer and no
 * copy of the pack (a copy of 16 MiB held the event loop for tens of ms). A header takes about 50
 * bytes a blob: 256 KiB hold 5,000 blobs, a pack of 16 MiB of 3 KiB blobs (small notes, compressed).
 */
const HEADER_ROOM = 256 * 1024

export class Packer {
  private readonly open = new Map<BlobType, OpenPack>()
  private readonly inFlight = new Set<Promise<void>>()
  private readonly spare: Buffer[] = []
  private readonly staged: boolean
  /** Staging files being removed (awaited by flush and discard). */
  private readonly dropping = new Set<Promise<void>>()
  private failure: unknown
  packsStored = 0
  bytesStored = 0

  constructor(private readonly opts: PackerOptions) {
    this.staged = !!(opts.backend.stagingPath && opts.backend.saveFile)
  }

  /**
   * Adds one sealed blob. Safe to call concurrently: the open packs change only synchronously, and
   * the wait for an upload slot comes after the blob is in place. The blob is written (or copied)
   * before the first await, so the caller may reuse `sealed` as soon as this is called.
   */
  async add(type: BlobType, id: Buffer, sealed: Uint8Array, rawLength: number, codec: number): Promise<void> {
    this.rethrow()
    const { pack, full } = this.packFor(type, sealed.length)
    const at = pack.used
    pack.entries.push([type, id, sealed.length, rawLength, codec])
    pack.used += sealed.length
    this.put(pack, sealed, at)
    if (full) await this.finish(full)
  }

  /**
   * Adds blobs sealed back to back in `run`, in order: one write per pack they land in instead of one
   * per blob. `run` may be reused once this returns.
   */
  async addRun(type: BlobType, blobs: ReadonlyArray<{ id: Buffer; length: number; rawLength: number; codec: number }>, run: Uint8Array): Promise<void> {
    let start = 0
    let i = 0
    while (i < blobs.length) {
      this.rethrow()
      const { pack, full } = this.packFor(type, blobs[i].length)
      // The first blob always goes in (packFor made room for it); the rest while the pack has room.
      const at = pack.used
      do {
        const b = blobs[i++]
        pack.entries.push([type, b.id, b.length, b.rawLength, b.codec])
        pack.used += b.length
      } while (i < blobs.length && pack.used + blobs[i].length <= this.opts.packSize)
      this.put(pack, run.subarray(start, start + pack.used - at), at)
      start += pack.used - at
      if (full) await this.finish(full)
    }
  }

  /** The open pack of `type` with room for `length` more bytes, and the full one it replaced, if any. */
  private packFor(type: BlobType, length: number): { pack: OpenPack; full?: OpenPack } {
    const open = this.open.get(type)
    if (open && (open.used === 0 || open.used + length <= this.opts.packSize)) return { pack: open }
    const pack = this.staged ? this.stagedPack() : new OpenPack(this.takeBuffer(Math.max(this.opts.packSize, length) + HEADER_ROOM))
    this.open.set(type, pack)
    return { pack, full: open }
  }

  /**
   * Puts `bytes` at `at` in the pack: into its buffer, or written to its staging file at once, on this
   * thread. Through the libuv thread pool, each write kept its buffer (a chunk worker's window) in
   * use until a pool thread got to it, and the pool's threads competed with the chunk workers for the
   * cores: the 1 GB mixed set's first backup took 3.53–4.89 s and 201–207 MiB that way, 3.35 s and
   * 189–191 MiB this way (Node 24, raw key, 3 alternating runs; the memory folder and the 1% edits
   * within the noise). A failed write fails the pack: it is never stored.
   */
  private put(pack: OpenPack, bytes: Uint8Array, at: number): void {
    if (!pack.file) {
      pack.buf!.set(bytes, at)
      return
    }
    const f = pack.file
    if (f.error !== undefined) throw stagingError(f.error)
    try {
      writeAll(f.fd, bytes, at)
    } catch (e) {
      f.error = e
      throw stagingError(e)
    }
  }

  private stagedPack(): OpenPack {
    const pack = new OpenPack()
    const path = this.opts.backend.stagingPath!()
    let fd: number
    try {
      mkdirSync(dirname(path), { recursive: true })
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600)
    } catch (e) {
      throw stagingError(e)
    }
    pack.file = { path, fd }
    return pack
  }

  /** Seals and uploads every open pack and waits for all uploads. */
  async flush(): Promise<void> {
    for (const [type, pack] of [...this.open]) {
      this.open.delete(type)
      await this.finish(pack)
    }
    await Promise.allSettled([...this.inFlight])
    await Promise.allSettled([...this.dropping])
    this.rethrow()
  }

  /** Drops open packs without storing them (after an abort or error). */
  async discard(): Promise<void> {
    const open = [...this.open.values()]
    this.open.clear()
    await Promise.allSettled([...this.inFlight])
    for (const pack of open) if (pack.file) await dropStaged(pack.file)
    await Promise.allSettled([...this.dropping])
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
    if (pack.file) return this.finishStaged(pack, pack.file)
    if (pack.entries.length === 0) return
    const header = this.header(pack)
    let buf = pack.buf!
    const total = pack.used + header.length + 4
    if (total > buf.length) {
      buf = Buffer.allocUnsafe(total)
      pack.buf!.copy(buf, 0, 0, pack.used)
    }
    header.copy(buf, pack.used)
    buf.writeUInt32LE(header.length, pack.used + header.length)
    const bytes = buf.subarray(0, total)
    const id = packId(bytes.subarray(pack.used))
    await this.upload(pack, id, total, (name) => this.opts.backend.save({ type: 'data', name }, bytes), () => {
      if (this.spare.length < this.opts.maxInFlight + 2) this.spare.push(buf)
    })
  }

  private header(pack: OpenPack): Buffer {
    return sealFile(
      this.opts.encryptionKey,
      'pack-header',
      encodeObject({ v: FORMAT_VERSION, scheme: KEY_SCHEME_MASTER_V1, keyId: 0, blobs: pack.entries } satisfies PackHeader),
    )
  }

  private async finishStaged(pack: OpenPack, file: NonNullable<OpenPack['file']>): Promise<void> {
    if (pack.entries.length === 0) return dropStaged(file)
    const header = this.header(pack)
    const trailer = Buffer.allocUnsafe(header.length + 4)
    header.copy(trailer)
    trailer.writeUInt32LE(header.length, header.length)
    const total = pack.used + trailer.length
    const id = packId(trailer)
    let sealedFile: Promise<void> | undefined
    const complete = () =>
      (sealedFile ??= (async () => {
        if (file.error !== undefined) throw stagingError(file.error)
        writeAll(file.fd, trailer, pack.used)
        await fsyncAsync(file.fd) // on the thread pool: a pack's fsync can take tens of ms
        closeSync(file.fd)
        file.fd = -1
      })().catch((e: unknown) => {
        throw stagingError(e)
      }))
    await this.upload(
      pack,
      id,
      total,
      async (name) => {
        await complete()
        await this.opts.backend.saveFile!({ type: 'data', name }, file.path)
      },
      () => {
        const dropped = dropStaged(file)
        this.dropping.add(dropped)
        void dropped.finally(() => this.dropping.delete(dropped))
      },
    )
  }

  /** Waits for an upload slot, then stores the pack in the background. */
  private async upload(pack: OpenPack, id: Buffer, total: number, store: (name: string) => Promise<void>, done: () => void): Promise<void> {
    const blobs = locateBlobs(pack.entries)
    while (this.inFlight.size >= this.opts.maxInFlight) await Promise.race(this.inFlight)
    if (this.failure !== undefined) {
      done() // an earlier pack failed: this one is not stored either
      throw this.failure
    }
    const upload = (async () => {
      try {
        await this.opts.beforeSave?.()
        await store(toHex(id))
        this.packsStored++
        this.bytesStored += total
        await this.opts.onStored({ id, size: total, scheme: KEY_SCHEME_MASTER_V1, keyId: 0, blobs })
      } catch (e) {
        this.failure ??= e
      } finally {
        done()
      }
    })()
    this.inFlight.add(upload)
    void upload.finally(() => this.inFlight.delete(upload))
  }
}

/** Errors of a staging file (a full disk, say) reported like any failed save to storage. */
function stagingError(e: unknown): Error {
  return e instanceof SessionSyncError ? e : new BackendError('save', 'a new pack (its staging file)', e)
}

const fsyncAsync = promisify(fsync)

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done)
}

/** Closes and removes a staging file (best effort: a leftover is removed by removeIncomplete). */
async function dropStaged(file: NonNullable<OpenPack['file']>): Promise<void> {
  if (file.fd >= 0) {
    try {
      closeSync(file.fd)
    } catch {
      // closed already
    }
    file.fd = -1
  }
  await fsp.unlink(file.path).catch(() => {})
}
