import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryBackend, Repository } from '../src/index.js'
import { cleanup, FAST_KDF, PassThrough, randomBytesSeeded, tempDir, writeTree } from './helpers.js'

after(cleanup)

const CLI = join(process.cwd(), 'dist', 'cli.js')
const env = { ...process.env, SESSION_SYNC_PASSWORD: 'resume test' }

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`session-sync ${args.join(' ')} failed: ${r.stderr}`)
  return r.stdout
}

function packs(repo: string): Array<{ name: string; size: number }> {
  const dir = join(repo, 'data')
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((d) => /^[0-9a-f]{2}$/.test(d)) // not the staging files of packs being written
    .flatMap((d) => readdirSync(join(dir, d)).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => ({ name: n, size: statSync(join(dir, d, n)).size })))
}

test('a backup killed with SIGKILL is resumed without uploading its stored packs again', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(CLI), 'dist/cli.js is missing: run npm run build first')
  const base = tempDir('resume')
  const src = join(base, 'src')
  mkdirSync(src)
  for (let i = 0; i < 24; i++) writeFileSync(join(src, `f${i}.bin`), randomBytesSeeded(2_000_000, i + 1))
  const repo = join(base, 'repo')
  cli('--repo', repo, 'init', '--pack-size', '1M', '--kdf-memory', '8', '--kdf-passes', '1')

  const child = spawn(process.execPath, [CLI, '--repo', repo, 'backup', src], { env, stdio: 'ignore' })
  const exited = new Promise((r) => child.once('exit', r))
  const deadline = Date.now() + 60_000
  while (packs(repo).length < 12 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 5))
  child.kill('SIGKILL')
  await exited
  const before = packs(repo)
  assert.ok(before.length >= 12, `only ${before.length} packs were stored before the kill`)
  assert.equal(existsSync(join(repo, 'snapshots')) ? readdirSync(join(repo, 'snapshots')).length : 0, 0, 'the killed backup must not have stored a snapshot')
  const beforeBytes = before.reduce((n, p) => n + p.size, 0)

  const summary = JSON.parse(cli('--repo', repo, '--json', 'backup', src))
  assert.ok(summary.packsResumed >= before.length - 1, `resumed ${summary.packsResumed} of ${before.length} packs`)
  // Reference: the same data backed up in one go.
  const fresh = join(base, 'fresh')
  cli('--repo', fresh, 'init', '--pack-size', '1M', '--kdf-memory', '8', '--kdf-passes', '1')
  const full = JSON.parse(cli('--repo', fresh, '--json', 'backup', src))
  const reuploaded = summary.bytesStored - (full.bytesStored - beforeBytes)
  t.diagnostic(`${before.length} packs (${beforeBytes} bytes) stored before SIGKILL; resumed ${summary.packsResumed}; second run stored ${summary.bytesStored} bytes (${summary.requests.PUT} PUT, ${summary.requests.bytesUp} bytes up); one-shot backup stores ${full.bytesStored}; re-uploaded ${reuploaded}`)
  assert.ok(reuploaded <= 1_100_000 + 64 * 1024, `re-uploaded ${reuploaded} bytes that had already arrived (${summary.bytesStored} stored after the kill, ${beforeBytes} before it, ${full.bytesStored} in one go)`)
  const out = join(base, 'out')
  cli('--repo', repo, 'restore', 'latest', '--target', out)
  for (let i = 0; i < 24; i++) assert.ok(randomBytesSeeded(2_000_000, i + 1).equals(readFileSync(join(out, 'src', `f${i}.bin`))), `f${i} differs`)
})

test('an unchanged sync lists no packs; a backup with something to read adopts packs that no index names', async () => {
  const base = tempDir('lazy-resume')
  const src = join(base, 'notes')
  mkdirSync(src)
  const memory = new MemoryBackend()
  const listed: string[] = []
  const backend = new (class extends PassThrough {
    override list(type: Parameters<PassThrough['list']>[0]) {
      listed.push(type)
      return super.list(type)
    }
  })(memory)
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, packSize: 64 * 1024 })
  const first = new Map<string, Buffer>()
  for (let i = 0; i < 10; i++) first.set(`day-${i}.md`, randomBytesSeeded(50_000, 300 + i))
  writeTree(src, first)
  await repo.backup([src])

  listed.length = 0
  const same = await repo.backup([src])
  assert.equal(same.filesUnmodified, 10)
  assert.ok(!listed.includes('data'), `an unchanged backup lists no packs (listed: ${listed.join(', ')})`)
  assert.equal(same.packsResumed, 0)

  // A second backup whose index file is then lost: its packs are stored but named by no index, as
  // after a backup killed before writing its index.
  const indexBefore = new Set<string>()
  for await (const f of memory.list('index')) indexBefore.add(f.name)
  const second = new Map(first)
  for (let i = 0; i < 6; i++) second.set(`new-${i}.md`, randomBytesSeeded(60_000, 400 + i))
  writeTree(src, second, first)
  await repo.backup([src])
  for await (const f of memory.list('index')) if (!indexBefore.has(f.name)) await memory.remove({ type: 'index', name: f.name })

  // Re-opened (the index is read from storage): the new files' blobs are not in the index, so they
  // are read again, and their packs are found and adopted instead of stored again.
  const reopened = await Repository.open({ backend, password: 'pw' })
  listed.length = 0
  const resumed = await reopened.backup([src])
  assert.ok(listed.includes('data'), 'a backup with files to read looks for unindexed packs')
  assert.ok(resumed.packsResumed >= 1, `packs adopted: ${resumed.packsResumed}`)
  assert.equal(resumed.dataBlobsAdded, 0, 'nothing stored again')
  const report = await reopened.check({ readData: true })
  assert.ok(report.ok, JSON.stringify(report.problems))
})
