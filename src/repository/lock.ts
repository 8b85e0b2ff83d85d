import { hostname } from 'node:os'
import { bool, int, literal, object, str, type Infer } from '../codec/schema.js'
import { CorruptObjectError, LockedError, ObjectNotFoundError, throwIfAborted } from '../errors/index.js'
import { decodeObject, FORMAT_VERSION, PROTECTED_FORMAT_VERSION } from './repofile.js'
import type { Backend } from '../backend/backend.js'
import type { Repository } from './repository.js'

/**
 * Locks keep prune (exclusive) from running while backups (shared) run. Check and restore take no
 * lock (check never writes, not even a lock file); a prune running meanwhile can make them fail
 * with a missing pack, never corrupt anything. A lock is a
 * sealed file in `locks/` holding host, pid, time and kind. The holder refreshes it (writes a new
 * one, removes the old) every `refreshMs`; a lock not refreshed for `staleMs`, or held by a process
 * on this host that no longer exists, is stale and ignored (and removed by `unlock`). After writing
 * its lock a process waits, lists again, and backs off if a conflicting lock appeared meanwhile.
 */

export const lockSchema = object({
  v: literal(FORMAT_VERSION),
  time: str(64),
  host: str(1024),
  pid: int(0),
  exclusive: bool(),
})
export type LockFile = Infer<typeof lockSchema>

/**
 * In a protected repository a lock is not removed but released: a sealed record in `locks/` names
 * the lock file it releases, and readers treat that lock as gone. Only a trusted prune removes both.
 */
export const lockReleaseSchema = object({
  v: literal(PROTECTED_FORMAT_VERSION),
  released: str(64),
  time: str(64),
})
export type LockRelease = Infer<typeof lockReleaseSchema>

export interface LockInfo extends LockFile {
  id: string
  stale: boolean
}

export interface LockOptions {
  exclusive: boolean
  /** How often the lock is rewritten while held (default 5 minutes). */
  refreshMs?: number
  /** Age after which an unrefreshed lock is stale (default 30 minutes). */
  staleMs?: number
  /**
   * Wait after writing the lock before checking for a conflicting one: covers storage whose listings
   * lag behind writes. Two takers miss each other only if their two waits add up to less than twice
   * that lag, so the wait goes to the rare exclusive taker (default 400 ms) and shared ones (every
   * backup) wait none (default 0): the same tolerance as 200 ms each, without slowing backups.
   * Storage that lists a file as soon as it is saved (`Backend.listsSavedAtOnce`: a local folder)
   * needs no wait: a taker that writes its lock and then lists is seen by any other that lists after
   * it, so two takers cannot both miss each other. There the default is 0 for both.
   */
  settleMs?: number
  /** How long to keep trying while another process holds a conflicting lock (default 0: fail at once). */
  waitMs?: number
  /** Called when a wait for a conflicting lock begins, and again whenever another lock is in the way. */
  onWait?: (holder: LockInfo) => void
  /** Ends a wait (AbortedError) when aborted: a command stopped while it waits for a lock. */
  signal?: AbortSignal
}

const DEFAULTS = { refreshMs: 5 * 60_000, staleMs: 30 * 60_000 }

