import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { SyncLog, type SyncLogEntry } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'

after(cleanup)

const entry = (i: number): SyncLogEntry => ({ time: new Date(1_800_000_000_000 + i * 1000).toISOString(), kind: 'sync', trigger: 'timer', agent: 'main', device: 'd', result: 'ok', detail: { i, pad: 'x'.repeat(900) } })

test('the sync log rotates at 1 MiB, keeps three old files, and reads newest first across them', () => {
  const ws = tempDir('log')
  const log = new SyncLog(ws)
  for (let i = 0; i < 5000; i++) log.append(entry(i))
  const path = join(ws, 'memory', 'sync-log.jsonl')
  assert.ok(statSync(path).size < 1024 * 1024 + 2000)
  for (const n of [1, 2, 3]) assert.ok(existsSync(`${path}.${n}`), `${path}.${n}`)
  assert.ok(!existsSync(`${path}.4`))
  const read = log.read(3000)
  assert.equal(read[0].detail?.i, 4999)
  for (let k = 1; k < read.length; k++) assert.equal(read[k].detail?.i, (read[k - 1].detail?.i as number) - 1, 'newest first, none missing across files')
  assert.equal(readFileSync(`${path}.1`, 'utf8').split('\n').filter(Boolean).every((l) => JSON.parse(l).kind === 'sync'), true)
})

test('the sync log is never written through a link in place of memory/', () => {
  const root = tempDir('log')
  const ws = join(root, 'ws')
  mkdirSync(ws)
  mkdirSync(join(root, 'elsewhere'))
  symlinkSync(join(root, 'elsewhere'), join(ws, 'memory'))
  assert.throws(() => new SyncLog(ws).append(entry(1)), /symbolic link/)
  assert.ok(!existsSync(join(root, 'elsewhere', 'sync-log.jsonl')))
})
