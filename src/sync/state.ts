/**
 * The state folder: everything the sync keeps outside the workspace, found the same way by every
 * adapter (the plugin, the CLI, the daemon, the dashboard), so they share one lock, one key and one
 * set of restore records.
 *
 *   <root>/device                       this machine's device name, generated once
 *   <root>/keys/<location hash>.key     generated repository keys (0600), one per repository location
 *   <root>/workspaces/<name>-<hash>/    one per workspace (from its real path):
 *       lock  state.json  restores/<id>.json  staging/<id>/
 *   <root>/cache/<name>-<hash>/<repository id>/
 *                                       the repository's local cache (encrypted files as stored):
 *                                       apart from the durable state, so that a backup of the state
 *                                       folder can leave it out (OpenClaw's: "regenerable")
 *
 * The root is SESSION_SYNC_STATE_DIR, else `<OpenClaw state dir>/session-sync-cloud` (the OpenClaw
 * state dir is OPENCLAW_STATE_DIR, else ~/.openclaw).
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'

/** The state root every adapter resolves the same way. */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SESSION_SYNC_STATE_DIR) return resolve(env.SESSION_SYNC_STATE_DIR)
  const openclaw = env.OPENCLAW_STATE_DIR ? resolve(env.OPENCLAW_STATE_DIR) : join(env.HOME || homedir(), '.openclaw')
  return join(openclaw, 'session-sync-cloud')
}

/** The workspace's real path (symlinks resolved), or its absolute path when it does not exist yet. */
export function workspaceRealPath(workspace: string): string {
  try {
    return realpathSync(workspace)
  } catch {
    return resolve(workspace)
  }
}

/** The state folder of one workspace: named by its folder name and a hash of its real path. */
export function workspaceStateDir(root: string, workspace: string): string {
  const real = workspaceRealPath(workspace)
  const name = basename(real).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'root'
  return join(root, 'workspaces', `${name}-${createHash('sha256').update(real).digest('hex').slice(0, 12)}`)
}

const ADJECTIVES = ['amber', 'brisk', 'calm', 'deep', 'eager', 'fair', 'gold', 'hazel', 'ivory', 'jade', 'keen', 'lucid', 'mild', 'noble', 'opal', 'quiet']
const NOUNS = ['falcon', 'harbor', 'cedar', 'meadow', 'river', 'summit', 'lantern', 'willow', 'comet', 'delta', 'ember', 'fjord', 'grove', 'island', 'maple', 'orbit']

/**
 * This machine's device name: generated once (`calm-river-3f2a`) and kept in the state root, not
 * the host name, which changes with every container restart.
 */
export function deviceName(root: string): string {
  const file = join(root, 'device')
  try {
    const name = readFileSync(file, 'utf8').trim()
    if (/^[A-Za-z0-9._-]{1,64}$/.test(name)) return name
  } catch {
    // not yet generated
  }
  const r = randomBytes(4)
  const name = `${ADJECTIVES[r[0] % 16]}-${NOUNS[r[1] % 16]}-${r.subarray(2).toString('hex')}`
  mkdirSync(root, { recursive: true, mode: 0o700 })
  writeFileAtomic(file, `${name}\n`)
  // Another process may have written its own name at the same time: the file decides.
  return readFileSync(file, 'utf8').trim()
}

/** The local cache folder of a workspace's repository (see OpenOptions.cacheDir). */
export function cacheDir(root: string, workspaceStateDir: string): string {
  return join(root, 'cache', basename(workspaceStateDir))
}

/**
 * Moves a cache from where earlier versions kept it (`cache/` inside the workspace's state folder)
 * to cacheDir(); when both exist, the old one is deleted. Best effort: a cache is only a copy.
 */
export function moveOldCache(root: string, workspaceStateDir: string): void {
  const old = join(workspaceStateDir, 'cache')
  if (!existsSync(old)) return
  const now = cacheDir(root, workspaceStateDir)
  try {
    if (existsSync(now)) {
      rmSync(old, { recursive: true, force: true })
      return
    }
    mkdirSync(dirname(now), { recursive: true, mode: 0o700 })
    renameSync(old, now)
  } catch {
    // left where it is: the next start tries again, and the repository fills the new one meanwhile
  }
}

/** Where the generated key of a repository location is kept. */
export function keyPath(root: string, location: string): string {
  return join(root, 'keys', `${createHash('sha256').update(location).digest('hex').slice(0, 16)}.key`)
}

/** Reads a generated key (base64 of 32 bytes), or undefined when there is none. */
export function readKeyFile(path: string): Uint8Array | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const key = Buffer.from(text.trim(), 'base64')
  return key.length === 32 ? key : undefined
}

/** Writes a generated key, readable only by its owner; never replaces one. */
export function writeKeyFile(path: string, key: Uint8Array): void {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 })
  writeFileSync(path, `${Buffer.from(key).toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
}

/** Reads a JSON file, or returns `fallback` when it is missing or unreadable. */
export function readJson<T>(path: string, fallback: T): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch {
    return fallback
  }
}

/** Writes a file through a temporary name and a rename, so a reader never sees half of it. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, data, { mode })
  renameSync(tmp, path)
}
