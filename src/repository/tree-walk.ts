import { ID_BYTES, toHex } from '../crypto/ids.js'
import { CorruptObjectError, throwIfAborted, TreeTooLargeError } from '../errors/index.js'
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

/**
 * Walks a tree depth-first in name order, yielding every node below it with its path. Refuses first
 * (TreeTooLargeError) a tree that expands to more than the repository's `maxTreeEntries`.
 */
export async function* walkTree(repo: Repository, treeId: Uint8Array, prefix = '', signal?: AbortSignal): AsyncGenerator<{ path: string; node: TreeNode }> {
  await checkTreeSize(repo, treeId, signal)
  yield* walkNodes(repo, treeId, prefix, signal)
}

/** The walk itself, with its own stack: nested generators would overflow the call stack a few thousand levels down. */
async function* walkNodes(repo: Repository, treeId: Uint8Array, prefix: string, signal?: AbortSignal): AsyncGenerator<{ path: string; node: TreeNode }> {
  const stack: Array<{ nodes: TreeNode[]; next: number; prefix: string }> = []
  if (signal?.aborted) return
  stack.push({ nodes: (await repo.loadTree(treeId)).nodes, next: 0, prefix })
  while (stack.length > 0) {
    const top = stack[stack.length - 1]
    if (top.next >= top.nodes.length) {
      stack.pop()
      continue
    }
    const node = top.nodes[top.next++]
    const path = top.prefix === '' ? Buffer.from(node.name).toString() : `${top.prefix}/${Buffer.from(node.name).toString()}`
    yield { path, node }
    if (node.type === 'dir' && node.subtree) {
      if (signal?.aborted) return
      stack.push({ nodes: (await repo.loadTree(node.subtree)).nodes, next: 0, prefix: path })
    }
  }
}

/**
 * The number of entries a tree expands to (every node below it, a subtree counted as often as it is
 * referenced), or TreeTooLargeError as soon as it exceeds the repository's `maxTreeEntries` or nests
 * deeper than its `maxTreeDepth`. Trees are content-addressed, so a
 * folder may reference one subtree many times: legitimate a few times (identical folders), but a
 * forged DAG that does so on every level expands exponentially from a few small blobs. Counted like
 * check walks: each distinct tree is read once and its count kept by id, so the time and memory are
 * those of the distinct trees, never of the expansion.
 */
export async function checkTreeSize(repo: Repository, root: Uint8Array, signal?: AbortSignal): Promise<number> {
  const { maxTreeEntries: limit, maxTreeDepth } = repo.limits
  const counts = new Map<string, number>()
  /** Levels of trees from each counted tree down (1: no subfolders). */
  const depths = new Map<string, number>()
  const rootHex = toHex(root)
  interface Frame {
    id: Uint8Array
    hex: string
    own?: number
    children?: string[]
  }
  const stack: Frame[] = [{ id: root, hex: rootHex }]
  /** The trees being counted: the path from the root to the top of the stack. */
  const open = new Set<string>()
  while (stack.length > 0) {
    throwIfAborted(signal)
    const top = stack[stack.length - 1]
    if (!top.children && counts.has(top.hex)) {
      stack.pop() // pushed twice (by two parents) and counted meanwhile
      continue
    }
    if (!top.children) {
      open.add(top.hex)
      if (open.size > maxTreeDepth) throw new TreeTooLargeError(rootHex, maxTreeDepth, 'depth')
      // The walk after this loads every tree again: kept decoded for it.
      const tree = await repo.loadTree(top.id, undefined, { again: true })
      top.own = tree.nodes.length
      top.children = []
      const pushed = new Set<string>()
      for (const n of tree.nodes) {
        if (n.type !== 'dir' || !n.subtree) continue
        const hex = toHex(n.subtree)
        top.children.push(hex)
        if (counts.has(hex) || pushed.has(hex)) continue
        // Impossible with content addressing (a tree would hold its own hash); guarded all the same.
        if (open.has(hex)) throw new CorruptObjectError('tree blob', top.hex, 'it contains itself')
        pushed.add(hex)
        stack.push({ id: n.subtree, hex })
      }
      continue
    }
    let sum = top.own!
    let depth = 1
    for (const c of top.children) {
      sum += counts.get(c)!
      depth = Math.max(depth, 1 + depths.get(c)!)
    }
    if (sum > limit) throw new TreeTooLargeError(rootHex, limit)
    // open.size - 1 levels above this tree on the path from the root.
    if (open.size - 1 + depth > maxTreeDepth) throw new TreeTooLargeError(rootHex, maxTreeDepth, 'depth')
    counts.set(top.hex, sum)
    depths.set(top.hex, depth)
    open.delete(top.hex)
    stack.pop()
  }
  return counts.get(rootHex)!
}
