/**
 * What a sync covers: an allowlist of the agent's memory files (OpenClaw's workspace layout), the
 * user's `include` globs added to it, the user's `exclude` patterns (gitignore-style, relative to the
 * workspace) applied last, and what is always left out: version control, dependencies, OpenClaw's
 * state sidecars (restoring them breaks a workspace), secrets, and the sync's own files.
 */
import { lstatSync, mkdirSync, readdirSync, type Stats } from 'node:fs'
import { dirname, join } from 'node:path'
import { Excluder } from '../library.js'

/** Files and folders of an agent's memory, relative to the workspace. */
export const DEFAULT_INCLUDES = [
  'MEMORY.md',
  'USER.md',
  'AGENTS.md',
  'SOUL.md',
  'IDENTITY.md',
  'DREAMS.md',
  'BOOT.md',
  'BOOTSTRAP.md',
  'SESSION-STATE.md',
  'TOOLS.md',
  'HEARTBEAT.md',
  'memory/**',
  'notes/**',
  'skills/**',
]

/** The sync log and the status page: in the workspace where users look, never backed up. */
export const SYNC_LOG = 'memory/sync-log.jsonl'
export const STATUS_PAGE = 'memory/sync-dashboard.html'
/** Files an in-place restore writes before renaming them into place. */
export const RESTORE_TEMP_SUFFIX = '.session-sync-tmp'

/**
 * The folder of the sync's own files (memory/), created when missing; throws when it is a link or
 * a file, so the log and the page are never written through a link out of the workspace.
 */
export function ownFilesDir(workspace: string): string {
  const dir = join(workspace, dirname(SYNC_LOG))
  try {
    const st = lstatSync(dir)
    if (st.isDirectory()) return dir
    throw new Error(`${dir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; the sync log and status page are not written there`)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  mkdirSync(dir)
  return dir
}

/** Never backed up, wherever they are. */
const ALWAYS_EXCLUDED = ['.git/', 'node_modules/', 'openclaw-workspace-state.json', '.openclaw/', '.attested', 'workspace-attestations/', `*${RESTORE_TEMP_SUFFIX}`]
/** The sync's own files at the workspace root (`*` is the workspace's own folder name in a snapshot). */
const OWN_FILES = [`*/${SYNC_LOG}`, `*/${SYNC_LOG}.*`, `*/${STATUS_PAGE}`, '*/session-sync-config.json']
/** Secrets: never backed up; status lists what it skipped for this reason. */
export const SECRET_PATTERNS = ['.env*', '*.pem', '*.key', 'id_rsa*', 'id_ed25519*', 'id_ecdsa*', 'id_dsa*']

/**
 * The backup options that make a scope, and a walk of the workspace with the same rules (for the
 * files changed since the last snapshot and the secrets skipped).
 */
export class Scope {
  readonly includes: string[]
  readonly excludes: string[]
  private readonly filter: Excluder
  private readonly withoutSecrets: Excluder

  constructor(
    readonly workspace: string,
    opts: { include?: string[]; exclude?: string[] } = {},
  ) {
    this.includes = [...DEFAULT_INCLUDES, ...(opts.include ?? [])]
    const user = (opts.exclude ?? []).map(anchor)
    const base = [...ALWAYS_EXCLUDED, ...OWN_FILES]
    this.excludes = [...base, ...SECRET_PATTERNS, ...user]
    this.filter = new Excluder(this.excludes, [], undefined, this.includes)
    this.withoutSecrets = new Excluder([...base, ...user], [], undefined, this.includes)
  }

  /** Whether a path relative to the workspace (`memory/a.md`) is in the scope. */
  has(rel: string, isDir: boolean): boolean {
    return !this.filter.excludes(`ws/${rel}`, isDir)
  }

  /**
   * Walks the scope with lstat only (nothing is read, no symlink followed): every file, link and
   * folder in it, and the paths left out because they look like secrets.
   */
  walk(): { entries: Map<string, ScopeEntry>; secrets: string[] } {
    const entries = new Map<string, ScopeEntry>()
    const secrets: string[] = []
    const visit = (dir: string, rel: string) => {
      let names: string[]
      try {
        names = readdirSync(dir)
      } catch {
        return
      }
      for (const name of names.sort()) {
        const r = rel === '' ? name : `${rel}/${name}`
        const p = join(dir, name)
        let st: Stats
        try {
          st = lstatSync(p)
        } catch {
          continue
        }
        const isDir = st.isDirectory()
        if (this.filter.excludes(`ws/${r}`, isDir)) {
          if (!isDir && !this.withoutSecrets.excludes(`ws/${r}`, false)) secrets.push(r)
          continue
        }
        if (isDir) {
          entries.set(r, { type: 'dir', size: 0, mtimeMs: st.mtimeMs })
          visit(p, r)
        } else if (st.isFile() || st.isSymbolicLink()) {
          entries.set(r, { type: st.isFile() ? 'file' : 'symlink', size: st.size, mtimeMs: st.mtimeMs })
        }
      }
    }
    visit(this.workspace, '')
    return { entries, secrets }
  }
}

export interface ScopeEntry {
  type: 'file' | 'dir' | 'symlink'
  size: number
  mtimeMs: number
}

/**
 * A user's pattern is relative to the workspace, but the backup matches `<workspace name>/<path>`:
 * a pattern anchored by a slash (gitignore: at the start or in the middle) gets the workspace's
 * level put in front; one without matches at any depth as it is.
 */
function anchor(pattern: string): string {
  const neg = pattern.startsWith('!') ? '!' : ''
  const p = neg ? pattern.slice(1) : pattern
  const body = p.replace(/\/+$/, '')
  if (!body.includes('/')) return pattern
  return `${neg}*/${p.replace(/^\/+/, '')}`
}
