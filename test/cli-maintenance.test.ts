// The built CLI's maintenance and inspection commands (dist/cli.js, real processes, local
// repositories): forget, prune, check, unlock, stats, diff, find and key. Each is run both
// human-readable and with --json (exactly one JSON value on stdout). One repository with five
// snapshots is built once; tests that change a repository work on a copy of it.
//
// `npm test` builds dist/ first; run alone: `npx tsup && node --import tsx --test test/cli-maintenance.test.ts`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LocalBackend, Repository } from '../src/index.js'
import { Lock } from '../src/repository/lock.js'
import { assertSameFiles, cleanup, fails, randomBytesSeeded, tempDir, writeTree, type Tree } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'dist', 'cli.js')
const PW = 'maintenance password'
const PASSWORD = { SESSION_SYNC_PASSWORD: PW }
const CHEAP_KDF = ['--kdf-memory', '8', '--kdf-passes', '1']

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_')) env[k] = v
  return env
}

/** Runs the CLI with this process's environment minus every SESSION_SYNC_* variable, plus `env`. */
function cli(args: string[], env: Record<string, string> = PASSWORD): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...baseEnv(), ...env }, input: '', encoding: 'utf8', timeout: 120_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `expected success, got exit ${r.status}; stdout: ${r.stdout}; stderr: ${r.stderr}`)
  return r
}

/** Exactly one JSON value on stdout, on one line (the exit status is checked by the caller). */
function oneJson<T = any>(r: Run): T {
  assert.ok(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, `one line of JSON expected on stdout, got: ${JSON.stringify(r.stdout)}`)
  return JSON.parse(r.stdout) as T
}

function json<T = any>(r: Run): T {
  ok(r)
  return oneJson<T>(r)
}

/** The same failure with --json: the error as one JSON object on stdout, still one line on stderr. */
function failsJson(r: Run, code: string, message: RegExp): void {
  fails(r, message)
  const v = oneJson<{ error: { code: string; message: string } }>(r)
  assert.equal(v.error.code, code)
  assert.match(v.error.message, message)
}

/** Every file under a folder with its size and modification time. */
function folderState(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else {
        const st = statSync(p)
        out[relative(dir, p)] = `${st.size}:${st.mtimeMs}`
      }
    }
  }
  walk(dir)
  return out
}

function dataFiles(repo: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const d of readdirSync(join(repo, 'data'))) for (const n of readdirSync(join(repo, 'data', d))) if (/^[0-9a-f]{64}$/.test(n)) out.set(n, statSync(join(repo, 'data', d, n)).size)
  return out
}

const hex = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)) : [])

// ---- the shared repository: five snapshots of an evolving folder ----------------------------------

let base: string
let repo: string
let src: string
let host: string
/** s1 … s5: the snapshots, oldest first, with the folder each one holds. */
const snaps: Array<{ id: string; short: string; tree: Tree; host: string; tags: string[] }> = []
let forks = 0

