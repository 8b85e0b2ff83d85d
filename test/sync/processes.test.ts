// The sync across processes: two processes syncing one workspace at once, and a sync killed with
// SIGKILL in the middle of its uploads, followed by another.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { isWarning, LocalBackend, Repository, WorkspaceSync } from '../../src/index.js'
import { cleanup, randomBytesSeeded, tempDir } from '../helpers.js'

after(cleanup)

const ONCE = fileURLToPath(new URL('./support/sync-once.ts', import.meta.url))

function setup(files: number): { root: string; ws: string; env: NodeJS.ProcessEnv; repo: string } {
  const root = tempDir('procs')
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  for (let i = 0; i < files; i++) writeFileSync(join(ws, 'memory', `n${i}.md`), `note ${i}\n`)
  const repo = join(root, 'repo')
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: repo }))
  return { root, ws, repo, env: { ...process.env, SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root } }
}

function runOnce(ws: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ONCE, ws], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => resolve({ code, out, err }))
  })
}

test('two processes syncing one workspace at once: one at a time, both succeed, nothing lost', async () => {
  const { ws, env, repo } = setup(50)
  const sync = WorkspaceSync.create({ workspace: ws, env })
  await sync.init()
  await sync.close()
  writeFileSync(join(ws, 'memory', 'edit-1.md'), 'first edit\n')
  const runs = await Promise.all([runOnce(ws, env), runOnce(ws, env)])
  for (const r of runs) assert.equal(r.code, 0, r.err)
  const [a, b] = runs.map((r) => JSON.parse(r.out) as { result: string; startedAt: number; endedAt: number; snapshot: string })
  assert.deepEqual([a.result, b.result].sort(), ['ok', 'unchanged'], 'the second waited for the first and found nothing new')
  assert.equal(a.snapshot, b.snapshot)
  const log = WorkspaceSync.create({ workspace: ws, env }).log({ limit: 10 }).filter((e) => e.kind === 'sync')
  assert.equal(log.length, 2)
  const r = await Repository.open({ backend: new LocalBackend(repo), key: Buffer.from(WorkspaceSync.create({ workspace: ws, env }).showKey(), 'base64') })
  const paths: string[] = []
  for await (const e of r.ls('latest')) paths.push(e.path)
  assert.ok(paths.includes('workspace/memory/edit-1.md'))
  await r.close()
})

test('a sync killed with SIGKILL mid-upload: the next sync resumes, and check --read-data is clean', async () => {
  const { ws, env, repo } = setup(5)
  for (let i = 0; i < 12; i++) writeFileSync(join(ws, 'memory', `big-${i}.bin`), randomBytesSeeded(4 * 1024 * 1024, i + 1))
  const sync = WorkspaceSync.create({ workspace: ws, env })
  await sync.init()
  await sync.close()
  const child = spawn(process.execPath, ['--import', 'tsx', ONCE, ws], { env, stdio: 'ignore' })
  const deadline = Date.now() + 60_000
  const packs = () =>
    existsSync(join(repo, 'data'))
      ? readdirSync(join(repo, 'data'), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .flatMap((d) => readdirSync(join(repo, 'data', d.name))).length
      : 0
  while (packs() < 1 && Date.now() < deadline && child.exitCode === null) await sleep(5)
  assert.equal(child.exitCode, null, 'the sync was still running when it was killed')
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  assert.ok(!existsSync(join(repo, 'snapshots')) || readdirSync(join(repo, 'snapshots')).length === 0, 'killed before its snapshot')

  const again = WorkspaceSync.create({ workspace: ws, env })
  const s = await again.syncNow()
  assert.equal(s.result, 'ok')
  assert.ok(s.bytesUploaded < 48 * 1024 * 1024 - 4 * 1024 * 1024, `uploaded ${s.bytesUploaded} bytes: the packs that had arrived were reused`)
  const r = await Repository.open({ backend: new LocalBackend(repo), key: Buffer.from(again.showKey(), 'base64') })
  const report = await r.check({ readData: true })
  assert.deepEqual(report.problems.filter((p) => !isWarning(p.kind)), [])
  assert.equal(report.ok, true)
  await r.close()
  await again.close()
})
