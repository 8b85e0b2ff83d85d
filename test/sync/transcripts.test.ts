// Transcripts ("transcripts": true): OpenClaw's agent database read through a read-only node:sqlite
// connection, its transcript table alone, into JSONL in the state folder, backed up beside the
// workspace and restored staged only. The database tests need node:sqlite (Node >= 22.5: npm test's
// Node 24 pass); on Node 20 the clear UNSUPPORTED_RUNTIME is tested instead.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as zlib from 'node:zlib'
import { WorkspaceSync } from '../../src/index.js'
import { exportTranscripts } from '../../src/sync/transcripts.js'
import { cleanup, tempDir } from '../helpers.js'

after(cleanup)

const require = createRequire(import.meta.url)
/** node:sqlite as these tests use it (@types/node 20 has no types for it). */
interface Db {
  exec(sql: string): void
  prepare(sql: string): { run(...p: unknown[]): unknown; all(...p: unknown[]): Array<Record<string, unknown>> }
  close(): void
}
let sqlite: { DatabaseSync: new (path: string, opts?: Record<string, unknown>) => Db } | undefined
try {
  sqlite = require('node:sqlite')
} catch {
  sqlite = undefined
}
const noSqlite = sqlite ? false : `node:sqlite is missing from Node ${process.versions.node}; npm test runs this file again on Node 24`
const writer = join(import.meta.dirname, 'support', 'transcript-writer.mjs')
const SECRET = `sk-live-${randomBytes(12).toString('hex')}`

/** An agent database with the host's transcript tables (as openclaw@2026.9.6 creates them) and a secret table. */
function agentDatabase(dir: string): string {
  const path = join(dir, 'openclaw-agent.sqlite')
  const db = new sqlite!.DatabaseSync(path)
  db.exec(`PRAGMA journal_mode = WAL;
    CREATE TABLE transcript_events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT, created_at INTEGER NOT NULL, event_zstd BLOB, event_utf8_bytes INTEGER, navigation_json TEXT, PRIMARY KEY (session_id, seq)) STRICT;
    CREATE TABLE transcript_rewrite_watermarks (session_id TEXT NOT NULL PRIMARY KEY, generation TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
    CREATE TABLE auth_profile_store (id TEXT PRIMARY KEY, profile_json TEXT NOT NULL) STRICT;`)
  db.prepare('INSERT INTO auth_profile_store VALUES (?, ?)').run('openai:default', JSON.stringify({ apiKey: SECRET }))
  db.close()
  return path
}

function addEvents(path: string, session: string, from: number, n: number, opts: { zstd?: boolean } = {}): string[] {
  const db = new sqlite!.DatabaseSync(path)
  const lines: string[] = []
  for (let seq = from; seq < from + n; seq++) {
    const event = JSON.stringify({ type: 'message', id: `${session}-${seq}`, message: { role: 'user', content: `hello ${seq}` } })
    if (opts.zstd) db.prepare('INSERT INTO transcript_events (session_id, seq, event_zstd, event_utf8_bytes, created_at) VALUES (?, ?, ?, ?, 0)').run(session, seq, zstd(Buffer.from(event)), event.length)
    else db.prepare('INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?, ?, ?, 0)').run(session, seq, event)
    lines.push(event)
  }
  db.close()
  return lines
}

const zstd = (b: Buffer): Buffer => (zlib as unknown as { zstdCompressSync(b: Buffer): Buffer }).zstdCompressSync(b)
const fileLines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean)

