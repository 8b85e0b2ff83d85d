/**
 * Restores as the sync layer does them: a snapshot is first restored by the library into a staging
 * folder outside the workspace; from there it is compared with the workspace (a staged restore
 * stops there) or put in place: the scope (or the chosen paths) is made equal to the staged copy,
 * each file written under a temporary name and renamed into place. Only paths in the current
 * scope are ever touched; no symlink in the workspace is followed, and a folder on the way that is
 * a link or a file is replaced only when it is itself in the scope, else the restore stops.
 */
import { constants, chmodSync, closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, type Stats } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { AbortedError, InvalidOptionsError, Pacer, TargetError } from '../library.js'
import { RESTORE_TEMP_SUFFIX, type Scope } from './scope.js'

/** How a snapshot differs from the workspace, in paths relative to it. */
export interface RestoreDiff {
  /** In the snapshot, not in the workspace. */
  added: string[]
  /** In both, with other content, type or link target. */
  changed: string[]
  /** In the workspace's scope, not in the snapshot: an in-place restore removes them. */
  removed: string[]
  unchanged: string[]
}

export interface ApplyCounts {
  written: number
  removed: number
  unchanged: number
  dirsCreated: number
}

interface Node {
  type: 'file' | 'dir' | 'symlink'
  st: Stats
}

/**
 * Checks and normalises paths given by a user or an agent: relative to the workspace, `/`-separated,
 * no `..`, not absolute.
 */
export function normalisePaths(paths: string[] | undefined): string[] | undefined {
  if (paths === undefined) return undefined
  if (!Array.isArray(paths) || paths.length === 0) throw new InvalidOptionsError('give at least one path to restore, or none for the whole scope')
  return paths.map((p) => {
    if (typeof p !== 'string') throw new InvalidOptionsError('paths must be strings')
    const n = p.replace(/\\/g, '/').replace(/^\.\/+/, '').replace(/\/+$/, '')
    if (n === '' || n.startsWith('/') || n.split('/').some((s) => s === '..' || s === '.' || s === '') || n.includes('\0')) {
      throw new InvalidOptionsError(`"${p}" is not a path inside the workspace: give it relative to the workspace, e.g. memory/2026-11-03.md`, { path: p })
    }
    return n
  })
}

/** Whether `rel` is one of `paths` or lies below one (or, for a folder, holds one: it is on the way). */
function selected(rel: string, paths: string[] | undefined, isDir: boolean): boolean {
  if (!paths) return true
  return paths.some((p) => rel === p || rel.startsWith(`${p}/`) || (isDir && p.startsWith(`${rel}/`)))
}

/** Files compared whole at once up to this size; larger ones in pieces, with turns between. */
const WHOLE_COMPARE = 1 << 20

/**
 * Every file, link and folder under `root` in the scope and the chosen paths, by relative path.
 * The walk gives the event loop a turn every slice (the sync runs inside an agent's gateway).
 */
async function walk(root: string, scope: Scope, paths: string[] | undefined, pacer: Pacer): Promise<Map<string, Node>> {
  const out = new Map<string, Node>()
  const visit = async (dir: string, rel: string) => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && rel === '') return
      throw new TargetError(dir, e)
    }
    for (const name of names) {
      await pacer.maybe()
      const r = rel === '' ? name : `${rel}/${name}`
      const st = lstatSync(join(dir, name))
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : undefined
      if (!type || !scope.has(r, type === 'dir') || !selected(r, paths, type === 'dir')) continue
      out.set(r, { type, st })
      if (type === 'dir') await visit(join(dir, name), r)
    }
  }
  await visit(root, '')
  return out
}

async function sameContent(a: string, an: Node, b: string, bn: Node, pacer: Pacer): Promise<boolean> {
  if (an.type !== bn.type) return false
  if (an.type === 'dir') return true
  if (an.type === 'symlink') return readlinkSync(a) === readlinkSync(b)
  if (an.st.size !== bn.st.size) return false
  if (an.st.size <= WHOLE_COMPARE) return readFileSync(a).equals(readFileSync(b))
  const fa = openSync(a, 'r')
  try {
    const fb = openSync(b, 'r')
    try {
      const ba = Buffer.allocUnsafe(WHOLE_COMPARE)
      const bb = Buffer.allocUnsafe(WHOLE_COMPARE)
      for (let pos = 0; ; pos += WHOLE_COMPARE) {
        const na = readSync(fa, ba, 0, WHOLE_COMPARE, pos)
        const nb = readSync(fb, bb, 0, WHOLE_COMPARE, pos)
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false
        if (na < WHOLE_COMPARE) return true
        await pacer.maybe()
      }
    } finally {
      closeSync(fb)
    }
  } finally {
    closeSync(fa)
  }
}

