import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalBackend, MemoryBackend, Repository, SnapshotNotFoundError, TreeTooLargeError, UnreadableSnapshotsError, WrongPasswordError, type Backend, type Handle } from '../src/index.js'
import { encode } from '../src/codec/index.js'
import { storageId, toHex } from '../src/crypto/ids.js'
import type { TreeNode } from '../src/repository/repofile.js'
import { cleanup, FAST_KDF, forgedFile, forgedMeta, forgeSnapshot, memoryRepo, PassThrough, SMALL_CHUNKS, tempDir } from './helpers.js'

// These tests damage stored files: the local cache would serve the good copy it kept (as restic's
// does; check reads storage, see cache.test.ts), so they run without it.
process.env.SESSION_SYNC_NO_CACHE = '1'

after(cleanup)

// ---- 1. key files -------------------------------------------------------------------------------

/**
 * A key file anyone with write access to `keys/` can plant: valid in form, sealing nothing, asking
 * for the given Argon2id cost. Its name sorts before `before` (when given), so a reader that tries
 * key files in name order tries it first.
 */
function plantKeyFile(backend: MemoryBackend, kdf: { opsLimit: number; memLimitBytes: number }, before?: string): string {
  for (;;) {
    const bytes = encode({ v: 1, kdf: { alg: 'argon2id13', ...kdf, salt: randomBytes(16) }, host: 'h', user: 'u', created: new Date().toISOString(), sealed: randomBytes(72) })
    const name = toHex(storageId(bytes))
    if (before !== undefined && name >= before) continue
    backend.files.set(`keys/${name}`, bytes)
    return name
  }
}

async function withEnv<T>(name: string, value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const old = process.env[name]
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
  try {
    return await fn()
  } finally {
    if (old === undefined) delete process.env[name]
    else process.env[name] = old
  }
}

test('a planted key file asking for an extreme KDF cost is skipped with a warning, not run: the key opens at once', { timeout: 60_000 }, async () => {
  const { repo, backend } = await memoryRepo()
  const planted = plantKeyFile(backend, { opsLimit: 16, memLimitBytes: 2 * 1024 ** 3 }, repo.keyId)
  const started = performance.now()
  const opened = await Repository.open({ backend, password: 'test' })
  const ms = performance.now() - started
  assert.equal(opened.keyId, repo.keyId)
  assert.ok(ms < 2000, `opening took ${Math.round(ms)} ms`)
  assert.equal(opened.openWarnings.length, 1)
  assert.match(opened.openWarnings[0], new RegExp(`key file ${planted}.*2 GiB.*SESSION_SYNC_MAX_KDF_MEMORY`))
})

test('key files are tried cheapest first: an in-bound but costly planted key file is not run before the user\'s', async () => {
  const { repo, backend } = await memoryRepo()
  // 512 MiB, 4 passes: within the default bound, seconds of Argon2id; the user's key costs 8 MiB × 1.
  plantKeyFile(backend, { opsLimit: 4, memLimitBytes: 512 * 1024 ** 2 }, repo.keyId)
  const started = performance.now()
  const opened = await Repository.open({ backend, password: 'test' })
  const ms = performance.now() - started
  assert.equal(opened.keyId, repo.keyId)
  assert.ok(ms < 1000, `opening took ${Math.round(ms)} ms`)
  assert.deepEqual(opened.openWarnings, [])
})

class KeyLoads extends PassThrough {
  keyLoads: string[] = []
  override async load(h: Handle, range?: { offset: number; length: number }): Promise<Uint8Array> {
    if (h.type === 'keys') this.keyLoads.push(h.name)
    return super.load(h, range)
  }
}

test('preferKeyId (the key file it opened last time) is tried before any other, and only it is read', async () => {
  const { repo, backend } = await memoryRepo()
  for (let i = 0; i < 3; i++) plantKeyFile(backend, FAST_KDF, repo.keyId)
  const counted = new KeyLoads(backend as unknown as Backend)
  const opened = await Repository.open({ backend: counted, password: 'test', preferKeyId: repo.keyId })
  assert.equal(opened.keyId, repo.keyId)
  assert.deepEqual(counted.keyLoads, [repo.keyId])
  // A preferred id that is not there (removed since) is no error: the others are tried.
  const again = await Repository.open({ backend, password: 'test', preferKeyId: 'f'.repeat(64) })
  assert.equal(again.keyId, repo.keyId)
})

