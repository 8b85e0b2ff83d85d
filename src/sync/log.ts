/**
 * The sync log: one JSON line per sync, retention run, verification, restore and undo, appended to
 * `memory/sync-log.jsonl` in the workspace, where users look. Rotated at 1 MiB (`.1` … `.3` kept).
 * A line never holds a secret: it is built only from summaries and error codes and messages, and
 * the library's messages name no secret.
 */
import { appendFileSync, lstatSync, readFileSync, renameSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ownFilesDir, SYNC_LOG } from './scope.js'

export const LOG_ROTATE_BYTES = 1024 * 1024
export const LOG_KEEP = 3

export type LogKind = 'sync' | 'retention' | 'verify' | 'versions' | 'restore' | 'undo' | 'config' | 'shrink'

/** One line of the sync log. */
export interface SyncLogEntry {
  time: string
  kind: LogKind
  trigger?: string
  agent: string
  device: string
  result: 'ok' | 'unchanged' | 'error' | 'warning' | 'aborted'
  snapshot?: string
  filesNew?: number
  filesChanged?: number
  filesUnmodified?: number
  bytesAdded?: number
  bytesUploaded?: number
  requests?: Record<string, number>
  durationMs?: number
  error?: { code: string; message: string }
  /** What else the kind reports: snapshots removed, packs read, the restore's id… */
  detail?: Record<string, unknown>
}

export class SyncLog {
  readonly path: string

  constructor(private readonly workspace: string) {
    this.path = join(workspace, SYNC_LOG)
  }

  /** Appends one line, rotating first when the log has reached 1 MiB. Never follows a symlink. */
  append(entry: SyncLogEntry): void {
    ownFilesDir(this.workspace)
    try {
      const st = lstatSync(this.path)
      if (st.isSymbolicLink() || !st.isFile()) throw new Error(`${this.path} is not a regular file; the sync log was not written`)
      if (st.size >= LOG_ROTATE_BYTES) this.rotate()
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 })
  }

  private rotate(): void {
    for (let i = LOG_KEEP - 1; i >= 1; i--) {
      try {
        renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`)
      } catch {
        // not there
      }
    }
    renameSync(this.path, `${this.path}.1`)
  }

  /** The newest entries first, across the rotated files, at most `limit`. */
  read(limit = 50): SyncLogEntry[] {
    const out: SyncLogEntry[] = []
    for (let i = 0; i <= LOG_KEEP && out.length < limit; i++) {
      const p = i === 0 ? this.path : `${this.path}.${i}`
      let text: string
      try {
        if (!statSync(p).isFile()) continue
        text = readFileSync(p, 'utf8')
      } catch {
        continue
      }
      const lines = text.split('\n').filter((l) => l.trim() !== '')
      for (let j = lines.length - 1; j >= 0 && out.length < limit; j--) {
        try {
          out.push(JSON.parse(lines[j]) as SyncLogEntry)
        } catch {
          // a torn line (a crash mid-append) is skipped
        }
      }
    }
    return out
  }
}
