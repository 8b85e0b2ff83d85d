/**
 * Transcripts (opt-in, `"transcripts": true`): OpenClaw keeps an agent's conversations in its
 * agent database (`agents/<id>/agent/openclaw-agent.sqlite`), a live SQLite database in WAL mode
 * that also holds the agent's auth profiles and secrets. It is never copied. Its transcript table
 * alone (`transcript_events`: one row per event, the event's JSON in `event_json` or, compressed
 * with zstd, in `event_zstd`) is read through a read-only connection, inside one read transaction
 * (a consistent view that holds no lock against the gateway's writes: WAL readers never block the
 * writer), into one JSONL file per session in the state folder, which the sync backs up beside the
 * workspace (`transcripts/<agent>/<session>.jsonl` in the snapshot).
 *
 * The export is incremental: each session's last exported `seq` is kept, and only newer rows are
 * appended; a session whose transcript was rewritten (its generation in
 * `transcript_rewrite_watermarks` changed, or it has fewer rows than exported) is written anew, and
 * the file of a session gone from the database is removed.
 *
 * `node:sqlite` exists on Node >= 22.5 (OpenClaw needs Node 24); elsewhere the export throws
 * UNSUPPORTED_RUNTIME and the memory files are backed up as ever.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { SessionSyncError } from '../library.js'

const require = createRequire(import.meta.url)

/** node:sqlite is missing from this Node (or needs a flag): transcripts cannot be read here. */
export class UnsupportedRuntimeError extends SessionSyncError {
  constructor(what: string, cause?: unknown) {
    super(
      'UNSUPPORTED_RUNTIME',
      `${what} needs node:sqlite (Node 22.5 or later; OpenClaw's gateway runs on Node 24), and Node ${process.versions.node} has none; the memory files are backed up as ever. Run the sync on Node 24, or set "transcripts": false`,
      { node: process.versions.node },
      { cause },
    )
  }
}

/** What one export did. */
export interface TranscriptExport {
  sessions: number
  /** Rows appended to the JSONL files in this export. */
  eventsAdded: number
  /** Sessions written anew (new, or rewritten in the database). */
  rewritten: number
  /** Files removed because their session is gone from the database. */
  removed: number
}

interface ExportState {
  sessions: Record<string, { lastSeq: number; count: number; generation: string | null; file: string }>
}

interface SqliteStatement {
  all(...params: unknown[]): Array<Record<string, unknown>>
  iterate?(...params: unknown[]): IterableIterator<Record<string, unknown>>
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement
  exec(sql: string): void
  close(): void
}

/** Opens the database read-only through node:sqlite, or throws UnsupportedRuntimeError. */
function openReadOnly(database: string): SqliteDatabase {
  let sqlite: { DatabaseSync: new (path: string, opts: Record<string, unknown>) => SqliteDatabase }
  try {
    sqlite = require('node:sqlite')
  } catch (e) {
    throw new UnsupportedRuntimeError('backing up transcripts', e)
  }
  // readOnly: no write can reach the agent's database from here; timeout: wait for a moment the
  // writer holds the WAL index instead of failing at once.
  return new sqlite.DatabaseSync(database, { readOnly: true, timeout: 5000 })
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/

/** A session id as a file name: itself when plain, else its hex (ids are UUIDs in practice). */
function fileNameOf(sessionId: string): string {
  return SAFE_NAME.test(sessionId) && !sessionId.startsWith('.') ? `${sessionId}.jsonl` : `x-${Buffer.from(sessionId).toString('hex').slice(0, 200)}.jsonl`
}

/**
 * Exports the transcripts of `database` into `outDir` (one `<session>.jsonl` per session), keeping
 * its progress in `stateFile`. Throws UnsupportedRuntimeError without node:sqlite.
 */
export function exportTranscripts(opts: { database: string; outDir: string; stateFile: string }): TranscriptExport {
  const db = openReadOnly(opts.database)
  const result: TranscriptExport = { sessions: 0, eventsAdded: 0, rewritten: 0, removed: 0 }
  let state: ExportState = { sessions: {} }
  try {
    state = existsSync(opts.stateFile) ? (JSON.parse(readFileSync(opts.stateFile, 'utf8')) as ExportState) : state
  } catch {
    state = { sessions: {} } // unreadable: export everything again
  }
  mkdirSync(opts.outDir, { recursive: true, mode: 0o700 })
  const next: ExportState = { sessions: {} }
  try {
    db.exec('BEGIN') // one read transaction: a consistent view of every session
    try {
      const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => String(r.name)))
      if (!tables.has('transcript_events')) return result
      const generations = new Map<string, string>()
      if (tables.has('transcript_rewrite_watermarks')) {
        for (const r of db.prepare('SELECT session_id, generation FROM transcript_rewrite_watermarks').all()) generations.set(String(r.session_id), String(r.generation))
      }
      const sessions = db.prepare('SELECT session_id, max(seq) AS last, count(*) AS n FROM transcript_events GROUP BY session_id').all()
      const rows = db.prepare('SELECT seq, event_json, event_zstd FROM transcript_events WHERE session_id = ? AND seq > ? ORDER BY seq')
      for (const s of sessions) {
        const id = String(s.session_id)
        const last = Number(s.last)
        const generation = generations.get(id) ?? null
        const file = fileNameOf(id)
        const n = Number(s.n)
        const before = state.sessions[id]
        const path = join(opts.outDir, file)
        const read = (after: number) => rows.all(id, after).map((r) => `${eventText(r)}\n`)
        // Appending is right only when the rows exported before are all still there, unchanged.
        let append = before !== undefined && before.file === file && before.generation === generation && before.lastSeq <= last && existsSync(path)
        let lines = append ? read(before!.lastSeq) : []
        if (append && before!.count + lines.length !== n) append = false
        if (!append) lines = read(Number.MIN_SAFE_INTEGER)
        if (append) {
          if (lines.length > 0) appendFileSync(path, lines.join(''))
        } else {
          const tmp = `${path}.tmp`
          writeFileSync(tmp, lines.join(''), { mode: 0o600 })
          renameSync(tmp, path)
          result.rewritten++
        }
        result.eventsAdded += lines.length
        result.sessions++
        next.sessions[id] = { lastSeq: last, count: n, generation, file }
      }
    } finally {
      db.exec('COMMIT')
    }
  } finally {
    db.close()
  }
  const kept = new Set(Object.values(next.sessions).map((s) => s.file))
  for (const name of readdirSync(opts.outDir)) {
    if (name.endsWith('.jsonl') && !kept.has(name)) {
      rmSync(join(opts.outDir, name), { force: true })
      result.removed++
    }
  }
  writeFileSync(`${opts.stateFile}.tmp`, JSON.stringify(next), { mode: 0o600 })
  renameSync(`${opts.stateFile}.tmp`, opts.stateFile)
  return result
}

/** The event's JSON text, from either column (zstd decompressed). */
function eventText(r: Record<string, unknown>): string {
  if (typeof r.event_json === 'string') return oneLine(r.event_json)
  const z = r.event_zstd
  if (z instanceof Uint8Array) {
    const { decompress } = require('fzstd') as typeof import('fzstd')
    return oneLine(Buffer.from(decompress(z)).toString('utf8'))
  }
  return 'null'
}

/** JSON on one line (a stored event is JSON; re-serialised only when it spans lines). */
function oneLine(text: string): string {
  return text.includes('\n') ? JSON.stringify(JSON.parse(text)) : text
}