test('the KDF bound is an open option and an environment variable; the wrong-password error names what it skipped', async () => {
  const { repo, backend } = await memoryRepo()
  const planted = plantKeyFile(backend, { opsLimit: 1, memLimitBytes: 32 * 1024 ** 2 })
  const low = await Repository.open({ backend, password: 'test', limits: { maxKdfMemory: 16 * 1024 ** 2 } })
  assert.equal(low.keyId, repo.keyId)
  assert.equal(low.openWarnings.length, 1)
  assert.match(low.openWarnings[0], new RegExp(planted))
  const viaEnv = await withEnv('SESSION_SYNC_MAX_KDF_MEMORY', String(16 * 1024 ** 2), () => Repository.open({ backend, password: 'test' }))
  assert.equal(viaEnv.openWarnings.length, 1)
  const passes = await withEnv('SESSION_SYNC_MAX_KDF_PASSES', '0', () => Repository.open({ backend, password: 'test' }).catch((e: unknown) => e))
  assert.match(String(passes), /SESSION_SYNC_MAX_KDF_PASSES/, 'a nonsensical bound is refused with its name')
  // The user's own key over the bound: the error says so and how to raise it.
  await assert.rejects(
    Repository.open({ backend, password: 'test', limits: { maxKdfMemory: 4 * 1024 ** 2 } }),
    (e: unknown) => e instanceof WrongPasswordError && /2 key files were not tried/.test(e.message) && /SESSION_SYNC_MAX_KDF_MEMORY/.test(e.message),
  )
})

test('a key file that cannot be read or parsed is skipped with a warning naming it', async () => {
  const { repo, backend } = await memoryRepo()
  backend.files.set(`keys/${'0'.repeat(64)}`, Buffer.from('not a key file'))
  const opened = await Repository.open({ backend, password: 'test' })
  assert.equal(opened.keyId, repo.keyId)
  assert.equal(opened.openWarnings.length, 1)
  assert.match(opened.openWarnings[0], new RegExp(`key file ${'0'.repeat(64)}`))
})

test('an oversized key or snapshot file is skipped by its listed size, never loaded', async () => {
  const { repo, backend } = await memoryRepo()
  await repo.saveSnapshot({ time: new Date().toISOString(), host: 'h', user: 'u', paths: ['/x'], tags: [], tree: Buffer.alloc(32), parents: [], excludes: [] })
  const huge = Buffer.alloc(65 * 1024 * 1024)
  backend.files.set(`keys/${'1'.repeat(64)}`, huge.subarray(0, 65 * 1024))
  backend.files.set(`snapshots/${'2'.repeat(64)}`, huge)
  const loads: string[] = []
  const counted = new (class extends PassThrough {
    override async load(h: Handle, range?: { offset: number; length: number }): Promise<Uint8Array> {
      loads.push(`${h.type}/${h.name}`)
      return super.load(h, range)
    }
  })(backend as unknown as Backend)
  const opened = await Repository.open({ backend: counted, password: 'test' })
  assert.match(opened.openWarnings.join('\n'), /key file 1{64} skipped: 66560 bytes/)
  assert.equal((await opened.snapshots()).length, 1)
  assert.match(opened.snapshotProblems.map((p) => `${p.id} ${p.error.message}`).join('\n'), /^2{64} .*68157440 bytes/)
  assert.ok(!loads.includes(`keys/${'1'.repeat(64)}`) && !loads.includes(`snapshots/${'2'.repeat(64)}`), loads.join(' '))
})

// ---- 2. unreadable snapshots ----------------------------------------------------------------------

async function twoSnapshotsOneDamaged() {
  const base = tempDir('hard')
  const src = join(base, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a.txt'), 'first version '.repeat(100))
  const backend = new MemoryBackend()
  const first = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS })
  const good = (await first.backup([src])).snapshotId!
  writeFileSync(join(src, 'a.txt'), 'second version '.repeat(100))
  writeFileSync(join(src, 'b.txt'), 'only in the damaged snapshot '.repeat(50))
  const bad = (await first.backup([src], { tags: ['second'] })).snapshotId!
  // Damage the second snapshot's file in place (a flipped byte: its hash no longer matches).
  const f = backend.files.get(`snapshots/${bad}`)!
  f[f.length - 3] ^= 0xff
  const repo = await Repository.open({ backend, password: 'pw' })
  return { base, src, backend, repo, good, bad }
}

test('one damaged snapshot file: snapshots lists the others and names it in snapshotProblems', async () => {
  const { repo, good, bad } = await twoSnapshotsOneDamaged()
  const list = await repo.snapshots()
  assert.deepEqual(
    list.map((s) => s.id),
    [good],
  )
  assert.deepEqual(
    repo.snapshotProblems.map((p) => p.id),
    [bad],
  )
  assert.match(repo.snapshotProblems[0].error.message, /SHA-256/)
})

