// backup --dry-run reads and compares everything and stores nothing (the repository's bytes stay
// the same); -v lists each new and changed file, with or without --dry-run.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, randomBytesSeeded, tempDir } from '../helpers.js'
import { CHEAP_KDF, cli, json, ok, requireBuilt } from './run.js'

let base: string
let repo: string
let src: string

function contents(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = join(rel, name)
    if (statSync(join(dir, p)).isDirectory()) Object.assign(out, contents(dir, p))
    else out[p] = createHash('sha256').update(readFileSync(join(dir, p))).digest('hex')
  }
  return out
}

before(() => {
  requireBuilt()
  base = tempDir('cli-backup-dry')
  repo = join(base, 'repo')
  src = join(base, 'ws')
  mkdirSync(join(src, 'memory'), { recursive: true })
  writeFileSync(join(src, 'MEMORY.md'), '# memory\n')
  writeFileSync(join(src, 'memory', 'kept.md'), 'kept\n')
  writeFileSync(join(src, 'memory', 'edited.md'), 'first\n')
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  ok(cli(['--repo', repo, 'backup', src]))
  writeFileSync(join(src, 'memory', 'edited.md'), 'second, longer\n')
  writeFileSync(join(src, 'memory', 'added.bin'), randomBytesSeeded(300_000, 3))
})
after(cleanup)

test('backup --dry-run -v lists the new and changed files and what would be added, and changes no byte of the repository', () => {
  const before = contents(repo)
  const r = ok(cli(['--repo', repo, 'backup', '--dry-run', '-v', src]))
  const lines = r.stdout.split('\n')
  assert.deepEqual(lines.filter((l) => /^(new|modified) /.test(l)).sort(), ['modified  ws/memory/edited.md', 'new       ws/memory/added.bin'])
  assert.match(r.stdout, /^Files: +1 new, 1 changed, 2 unmodified$/m)
  assert.match(r.stdout, /^dry run: would add [\d.]+ KiB in \d+ packs and a snapshot; nothing was stored$/m)
  assert.match(r.stdout, /no writes \(dry run\)/)
  assert.deepEqual(contents(repo), before, 'a dry run stores nothing')
  const j = json(cli(['--repo', repo, '--json', 'backup', '-n', src]))
  assert.equal(j.dryRun, true)
  assert.equal(j.snapshotId, undefined)
  assert.ok(j.wouldStore.data.bytes > 300_000, JSON.stringify(j.wouldStore))
  assert.deepEqual(contents(repo), before)
  assert.equal(json(cli(['--repo', repo, '--json', 'snapshots'])).length, 1)
})

test('backup -v stores as usual and lists the same files; unchanged ones are not listed', () => {
  const r = json(cli(['--repo', repo, '--json', 'backup', '-v', src]))
  assert.deepEqual(r.files.map((f: { path: string; status: string }) => `${f.status} ${f.path}`).sort(), ['changed ws/memory/edited.md', 'new ws/memory/added.bin'])
  assert.ok(r.snapshotId)
  const again = ok(cli(['--repo', repo, 'backup', '-v', src]))
  assert.doesNotMatch(again.stdout, /^(new|modified) /m)
  assert.match(again.stdout, /Files: +0 new, 0 changed, 4 unmodified/)
})
