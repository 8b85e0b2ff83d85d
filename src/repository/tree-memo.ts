import { ID_BYTES } from '../crypto/ids.js'

/**
 * The tree memo: the trees of the last snapshot a backup on this machine wrote, their plaintexts in
 * one file of the local cache, sealed whole under the repository's key (`Repository.rememberTrees`).
 *
 * A backup with a parent loads the parent's tree of every folder it walks. From the packs that is
 * a per-blob key, a cipher and a decompression for each tree: on the benchmark's notes corpus (1,002
 * trees) 110–125 ms of a fresh process, against 40–50 ms for decoding them alone. From the memo it
 * is one decryption of one file, then each tree's id recomputed from its bytes (so a memo can only
 * give a tree its id names; one that does not match is dropped whole). A tree is taken from it only
 * when the index still names it, as it would be read from a pack.
 *
 * Plaintext layout: `MAGIC ‖ count (u32 LE) ‖ (id (32 bytes) ‖ length (u32 LE) ‖ tree bytes) × count`.
 */
const MAGIC = Buffer.from('tree-memo/1\n')
/**
 * Trees beyond this many bytes in all are not remembered: a backup keeps the trees it writes until
 * its end for the memo (the notes corpus's 1,002 folders and 17,000 entries: 2.6 MB).
 */
export const TREE_MEMO_MAX_BYTES = 16 * 1024 * 1024

/** The memo's plaintext for these trees (by id, each once), in parts: nothing is copied. */
export function* treeMemoParts(trees: Map<string, { id: Uint8Array; plain: Uint8Array }>): Generator<Uint8Array> {
  const head = Buffer.allocUnsafe(MAGIC.length + 4)
  MAGIC.copy(head, 0)
  head.writeUInt32LE(trees.size, MAGIC.length)
  yield head
  for (const t of trees.values()) {
    const entry = Buffer.allocUnsafe(ID_BYTES + 4)
    entry.set(t.id, 0)
    entry.writeUInt32LE(t.plain.length, ID_BYTES)
    yield entry
    yield t.plain
  }
}

/** A memo read back: each tree's plaintext as a view of the one buffer, by its id (hex). */
export class TreeMemo {
  private constructor(private readonly at: Map<string, Uint8Array>) {}

  /** Reads a memo's plaintext; throws when it is not one (cut short, another layout). */
  static parse(plain: Buffer): TreeMemo {
    if (plain.length < MAGIC.length + 4 || !plain.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a tree memo')
    const count = plain.readUInt32LE(MAGIC.length)
    const at = new Map<string, Uint8Array>()
    let p = MAGIC.length + 4
    for (let i = 0; i < count; i++) {
      if (p + ID_BYTES + 4 > plain.length) throw new Error('tree memo cut short')
      const id = plain.toString('hex', p, p + ID_BYTES)
      const length = plain.readUInt32LE(p + ID_BYTES)
      p += ID_BYTES + 4
      if (p + length > plain.length) throw new Error('tree memo cut short')
      at.set(id, plain.subarray(p, p + length))
      p += length
    }
    if (p !== plain.length) throw new Error('tree memo has bytes past its last tree')
    return new TreeMemo(at)
  }

  /** The plaintext the memo holds for a tree id (hex), unchecked: the caller checks it against the id. */
  get(id: string): Uint8Array | undefined {
    return this.at.get(id)
  }

  get size(): number {
    return this.at.size
  }
}