test('one damaged snapshot file: restore of another, backup and forget by policy go on', async () => {
  const { base, src, repo, good } = await twoSnapshotsOneDamaged()
  const out = join(base, 'out')
  await repo.restore(good, out)
  assert.match(readFileSync(join(out, 'src', 'a.txt'), 'utf8'), /^first version/)
  const latest = join(base, 'latest')
  await repo.restore('latest', latest) // the newest readable one
  assert.match(readFileSync(join(latest, 'src', 'a.txt'), 'utf8'), /^first version/)
  const b = await repo.backup([src])
  assert.ok(b.snapshotId)
  const f = await repo.forget({ keepLast: 1 })
  assert.equal(f.removed, 1)
  assert.equal(repo.snapshotProblems.length, 1, 'still named after forget by policy (no policy removes what it cannot read)')
})

test('forget <id> removes an unreadable snapshot, by full id or prefix', async () => {
  const { repo, backend, bad } = await twoSnapshotsOneDamaged()
  const dry = await repo.forgetSnapshots([bad.slice(0, 8)], { dryRun: true })
  assert.deepEqual(dry.removedIds, [bad])
  assert.deepEqual(dry.unreadable, [bad])
  assert.ok(backend.files.has(`snapshots/${bad}`))
  const r = await repo.forgetSnapshots([bad])
  assert.deepEqual(r.removedIds, [bad])
  assert.equal(r.removed, 1)
  assert.ok(!backend.files.has(`snapshots/${bad}`))
  await repo.snapshots()
  assert.deepEqual(repo.snapshotProblems, [])
  await assert.rejects(repo.forgetSnapshots([bad]), SnapshotNotFoundError)
})

test('prune refuses while a snapshot is unreadable, naming it and saying to forget it; works once it is forgotten', async () => {
  const { base, repo, backend, good, bad } = await twoSnapshotsOneDamaged()
  const packsBefore = [...backend.files.keys()].filter((k) => k.startsWith('data/')).length
  await assert.rejects(repo.prune(), (e: unknown) => e instanceof UnreadableSnapshotsError && e.code === 'UNREADABLE_SNAPSHOTS' && e.message.includes(bad) && /forget/.test(e.message))
  await assert.rejects(repo.prune({ dryRun: true }), UnreadableSnapshotsError)
  assert.equal([...backend.files.keys()].filter((k) => k.startsWith('data/')).length, packsBefore, 'nothing deleted')
  assert.equal([...backend.files.keys()].filter((k) => k.startsWith('locks/')).length, 0, 'the lock is released')
  await repo.forgetSnapshots([bad])
  await repo.prune({ maxUnused: 0 })
  const out = join(base, 'after-prune')
  await repo.restore(good, out)
  assert.match(readFileSync(join(out, 'src', 'a.txt'), 'utf8'), /^first version/)
})

test('prune with ignoreUnreadableSnapshots treats them as forgotten (their data goes) and keeps what readable ones need', async () => {
  const { base, repo, good } = await twoSnapshotsOneDamaged()
  const r = await repo.prune({ ignoreUnreadableSnapshots: true, maxUnused: 0 })
  assert.ok(r.plan.stats.unusedBlobs > 0, 'the data only the unreadable snapshot used is unused')
  const out = join(base, 'after-prune')
  await repo.restore(good, out)
  assert.match(readFileSync(join(out, 'src', 'a.txt'), 'utf8'), /^first version/)
  assert.ok(!existsSync(join(out, 'src', 'b.txt')))
})

// ---- 3. trees that expand exponentially ---------------------------------------------------------

/** A tree DAG: `levels` folders deep, each folder holding `width` names that all point at the same subtree. */
async function forgeDag(repo: Repository, width: number, levels: number) {
  return forgeSnapshot(repo, async (c, dir) => {
    let t = await dir([forgedFile('f', c)])
    for (let l = 0; l < levels; l++) {
      const nodes: TreeNode[] = []
      for (let i = 0; i < width; i++) nodes.push({ ...forgedMeta, name: Buffer.from(`d${String(i).padStart(3, '0')}`), type: 'dir', size: 0, subtree: t })
      t = await dir(nodes)
    }
    return [{ ...forgedMeta, name: Buffer.from('top'), type: 'dir', size: 0, subtree: t }]
  })
}

/** The number of entries a DAG of forgeDag expands to. */
function dagEntries(width: number, levels: number): number {
  let n = 1 // the file
  for (let l = 0; l < levels; l++) n = width * (n + 1)
  return n + 1 // top
}

