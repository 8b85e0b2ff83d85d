import { InvalidOptionsError } from '../errors/index.js'

/**
 * Bounds on the work a stored object may ask for. A repository is untrusted input: anyone who can
 * write to its storage can plant a key file or a tree, and without these bounds one such object
 * would make every command of every user run for minutes or run out of memory.
 */
export interface RepositoryLimits {
  /**
   * Largest Argon2id memory (bytes) a key file may ask for before it is tried (default 1 GiB;
   * environment `SESSION_SYNC_MAX_KDF_MEMORY`, bytes or with a K/M/G suffix). A key file over it is
   * skipped with a warning.
   */
  maxKdfMemory: number
  /** Most Argon2id passes a key file may ask for (default 10; environment `SESSION_SYNC_MAX_KDF_PASSES`). */
  maxKdfPasses: number
  /**
   * Most entries one snapshot's tree may expand to when walked (restore, ls, find, diff); default
   * 10 million, environment `SESSION_SYNC_MAX_TREE_ENTRIES`. Checked before the walk, in one read of
   * each distinct tree, so a tree DAG that repeats subtrees exponentially fails at once.
   */
  maxTreeEntries: number
  /**
   * Most levels of folders one snapshot's tree may nest (default 1024, environment
   * `SESSION_SYNC_MAX_TREE_DEPTH`): a chain of tiny trees thousands deep costs a few megabytes to
   * store and would cost walks memory by the square of its depth. Paths that deep cannot be restored
   * anyway (the system's path length limit, 4096 bytes on Linux).
   */
  maxTreeDepth: number
}

export const DEFAULT_LIMITS: Readonly<RepositoryLimits> = Object.freeze({
  maxKdfMemory: 1024 * 1024 * 1024,
  maxKdfPasses: 10,
  maxTreeEntries: 10_000_000,
  maxTreeDepth: 1024,
})

const ENV: Record<keyof RepositoryLimits, string> = {
  maxKdfMemory: 'SESSION_SYNC_MAX_KDF_MEMORY',
  maxKdfPasses: 'SESSION_SYNC_MAX_KDF_PASSES',
  maxTreeEntries: 'SESSION_SYNC_MAX_TREE_ENTRIES',
  maxTreeDepth: 'SESSION_SYNC_MAX_TREE_DEPTH',
}

/** The name of the environment variable that sets a limit (for messages that say how to raise it). */
export function limitEnv(name: keyof RepositoryLimits): string {
  return ENV[name]
}

/** The limits in effect: the given ones, else the environment's, else the defaults. */
export function resolveLimits(given: Partial<RepositoryLimits> = {}, env: NodeJS.ProcessEnv = process.env): RepositoryLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const k of Object.keys(ENV) as Array<keyof RepositoryLimits>) {
    const raw = env[ENV[k]]
    const fromEnv = raw === undefined || raw.trim() === '' ? undefined : parseAmount(raw, k === 'maxKdfMemory')
    if (fromEnv !== undefined && !(Number.isSafeInteger(fromEnv) && fromEnv >= 1)) {
      throw new InvalidOptionsError(`${ENV[k]} must be a positive whole number${k === 'maxKdfMemory' ? ' of bytes (a K, M or G suffix is allowed)' : ''}, not ${JSON.stringify(raw)}`, { variable: ENV[k] })
    }
    const v = given[k] ?? fromEnv ?? out[k]
    if (!(Number.isSafeInteger(v) && v >= 1)) throw new InvalidOptionsError(`the ${k} limit must be a positive whole number, not ${v}`, { limit: k })
    out[k] = v
  }
  return out
}

function parseAmount(raw: string, size: boolean): number {
  const m = /^\s*(\d+)\s*([kmg])?(?:i?b)?\s*$/i.exec(raw)
  if (!m || (m[2] && !size)) return NaN
  const unit = m[2] ? 1024 ** ('kmg'.indexOf(m[2].toLowerCase()) + 1) : 1
  return Number(m[1]) * unit
}

/** "2 GiB", "512 MiB", "8192 bytes": KDF memory as a person reads it. */
export function formatMemory(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`
  }
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${bytes} bytes`
}
