// A backup that finds the packs of an interrupted one in storage says so in its normal output.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, randomBytesSeeded, tempDir } from '../helpers.js'
import { CHEAP_KDF, cli, json, ok, requireBuilt } from './run.js'

after(cleanup)

test('a backup that reuses the packs of an interrupted one says "resumed upload"', () => {
  requireBuilt()
  const base = tempDir('cli-resumed')
  const src = join(base, 'src')
  mkdirSync(src)
  for (let i = 0; i < 4; i++) writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(600_000, i + 1))
  const repo = join(base, 'repo')
  ok(cli(['--repo', repo, 'init', '--pack-size', '1M', ...CHEAP_KDF]))
  const first = ok(cli(['--repo', repo, 'backup', src]))
  assert.doesNotMatch(first.stdout, /resumed/i, 'a first backup resumes nothing')
  // What an interrupted backup leaves: its packs, and no index or snapshot naming them.
  for (const dir of ['index', 'snapshots']) for (const f of readdirSync(join(repo, dir))) rmSync(join(repo, dir, f))
  const r = ok(cli(['--repo', repo, '--no-cache', 'backup', src]))
  assert.match(r.stdout, /^Resumed: +resumed upload of an interrupted backup: [1-9]\d* packs already in storage reused, not uploaded again$/m)
  assert.match(r.stdout, /Added: +0 B/, r.stdout)
  // The same fact for programs.
  const again = json(cli(['--repo', repo, '--json', 'backup', '--force', src]))
  assert.equal(again.packsResumed, 0)
})
