// A repository disk that fills up during a backup (a file-size limit stands in for it: writes past
// it fail with EFBIG): the backup fails with a clear error, leaves nothing half-stored, and the next
// backup, with room again, completes and restores exactly.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, Repository } from '../src/index.js'
import { cleanup, describeTree, FAST_KDF, randomBytesSeeded, tempDir, tempFilesUnder, writeTwoFolders } from './helpers.js'

after(cleanup)

/**
 * Runs `body` (ES module code with `repo` open on REPO) in a child process whose files may not grow
 * past 1 MiB (ulimit -f: writes past it fail with EFBIG, as on a full disk); returns the JSON line
 * it prints: { ok: true, ... } or the error's { name, code, message }.
 */
function underFileLimit(body: string, env: Record<string, string>): { ok?: boolean; name?: string; code?: string; message: string } {
  const script = `
    import { LocalBackend, Repository } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)}
    const repo = await Repository.open({ backend: new LocalBackend(process.env.REPO), password: 'pw' })
    try {
      ${body}
    } catch (e) {
      console.log(JSON.stringify({ name: e.constructor.name, code: e.code, message: e.message }))
    }`
  const r = spawnSync('bash', ['-c', `ulimit -f 1024; exec "${process.execPath}" --import tsx --input-type=module -e "$SCRIPT"`], {
    env: { ...process.env, ...env, SCRIPT: script },
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop()!)
}

test('a backup onto a full disk fails clearly, stores no broken pack, and the next backup completes', async () => {
  const base = tempDir('disk-full')
  const src = join(base, 'src')
  mkdirSync(src)
  for (let i = 0; i < 6; i++) writeFileSync(join(src, `part-${i}.bin`), randomBytesSeeded(700_000, 100 + i))
  const repoDir = join(base, 'repo')
  await Repository.init({ backend: new LocalBackend(repoDir), password: 'pw', argon2: FAST_KDF, packSize: 2 * 1024 * 1024 })
  // 1 MiB per file: a 2 MiB pack cannot be written.
  const res = underFileLimit('const s = await repo.backup([process.env.SRC], { threads: 0 }); console.log(JSON.stringify({ ok: true, s }))', { REPO: repoDir, SRC: src })
  assert.notEqual(res.ok, true, 'the backup cannot have succeeded')
  assert.match(res.message, /EFBIG|too large/i, res.message)
  // A storage error with its stable code, so the CLI prints it as one clear line (not "unexpected").
  assert.equal(res.name, 'BackendError', res.message)
  assert.equal(res.code, 'BACKEND_ERROR')
  assert.match(res.message, /storage save of a new pack/)
  const dataDir = join(repoDir, 'data')
  const staging = () => readdirSync(dataDir).filter((n) => n.startsWith('.tmp-'))
  assert.deepEqual(staging(), [], 'the failed backup removed its staging files')
  const repo = await Repository.open({ backend: new LocalBackend(repoDir), password: 'pw' })
  assert.deepEqual(await repo.snapshots(), [])
  const before = await repo.check({ readData: true })
  assert.deepEqual(before.problems.filter((p) => !p.kind.startsWith('unindexed')), [], JSON.stringify(before.problems))
  const s = await repo.backup([src])
  assert.ok(s.snapshotId)
  const out = join(base, 'out')
  await repo.restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
  const after = await repo.check({ readData: true })
  assert.ok(after.problems.every((p) => p.kind.startsWith('unindexed')), JSON.stringify(after.problems))
})

test('a restore onto a full disk fails naming the file, leaves no temporary file, and restores fully once there is room', async () => {
  const base = tempDir('disk-full')
  const src = join(base, 'src')
  mkdirSync(join(src, 'sub'), { recursive: true })
  for (let i = 0; i < 20; i++) writeFileSync(join(src, `small-${i}.txt`), `small file ${i}\n`.repeat(200))
  writeFileSync(join(src, 'sub', 'big.bin'), randomBytesSeeded(3_000_000, 7))
  const repoDir = join(base, 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: 'pw', argon2: FAST_KDF })
  await repo.backup([src])
  const out = join(base, 'out')
  // 1 MiB per file: the 3 MB file cannot be written.
  const res = underFileLimit("await repo.restore('latest', process.env.OUT); console.log(JSON.stringify({ ok: true }))", { REPO: repoDir, OUT: out })
  assert.notEqual(res.ok, true, 'the restore cannot have succeeded')
  assert.equal(res.name, 'TargetError', res.message)
  assert.equal(res.code, 'TARGET_ERROR')
  assert.match(res.message, /big\.bin.*(EFBIG|too large)/i)
  assert.deepEqual(tempFilesUnder(out), [], 'no temporary file is left')
  await repo.restore('latest', out)
  assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
})

