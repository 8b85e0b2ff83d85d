import { compress, type Codec } from '../compression/index.js'
import { sealBlobInto } from '../crypto/seal.js'

/**
 * Compresses (where asked, and where it pays) and seals a batch's blobs one after another into
 * `out`, as the sealing worker and, when it is behind, the calling thread do (see SealPool). Per
 * blob of `blobs` ([offset into `data`, length, 1 to try compressing or 0]; its id the 32 bytes at
 * its place in `ids`): [sealed length, codec]. `onBlob(length)` after each one.
 */
export function sealBatch(
  codec: Codec,
  encryptionKey: Uint8Array,
  data: Uint8Array,
  ids: Uint8Array,
  blobs: ReadonlyArray<readonly [number, number, number]>,
  out: Uint8Array,
  onBlob?: (length: number) => void,
): Array<[number, number]> {
  const sealed: Array<[number, number]> = []
  let at = 0
  for (let i = 0; i < blobs.length; i++) {
    const [offset, length, tryCompress] = blobs[i]
    const plain = data.subarray(offset, offset + length)
    // `packed` is a view of this thread's compression buffer: sealed before the next compress().
    const packed = tryCompress ? compress(codec, plain) : undefined
    const n = sealBlobInto(encryptionKey, ids.subarray(i * 32, i * 32 + 32), packed ?? plain, out, at)
    sealed.push([n, packed ? codec : 0])
    at += n
    onBlob?.(length)
  }
  return sealed
}