/** Compares the staged snapshot with the workspace, within the scope and the chosen paths. */
export async function diffAgainstWorkspace(scope: Scope, staged: string, paths?: string[]): Promise<RestoreDiff> {
  const pacer = new Pacer()
  const want = await walk(staged, scope, paths, pacer)
  const have = await walk(scope.workspace, scope, paths, pacer)
  const diff: RestoreDiff = { added: [], changed: [], removed: [], unchanged: [] }
  for (const [rel, n] of want) {
    if (n.type === 'dir') continue
    await pacer.maybe()
    const h = have.get(rel)
    if (!h || h.type === 'dir') diff.added.push(rel)
    else if (await sameContent(join(staged, rel), n, join(scope.workspace, rel), h, pacer)) diff.unchanged.push(rel)
    else diff.changed.push(rel)
  }
  for (const [rel, h] of have) if (h.type !== 'dir' && (!want.has(rel) || want.get(rel)!.type === 'dir')) diff.removed.push(rel)
  for (const list of Object.values(diff)) list.sort()
  return diff
}

/**
 * Makes the workspace's scope (or the chosen paths in it) equal to the staged snapshot: writes what
 * differs, removes what the snapshot lacks, leaves everything else alone. Stops between files when
 * `signal` aborts (the caller rolls back).
 */
export async function applyInPlace(scope: Scope, staged: string, paths: string[] | undefined, signal?: AbortSignal, onProgress?: (filesDone: number, totalFiles: number) => void): Promise<ApplyCounts> {
  const ws = scope.workspace
  const pacer = new Pacer()
  const want = await walk(staged, scope, paths, pacer)
  const have = await walk(ws, scope, paths, pacer)
  const counts: ApplyCounts = { written: 0, removed: 0, unchanged: 0, dirsCreated: 0 }
  const check = () => {
    if (signal?.aborted) throw new AbortedError('restore')
  }
  const inScope = (rel: string, isDir: boolean) => scope.has(rel, isDir) && selected(rel, paths, isDir)

  // 1. Files and links the snapshot lacks (or has as another type) go.
  for (const [rel, h] of have) {
    if (h.type === 'dir') continue
    const w = want.get(rel)
    if (w && w.type === h.type) continue
    await pacer.maybe()
    check()
    try {
      unlinkSync(join(ws, rel))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TargetError(join(ws, rel), e)
    }
    counts.removed++
  }

  // 2. Folders on the way exist as real folders.
  const ensureDir = (rel: string) => {
    let cur = ''
    for (const part of rel.split('/')) {
      cur = cur === '' ? part : `${cur}/${part}`
      const p = join(ws, cur)
      let st: Stats | undefined
      try {
        st = lstatSync(p)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TargetError(p, e)
      }
      if (st?.isDirectory()) continue
      if (st) {
        // A file or a link where the snapshot has a folder: replaced only when it is in the scope.
        if (!inScope(cur, false)) throw new TargetError(p, new Error('a file or link outside the restored scope is in the way of a folder; move it and restore again'))
        unlinkSync(p)
      }
      try {
        mkdirSync(p, { mode: 0o755 })
        counts.dirsCreated++
      } catch (e) {
        throw new TargetError(p, e)
      }
    }
  }
  for (const [rel, w] of want) if (w.type === 'dir') ensureDir(rel)

  // 3. Files and links that differ are written under a temporary name and renamed into place.
  let total = 0
  for (const w of want.values()) if (w.type !== 'dir') total++
  let done = 0
  for (const [rel, w] of want) {
    if (w.type === 'dir') continue
    await pacer.maybe()
    check()
    onProgress?.(done++, total)
    const src = join(staged, rel)
    const dst = join(ws, rel)
    const h = have.get(rel)
    if (h && (await sameContent(src, w, dst, h, pacer))) {
      counts.unchanged++
      continue
    }
    const slash = rel.lastIndexOf('/')
    if (slash > 0) ensureDir(rel.slice(0, slash))
    if (h?.type === 'dir') {
      if (!inScope(rel, true)) throw new TargetError(dst, new Error('a folder outside the restored scope is in the way of a file'))
      rmSync(dst, { recursive: true, force: true })
    }
    const tmp = join(ws, rel.slice(0, slash + 1), `.${rel.slice(slash + 1)}.${randomBytes(4).toString('hex')}${RESTORE_TEMP_SUFFIX}`)
    try {
      if (w.type === 'symlink') symlinkSync(readlinkSync(src), tmp)
      else {
        copyFileSync(src, tmp, constants.COPYFILE_EXCL)
        chmodSync(tmp, w.st.mode & 0o7777)
        utimesSync(tmp, w.st.atime, w.st.mtime)
      }
      renameSync(tmp, dst)
    } catch (e) {
      rmSync(tmp, { force: true })
      throw new TargetError(dst, e)
    }
    counts.written++
  }

  // 4. Folders in the scope that the snapshot lacks go when nothing is left in them.
  const gone = [...have.entries()].filter(([rel, h]) => h.type === 'dir' && !want.has(rel)).map(([rel]) => rel)
  for (const rel of gone.sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(join(ws, rel))
    } catch {
      // holds files outside the scope: it stays
    }
  }
  return counts
}
