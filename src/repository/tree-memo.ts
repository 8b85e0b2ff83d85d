import { ID_BYTES } from '../crypto/ids.js'
import { FileSealer } from '../crypto/seal.js'
import type { OwnFileWriter } from './cache.js'

/**
 * The tree memo: the trees of the last snapshot a backup on this machine wrote, their plaintexts in
 * one file of the local cache, sealed under the repository's key (`Repository.treeMemoWriter`).
 *
 * A backup with a parent loads the parent's tree of every folder it walks. From the packs that is
 * a per-blob key, a cipher and a decompression for each tree: on the benchmark's notes corpus (1,002
 * trees) 110–125 ms of a fresh process, against 40–50 ms for decoding them alone. From the memo it
 * is one decryption of one file, then each tree's id recomputed from its bytes (so a memo can only
 * give a tree its id names; one that does not match is dropped whole). A tree is taken from it only
 * when the index still names it, as it would be read from a pack.
 *
 * Plaintext layout: `MAGIC ‖ (id (32 bytes) ‖ length (u32 LE) ‖ tree bytes)*`.
 */
const MAGIC = Buffer.from('tree-memo/2\n')
/** The kind a memo is sealed as (the associated data of its encryption). */
export const TREE_MEMO_KIND = 'tree-memo'
/** Trees beyond this many bytes in all are not remembered (the notes corpus's 1,002 folders and 17,000 entries: 2.6 MB). */
export const TREE_MEMO_MAX_BYTES = 16 * 1024 * 1024

/** A memo's plaintext as parts: for tests, and what TreeMemoWriter writes. */
export function* treeMemoParts(trees: Iterable<{ id: Uint8Array; plain: Uint8Array }>): Generator<Uint8Array> {
  yield MAGIC
  for (const t of trees) yield* entryParts(t.id, t.plain)
}

function entryParts(id: Uint8Array, plain: Uint8Array): Uint8Array[] {
  const head = Buffer.allocUnsafe(ID_BYTES + 4)
  head.set(id, 0)
  head.writeUInt32LE(plain.length, ID_BYTES)
  return [head, plain]
}

/**
 * Writes a memo as a backup stores its trees, so none is kept for it: sealed part by part into a
 * file of the cache that takes its place only at `commit`. Past TREE_MEMO_MAX_BYTES, or after a
 * failure, it gives up (the memo stays as it was).
 */
export class TreeMemoWriter {
  private sealer?: FileSealer
  private bytes = 0
  private readonly seen = new Set<string>()
  /** The trees taken from the parent unchanged, added at the end from what the process loaded (see Repository.finishTreeMemo). */
  readonly reused: Uint8Array[] = []

  constructor(
    private file: OwnFileWriter | undefined,
    encryptionKey: Uint8Array,
  ) {
    const f = file
    if (!f) return
    this.sealer = new FileSealer(encryptionKey, TREE_MEMO_KIND, (b) => f.write(b))
    this.sealer.push(MAGIC)
  }

  /** Whether it is still being written (not given up, failed or committed). */
  get open(): boolean {
    return this.file?.ok === true
  }

  /** Whether it gave up because the trees came to more than TREE_MEMO_MAX_BYTES. */
  tooLarge = false

  /** Adds one tree (once; `key` is its id in hex). */
  add(key: string, id: Uint8Array, plain: Uint8Array): void {
    if (!this.open || this.seen.has(key)) return
    if ((this.bytes += plain.length) > TREE_MEMO_MAX_BYTES) {
      this.tooLarge = true
      return this.abort()
    }
    this.seen.add(key)
    for (const part of entryParts(id, plain)) this.sealer!.push(part)
  }

  /** Notes a tree the backup took from its parent unchanged (an id of its own, not a view). */
  reuse(id: Uint8Array): void {
    if (this.open) this.reused.push(id)
  }

  has(key: string): boolean {
    return this.seen.has(key)
  }

  /** Puts the memo in place; false when it could not be. */
  commit(): boolean {
    const file = this.file
    if (!file) return false
    this.file = undefined
    this.sealer!.end()
    return file.commit()
  }

  abort(): void {
    this.file?.abort()
    this.file = undefined
  }
}

/** A memo read back: each tree's plaintext as a view of the one buffer, by its id (hex). */
export class TreeMemo {
  private constructor(private readonly at: Map<string, Uint8Array>) {}

  /** Reads a memo's plaintext; throws when it is not one (cut short, another layout). */
  static parse(plain: Buffer): TreeMemo {
    if (plain.length < MAGIC.length || !plain.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a tree memo')
    const at = new Map<string, Uint8Array>()
    let p = MAGIC.length
    while (p < plain.length) {
      if (p + ID_BYTES + 4 > plain.length) throw new Error('tree memo cut short')
      const id = plain.toString('hex', p, p + ID_BYTES)
      const length = plain.readUInt32LE(p + ID_BYTES)
      p += ID_BYTES + 4
      if (p + length > plain.length) throw new Error('tree memo cut short')
      at.set(id, plain.subarray(p, p + length))
      p += length
    }
    return new TreeMemo(at)
  }

  /** The plaintext the memo holds for a tree id (hex), unchecked: the caller checks it against the id. */
  get(id: string): Uint8Array | undefined {
    return this.at.get(id)
  }
}
