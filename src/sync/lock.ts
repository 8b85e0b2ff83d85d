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

interface Holder {
  pid: number
  host: string
  since: string
  what: string
  token: string
}

export class WorkspaceLock {
  private timer?: NodeJS.Timeout

  private constructor(
    private readonly path: string,
    private readonly token: string,
  ) {}

  /**
   * Takes the lock, waiting up to `waitMs` (polling) while another holder has it; then throws
   * SyncBusyError naming the holder.
   */
  static async acquire(path: string, what: string, opts: { waitMs?: number; signal?: AbortSignal } = {}): Promise<WorkspaceLock> {
    const started = Date.now()
    const token = randomBytes(8).toString('hex')
    const holder: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), what, token }
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      if (opts.signal?.aborted) throw new AbortedError(what)
      try {
        const fd = openSync(path, 'wx', 0o600)
        try {
          writeSync(fd, JSON.stringify(holder))
        } finally {
          closeSync(fd)
        }
        const lock = new WorkspaceLock(path, token)
        lock.timer = setInterval(() => lock.refresh(), REFRESH_MS)
        lock.timer.unref()
        return lock
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const current = readHolder(path)
      if (current === 'gone') continue
      if (current === undefined || isStale(path, current)) {
        takeOver(path, current)
        continue
      }
      if (Date.now() - started >= (opts.waitMs ?? 0)) throw new SyncBusyError(current, Date.now() - started)
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => {})
    }
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
    const h = JSON.parse(readFileSync(path, 'utf8')) as Holder
    return typeof h.pid === 'number' && typeof h.token === 'string' ? h : undefined
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : undefined
  }
}

function isStale(path: string, h: Holder): boolean {
  if (h.host === hostname() && !alive(h.pid)) return true
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_MS
  } catch {
    return false
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes a stale lock: moves it aside first and checks that what moved is the stale one, so two
 * processes that both found it stale cannot remove a lock the other has just taken.
 */
function takeOver(path: string, stale: Holder | undefined): void {
  const aside = `${path}.${randomBytes(4).toString('hex')}.stale`
  try {
    renameSync(path, aside)
  } catch {
    return
  }
  const moved = readHolder(aside)
  if (stale !== undefined && moved !== 'gone' && moved?.token !== stale.token) {
    // A fresh lock was moved: put it back (link fails if someone already holds the name again).
    try {
      linkSync(aside, path)
    } catch {
      // ignore
    }
  }
  try {
    unlinkSync(aside)
  } catch {
    // ignore
  }
}