/** LockOptions.settleMs unless given: 400 ms for an exclusive lock on storage whose listings may lag, else 0. */
export function defaultSettleMs(backend: Backend, exclusive: boolean): number {
  return exclusive && !backend.listsSavedAtOnce ? 400 : 0
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function isStale(l: LockFile, staleMs = DEFAULTS.staleMs, now = Date.now()): boolean {
  const t = Date.parse(l.time)
  if (Number.isNaN(t) || now - t > staleMs) return true
  return l.host === hostname() && l.pid !== process.pid && !processAlive(l.pid)
}

/** Every lock in the repository; unreadable lock files count as stale. */
export async function listLocks(repo: Repository, staleMs = DEFAULTS.staleMs): Promise<LockInfo[]> {
  const out: LockInfo[] = []
  const released = new Set<string>()
  const now = Date.now()
  for await (const f of repo.backend.list('locks')) {
    // A protected repository keeps every lock file and release record until a trusted prune, two a
    // backup: one stored longer ago than twice the stale age is stale whatever it says (its holder
    // would have written a new one), so it is not read. A release is stored after its lock, so a
    // lock that is read has its release read too.
    if (repo.protected && f.modified && now - f.modified.getTime() > 2 * staleMs) continue
    try {
      const plain = await repo.loadFile('locks', f.name, 'lock')
      let l: LockFile
      try {
        l = decodeObject(lockSchema, plain)
      } catch (e) {
        const release = releaseOf(plain)
        if (release) {
          released.add(release.released)
          continue
        }
        // A validly sealed lock that is not a lock (another holder of the key wrote it): unreadable.
        throw new CorruptObjectError('lock', f.name, (e as Error).message, { cause: e })
      }
      out.push({ ...l, id: f.name, stale: isStale(l, staleMs) })
    } catch (e) {
      if (e instanceof ObjectNotFoundError) continue // released meanwhile
      if (!(e instanceof CorruptObjectError)) throw e
      out.push({ v: FORMAT_VERSION, time: new Date(0).toISOString(), host: '?', pid: 0, exclusive: false, id: f.name, stale: true })
    }
  }
  return out.filter((l) => !released.has(l.id))
}

function releaseOf(plain: Uint8Array): LockRelease | undefined {
  try {
    return decodeObject(lockReleaseSchema, plain)
  } catch {
    return undefined
  }
}

/** Gives up a lock file: removes it, or in a protected repository (whose writers never delete) releases it by a record. */
async function drop(repo: Repository, id: string): Promise<void> {
  if (!repo.protected) return repo.backend.remove({ type: 'locks', name: id })
  await repo.saveFile('locks', 'lock', { v: PROTECTED_FORMAT_VERSION, released: id, time: new Date().toISOString() } satisfies LockRelease)
}

/** A held lock. Release it when done; it refreshes itself meanwhile. */
export class Lock {
  private timer?: NodeJS.Timeout
  private released = false
  private refreshing?: Promise<void>

  private constructor(
    private readonly repo: Repository,
    private id: string,
    readonly exclusive: boolean,
    private readonly opts: Required<Omit<LockOptions, 'waitMs' | 'onWait' | 'signal'>>,
  ) {
    this.timer = setInterval(() => {
      this.refreshing = this.refresh().catch(() => {})
    }, opts.refreshMs)
    this.timer.unref()
  }

  static async acquire(repo: Repository, options: LockOptions): Promise<Lock> {
    const { signal, ...rest } = options
    const opts = { ...DEFAULTS, settleMs: defaultSettleMs(repo.backend, options.exclusive), ...rest }
    const deadline = Date.now() + (options.waitMs ?? 0)
    let waitingFor: string | undefined
    const waitFor = (holder: LockInfo) => {
      if (Date.now() >= deadline) throw new LockedError(holder, options.waitMs ?? 0)
      if (holder.id !== waitingFor) options.onWait?.(holder)
      waitingFor = holder.id
    }
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal, 'waiting for the lock')
      const conflict = (await listLocks(repo, opts.staleMs)).find((l) => !l.stale && (opts.exclusive || l.exclusive))
      if (!conflict) {
        const id = await write(repo, opts.exclusive)
        if (opts.settleMs > 0) await new Promise((r) => setTimeout(r, opts.settleMs))
        const late = (await listLocks(repo, opts.staleMs)).find((l) => l.id !== id && !l.stale && (opts.exclusive || l.exclusive))
        if (!late) return new Lock(repo, id, opts.exclusive, opts)
        await drop(repo, id)
        waitFor(late)
      } else {
        waitFor(conflict)
      }
      await new Promise<void>((r) => {
        const t = setTimeout(done, Math.min(5000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()))
        function done() {
          clearTimeout(t)
          signal?.removeEventListener('abort', done)
          r()
        }
        signal?.addEventListener('abort', done, { once: true })
      })
    }
  }

  /** Rewrites the lock with the current time, then removes (or, protected, releases) the previous file. */
  async refresh(): Promise<void> {
    if (this.released) return
    const old = this.id
    this.id = await write(this.repo, this.exclusive)
    await drop(this.repo, old)
  }

  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    clearInterval(this.timer)
    await this.refreshing
    await drop(this.repo, this.id)
  }
}

async function write(repo: Repository, exclusive: boolean): Promise<string> {
  return repo.saveFile('locks', 'lock', { v: FORMAT_VERSION, time: new Date().toISOString(), host: hostname(), pid: process.pid, exclusive } satisfies LockFile)
}

/** Removes stale locks (or all locks with `all`); returns the removed ones. */
export async function removeLocks(repo: Repository, opts: { all?: boolean; staleMs?: number } = {}): Promise<LockInfo[]> {
  const removed: LockInfo[] = []
  for (const l of await listLocks(repo, opts.staleMs)) {
    if (!opts.all && !l.stale) continue
    await repo.backend.remove({ type: 'locks', name: l.id })
    removed.push(l)
  }
  return removed
}
