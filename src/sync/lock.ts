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
        // An unreadable lock is stale as it is; a readable one only if the same holder was moved.
        removeStale(path, (moved) => current === undefined || parseHolder(moved)?.token === current.token)
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
