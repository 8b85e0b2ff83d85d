import { ID_BYTES } from '../crypto/ids.js'
import type { TreeNode } from './repofile.js'
import type { Repository } from './repository.js'

/** One entry of a snapshot's file tree, as `ls` reports it. */
export interface Entry {
  /** Path inside the snapshot, `/`-separated (names that are not UTF-8 are shown lossily). */
  path: string
  type: 'file' | 'dir' | 'symlink'
  size: number
  mode: number
  mtime: Date
  uid: number
  gid: number
  /** Symlink target. */
  target?: string
  /** Number of content blobs (files). */
  blobs?: number
}

export function toEntry(path: string, n: TreeNode): Entry {
  const e: Entry = { path, type: n.type, size: n.size, mode: n.mode, mtime: new Date(n.mtime[0] * 1000 + Math.floor(n.mtime[1] / 1e6)), uid: n.uid, gid: n.gid }
  if (n.target) e.target = Buffer.from(n.target).toString()
  if (n.content) e.blobs = n.content.length / ID_BYTES
  return e
}

/** Walks a tree depth-first in name order, yielding every node below it with its path. */
export async function* walkTree(repo: Repository, treeId: Uint8Array, prefix = '', signal?: AbortSignal): AsyncGenerator<{ path: string; node: TreeNode }> {
  if (signal?.aborted) return
  const tree = await repo.loadTree(treeId)
  for (const node of tree.nodes) {
    const path = prefix === '' ? Buffer.from(node.name).toString() : `${prefix}/${Buffer.from(node.name).toString()}`
    yield { path, node }
    if (node.type === 'dir' && node.subtree) yield* walkTree(repo, node.subtree, path, signal)
  }
}
