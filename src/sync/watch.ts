/**
 * Knows, in a long-lived sync (the plugin's service, the daemon), whether anything in the scope
 * changed since the last walk: a recursive fs.watch of the workspace (inotify on Linux). A timer
 * sync with nothing reported skips the walk (an unchanged sync then costs no lstat of 2,000 files);
 * every other trigger walks. The watcher only ever shortens a sync that a walk would find
 * unchanged, and it is trusted for at most `FULL_WALK_MS` after a walk: a missed event (a file system
 * without notifications, a queue overflow) delays a backup by that much at most. Any error turns it
 * off for good (every sync walks).
 */
import { watch, type FSWatcher } from 'node:fs'
import type { Scope } from './scope.js'

/** A timer sync walks at least this often even when the watcher reported nothing. */
export const FULL_WALK_MS = 60 * 60 * 1000

export class ChangeWatcher {
  private fsw?: FSWatcher
  private dirty = true
  private broken = false
  private since = 0
  /** When the last complete walk began (changes after it are in `dirty`). */
  private walkedAt?: number

  constructor(private readonly scope: Scope) {}

  start(): void {
    if (this.fsw || this.broken) return
    try {
      this.fsw = watch(this.scope.workspace, { recursive: true, persistent: false }, (_event, name) => this.changed(name))
      this.fsw.on('error', () => this.stop(true))
      this.since = Date.now()
      this.dirty = true // nothing is known until a walk after this moment
    } catch {
      this.broken = true
    }
  }

  stop(broken = false): void {
    this.broken ||= broken
    this.fsw?.close()
    this.fsw = undefined
  }

  private changed(name: string | Buffer | null): void {
    if (name === null) {
      this.dirty = true
      return
    }
    const rel = name.toString().split('\\').join('/')
    // The sync's own files (the log, the status page, temporary files) are outside the scope.
    if (this.scope.has(rel, false) || this.scope.has(rel, true)) this.dirty = true
  }

  /** Whether a timer sync may skip its walk: watching, nothing reported since a recent walk. */
  quiet(now = Date.now()): boolean {
    return this.fsw !== undefined && !this.broken && !this.dirty && this.walkedAt !== undefined && this.walkedAt >= this.since && now - this.walkedAt < FULL_WALK_MS
  }

  /** Called as a walk begins: what changes from now on, the next sync must see. */
  beginWalk(): number {
    this.dirty = false
    return Date.now()
  }

  /** Called when that walk's backup succeeded (a failed one leaves the watcher dirty). */
  walked(began: number, ok: boolean): void {
    if (ok) this.walkedAt = began
    else this.dirty = true
  }
}