test('a restore onto a full disk through the blob-opening worker, which creates and finishes files of one blob itself: fails naming the file, leaves no temporary file, restores fully once there is room', async () => {
  const base = tempDir('disk-full-worker')
  const src = join(base, 'src')
  mkdirSync(join(src, 'sub'), { recursive: true })
  for (let i = 0; i < 40; i++) writeFileSync(join(src, `small-${i}.txt`), `small file ${i}\n`.repeat(200 + i))
  // One chunk (highly repetitive text has no cut point before the largest chunk) of 1.5 MB: past the 1 MiB limit.
  writeFileSync(join(src, 'sub', 'one-chunk.txt'), 'the same line again\n'.repeat(75_000))
  for (let i = 0; i < 40; i++) writeFileSync(join(src, 'sub', `later-${i}.txt`), `later file ${i}\n`.repeat(100 + i))
  const repoDir = join(base, 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: 'pw', argon2: FAST_KDF })
  const backed = await repo.backup([src])
  const root = await repo.loadTree(Buffer.from(backed.tree, 'hex'))
  const sub = (await repo.loadTree((await repo.loadTree(root.nodes[0].subtree!)).nodes.find((n) => n.name.toString() === 'sub')!.subtree!)).nodes
  assert.equal(sub.find((n) => n.name.toString() === 'one-chunk.txt')!.content!.length, 32, 'the large file is one blob')
  const out = join(base, 'out')
  const res = underFileLimit("await repo.restore('latest', process.env.OUT, { threads: 2 }); console.log(JSON.stringify({ ok: true }))", { REPO: repoDir, OUT: out })
  assert.notEqual(res.ok, true, 'the restore cannot have succeeded')
  assert.equal(res.code, 'TARGET_ERROR', res.message)
  assert.match(res.message, /one-chunk\.txt.*(EFBIG|too large)/i)
  assert.deepEqual(tempFilesUnder(out), [], 'no temporary file is left')
  await repo.restore('latest', out, { threads: 2 })
  assert.deepEqual(describeTree(join(out, 'src')), describeTree(src))
})

test('a restore through the worker that a full disk stops writes no file after the stop', { timeout: 120_000 }, async () => {
  const base = tempDir('disk-full-stop')
  const src = join(base, 'src')
  mkdirSync(src)
  // One blob of 1.5 MB, past the limit, alone in the first pack; then 600 small files in later ones.
  writeFileSync(join(src, 'a-big.txt'), 'the same line again\n'.repeat(75_000))
  const repoDir = join(base, 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: 'pw', argon2: FAST_KDF, packSize: 64 * 1024 })
  await repo.backup([src])
  const first = readdirSync(join(repoDir, 'data'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => d.name)
  for (let i = 0; i < 600; i++) writeFileSync(join(src, `b-${String(i).padStart(3, '0')}.txt`), `small file ${i}\n`.repeat(100 + i))
  await repo.backup([src])
  const out = join(base, 'out')
  // The small files' packs come from slower storage (as a remote one): the large file fails first.
  const res = underFileLimit(
    `const b = repo.backend, loadInto = b.loadInto.bind(b), early = new Set(process.env.FIRST.split(' '))
    b.loadInto = async (h, r, into) => { if (h.type === 'data' && !early.has(h.name)) await new Promise((ok) => setTimeout(ok, 1500)); return loadInto(h, r, into) }
    await repo.restore('latest', process.env.OUT, { threads: 2 }); console.log(JSON.stringify({ ok: true }))`,
    { REPO: repoDir, OUT: out, FIRST: first.join(' ') },
  )
  assert.equal(res.code, 'TARGET_ERROR', res.message)
  assert.match(res.message, /a-big\.txt.*(EFBIG|too large)/i)
  const names = readdirSync(join(out, 'src'))
  assert.deepEqual(names.filter((n) => n.startsWith('b-') || n.includes('.tmp')), [], 'nothing written after the stop')
})

test('a restore stopped by a full disk after a folder was replaced by a file: the full disk is the error, and no temporary file is left', async () => {
  const base = tempDir('disk-full-replaced')
  const src = join(base, 'memory')
  writeTwoFolders(src)
  writeFileSync(join(src, 'z-big.txt'), 'the same line again\n'.repeat(75_000)) // one blob of 1.5 MB, past the limit
  const repoDir = join(base, 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: 'pw', argon2: FAST_KDF })
  await repo.backup([src])
  const out = join(base, 'out')
  const res = underFileLimit(
    `const { rmSync, writeFileSync } = await import('node:fs')
    const b = repo.backend, loadInto = b.loadInto.bind(b)
    let replaced = false
    b.loadInto = async (h, r, into) => {
      if (h.type === 'data' && !replaced) {
        replaced = true
        rmSync(process.env.OUT + '/memory/a', { recursive: true })
        writeFileSync(process.env.OUT + '/memory/a', 'not a folder')
      }
      return loadInto(h, r, into)
    }
    await repo.restore('latest', process.env.OUT, { threads: 2 }); console.log(JSON.stringify({ ok: true }))`,
    { REPO: repoDir, OUT: out },
  )
  assert.equal(res.code, 'TARGET_ERROR', res.message)
  assert.match(res.message, /z-big\.txt.*(EFBIG|too large)/i)
  assert.deepEqual(tempFilesUnder(out), [], 'no temporary file is left')
})