/** A private copy of the shared repository, for a test that changes it. */
function fork(): string {
  const dir = join(base, `fork-${++forks}`)
  cpSync(repo, dir, { recursive: true })
  return dir
}

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first with "npx tsup" (npm test builds before it tests)`)
  base = tempDir('cli-maint')
  repo = join(base, 'repo')
  src = join(base, 'proj')
  mkdirSync(src)
  ok(cli(['--repo', repo, 'init', '--pack-size', '256K', ...CHEAP_KDF]))
  const g1: Tree = new Map([
    ['notes/a.md', Buffer.from('# alpha\n'.repeat(500))],
    ['notes/b.md', Buffer.from('bravo bravo\n'.repeat(400))],
    ['notes/deep/c.md', Buffer.from('charlie\n'.repeat(300))],
    ['data/big1.bin', randomBytesSeeded(400_000, 11)],
    ['data/big2.bin', randomBytesSeeded(300_000, 12)],
    ['top.txt', Buffer.from('top\n')],
  ])
  const g2: Tree = new Map(g1)
  g2.set('notes/a.md', Buffer.concat([g1.get('notes/a.md')!, Buffer.from('more\n')]))
  g2.set('notes/new.md', Buffer.from('new note\n'))
  g2.delete('top.txt')
  g2.set('data/big1.bin', randomBytesSeeded(420_000, 21))
  const g3: Tree = new Map(g2)
  g3.set('data/sub/x.txt', Buffer.from('x marks the spot\n'))
  g3.set('notes/b.md', Buffer.from('bravo, changed\n'.repeat(300)))
  const g5: Tree = new Map(g3)
  g5.set('data/big2.bin', randomBytesSeeded(310_000, 32))
  const steps: Array<{ tree: Tree; args: string[]; tags: string[]; host?: string }> = [
    { tree: g1, args: ['--tag', 'keep'], tags: ['keep'] },
    { tree: g2, args: [], tags: [] },
    { tree: g3, args: [], tags: [] },
    { tree: g3, args: ['--host', 'other'], tags: [], host: 'other' },
    { tree: g5, args: [], tags: [] },
  ]
  let prev: Tree | undefined
  for (const s of steps) {
    writeTree(src, s.tree, prev)
    prev = s.tree
    const b = json<{ snapshotId: string }>(cli(['--repo', repo, '--json', 'backup', '--quiet', ...s.args, src]))
    snaps.push({ id: b.snapshotId, short: b.snapshotId.slice(0, 8), tree: s.tree, host: s.host ?? '', tags: s.tags })
  }
  const listed = json<Array<{ id: string; host: string }>>(cli(['--repo', repo, '--json', 'snapshots']))
  assert.deepEqual(
    listed.map((s) => s.id),
    snaps.map((s) => s.id),
  )
  host = listed[0].host
  for (const [i, s] of snaps.entries()) s.host = listed[i].host
})
after(cleanup)

interface Decision {
  snapshot: { id: string; shortId: string; host: string; tags: string[] }
  keep: boolean
  reasons: string[]
}
interface ForgetJson {
  groups: Array<{ key: string; decisions: Decision[] }>
  kept: number
  removed: number
  removedIds: string[]
  dryRun: boolean
  prune?: { bytesFreed: number; packsDeleted: number; dryRun: boolean }
}

/** The decisions of a forget, as `short: keep|remove reasons` per group key. */
function decisions(f: ForgetJson): Record<string, string[]> {
  return Object.fromEntries(f.groups.map((g) => [g.key, g.decisions.map((d) => `${d.snapshot.shortId}: ${d.keep ? 'keep' : 'remove'}${d.reasons.length ? ` ${d.reasons.join(', ')}` : ''}`)]))
}

// ---- forget ---------------------------------------------------------------------------------------

test('forget --dry-run shows keep/remove with reasons for each group and removes nothing', () => {
  const [s1, s2, s3, s4, s5] = snaps
  const before = folderState(repo)
  const mine = `host=${JSON.stringify(host)} paths=${JSON.stringify([src])}`
  const other = `host="other" paths=${JSON.stringify([src])}`

  const human = ok(cli(['--repo', repo, 'forget', '--dry-run', '--keep-last', '1', '--keep-tag', 'keep']))
  const lines = human.stdout.trimEnd().split('\n')
  const at = (key: string) => lines.indexOf(`group ${key}:`)
  assert.ok(at(mine) >= 0 && at(other) >= 0, human.stdout)
  const row = (s: (typeof snaps)[number], verdict: string, reasons: string) => new RegExp(`^  ${verdict} ${s.short}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d{3})?[+-]\\d\\d:\\d\\d  ${reasons}$`)
  const mineRows = lines.slice(at(mine) + 1, at(mine) + 5)
  assert.match(mineRows[0], row(s5, 'keep  ', 'last 1'))
  assert.match(mineRows[1], row(s3, 'remove', ''))
  assert.match(mineRows[2], row(s2, 'remove', ''))
  assert.match(mineRows[3], row(s1, 'keep  ', 'tag keep'))
  assert.match(lines[at(other) + 1], row(s4, 'keep  ', 'last 1'))
  assert.equal(lines.at(-1), 'would remove 2 snapshots, kept 3')

  const j = json<ForgetJson>(cli(['--repo', repo, '--json', 'forget', '--dry-run', '--keep-last', '1', '--keep-tag', 'keep']))
  assert.equal(j.dryRun, true)
  assert.equal(j.removed, 2)
  assert.equal(j.kept, 3)
  assert.deepEqual([...j.removedIds].sort(), [s2.id, s3.id].sort())
  assert.deepEqual(decisions(j), {
    [mine]: [`${s5.short}: keep last 1`, `${s3.short}: remove`, `${s2.short}: remove`, `${s1.short}: keep tag keep`],
    [other]: [`${s4.short}: keep last 1`],
  })
  assert.equal(j.prune, undefined)
  assert.deepEqual(folderState(repo), before, 'a dry run changes no file')
})

test('forget policy flags: --keep-daily/weekly/monthly/yearly, --keep-within, --host, --group-by, and bad values', () => {
  const [s1, s2, s3, s4, s5] = snaps
  const mine = `host=${JSON.stringify(host)} paths=${JSON.stringify([src])}`
  const dry = (...flags: string[]) => json<ForgetJson>(cli(['--repo', repo, '--json', 'forget', '--dry-run', ...flags]))

  // One bucket of each calendar rule: only the newest snapshot of each group is kept, with every reason.
  const cal = dry('--keep-daily', '1', '--keep-weekly', '1', '--keep-monthly', '1', '--keep-yearly', '1', '--keep-hourly', '1')
  const newest = cal.groups.find((g) => g.key === mine)!.decisions[0]
  assert.equal(newest.snapshot.id, s5.id)
  assert.deepEqual(
    newest.reasons.map((r) => r.split(' ')[0]),
    ['hourly', 'daily', 'weekly', 'monthly', 'yearly'],
  )
  assert.match(newest.reasons[1], /^daily \d{4}-\d\d-\d\d$/)
  assert.match(newest.reasons[2], /^weekly \d{4}-W\d\d$/)
  assert.deepEqual([cal.removed, cal.kept], [3, 2])

  // Everything was made within the last hour.
  const within = dry('--keep-within', '1h')
  assert.deepEqual([within.removed, within.kept], [0, 5])
  assert.ok(within.groups.every((g) => g.decisions.every((d) => d.reasons.includes('within 1h'))))

  // --host: only that host's snapshots are considered.
  const otherOnly = dry('--host', 'other', '--keep-last', '1')
  assert.deepEqual(
    otherOnly.groups.map((g) => g.key),
    [`host="other" paths=${JSON.stringify([src])}`],
  )
  assert.deepEqual([otherOnly.removed, otherOnly.kept], [0, 1])

  // --group-by "": one group of all five; the two newest stay.
  const all = dry('--group-by', '', '--keep-last', '2')
  assert.deepEqual(decisions(all), { all: [`${s5.short}: keep last 1`, `${s4.short}: keep last 2`, `${s3.short}: remove`, `${s2.short}: remove`, `${s1.short}: remove`] })
  // --group-by tags: the tagged snapshot is a group of its own, so it is its group's newest.
  const byTags = dry('--group-by', 'tags', '--keep-last', '1')
  assert.deepEqual(decisions(byTags), { 'tags=[]': [`${s5.short}: keep last 1`, `${s4.short}: remove`, `${s3.short}: remove`, `${s2.short}: remove`], 'tags=["keep"]': [`${s1.short}: keep last 1`] })
  // No rule at all keeps everything.
  const none = dry()
  assert.equal(none.removed, 0)
  assert.ok(none.groups.every((g) => g.decisions.every((d) => d.reasons.join() === 'no policy')))

  failsJson(cli(['--repo', repo, '--json', 'forget', '--keep-within', '3x']), 'INVALID_OPTIONS', /invalid duration "3x"/)
  failsJson(cli(['--repo', repo, '--json', 'forget', '--keep-last', '-1']), 'INVALID_OPTIONS', /--keep-last must be a number of at least 0/)
  failsJson(cli(['--repo', repo, '--json', 'forget', '--keep-last', 'many']), 'INVALID_OPTIONS', /--keep-last must be a number of at least 0, not "many"/)
  fails(cli(['--repo', repo, 'forget', '--group-by', 'color', '--keep-last', '1']), /cannot group by "color"/)
  assert.equal(hex(join(repo, 'snapshots')).length, 5, 'nothing was removed')
})

test('forget by id (and --dry-run by id); forget --keep-last with --prune removes snapshots and frees their data', () => {
  const [s1, s2, s3, s4, s5] = snaps
  const r = fork()
  const dryId = json<{ removed: number; removedIds: string[]; dryRun: boolean; snapshots: Array<{ id: string }> }>(cli(['--repo', r, '--json', 'forget', '--dry-run', s2.short]))
  assert.deepEqual([dryId.removed, dryId.removedIds, dryId.dryRun], [1, [s2.id], true])
  assert.equal(hex(join(r, 'snapshots')).length, 5)

  assert.equal(ok(cli(['--repo', r, 'forget', s2.short])).stdout, 'removed 1 snapshots\n')
  assert.ok(!hex(join(r, 'snapshots')).includes(s2.id))
  const byId = json<{ removed: number; removedIds: string[]; dryRun: boolean; snapshots: Array<{ id: string }>; prune?: unknown }>(cli(['--repo', r, '--json', 'forget', s4.id, s3.short]))
  assert.deepEqual([byId.removed, byId.dryRun, byId.prune], [2, false, undefined])
  assert.deepEqual(
    byId.snapshots.map((s) => s.id),
    [s3.id, s4.id],
    'oldest first',
  )
  assert.deepEqual(hex(join(r, 'snapshots')).sort(), [s1.id, s5.id].sort())
  failsJson(cli(['--repo', r, '--json', 'forget', 'deadbeef']), 'SNAPSHOT_NOT_FOUND', /no snapshot matches "deadbeef"/)
  failsJson(cli(['--repo', r, '--json', 'forget', 'not-an-id']), 'INVALID_OPTIONS', /is not a snapshot id/)

  // --prune: s1 alone held the first big1.bin, in packs of its own.
  const before = dataFiles(r)
  const pruned = json<ForgetJson>(cli(['--repo', r, '--json', 'forget', '--keep-last', '1', '--prune']))
  assert.deepEqual([pruned.removed, pruned.removedIds, pruned.dryRun], [1, [s1.id], false])
  assert.ok(pruned.prune && pruned.prune.dryRun === false && pruned.prune.bytesFreed >= 400_000, JSON.stringify(pruned.prune))
  const after = dataFiles(r)
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
  assert.equal(total(before) - total(after), pruned.prune.bytesFreed, 'bytesFreed is how much smaller the packs are in all (deleted minus written)')
  assert.deepEqual(hex(join(r, 'snapshots')), [s5.id])

  // Human output of forget --prune, by id, on another copy.
  const h = ok(cli(['--repo', fork(), 'forget', '--prune', s1.short]))
  assert.match(h.stdout, /^removed 1 snapshots; pruned \d+(\.\d+)? [KM]i?B\n$/)
})

// ---- prune ----------------------------------------------------------------------------------------

test('prune --dry-run changes no file in the repository; a real prune frees bytes and keeps every remaining snapshot whole', () => {
  const [s1, s2, s3, s4, s5] = snaps
  const r = fork()
  ok(cli(['--repo', r, 'forget', s1.id, s2.id, s4.id]))
  const before = folderState(r)

  const humanDry = ok(cli(['--repo', r, 'prune', '--dry-run']))
  assert.match(humanDry.stdout, /^snapshots: 2; blobs used \d+, unused \d+, duplicate \d+$/m)
  assert.match(humanDry.stdout, /^packs: delete \d+, repack \d+, keep \d+; unindexed: delete 0, keep 0/m)
  assert.match(humanDry.stdout, /^would free about .+ and rewrite .+$/m)
  const dry = json<{ dryRun: boolean; bytesFreed: number; packsDeleted: number; plan: { stats: { snapshots: number; packsToDelete: number; bytesToDelete: number; unusedBlobs: number } } }>(
    cli(['--repo', r, '--json', 'prune', '--dry-run', '--max-unused', '0']),
  )
  assert.equal(dry.dryRun, true)
  assert.equal(dry.plan.stats.snapshots, 2)
  assert.ok(dry.plan.stats.packsToDelete >= 1 && dry.plan.stats.bytesToDelete > 0 && dry.plan.stats.unusedBlobs > 0, JSON.stringify(dry.plan.stats))
  assert.deepEqual([dry.bytesFreed, dry.packsDeleted], [0, 0])
  assert.deepEqual(folderState(r), before, 'a dry run changes no file in the repository folder (no lock either)')

  const packsBefore = dataFiles(r)
  const real = json<{ dryRun: boolean; bytesFreed: number; packsDeleted: number; packsWritten: number; indexFilesWritten: number; plan: { stats: { bytesToDelete: number } } }>(
    cli(['--repo', r, '--json', 'prune', '--max-unused', '0']),
  )
  assert.equal(real.dryRun, false)
  assert.ok(real.bytesFreed > 0 && real.packsDeleted >= 1, JSON.stringify(real))
  const packsAfter = dataFiles(r)
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
  assert.equal(sum(packsBefore) - sum(packsAfter), real.bytesFreed, 'bytesFreed is how much smaller the packs are in all (deleted minus written)')
  assert.ok(sum(packsAfter) < sum(packsBefore), `packs hold ${sum(packsAfter)} bytes after, ${sum(packsBefore)} before`)
  assert.equal(hex(join(r, 'locks')).length, 0, 'the lock is released')

  assert.equal(json<{ ok: boolean }>(cli(['--repo', r, '--json', 'check', '--read-data'])).ok, true)
  for (const s of [s3, s5]) {
    const out = join(base, `pruned-${s.short}`)
    ok(cli(['--repo', r, 'restore', s.id, '--target', out]))
    assertSameFiles(join(out, 'proj'), s.tree, `snapshot ${s.short}`)
  }
})

test('a second prune right after a complete one has nothing to do', () => {
  const r = fork()
  ok(cli(['--repo', r, 'forget', snaps[0].id, snaps[1].id]))
  json(cli(['--repo', r, '--json', 'prune']))
  const before = folderState(r)
  const again = json<{ bytesFreed: number; packsWritten: number; packsRepacked: number; indexFilesWritten: number; plan: { stats: { packsToRepack: number } } }>(cli(['--repo', r, '--json', 'prune']))
  assert.deepEqual(
    { repack: again.plan.stats.packsToRepack, repacked: again.packsRepacked, written: again.packsWritten, indexFiles: again.indexFilesWritten, freed: again.bytesFreed },
    { repack: 0, repacked: 0, written: 0, indexFiles: 0, freed: 0 },
  )
  assert.deepEqual(folderState(r), before, 'a prune with nothing to do changes no file')
  assert.match(ok(cli(['--repo', r, 'prune'])).stdout, /^nothing to do: no pack was deleted or rewritten, and the index stays as it is$/m)
})

// ---- check ----------------------------------------------------------------------------------------

test('check exits 0 when clean; a corrupted pack makes check --read-data exit 1 with an error line naming it', () => {
  const before = folderState(repo)
  const human = ok(cli(['--repo', repo, 'check']))
  assert.match(human.stdout, /^5 snapshots, \d+ index files, \d+ packs, \d+ blobs, \d+ trees; read 0 packs$/m)
  assert.match(human.stdout, /^no errors were found\n$/m)
  const clean = json<{ ok: boolean; problems: unknown[]; counts: { snapshots: number; packs: number; packsRead: number } }>(cli(['--repo', repo, '--json', 'check', '--read-data']))
  assert.equal(clean.ok, true)
  assert.deepEqual(clean.problems, [])
  assert.equal(clean.counts.snapshots, 5)
  assert.equal(clean.counts.packsRead, clean.counts.packs)
  assert.deepEqual(folderState(repo), before, 'check never modifies the repository')

  // Flip one byte in the middle of the biggest pack.
  const r = fork()
  const [victim] = [...dataFiles(r)].sort((a, b) => b[1] - a[1])[0]
  const path = join(r, 'data', victim.slice(0, 2), victim)
  const bytes = readFileSync(path)
  bytes[bytes.length >> 1] ^= 0x55
  writeFileSync(path, bytes)

  const bad = cli(['--repo', r, 'check', '--read-data'])
  assert.equal(bad.status, 1, `exit 1 expected: ${bad.stdout}${bad.stderr}`)
  const errors = bad.stdout.split('\n').filter((l) => l.startsWith('error: '))
  assert.ok(errors.length >= 1, bad.stdout)
  assert.ok(
    errors.some((l) => l.startsWith('error: blob-corrupt: ') && l.includes(` in pack ${victim} is corrupt: `)),
    `an error line names pack ${victim}:\n${bad.stdout}`,
  )
  for (const l of errors) assert.ok(l.split(victim).length <= 2, `the pack is named once a line: ${l}`)
  // Then what to do, once for all the lines that share it.
  assert.match(bad.stdout, /^what to do:\n  - Storage lost or changed data that snapshots need: restore what you need now/m)
  assert.equal(bad.stdout.split('  - Storage lost').length, 2)
  assert.match(bad.stdout, new RegExp(`^${errors.length} errors found\\n$`, 'm'))
  const badJson = cli(['--repo', r, '--json', 'check', '--read-data'])
  assert.equal(badJson.status, 1)
  const report = oneJson<{ ok: boolean; problems: Array<{ kind: string; object: string; message: string }> }>(badJson)
  assert.equal(report.ok, false)
  assert.ok(
    report.problems.some((p) => p.kind === 'blob-corrupt' && p.message.includes(`in pack ${victim}`)),
    JSON.stringify(report.problems),
  )
  // Without --read-data the pack is not read: its size is still right.
  assert.equal(json<{ ok: boolean }>(cli(['--repo', r, '--json', 'check'])).ok, true)
})

test('a pack with a damaged header and intact blobs: check --read-data names prune --repack, and after it the repository checks clean', () => {
  const r = fork()
  const [victim] = [...dataFiles(r)].sort((a, b) => b[1] - a[1])[0]
  const path = join(r, 'data', victim.slice(0, 2), victim)
  const bytes = readFileSync(path)
  bytes[bytes.length - 20] ^= 0x55 // inside the sealed header
  writeFileSync(path, bytes)

  const bad = cli(['--repo', r, 'check', '--read-data'])
  assert.equal(bad.status, 1, `exit 1 expected: ${bad.stdout}${bad.stderr}`)
  assert.match(bad.stdout, /^error: pack-header: /m)
  assert.ok(bad.stdout.includes(`session-sync prune --repack ${victim}`), bad.stdout)
  assert.match(bad.stdout, /nothing is lost/)
  assert.ok(!bad.stdout.includes('Storage lost or changed data'), bad.stdout)

  const pruned = json<{ packsRepacked: number; packsWritten: number }>(cli(['--repo', r, '--json', 'prune', '--repack', victim]))
  assert.ok(pruned.packsRepacked >= 1)
  assert.ok(pruned.packsWritten >= 1)
  assert.equal(existsSync(path), false, 'the damaged pack is gone')
  assert.equal(json<{ ok: boolean }>(cli(['--repo', r, '--json', 'check', '--read-data'])).ok, true)
  // A pack the index does not name: a clear error, nothing done.
  const unknown = cli(['--repo', r, 'prune', '--repack', '0'.repeat(64)])
  assert.notEqual(unknown.status, 0)
  assert.match(unknown.stderr, /in no index/)
})

// ---- unlock ---------------------------------------------------------------------------------------

test('unlock removes the stale lock of a backup killed with SIGKILL, keeps a live lock, and --remove-all removes that too', async () => {
  const r = fork()
  const big = join(base, 'big-source')
  mkdirSync(big)
  for (let i = 0; i < 12; i++) writeFileSync(join(big, `f${i}.bin`), randomBytesSeeded(1_000_000, 500 + i))
  const child = spawn(process.execPath, [CLI, '--repo', r, 'backup', '--quiet', big], { cwd: ROOT, env: { ...baseEnv(), ...PASSWORD }, stdio: 'ignore' })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 60_000
  while (hex(join(r, 'locks')).length === 0 && child.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2))
  child.kill('SIGKILL')
  await exited
  assert.equal(hex(join(r, 'locks')).length, 1, 'the killed backup left its lock behind')
  assert.equal(hex(join(r, 'snapshots')).length, 5, 'and stored no snapshot')

  const removed = json<Array<{ id: string; pid: number; host: string; exclusive: boolean; stale: boolean }>>(cli(['--repo', r, '--json', 'unlock']))
  assert.equal(removed.length, 1)
  assert.equal(removed[0].pid, child.pid)
  assert.deepEqual([removed[0].exclusive, removed[0].stale, removed[0].host], [false, true, host])
  assert.deepEqual(hex(join(r, 'locks')), [])
  assert.equal(ok(cli(['--repo', r, 'unlock'])).stdout, 'removed 0 locks\n')

  // A live lock (held by this test process) stays, and keeps prune out, until --remove-all.
  const opened = await Repository.open({ backend: new LocalBackend(r), password: PW })
  const lock = await Lock.acquire(opened, { exclusive: false, settleMs: 10 })
  try {
    assert.deepEqual(json(cli(['--repo', r, '--json', 'unlock'])), [])
    assert.equal(hex(join(r, 'locks')).length, 1)
    failsJson(cli(['--repo', r, '--json', 'prune']), 'LOCKED', new RegExp(`locked by pid ${process.pid} `))
    const all = json<Array<{ pid: number; stale: boolean }>>(cli(['--repo', r, '--json', 'unlock', '--remove-all']))
    assert.deepEqual(
      all.map((l) => [l.pid, l.stale]),
      [[process.pid, false]],
    )
    assert.deepEqual(hex(join(r, 'locks')), [])
    assert.equal(json<{ dryRun: boolean }>(cli(['--repo', r, '--json', 'prune'])).dryRun, false)
  } finally {
    await lock.release()
    await opened.close()
  }
  // The killed backup's packs are unindexed: a warning, not an error.
  const report = json<{ ok: boolean; problems: Array<{ kind: string }> }>(cli(['--repo', r, '--json', 'check']))
  assert.equal(report.ok, true)
  assert.ok(report.problems.every((p) => p.kind === 'pack-unindexed'))
})

// ---- stats, diff, find ----------------------------------------------------------------------------

test('stats: snapshots, files over all snapshots, unique data, packs (human and --json)', () => {
  const s = json<{ snapshots: number; totalFiles: number; totalFileBytes: number; rawBytes: number; storedBlobBytes: number; blobs: number; packs: number; packBytes: number; dedupRatio: number; compressionRatio: number }>(
    cli(['--repo', repo, '--json', 'stats']),
  )
  const files = snaps.reduce((n, x) => n + x.tree.size, 0)
  const bytes = snaps.reduce((n, x) => n + [...x.tree.values()].reduce((m, b) => m + b.length, 0), 0)
  assert.equal(s.snapshots, 5)
  assert.equal(s.totalFiles, files)
  assert.equal(s.totalFileBytes, bytes)
  assert.ok(s.rawBytes < bytes && s.rawBytes > 1_400_000, `unique data ${s.rawBytes} of ${bytes}`)
  assert.ok(Math.abs(s.dedupRatio - bytes / s.rawBytes) < 1e-9)
  assert.ok(s.dedupRatio > 2)
  assert.equal(s.packs, dataFiles(repo).size)
  assert.equal(s.packBytes, [...dataFiles(repo).values()].reduce((a, b) => a + b, 0))
  assert.ok(s.blobs > 0 && s.storedBlobBytes > 0 && s.compressionRatio > 0)

  const human = ok(cli(['--repo', repo, 'stats'])).stdout.split('\n')
  assert.equal(human[0], 'snapshots:        5')
  assert.match(human[1], new RegExp(`^files \\(all snapshots\\): ${files}, `))
  assert.match(human[2], new RegExp(`^unique data: +.+ in ${s.blobs} blobs \\(dedup ${s.dedupRatio.toFixed(2)}x\\)$`))
  assert.match(human[3], new RegExp(`^stored: +.+ \\(compression ${s.compressionRatio.toFixed(2)}x\\), ${s.packs} packs of `))
})

test('diff: + / - / M lines and a summary; --json lists added, removed and modified', () => {
  const [s1, s2, s3, s4, s5] = snaps
  const h = ok(cli(['--repo', repo, 'diff', s1.short, s2.short]))
  assert.deepEqual(h.stdout.trimEnd().split('\n'), ['+ proj/notes/new.md', '- proj/top.txt', 'M proj/data/big1.bin', 'M proj/notes/a.md', '1 added, 1 removed, 2 modified'])

  const d = json<{ from: string; to: string; added: string[]; removed: string[]; modified: string[] }>(cli(['--repo', repo, '--json', 'diff', s2.id, s3.short]))
  assert.deepEqual(d, { from: s2.id, to: s3.id, added: ['proj/data/sub/', 'proj/data/sub/x.txt'], removed: [], modified: ['proj/notes/b.md'] })
  // Backwards, across several snapshots.
  const back = json<{ added: string[]; removed: string[]; modified: string[] }>(cli(['--repo', repo, '--json', 'diff', 'latest', s1.short]))
  assert.deepEqual(back.added, ['proj/top.txt'])
  assert.deepEqual(back.removed, ['proj/data/sub/', 'proj/data/sub/x.txt', 'proj/notes/new.md'])
  assert.deepEqual(back.modified, ['proj/data/big1.bin', 'proj/data/big2.bin', 'proj/notes/a.md', 'proj/notes/b.md'])
  // The same files backed up under another host: nothing differs.
  assert.equal(ok(cli(['--repo', repo, 'diff', s3.short, s4.short])).stdout, '0 added, 0 removed, 0 modified\n')
  assert.deepEqual(json<{ modified: string[] }>(cli(['--repo', repo, '--json', 'diff', s4.short, s5.short])).modified, ['proj/data/big2.bin'])
  failsJson(cli(['--repo', repo, '--json', 'diff', s1.short, 'deadbeef']), 'SNAPSHOT_NOT_FOUND', /no snapshot matches "deadbeef"/)
})

test('find: a name glob and a path glob, across every snapshot (human and --json)', () => {
  type Match = { snapshot: string; time: string; entry: { path: string; type: string } }
  const expect = (pick: (path: string) => boolean, withDirs: boolean) =>
    snaps
      .flatMap((s) => {
        const paths = new Set<string>()
        for (const f of s.tree.keys()) {
          const parts = `proj/${f}`.split('/')
          for (let i = 1; i <= parts.length; i++) if (withDirs || i === parts.length) paths.add(parts.slice(0, i).join('/'))
        }
        return [...paths].filter(pick).map((p) => `${s.id} ${p}`)
      })
      .sort()

  const md = json<Match[]>(cli(['--repo', repo, '--json', 'find', '*.md']))
  assert.deepEqual(md.map((m) => `${m.snapshot} ${m.entry.path}`).sort(), expect((p) => p.endsWith('.md'), false))
  assert.ok(md.every((m) => m.entry.type === 'file' && !Number.isNaN(Date.parse(m.time))))

  const under = json<Match[]>(cli(['--repo', repo, '--json', 'find', 'proj/data/**']))
  assert.deepEqual(under.map((m) => `${m.snapshot} ${m.entry.path}`).sort(), expect((p) => p === 'proj/data' || p.startsWith('proj/data/'), true))
  assert.ok(under.some((m) => m.entry.path === 'proj/data/sub' && m.entry.type === 'dir'))

  const human = ok(cli(['--repo', repo, 'find', 'x.txt'])).stdout.trimEnd().split('\n')
  assert.deepEqual(
    human.map((l) => l.replace(/^([0-9a-f]{8})  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})?[+-]\d\d:\d\d  /, '$1 ')),
    snaps.slice(2).map((s) => `${s.short} proj/data/sub/x.txt`),
  )
  assert.equal(ok(cli(['--repo', repo, 'find', 'nothing-like-this*'])).stdout, 'no matches\n')
  assert.deepEqual(json(cli(['--repo', repo, '--json', 'find', 'nothing-like-this*'])), [])
})

// ---- key ------------------------------------------------------------------------------------------

test('key list/add/remove/passwd: added passwords open the repository, removed and replaced ones do not, the current key cannot be removed', () => {
  const r = fork()
  const as = (password: string) => ({ SESSION_SYNC_PASSWORD: password })
  type Key = { id: string; current: boolean; kdf: string; user: string; host: string; created: string }
  const keys = (password = PW) => json<Key[]>(cli(['--repo', r, '--json', 'key', 'list'], as(password)))

  const [first] = keys()
  assert.equal(keys().length, 1)
  assert.deepEqual([first.current, first.kdf], [true, 'argon2id13'])
  const listed = ok(cli(['--repo', r, 'key', 'list'])).stdout
  assert.equal(listed, `* ${first.id.slice(0, 10)}  argon2id13  ${first.user}@${first.host}  ${first.created}\n`)

  // add: from SESSION_SYNC_NEW_PASSWORD (--json) and from --new-password-file (human).
  const second = json<{ id: string }>(cli(['--repo', r, '--json', 'key', 'add'], { ...PASSWORD, SESSION_SYNC_NEW_PASSWORD: 'second password' })).id
  const pwFile = join(base, 'third-password')
  writeFileSync(pwFile, 'third password\n')
  const added = ok(cli(['--repo', r, 'key', 'add', '--new-password-file', pwFile])).stdout
  const m = /^added key ([0-9a-f]{10})\n$/.exec(added)
  assert.ok(m, added)
  const third = keys().find((k) => k.id.startsWith(m[1]))!.id
  assert.deepEqual(
    keys()
      .map((k) => [k.id, k.current])
      .sort(),
    [
      [first.id, true],
      [second, false],
      [third, false],
    ].sort(),
  )
  assert.equal(json<unknown[]>(cli(['--repo', r, '--json', 'snapshots'], as('third password'))).length, 5)
  const seenBySecond = keys('second password')
  assert.equal(seenBySecond.find((k) => k.current)?.id, second, 'the key opened with is the current one')

  // remove: another key works; the current one is refused; an unknown one is not found.
  assert.equal(ok(cli(['--repo', r, 'key', 'remove', third.slice(0, 12)])).stdout, `removed key ${third.slice(0, 10)}\n`)
  failsJson(cli(['--repo', r, '--json', 'snapshots'], as('third password')), 'WRONG_PASSWORD', /wrong password or key/)
  failsJson(cli(['--repo', r, '--json', 'key', 'remove', first.id]), 'INVALID_OPTIONS', /refusing to remove the key this repository was opened with/)
  fails(cli(['--repo', r, 'key', 'remove', first.id.slice(0, 8)]), /refusing to remove the key this repository was opened with/)
  failsJson(cli(['--repo', r, '--json', 'key', 'remove', 'ffffffffffff']), 'OBJECT_NOT_FOUND', /key ffffffffffff does not exist/)
  assert.equal(keys().length, 2)

  // Opened with the second password, the first key can go; then the first password fails.
  assert.deepEqual(json(cli(['--repo', r, '--json', 'key', 'remove', first.id], as('second password'))), { id: first.id })
  failsJson(cli(['--repo', r, '--json', 'snapshots']), 'WRONG_PASSWORD', /wrong password or key/)

  // passwd replaces the current key: the old password stops working, the new one opens.
  const replaced = json<{ id: string }>(cli(['--repo', r, '--json', 'key', 'passwd'], { ...as('second password'), SESSION_SYNC_NEW_PASSWORD: 'fourth password' })).id
  failsJson(cli(['--repo', r, '--json', 'snapshots'], as('second password')), 'WRONG_PASSWORD', /wrong password or key/)
  const now = keys('fourth password')
  assert.deepEqual(
    now.map((k) => [k.id, k.current]),
    [[replaced, true]],
  )
  const pw5 = join(base, 'fifth-password')
  writeFileSync(pw5, 'fifth password\n')
  const h = ok(cli(['--repo', r, 'key', 'passwd', '--new-password-file', pw5], as('fourth password'))).stdout
  assert.match(h, /^changed the password; new key [0-9a-f]{10}\n$/)
  fails(cli(['--repo', r, 'snapshots'], as('fourth password')), /wrong password or key/)
  const out = join(base, 'after-passwd')
  ok(cli(['--repo', r, 'restore', 'latest', '--target', out], as('fifth password')))
  assertSameFiles(join(out, 'proj'), snaps[4].tree, 'the newest snapshot')
})
