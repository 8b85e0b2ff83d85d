// Times mean the same both ways: the CLI prints them with their offset, and what it prints, typed
// back in another time zone, names the same snapshot. A bare date is local midnight; backup --time
// records the time given and tags the snapshot user-time.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, tempDir } from '../helpers.js'
import { CHEAP_KDF, PASSWORD, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string
let src: string
const NY = { ...PASSWORD, TZ: 'America/New_York' }
const TOKYO = { ...PASSWORD, TZ: 'Asia/Tokyo' }

before(() => {
  requireBuilt()
  base = tempDir('cli-times')
  repo = join(base, 'repo')
  src = join(base, 'memory')
  mkdirSync(src)
  writeFileSync(join(src, 'a.md'), 'a\n')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
})
after(cleanup)

test('backup --time takes a bare date as local midnight and marks the snapshot user-time', () => {
  const first = json<{ snapshotId: string }>(cli(['--repo', repo, '--json', 'backup', '--time', '2026-03-01', src], NY)).snapshotId
  writeFileSync(join(src, 'a.md'), 'a, edited\n')
  const second = json<{ snapshotId: string }>(cli(['--repo', repo, '--json', 'backup', '--time', '2026-03-02 12:00', src], NY)).snapshotId
  const list = json<Array<{ id: string; time: string; tags: string[] }>>(cli(['--repo', repo, '--json', 'snapshots']))
  assert.deepEqual(
    list.map((s) => [s.id, s.time, s.tags]),
    [
      [first, '2026-03-01T05:00:00.000Z', ['user-time']],
      [second, '2026-03-02T17:00:00.000Z', ['user-time']],
    ],
  )
})

test('snapshots prints times with their offset, and a printed time typed in another zone finds the same snapshot', () => {
  const list = json<Array<{ id: string }>>(cli(['--repo', repo, '--json', 'snapshots']))
  const human = ok(cli(['--repo', repo, 'snapshots'], NY)).stdout
  const row = human.split('\n').find((l) => l.startsWith(list[0].id.slice(0, 8)))!
  const printed = /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}/.exec(row)?.[0]
  assert.equal(printed, '2026-03-01 00:00:00-05:00')
  const r = cli(['--repo', repo, '--json', 'restore', printed!, '--target', join(base, 't'), '--dry-run'], TOKYO)
  assert.equal(json<{ snapshotId: string }>(r).snapshotId, list[0].id)
  // A local date read in Tokyo: 2026-03-02 00:00 there is before the second snapshot.
  assert.equal(json<{ snapshotId: string }>(cli(['--repo', repo, '--json', 'restore', '2026-03-02', '--target', join(base, 't'), '--dry-run'], TOKYO)).snapshotId, list[0].id)
  // latest~1, and the line saying which snapshot a time chose.
  const back = cli(['--repo', repo, 'restore', 'latest~1', '--target', join(base, 't'), '--dry-run'], TOKYO)
  assert.match(back.stdout, new RegExp(`dry run of snapshot ${list[0].id.slice(0, 8)}`))
  assert.match(back.stderr, /using the 2nd newest snapshot/)
})
