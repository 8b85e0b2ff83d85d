/**
 * Hook-driven syncs: the hooks only ask for a sync (WorkspaceSync.trigger), never run one.
 *
 * - a reset (/new, /reset) or a session end: OpenClaw's session-memory hook writes the session's
 *   summary to memory/YYYY-MM-DD-HHMM.md shortly after, so the sync waits for such a file to appear
 *   (checked every few seconds) or for 60 s, whichever comes first;
 * - a message starting with /wrap_up (or /wrapup, /wrap-up): the agent is about to write its
 *   notes, so the sync follows 60 s later;
 * - a compaction: at once (the sync's own debounce coalesces a burst).
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { SyncTrigger, WorkspaceSync } from '../index.js'

export const SETTLE_MS = 60_000
const POLL_MS = 2_000
const SESSION_NOTE = /^\d{4}-\d{2}-\d{2}-\d{4}\.md$/
export const WRAP_UP = /^\s*\/wrap[-_]?up\b/i

export class DelayedTriggers {
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(private readonly opts: { settleMs?: number; pollMs?: number } = {}) {}

  /** Syncs when a new session note appears in memory/, or after the settle time. */
  afterSessionNote(sync: WorkspaceSync, trigger: SyncTrigger): void {
    const since = Date.now()
    const deadline = since + (this.opts.settleMs ?? SETTLE_MS)
    const check = () => {
      if (Date.now() >= deadline || newSessionNote(sync.workspace, since)) {
        sync.trigger(trigger)
        return
      }
      this.later(check, Math.min(this.opts.pollMs ?? POLL_MS, deadline - Date.now()))
    }
    this.later(check, Math.min(this.opts.pollMs ?? POLL_MS, deadline - since))
  }

  /** Syncs after the settle time. */
  afterSettling(sync: WorkspaceSync, trigger: SyncTrigger): void {
    this.later(() => sync.trigger(trigger), this.opts.settleMs ?? SETTLE_MS)
  }

  /** Drops the waiting syncs; returns how many there were. */
  cancel(): number {
    const n = this.timers.size
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    return n
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, Math.max(0, ms))
    t.unref?.()
    this.timers.add(t)
  }
}

/** A memory/YYYY-MM-DD-HHMM.md written since `since` (ms). */
function newSessionNote(workspace: string, since: number): boolean {
  const dir = join(workspace, 'memory')
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return false
  }
  return names.some((n) => {
    if (!SESSION_NOTE.test(n)) return false
    try {
      return statSync(join(dir, n)).mtimeMs >= since - 1000
    } catch {
      return false
    }
  })
}
