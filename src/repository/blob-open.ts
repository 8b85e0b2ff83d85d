import { Codec, decompress, decompressInto } from '../compression/index.js'
import { blobId } from '../crypto/ids.js'
import { AuthenticationFailed, BLOB_OVERHEAD, openBlob, openBlobInto } from '../crypto/seal.js'

/**
 * A buffer for a compressed blob's decrypted (still compressed) bytes on their way to decompression;
 * opening is synchronous, so one per thread serves every call. Kept up to 8 MiB.
 */
export class CompressedScratch {
  private buf = Buffer.alloc(0)
  take(n: number): Buffer {
    if (this.buf.length >= n) return this.buf
    const buf = Buffer.allocUnsafeSlow(n)
    if (n <= 8 * 1024 * 1024) this.buf = buf
    return buf
  }
}

/**
 * Opens one sealed blob: authenticates and decrypts it, decompresses it, checks its id (unless
 * `verifyId` is false: see RestoreOptions.verifyIds); throws AuthenticationFailed (or the
 * decompressor's error) when any of that fails, or when the plaintext is not `rawLength` bytes. With
 * `out`, nothing is allocated for the plaintext where it fits there: an uncompressed blob is
 * decrypted into it (it needs the sealed length less BLOB_OVERHEAD), a compressed one is decrypted
 * into `scratch` and decompressed into it (it needs `rawLength`); the result is then a view of `out`.
 * Used by the repository on its own thread and by the restore workers on theirs.
 */
export function openSealedBlob(
  keys: { encryption: Uint8Array; blobId: Uint8Array },
  id: Uint8Array,
  sealed: Uint8Array,
  rawLength: number,
  codec: number,
  scratch: CompressedScratch,
  out?: Uint8Array,
  verifyId = true,
): Uint8Array {
  const body = Math.max(0, sealed.length - BLOB_OVERHEAD)
  let plain: Uint8Array
  if (codec === Codec.None) plain = out && out.length >= body ? openBlobInto(keys.encryption, id, sealed, out) : openBlob(keys.encryption, id, sealed)
  else {
    const opened = out ? openBlobInto(keys.encryption, id, sealed, scratch.take(body)) : openBlob(keys.encryption, id, sealed)
    plain = out && out.length >= rawLength ? decompressInto(codec, opened, rawLength, out) : decompress(codec, opened, rawLength)
  }
  if (plain.length !== rawLength) throw new AuthenticationFailed(`opened to ${plain.length} bytes, expected ${rawLength}`)
  if (verifyId && !blobId(keys.blobId, plain).equals(id)) throw new AuthenticationFailed('content does not match its id')
  return plain
}
