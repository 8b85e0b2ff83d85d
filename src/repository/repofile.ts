/**
 * Every structure stored in a repository, in one place: config, pack header, index file, snapshot
 * and tree. Each has a schema (src/codec/schema.ts); every decoded object is validated before use,
 * because a repository is untrusted input. The normative description is docs/FORMAT.md.
 */
import { decode, encode } from '../codec/index.js'
import { array, bool, bytes, int, literal, num, object, oneOf, optional, parse, str, tuple, type Infer, type Schema } from '../codec/schema.js'
import { ID_BYTES } from '../crypto/ids.js'

export const FORMAT_VERSION = 1

/**
 * The format version of the structures a protected repository adds: its config (which records the
 * protection) and the sealed release records of its locks. Version 1 repositories still open; a
 * program that knows only version 1 refuses a protected repository's config rather than delete in it.
 */
export const PROTECTED_FORMAT_VERSION = 2

const id32 = bytes({ length: ID_BYTES }, 'an id must be 32 bytes')
const u32 = int(0, 0xffffffff)
const u8 = int(0, 255)
const safeInt = int(0, Number.MAX_SAFE_INTEGER)
const smallStr = str(4096)

// ---- config -------------------------------------------------------------------------------------

export const CHUNKER_FAMILY = 'fastcdc-ronomon32-keyed'

/** The protection a protected repository's storage had when it was made (read back from the bucket). */
export const protectionSchema = object({
  versioning: literal('enabled'),
  objectLock: bool(),
  retention: optional(object({ mode: oneOf(['GOVERNANCE', 'COMPLIANCE']), days: int(1, 36500) })),
})
export type RepoProtection = Infer<typeof protectionSchema>

export const configSchema = object({
  v: oneOf([FORMAT_VERSION, PROTECTED_FORMAT_VERSION]),
  id: id32,
  created: smallStr,
  chunker: object({
    family: literal(CHUNKER_FAMILY),
    min: int(64),
    avg: int(128),
    max: int(undefined, 64 * 1024 * 1024),
  }),
  compression: oneOf(['auto', 'zstd', 'brotli', 'off']),
  packSize: int(64 * 1024, 1024 * 1024 * 1024),
  /** Present (with v 2) on a protected repository: its writers never delete nor overwrite. */
  protect: optional(protectionSchema),
})
export type RepoConfig = Infer<typeof configSchema>

// ---- pack header and index ------------------------------------------------------------------------

/** Blob types: file content chunks and directory listings. */
export const BlobType = { Data: 0, Tree: 1 } as const
export type BlobType = (typeof BlobType)[keyof typeof BlobType]
const blobType = oneOf([BlobType.Data, BlobType.Tree])

/** One blob in a pack header: [type, id, sealed length, raw length, codec]; offsets follow from order. */
const headerEntry = tuple([blobType, id32, u32, u32, u8])

export const packHeaderSchema = object({
  v: literal(FORMAT_VERSION),
  scheme: u8,
  keyId: u32,
  blobs: array(headerEntry, 10_000_000),
})
export type PackHeader = Infer<typeof packHeaderSchema>

/** One blob in an index file: [type, id, offset, sealed length, raw length, codec]. */
const indexEntry = tuple([blobType, id32, u32, u32, u32, u8])

export const indexFileSchema = object({
  v: literal(FORMAT_VERSION),
  supersedes: array(id32),
  packs: array(
    object({
      id: id32,
      size: safeInt,
      scheme: u8,
      keyId: u32,
      blobs: array(indexEntry),
    }),
  ),
})
export type IndexFile = Infer<typeof indexFileSchema>

// ---- snapshot -------------------------------------------------------------------------------------

export const summarySchema = object({
  filesNew: safeInt,
  filesChanged: safeInt,
  filesUnmodified: safeInt,
  dirsNew: safeInt,
  dirsChanged: safeInt,
  dirsUnmodified: safeInt,
  dataBlobsAdded: safeInt,
  treeBlobsAdded: safeInt,
  bytesAdded: safeInt,
  bytesStored: safeInt,
  totalFiles: safeInt,
  totalBytes: safeInt,
  durationMs: num(0),
})
export type SnapshotSummary = Infer<typeof summarySchema>

export const snapshotSchema = object({
  v: literal(FORMAT_VERSION),
  time: smallStr,
  host: smallStr,
  user: smallStr,
  paths: array(smallStr, 100_000),
  tags: array(smallStr, 10_000),
  tree: id32,
  parents: array(id32, 1024),
  excludes: array(smallStr, 100_000),
  program: smallStr,
  summary: optional(summarySchema),
  /** The time was given by the user (`backup --time`), not read from the clock when the backup ran. */
  timeGiven: optional(bool()),
})
export type SnapshotFile = Infer<typeof snapshotSchema>

// ---- tree -----------------------------------------------------------------------------------------

const timeSpec = tuple([int(), int(0, 999_999_999)])

export const nodeSchema = object({
  name: bytes(),
  type: oneOf(['file', 'dir', 'symlink']),
  mode: int(0, 0o177777),
  uid: safeInt,
  gid: safeInt,
  mtime: timeSpec,
  ctime: timeSpec,
  size: safeInt,
  inode: safeInt,
  dev: safeInt,
  target: optional(bytes()),
  content: optional(bytes({ multipleOf: ID_BYTES }, 'content must be a list of 32-byte ids')),
  subtree: optional(id32),
})
export type TreeNode = Infer<typeof nodeSchema>

export const treeSchema = object({
  v: literal(FORMAT_VERSION),
  nodes: array(nodeSchema),
})
export type Tree = Infer<typeof treeSchema>

// ---- helpers --------------------------------------------------------------------------------------

export function encodeObject(value: unknown): Buffer {
  return encode(value)
}

/** Decodes and validates; throws Error with a readable reason on any mismatch. */
export function decodeObject<T>(schema: Schema<T>, bytes: Uint8Array): T {
  return parse(schema, decode(bytes))
}

/** Checks the invariants of a tree that a schema cannot: kinds match fields, names sorted and unique. */
export function checkTree(tree: Tree): void {
  let prev: Uint8Array | undefined
  for (const n of tree.nodes) {
    if (prev && Buffer.compare(prev, n.name) >= 0) throw new Error('tree names are not strictly sorted (duplicate or reordered names)')
    prev = n.name
    if (n.type === 'file' && !n.content) throw new Error('a file node has no content list')
    if (n.type === 'dir' && !n.subtree) throw new Error('a dir node has no subtree')
    if (n.type === 'symlink' && !n.target) throw new Error('a symlink node has no target')
  }
}
