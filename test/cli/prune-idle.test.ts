// prune on a healthy repository: a dry run reports that nothing would be rewritten and changes no
// byte, and so does the prune itself; many index files are merged (the index only, no pack).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, randomBytesSeeded, tempDir } from '../helpers.js'
import { CHEAP_KDF, cli, json, ok, requireBuilt } from './run.js'

after(cleanup)

/** Every file under a folder with the SHA-256 of its bytes. */
function contents(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = join(rel, name)
    if (statSync(join(dir, p)).isDirectory()) Object.assign(out, contents(dir, p))
    else out[p] = createHash('sha256').update(readFileSync(join(dir, p))).digest('hex')
  }
  return out
}

const only = (c: Record<string, string>, folder: string) => Object.fromEntries(Object.entries(c).filter(([k]) => k.startsWith(`${folder}/`)))

function repository(label: string, backups: number): { repo: string; src: string; args: string[] } {
  requireBuilt()
  const base = tempDir(label)
  const src = join(base, 'src')
  mkdirSync(src)
  const repo = join(base, 'repo')
  const args = ['--repo', repo, '--cache-dir', join(base, 'cache')]
  ok(cli([...args, 'init', ...CHEAP_KDF]))
  // Each backup adds a file and changes one: every one ends in small packs of its own.
  for (let i = 0; i < backups; i++) {
    writeFileSync(join(src, `new-${i}.bin`), randomBytesSeeded(40_000, i + 1))
    writeFileSync(join(src, 'notes.md'), `notes, version ${i}\n`)
    ok(cli([...args, 'backup', src]))
  }
  return { repo, src, args }
}

test('prune --dry-run on a healthy repository: nothing would be rewritten, and no byte changes; nor with prune itself', () => {
  const { repo, args } = repository('cli-prune-idle', 4)
  const before = contents(repo)
  const dry = ok(cli([...args, 'prune', '--dry-run']))
  assert.match(dry.stdout, /^nothing to do: no pack would be deleted or rewritten, and the index would stay as it is$/m, dry.stdout)
  assert.match(dry.stdout, /packs: delete 0, repack 0, keep \d+/)
  const plan = json(cli([...args, '--json', 'prune', '--dry-run'])).plan
  assert.deepEqual({ repack: plan.stats.packsToRepack, delete: plan.stats.packsToDelete, bytes: plan.stats.bytesToRepack, merge: plan.mergeIndexFilesInto }, { repack: 0, delete: 0, bytes: 0, merge: 0 })
  assert.deepEqual(contents(repo), before, 'a dry run changes nothing')
  const real = ok(cli([...args, 'prune']))
  assert.match(real.stdout, /nothing to do: no pack was deleted or rewritten/)
  assert.deepEqual(contents(repo), before, 'a prune with nothing to do changes nothing')
})

test('prune with more than 8 index files (9 backups, fewer than 10 small packs of a kind) merges them, writing no pack; its dry run says so and changes nothing', () => {
  const { repo, args } = repository('cli-prune-merge', 9)
  const before = contents(repo)
  assert.equal(Object.keys(only(before, 'index')).length, 9)
  const dry = ok(cli([...args, 'prune', '--dry-run']))
  assert.match(dry.stdout, /^would merge 9 index files into 1$/m, dry.stdout)
  assert.match(dry.stdout, /packs: delete 0, repack 0/)
  assert.deepEqual(contents(repo), before, 'a dry run changes nothing')
  const r = json(cli([...args, '--json', 'prune']))
  assert.deepEqual({ written: r.packsWritten, deleted: r.packsDeleted, indexWritten: r.indexFilesWritten, indexDeleted: r.indexFilesDeleted }, { written: 0, deleted: 0, indexWritten: 1, indexDeleted: 9 })
  const afterPrune = contents(repo)
  assert.deepEqual(only(afterPrune, 'data'), only(before, 'data'), 'no pack written or deleted')
  assert.equal(Object.keys(only(afterPrune, 'index')).length, 1)
  assert.match(ok(cli([...args, 'check', '--read-data'])).stdout, /no errors were found/)
  assert.match(ok(cli([...args, 'prune', '--dry-run'])).stdout, /nothing to do/)
  assert.match(ok(cli([...args, 'diff', 'latest~8', 'latest'])).stdout, /\+ .*new-8\.bin/)
})
