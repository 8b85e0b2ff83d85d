/**
 * Reading one file of a snapshot by its workspace-relative path, through the trees (no restore, no
 * disk): for the shrink alarm and the dashboard's history, preview, diff and search. A path is only
 * ever looked up by name in the stored trees, so it can never reach the file system.
 */
import type { Repository, Snapshot } from '../library.js'
import { InvalidOptionsError } from '../library.js'

/** One node of a stored tree, as the repository decodes it (see docs/FORMAT.md). */
export interface StoredNode {
  name: Uint8Array
  type: 'file' | 'dir' | 'symlink'
  mode: number
  mtime: [number, number]
  size: number
  target?: Uint8Array
  content?: Uint8Array
  subtree?: Uint8Array
}

const DATA_BLOB = 0 as const

/** Splits a workspace-relative path, refusing anything that is not plainly inside the workspace. */
export function pathParts(path: string): string[] {
  if (path === '' || path === '.') return []
  if (path.length > 4096 || path.includes('\0') || path.includes('\\') || path.startsWith('/')) throw new InvalidOptionsError(`not a workspace path: ${JSON.stringify(path.slice(0, 100))}`)
  const parts = path.replace(/\/+$/, '').split('/')
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new InvalidOptionsError(`not a workspace path: ${JSON.stringify(path.slice(0, 100))}`)
  return parts
}

/** The workspace folder's name inside a sync snapshot (the snapshot's one path). */
export function snapshotRoot(s: Pick<Snapshot, 'paths'>): string {
  const p = s.paths[0] ?? ''
  return p.split(/[\\/]/).filter(Boolean).at(-1) ?? ''
}

async function children(repo: Repository, treeId: Uint8Array): Promise<StoredNode[]> {
  return (await repo.loadTree(treeId)).nodes as StoredNode[]
}

/** The node at a workspace-relative path (`''` is the workspace folder itself), or undefined. */
export async function nodeAt(repo: Repository, snap: Snapshot, path: string): Promise<StoredNode | undefined> {
  const parts = [snapshotRoot(snap), ...pathParts(path)]
  let nodes = await children(repo, Buffer.from(snap.tree, 'hex'))
  let node: StoredNode | undefined
  for (const part of parts) {
    const name = Buffer.from(part)
    node = nodes.find((n) => Buffer.compare(n.name, name) === 0)
    if (!node) return undefined
    if (part !== parts.at(-1)) {
      if (node.type !== 'dir' || !node.subtree) return undefined
      nodes = await children(repo, node.subtree)
    }
  }
  return node
}

/** The entries of a folder node, in name order. */
export async function folderEntries(repo: Repository, node: StoredNode): Promise<StoredNode[]> {
  if (node.type !== 'dir' || !node.subtree) return []
  return children(repo, node.subtree)
}

/** A file node's bytes, refusing files larger than `maxBytes`. */
export async function fileBytes(repo: Repository, node: StoredNode, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
  if (node.type !== 'file') throw new InvalidOptionsError('not a file')
  if (node.size > maxBytes) throw new InvalidOptionsError(`the file is ${node.size} bytes, more than ${maxBytes} that can be read here; restore it instead`)
  const content = node.content ?? new Uint8Array()
  const parts: Uint8Array[] = []
  for (let i = 0; i < content.length; i += 32) parts.push(await repo.loadBlob(DATA_BLOB, content.subarray(i, i + 32)))
  return Buffer.concat(parts)
}

/** What names one version of a file's content: its blob ids. */
export function contentKey(node: StoredNode): string {
  return Buffer.from(node.content ?? new Uint8Array()).toString('hex')
}

/** The text of bytes that are UTF-8 without NUL, or undefined for binary content. */
export function asText(bytes: Uint8Array): string | undefined {
  if (bytes.subarray(0, 8192).includes(0)) return undefined
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return undefined
  }
}

export function lineCount(text: string): number {
  if (text === '') return 0
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
}
