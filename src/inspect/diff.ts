import { fromHex } from '../crypto/ids.js'
import type { TreeNode } from '../repository/repofile.js'
import type { Repository } from '../repository/repository.js'
import { checkTreeSize } from '../repository/tree-walk.js'

export interface SnapshotDiff {
  from: string
  to: string
  added: string[]
  removed: string[]
  /** Paths whose content, type, mode or link target changed. */
  modified: string[]
}

function same(a: TreeNode, b: TreeNode): boolean {
  if (a.type !== b.type || a.mode !== b.mode) return false
  if (a.type === 'file') return a.size === b.size && Buffer.compare(a.content!, b.content!) === 0
  if (a.type === 'symlink') return Buffer.compare(a.target!, b.target!) === 0
  return true
}

/**
 * Paths added, removed and modified between two snapshots; identical subtrees are skipped by id.
 * Either tree expanding to more than the repository's `maxTreeEntries` is refused first.
 */
export async function diffSnapshots(repo: Repository, fromRef: string, toRef: string): Promise<SnapshotDiff> {
  const a = await repo.findSnapshot(fromRef)
  const b = await repo.findSnapshot(toRef)
  await checkTreeSize(repo, fromHex(a.tree))
  await checkTreeSize(repo, fromHex(b.tree))
  const out: SnapshotDiff = { from: a.id, to: b.id, added: [], removed: [], modified: [] }
  const all = async (treeId: Uint8Array, prefix: string, into: string[]) => {
    for (const n of (await repo.loadTree(treeId)).nodes) {
      const p = `${prefix}${Buffer.from(n.name).toString()}`
      into.push(n.type === 'dir' ? `${p}/` : p)
      if (n.type === 'dir') await all(n.subtree!, `${p}/`, into)
    }
  }
  const walk = async (x: Uint8Array, y: Uint8Array, prefix: string): Promise<void> => {
    if (Buffer.compare(x, y) === 0) return
    const xs = new Map((await repo.loadTree(x)).nodes.map((n) => [Buffer.from(n.name).toString('latin1'), n]))
    const ys = new Map((await repo.loadTree(y)).nodes.map((n) => [Buffer.from(n.name).toString('latin1'), n]))
    const names = [...new Set([...xs.keys(), ...ys.keys()])].sort()
    for (const k of names) {
      const m = xs.get(k)
      const n = ys.get(k)
      const p = `${prefix}${Buffer.from(k, 'latin1').toString()}`
      if (m && !n) {
        out.removed.push(m.type === 'dir' ? `${p}/` : p)
        if (m.type === 'dir') await all(m.subtree!, `${p}/`, out.removed)
      } else if (!m && n) {
        out.added.push(n.type === 'dir' ? `${p}/` : p)
        if (n.type === 'dir') await all(n.subtree!, `${p}/`, out.added)
      } else if (m && n) {
        if (m.type === 'dir' && n.type === 'dir') await walk(m.subtree!, n.subtree!, `${p}/`)
        else if (!same(m, n)) out.modified.push(p)
      }
    }
  }
  await walk(fromHex(a.tree), fromHex(b.tree), '')
  return out
}