const isTooLarge = (limit: number) => (e: unknown) => e instanceof TreeTooLargeError && e.code === 'TREE_TOO_LARGE' && e.data.limit === limit && /SESSION_SYNC_MAX_TREE_ENTRIES/.test(e.message)

test('a tree DAG over the entry bound fails restore, ls, find and diff with TREE_TOO_LARGE; stats counts it without expanding', async () => {
  const { backend } = await memoryRepo()
  const repo = await Repository.open({ backend, password: 'test', limits: { maxTreeEntries: 1000 } })
  const { snapshot: plain } = await forgeSnapshot(repo, async (c) => [forgedFile('one', c)])
  const { snapshot } = await forgeDag(repo, 2, 10) // 4095 entries
  const out = join(tempDir('dag'), 'out')
  await assert.rejects(repo.restore(snapshot, out), isTooLarge(1000))
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing restored')
  await assert.rejects(
    (async () => {
      for await (const _ of repo.ls(snapshot));
    })(),
    isTooLarge(1000),
  )
  await assert.rejects(repo.find('f'), isTooLarge(1000))
  await assert.rejects(repo.diff(plain, snapshot), isTooLarge(1000))
  const s = await repo.stats()
  assert.equal(s.totalFiles, 2 ** 10 + 1)
})

test('a tree DAG of 4^20 entries fails at once under the default bound (10 million), in bounded time and memory', { timeout: 30_000 }, async () => {
  const { repo } = await memoryRepo()
  const { snapshot } = await forgeDag(repo, 4, 20)
  const started = performance.now()
  await assert.rejects(repo.restore(snapshot, join(tempDir('dag'), 'out')), isTooLarge(10_000_000))
  await assert.rejects(
    (async () => {
      for await (const _ of repo.ls(snapshot));
    })(),
    isTooLarge(10_000_000),
  )
  await assert.rejects(repo.find('*.md'), isTooLarge(10_000_000))
  const { snapshot: other } = await forgeDag(repo, 4, 19)
  await assert.rejects(repo.diff(other, snapshot), isTooLarge(10_000_000))
  const s = await repo.stats()
  assert.equal(s.totalFiles, 4 ** 20 + 4 ** 19)
  assert.ok(performance.now() - started < 10_000)
})

test('the tree bound is an environment variable too', async () => {
  const { backend } = await memoryRepo()
  const repo = await withEnv('SESSION_SYNC_MAX_TREE_ENTRIES', '100', () => Repository.open({ backend, password: 'test' }))
  const { snapshot } = await forgeDag(repo, 2, 8) // 1023 entries
  await assert.rejects(repo.restore(snapshot, join(tempDir('dag'), 'out')), isTooLarge(100))
})

test('a subtree legitimately repeated (identical folders) restores, lists, finds, diffs and counts as before, just under the bound', async () => {
  // A real backup records inodes, so folders repeat by id only in forged or rewritten trees; the
  // walks must not care why. 3 folders × 3 folders × 1 file: 22 entries.
  const { backend } = await memoryRepo()
  const repo = await Repository.open({ backend, password: 'test', limits: { maxTreeEntries: 22 } })
  const { snapshot } = await forgeDag(repo, 3, 2)
  assert.equal(dagEntries(3, 2), 22)
  const out = join(tempDir('same'), 'out')
  await repo.restore(snapshot, out)
  for (const a of ['d000', 'd001', 'd002']) for (const b of ['d000', 'd001', 'd002']) assert.equal(readFileSync(join(out, 'top', a, b, 'f'), 'utf8'), 'evil')
  const entries: string[] = []
  for await (const e of repo.ls(snapshot)) entries.push(e.path)
  assert.equal(entries.length, 22)
  assert.equal((await repo.find('f')).length, 9)
  assert.deepEqual((await repo.diff(snapshot, snapshot)).added, [])
  const { snapshot: plain } = await forgeSnapshot(repo, async (c) => [forgedFile('one', c)])
  assert.equal((await repo.diff(plain, snapshot)).added.length, 22)
  assert.equal((await repo.stats()).totalFiles, 9 + 1)
  // One entry fewer allowed: refused.
  repo.limits.maxTreeEntries = 21
  await assert.rejects(repo.restore(snapshot, join(tempDir('same'), 'out')), isTooLarge(21))
})

// ---- the CLI (run from src: the built dist/cli.js is not rebuilt here) ---------------------------

