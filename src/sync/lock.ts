/**
 * One sync, restore or undo at a time per workspace, across processes: a lock file in the
 * workspace's state folder, created exclusively. A holder refreshes its time every 30 s; a lock
 * whose process is gone (same host) or whose time is older than two minutes is stale and taken over.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortedError } from '../errors/index.js'
import { SyncBusyError } from './errors.js'

const REFRESH_MS = 30_000
const STALE_MS = 120_000

/** Who holds a lock: process, host, since when, and for what. */
export interface LockHolder {
  pid: number
  host: string
  since: string
  what: string
  /** Who holds it, where a holder names itself (the schedule's lease: `daemon`, `openclaw gateway`). */
  owner?: string
}

interface Holder extends LockHolder {
  token: string
}

export class WorkspaceLock {
  private timer?: NodeJS.Timeout

  private constructor(
    private readonly path: string,
    private readonly token: string,
    /** This holder, as the lock file names it. */
    readonly holder: LockHolder,
  ) {}

  /**
   * Takes the lock, waiting up to `waitMs` (polling) while another holder has it; then throws
   * SyncBusyError naming the holder.
   */
  static async acquire(path: string, what: string, opts: { waitMs?: number; signal?: AbortSignal } = {}): Promise<WorkspaceLock> {
    const started = Date.now()
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      if (opts.signal?.aborted) throw new AbortedError(what)
      const got = WorkspaceLock.tryAcquire(path, what)
      if (got instanceof WorkspaceLock) return got
      if (Date.now() - started >= (opts.waitMs ?? 0)) throw new SyncBusyError(got, Date.now() - started)
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => {})
    }
  }

  /**
   * Takes the lock if it is free or stale, without waiting; otherwise returns its live holder.
   * Synchronous, so a caller can decide at once (the schedule's lease).
   */
  static tryAcquire(path: string, what: string, owner?: string): WorkspaceLock | LockHolder {
    const token = randomBytes(8).toString('hex')
    const holder: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), what, token, ...(owner === undefined ? {} : { owner }) }
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600)
        try {
          writeSync(fd, JSON.stringify(holder))
        } finally {
          closeSync(fd)
        }
        const { token: _token, ...shown } = holder
        const lock = new WorkspaceLock(path, token, shown)
        lock.timer = setInterval(() => lock.refresh(), REFRESH_MS)
        lock.timer.unref()
        return lock
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const current = readHolder(path)
      if (current === 'gone') continue
      if (current === undefined || isStale(path, current)) {
        // An unreadable lock is stale as it is; a readable one only if the same holder was moved.
        removeStale(path, (moved) => current === undefined || parseHolder(moved)?.token === current.token)
        if (attempt < 20) continue
      }
      const { token: _token, ...shown } = current ?? { pid: 0, host: '?', since: '?', what: 'an unreadable lock', token: '' }
      return shown
    }
  }

  /** The live holder of a lock file, or undefined when it is free or stale. */
  static holder(path: string): LockHolder | undefined {
    const current = readHolder(path)
    if (current === 'gone' || current === undefined || isStale(path, current)) return undefined
    const { token: _token, ...shown } = current
    return shown
  }

  /** Whether the lock file still names this holder (a holder whose refreshes stopped may lose it). */
  held(): boolean {
    const current = readHolder(this.path)
    return current !== 'gone' && current?.token === this.token
  }

  private refresh(): void {
    try {
      const now = new Date()
      utimesSync(this.path, now, now)
    } catch {
      // released meanwhile
    }
  }

  /** Gives the lock up (only if it is still this holder's). */
  release(): void {
    clearInterval(this.timer)
    const current = readHolder(this.path)
    if (current !== 'gone' && current?.token === this.token) {
      try {
        unlinkSync(this.path)
      } catch {
        // gone already
      }
    }
  }
}

/** The holder named in the lock file; 'gone' when there is no file; undefined when it is unreadable. */
function readHolder(path: string): Holder | 'gone' | undefined {
  try {
    return parseHolder(readFileSync(path, 'utf8'))
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : undefined
  }
}

function parseHolder(text: string | undefined): Holder | undefined {
  try {
    const h = JSON.parse(text ?? '') as Holder
    return typeof h.pid === 'number' && typeof h.token === 'string' ? h : undefined
  } catch {
    return undefined
  }
}

function isStale(path: string, h: Holder): boolean {
  if (h.host === hostname() && !processAlive(h.pid)) return true
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_MS
  } catch {
    return false
  }
}

/** Whether a process of this host lives (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes a stale lock file: moves it aside first and checks that what moved is still the stale
 * content, so two processes that both found it stale cannot remove one the other has just taken
 * (that one is put back; the link fails if someone holds the name again).
 */
export function removeStale(path: string, isStale: (moved: string | undefined) => boolean): void {
  const aside = `${path}.${randomBytes(4).toString('hex')}.stale`
  try {
    renameSync(path, aside)
  } catch {
    return
  }
  let moved: string | undefined
  try {
    moved = readFileSync(aside, 'utf8')
  } catch {
    moved = undefined
  }
  if (!isStale(moved)) {
    try {
      linkSync(aside, path)
    } catch {
      // taken again meanwhile
    }
  }
  try {
    unlinkSync(aside)
  } catch {
    // ignore
  }
}
