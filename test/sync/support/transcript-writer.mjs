// Writes transcript rows into an agent database as OpenClaw's gateway does (WAL, one transaction
// per event), with no busy timeout: a lock held against it by a reader fails a write at once.
// Usage: node transcript-writer.mjs DB SESSIONS ROWS_PER_SESSION
// Prints one JSON line: { committed, busy, errors }.
import { DatabaseSync } from 'node:sqlite'
import { zstdCompressSync } from 'node:zlib'

const [db, sessions, perSession] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
const conn = new DatabaseSync(db, { timeout: 0 })
conn.exec('PRAGMA journal_mode = WAL')
const insertJson = conn.prepare('INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?, ?, ?, ?)')
const insertZstd = conn.prepare('INSERT INTO transcript_events (session_id, seq, event_zstd, event_utf8_bytes, created_at) VALUES (?, ?, ?, ?, ?)')
let committed = 0
let busy = 0
const errors = []
for (let seq = 0; seq < perSession && busy <= 10_000; seq++) {
  for (let s = 0; s < sessions; s++) {
    const event = JSON.stringify({ type: 'message', id: `e-${s}-${seq}`, message: { role: seq % 2 ? 'assistant' : 'user', content: `turn ${seq} of session ${s} ${'x'.repeat(seq % 50)}` } })
    // Retried until committed, so every event is in the database exactly once.
    for (;;) {
      try {
        conn.exec('BEGIN IMMEDIATE')
        if (seq % 3 === 2) insertZstd.run(`session-${s}`, seq, zstdCompressSync(Buffer.from(event)), Buffer.byteLength(event), Date.now())
        else insertJson.run(`session-${s}`, seq, event, Date.now())
        conn.exec('COMMIT')
        committed++
        break
      } catch (e) {
        if (/busy|locked/i.test(String(e?.message))) busy++
        else errors.push(String(e?.message))
        try {
          conn.exec('ROLLBACK')
        } catch {
          // not in a transaction
        }
        if (busy > 10_000 || errors.length > 10) break
      }
    }
  }
}
conn.close()
console.log(JSON.stringify({ committed, busy, errors }))