describe('transcripts: export from the agent database', { skip: noSqlite }, () => {
  it('exports each session to JSONL (zstd rows decompressed), incrementally; a rewritten session anew; a gone one removed; no secret table read', () => {
    const dir = tempDir('transcripts')
    const db = agentDatabase(dir)
    const out = join(dir, 'export', 'main')
    const stateFile = join(dir, 'export-state.json')
    const a = [...addEvents(db, 's-a', 0, 3), ...addEvents(db, 's-a', 3, 2, { zstd: true })]
    const b = addEvents(db, 's-b', 0, 1)
    const first = exportTranscripts({ database: db, outDir: out, stateFile })
    assert.deepEqual(first, { sessions: 2, eventsAdded: 6, rewritten: 2, removed: 0 })
    assert.deepEqual(fileLines(join(out, 's-a.jsonl')), a)
    assert.deepEqual(fileLines(join(out, 's-b.jsonl')), b)

    const more = addEvents(db, 's-a', 5, 2)
    const second = exportTranscripts({ database: db, outDir: out, stateFile })
    assert.deepEqual(second, { sessions: 2, eventsAdded: 2, rewritten: 0, removed: 0 }, 'only the new rows')
    assert.deepEqual(fileLines(join(out, 's-a.jsonl')), [...a, ...more])

    // OpenClaw rewrote s-a (a new generation): written anew. s-b was deleted: its file goes.
    const w = new sqlite!.DatabaseSync(db)
    w.exec("DELETE FROM transcript_events WHERE session_id = 's-a' AND seq > 0; INSERT INTO transcript_rewrite_watermarks VALUES ('s-a', 'g2', 0); DELETE FROM transcript_events WHERE session_id = 's-b'")
    w.close()
    const third = exportTranscripts({ database: db, outDir: out, stateFile })
    assert.deepEqual(third, { sessions: 1, eventsAdded: 1, rewritten: 1, removed: 1 })
    assert.deepEqual(fileLines(join(out, 's-a.jsonl')), [a[0]])
    assert.equal(existsSync(join(out, 's-b.jsonl')), false)

    const all = readdirSync(out).map((n) => readFileSync(join(out, n), 'utf8')).join('')
    assert.ok(!all.includes(SECRET), "the secret table's content is never exported")
    assert.ok(!readFileSync(stateFile, 'utf8').includes(SECRET))
  })

  it('a database written by another process during the export: no lock held against the writer, no corruption, every committed row exported once, in order', async () => {
    const dir = tempDir('transcripts-live')
    const db = agentDatabase(dir)
    const out = join(dir, 'export', 'main')
    const stateFile = join(dir, 'export-state.json')
    const sessions = 4
    const perSession = 400
    const child = spawn(process.execPath, [writer, db, String(sessions), String(perSession)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let said = ''
    child.stdout.on('data', (d) => (said += d))
    const done = new Promise<number | null>((r) => child.once('exit', r))
    let exportsDuringWrites = 0
    let running = true
    void done.then(() => (running = false))
    while (running) {
      exportTranscripts({ database: db, outDir: out, stateFile })
      exportsDuringWrites++
      await new Promise((r) => setImmediate(r))
    }
    assert.equal(await done, 0)
    const report = JSON.parse(said) as { committed: number; busy: number; errors: string[] }
    assert.deepEqual(report, { committed: sessions * perSession, busy: 0, errors: [] }, 'the writer never found the database locked')
    assert.ok(exportsDuringWrites > 1, `exports ran while the writer wrote (${exportsDuringWrites})`)
    exportTranscripts({ database: db, outDir: out, stateFile })
    for (let s = 0; s < sessions; s++) {
      const ids = fileLines(join(out, `session-${s}.jsonl`)).map((l) => (JSON.parse(l) as { id: string }).id)
      assert.deepEqual(ids, Array.from({ length: perSession }, (_, seq) => `e-${s}-${seq}`), `session-${s}`)
    }
    const check = new sqlite!.DatabaseSync(db, { readOnly: true })
    assert.deepEqual(check.prepare('PRAGMA integrity_check').all().map((r) => ({ ...r })), [{ integrity_check: 'ok' }])
    check.close()
  })

  it('backed up beside the workspace as transcripts/<agent>/<session>.jsonl; a staged restore gives them back, an in-place one never touches the database', async () => {
    const root = tempDir('transcripts-sync')
    const ws = join(root, 'workspace')
    mkdirSync(join(ws, 'memory'), { recursive: true })
    writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n')
    // A workspace file that looks like an export: not in the memory scope, so not backed up.
    mkdirSync(join(ws, 'main'))
    writeFileSync(join(ws, 'main', 'notes.jsonl'), '{}\n')
    const dbDir = join(root, 'agents', 'main', 'agent')
    mkdirSync(dbDir, { recursive: true })
    const db = agentDatabase(dbDir)
    const events = addEvents(db, 'sess-1', 0, 3)
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), transcripts: true, debounce_seconds: 0 }))
    const sync = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }, transcriptsDatabase: db })
    await sync.init()
    const s = await sync.syncNow()
    assert.equal(s.result, 'ok')
    assert.deepEqual(s.transcripts, { ok: true, sessions: 1, eventsAdded: 3, rewritten: 1, removed: 0 })
    const files: string[] = []
    const repo = await sync.repository()
    for await (const e of repo.ls(s.snapshot!)) if (e.type !== 'dir') files.push(e.path)
    assert.deepEqual(files.sort(), ['transcripts/main/sess-1.jsonl', 'workspace/MEMORY.md'])

    const staged = await sync.restore({ timestamp: 'latest' })
    assert.ok(staged.transcriptsDir)
    assert.deepEqual(fileLines(join(staged.transcriptsDir!, 'main', 'sess-1.jsonl')), events)

    const hash = () => createHash('sha256').update(readFileSync(db)).digest('hex')
    const before = hash()
    addEvents(db, 'sess-1', 3, 1) // the database moves on; the restore must not put it back
    const moved = hash()
    assert.notEqual(moved, before)
    const inPlace = await sync.restore({ timestamp: 'latest', inPlace: true })
    assert.equal(inPlace.inPlace, true)
    assert.equal(hash(), moved, 'the live database is never written by a restore')
    assert.equal(existsSync(join(ws, 'transcripts')), false, 'nor are transcripts put into the workspace')
    await sync.stop()
  })
})

describe('transcripts: without node:sqlite', { skip: sqlite ? `node:sqlite exists on Node ${process.versions.node}; the Node 20 pass tests this` : false }, () => {
  it('the export is UNSUPPORTED_RUNTIME with what to do; the memory files are backed up as ever', async () => {
    const root = tempDir('transcripts-node20')
    const ws = join(root, 'workspace')
    mkdirSync(ws, { recursive: true })
    writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n')
    const db = join(root, 'openclaw-agent.sqlite')
    writeFileSync(db, 'SQLite format 3\0')
    assert.throws(
      () => exportTranscripts({ database: db, outDir: join(root, 'out'), stateFile: join(root, 'state.json') }),
      (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'UNSUPPORTED_RUNTIME')
        assert.match(e.message!, new RegExp(`needs node:sqlite \\(Node 22\\.5 or later; OpenClaw's gateway runs on Node 24\\), and Node ${process.versions.node.replace(/\./g, '\\.')} has none; the memory files are backed up as ever\\. Run the sync on Node 24, or set "transcripts": false`))
        return true
      },
    )
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), transcripts: true, debounce_seconds: 0 }))
    const sync = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }, transcriptsDatabase: db })
    await sync.init()
    const s = await sync.syncNow()
    assert.equal(s.result, 'ok')
    assert.equal(s.transcripts?.ok, false)
    assert.equal((s.transcripts as { code: string }).code, 'UNSUPPORTED_RUNTIME')
    assert.equal(s.filesNew, 1)
    await sync.stop()
  })
})