function cliFromSrc(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_SYNC_')) env[k] = v
  env.SESSION_SYNC_PASSWORD = 'pw'
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli', 'bin.ts'), ...args], { env, input: '', encoding: 'utf8', timeout: 60_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('the CLI prints skipped key files and unreadable snapshots as warnings, forgets one by id, and prune names it', async () => {
  const base = tempDir('cli-hard')
  const src = join(base, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a.txt'), 'one')
  const dir = join(base, 'repo')
  const backend = new LocalBackend(dir)
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF })
  const good = (await repo.backup([src])).snapshotId!
  writeFileSync(join(src, 'a.txt'), 'two')
  const bad = (await repo.backup([src])).snapshotId!
  writeFileSync(join(dir, 'snapshots', bad), 'damaged')
  const planted = encode({ v: 1, kdf: { alg: 'argon2id13', opsLimit: 16, memLimitBytes: 2 * 1024 ** 3, salt: randomBytes(16) }, host: 'h', user: 'u', created: 'now', sealed: randomBytes(72) })
  const plantedId = toHex(storageId(planted))
  writeFileSync(join(dir, 'keys', plantedId), planted)

  const list = cliFromSrc(['-r', dir, 'snapshots'])
  assert.equal(list.status, 0, list.stderr)
  assert.match(list.stdout, new RegExp(good.slice(0, 8)))
  assert.match(list.stderr, new RegExp(`warning: key file ${plantedId} asks for 2 GiB`))
  assert.match(list.stderr, new RegExp(`warning: snapshots ${bad} is corrupt.*session-sync forget ${bad}`))
  const prune = cliFromSrc(['-r', dir, 'prune'])
  assert.equal(prune.status, 1)
  assert.match(prune.stderr, new RegExp(`refusing to prune: snapshot ${bad} cannot be read.*forget ${bad}`))
  const forget = cliFromSrc(['-r', dir, 'forget', bad.slice(0, 10)])
  assert.equal(forget.status, 0, forget.stderr)
  assert.match(forget.stdout, /removed 1 snapshots/)
  assert.ok(!existsSync(join(dir, 'snapshots', bad)))
  const pruned = cliFromSrc(['-r', dir, 'prune'])
  assert.equal(pruned.status, 0, pruned.stderr)
  assert.doesNotMatch(pruned.stderr, /snapshot/)
})

test('a chain of folders nested deeper than the depth bound (1024 levels) fails restore and ls at once with TREE_TOO_LARGE', { timeout: 30_000 }, async () => {
  const { repo } = await memoryRepo()
  const { snapshot } = await forgeSnapshot(repo, async (c, dir) => {
    let t = await dir([forgedFile('f', c)])
    for (let l = 0; l < 3000; l++) t = await dir([{ ...forgedMeta, name: Buffer.from('d'), type: 'dir', size: 0, subtree: t }])
    return [{ ...forgedMeta, name: Buffer.from('top'), type: 'dir', size: 0, subtree: t }]
  })
  const deep = (e: unknown) => e instanceof TreeTooLargeError && e.data.bound === 'depth' && e.data.limit === 1024 && /SESSION_SYNC_MAX_TREE_DEPTH/.test(e.message)
  const out = join(tempDir('deep'), 'out')
  await assert.rejects(repo.restore(snapshot, out), deep)
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing restored')
  await assert.rejects(
    (async () => {
      for await (const _ of repo.ls(snapshot));
    })(),
    deep,
  )
  // Within the bound it walks (and a subtree reached again at another depth is measured there too).
  repo.limits.maxTreeDepth = 3002
  let n = 0
  for await (const _ of repo.ls(snapshot)) n++
  assert.equal(n, 3002)
  repo.limits.maxTreeDepth = 3001
  await assert.rejects(repo.find('f'), (e: unknown) => e instanceof TreeTooLargeError && e.data.bound === 'depth')
})

test('a deep subtree counted once near the root is measured again where it is referenced deeper down', async () => {
  const { repo } = await memoryRepo()
  const { snapshot } = await forgeSnapshot(repo, async (c, dir) => {
    const folder = (name: string, subtree: Buffer): TreeNode => ({ ...forgedMeta, name: Buffer.from(name), type: 'dir', size: 0, subtree })
    let chain = await dir([forgedFile('f', c)])
    for (let l = 0; l < 1000; l++) chain = await dir([folder('d', chain)])
    let deep = await dir([folder('chain', chain)])
    for (let l = 0; l < 30; l++) deep = await dir([folder('e', deep)])
    // Walked last to first: "b" (the chain, 1001 levels) is counted before "a" reaches it 31 levels down.
    return [folder('a', deep), folder('b', chain)]
  })
  await assert.rejects(repo.restore(snapshot, join(tempDir('deep'), 'out')), (e: unknown) => e instanceof TreeTooLargeError && e.data.bound === 'depth')
})
