/**
 * Every structure stored in a repository, in one place: config, pack header, index file, snapshot
 * and tree. Each has a zod schema; every decoded object is validated before use, because a
 * repository is untrusted input. The normative description is docs/FORMAT.md.
 */
import { z } from 'zod'

/** Any byte array (typed as the ArrayBufferLike-backed Uint8Array that Buffers are). */
const bytes = () => z.custom<Uint8Array>((v): boolean => v instanceof Uint8Array, 'must be bytes')
import { decode, encode } from '../codec/index.js'
import { ID_BYTES } from '../crypto/ids.js'

export const FORMAT_VERSION = 1

const id32 = bytes().refine((b) => b.length === ID_BYTES, 'an id must be 32 bytes')
const u32 = z.number().int().min(0).max(0xffffffff)
const safeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const smallStr = z.string().max(4096)

// ---- config -------------------------------------------------------------------------------------

export const CHUNKER_FAMILY = 'fastcdc-ronomon32-keyed'

export const configSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  id: id32,
  created: smallStr,
  chunker: z.object({
    family: z.literal(CHUNKER_FAMILY),
    min: z.number().int().min(64),
    avg: z.number().int().min(128),
    max: z.number().int().max(64 * 1024 * 1024),
  }),
  compression: z.enum(['auto', 'zstd', 'brotli', 'off']),
  packSize: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024),
})
export type RepoConfig = z.infer<typeof configSchema>

// ---- pack header and index ------------------------------------------------------------------------

/** Blob types: file content chunks and directory listings. */
export const BlobType = { Data: 0, Tree: 1 } as const
export type BlobType = (typeof BlobType)[keyof typeof BlobType]
const blobType = z.union([z.literal(0), z.literal(1)])

/** One blob in a pack header: [type, id, sealed length, raw length, codec]; offsets follow from order. */
const headerEntry = z.tuple([blobType, id32, u32, u32, z.number().int().min(0).max(255)])

export const packHeaderSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  scheme: z.number().int().min(0).max(255),
  keyId: u32,
  blobs: z.array(headerEntry).max(10_000_000),
})
export type PackHeader = z.infer<typeof packHeaderSchema>

/** One blob in an index file: [type, id, offset, sealed length, raw length, codec]. */
const indexEntry = z.tuple([blobType, id32, u32, u32, u32, z.number().int().min(0).max(255)])

export const indexFileSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  supersedes: z.array(id32),
  packs: z.array(
    z.object({
      id: id32,
      size: safeInt,
      scheme: z.number().int().min(0).max(255),
      keyId: u32,
      blobs: z.array(indexEntry),
    }),
  ),
})
export type IndexFile = z.infer<typeof indexFileSchema>

// ---- snapshot -------------------------------------------------------------------------------------

export const summarySchema = z.object({
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
  durationMs: z.number().min(0),
})
export type SnapshotSummary = z.infer<typeof summarySchema>

export const snapshotSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  time: smallStr,
  host: smallStr,
  user: smallStr,
  paths: z.array(smallStr).max(100_000),
  tags: z.array(smallStr).max(10_000),
  tree: id32,
  parents: z.array(id32).max(1024),
  excludes: z.array(smallStr).max(100_000),
  program: smallStr,
  summary: summarySchema.optional(),
})
export type SnapshotFile = z.infer<typeof snapshotSchema>

// ---- tree -----------------------------------------------------------------------------------------

const timeSpec = z.tuple([z.number().int(), z.number().int().min(0).max(999_999_999)])

export const nodeSchema = z.object({
  name: bytes(),
  type: z.enum(['file', 'dir', 'symlink']),
  mode: z.number().int().min(0).max(0o177777),
  uid: safeInt,
  gid: safeInt,
  mtime: timeSpec,
  ctime: timeSpec,
  size: safeInt,
  inode: safeInt,
  dev: safeInt,
  target: bytes().optional(),
  content: z
    .instanceof(Uint8Array)
    .refine((b) => b.length % ID_BYTES === 0, 'content must be a list of 32-byte ids')
    .optional(),
  subtree: id32.optional(),
})
export type TreeNode = z.infer<typeof nodeSchema>

export const treeSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  nodes: z.array(nodeSchema),
})
export type Tree = z.infer<typeof treeSchema>

// ---- helpers --------------------------------------------------------------------------------------

export function encodeObject(value: unknown): Buffer {
  return encode(value)
}

/** Decodes and validates; throws Error with a readable reason on any mismatch. */
export function decodeObject<T>(schema: z.ZodType<T>, bytes: Uint8Array): T {
  const r = schema.safeParse(decode(bytes))
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new Error(`${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'schema mismatch'}`)
  }
  return r.data
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
