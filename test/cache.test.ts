// The local cache (src/repository/cache.ts): a second open reads no snapshot, index or tree-pack
// file from storage; a damaged entry is dropped and fetched again; entries whose file storage no
// longer lists are evicted; a cache that cannot be written warns once and the repository works
// without it; check reads storage, not the cache; two processes share one cache.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { LocalBackend, Repository, WorkspaceSync } from '../src/index.js'
import { storageId, toHex } from '../src/crypto/ids.js'
import { cacheBase, nameMatches, parseBundle, SNAPSHOT_BUNDLE, TREE_MEMO, INDEX_MEMO, type CachedType } from '../src/repository/cache.js'
import { cleanup, FAST_KDF, LoadTally, SMALL_CHUNKS, tempDir } from './helpers.js'

after(cleanup)

const PW = 'cache'

/** A local repository with `n` snapshots of a small folder that changes between them. */
async function repoWithHistory(n: number, cacheDir: string | false) {
  const root = tempDir('cache')
  const src = join(root, 'notes')
  mkdirSync(join(src, 'sub'), { recursive: true })
  writeFileSync(join(src, 'sub', 'fixed.md'), 'unchanged\n'.repeat(100))
  const repoDir = join(root, 'repo')
  const repo = await Repository.init({ backend: new LocalBackend(repoDir), password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, cacheDir })
  for (let i = 0; i < n; i++) {
    writeFileSync(join(src, 'today.md'), `entry ${i}\n`)
    await repo.backup([src])
  }
  await repo.close()
  return { root, src, repoDir }
}

async function openWith(repoDir: string, cacheDir: string | false, warnings: string[] = []) {
  const tally = new LoadTally(new LocalBackend(repoDir))
  const repo = await Repository.open({ backend: tally, password: PW, cacheDir, onWarning: (m) => warnings.push(m) })
  return { repo, tally }
}

/** Lists the snapshots and walks every one of them. */
async function readAll(repo: Repository) {
  const snaps = await repo.snapshots()
  await repo.index()
  const paths: string[] = []
  for (const s of snaps) for await (const e of repo.ls(s.id)) paths.push(`${s.shortId}:${e.path}`)
  return { ids: snaps.map((s) => s.id), trees: snaps.map((s) => s.tree), paths }
}

function entries(dir: string, type: string): string[] {
  if (type === 'snapshots') return [...bundle(dir).keys()]
  return readdirSync(join(dir, type)).filter((n) => !n.startsWith('.'))
}

/** The snapshot files in the cache's bundle. */
function bundle(dir: string): Map<string, Buffer> {
  const { entries, damaged } = parseBundle(readFileSync(join(dir, SNAPSHOT_BUNDLE)))
  assert.equal(damaged, false)
  return entries
}

test('a second open reads no snapshot, index or tree-pack file from storage', async () => {
  const cacheDir = join(tempDir('cachedir'), 'c')
  const { repoDir } = await repoWithHistory(4, cacheDir)

  // The backups wrote their snapshot and index files through the cache; tree packs are read once.
  const first = await openWith(repoDir, cacheDir)
  const want = await readAll(first.repo)
  assert.equal(want.ids.length, 4)
  assert.equal(first.tally.of('snapshots'), 0)
  assert.equal(first.tally.of('index'), 0)
  assert.ok(first.tally.of('data') > 0)
  const dir = first.repo.cacheDir!
  await first.repo.close()

  const second = await openWith(repoDir, cacheDir)
  const before = second.repo.requests().GET
  assert.deepEqual(await readAll(second.repo), want)
  assert.deepEqual(second.tally.loads, { config: 1, keys: 1 })
  assert.equal(second.repo.requests().GET - before, 0, 'the request counter saw no GET after open')
  await second.repo.close()

  // The cache holds the stored (encrypted) bytes, named by their SHA-256, 0600 in 0700 folders.
  assert.deepEqual([...bundle(dir).keys()].sort(), [...want.ids].sort())
  for (const [n, bytes] of bundle(dir)) assert.deepEqual(bytes, readFileSync(join(repoDir, 'snapshots', n)))
  assert.equal(statSync(join(dir, SNAPSHOT_BUNDLE)).mode & 0o777, 0o600)
  for (const type of ['index', 'data']) {
    assert.equal(statSync(join(dir, type)).mode & 0o777, 0o700)
    for (const n of entries(dir, type)) {
      const bytes = readFileSync(join(dir, type, n))
      assert.ok(nameMatches(type as CachedType, n, bytes))
      assert.deepEqual(bytes, readFileSync(join(repoDir, type === 'data' ? `data/${n.slice(0, 2)}/${n}` : `${type}/${n}`)))
      assert.equal(statSync(join(dir, type, n)).mode & 0o777, 0o600)
    }
  }
  assert.equal(statSync(dir).mode & 0o777, 0o700)
  assert.ok(existsSync(join(cacheDir, 'CACHEDIR.TAG')))
})

test('a damaged cache entry is dropped and the file read from storage again', async () => {
  const cacheDir = tempDir('cachedir')
  const { repoDir } = await repoWithHistory(3, cacheDir)
  // Without the tree and index memos, which give the trees and the index without those files (see
  // tree-memo.test.ts, index-memo.test.ts): every file is read once, and so cached.
  const dropMemos = (dir: string) => {
    rmSync(join(dir, TREE_MEMO), { force: true })
    rmSync(join(dir, INDEX_MEMO), { force: true })
  }
  for (const d of readdirSync(cacheDir)) if (d !== 'CACHEDIR.TAG') dropMemos(join(cacheDir, d))
  const first = await openWith(repoDir, cacheDir)
  const want = await readAll(first.repo)
  const dir = first.repo.cacheDir!
  await first.repo.close()

  const flip = (path: string, at?: number) => {
    const b = readFileSync(path)
    b[at ?? b.length >> 1] ^= 1
    writeFileSync(path, b)
  }
  const snap = entries(dir, 'snapshots')[0]
  const index = entries(dir, 'index')[0]
  const pack = entries(dir, 'data')[0]
  flip(join(dir, SNAPSHOT_BUNDLE), 36 + 20) // inside the first snapshot file in the bundle
  flip(join(dir, 'index', index))
  flip(join(dir, 'data', pack), 20) // inside the first blob: its name (the trailer's hash) still matches
  dropMemos(dir)

  const second = await openWith(repoDir, cacheDir)
  assert.deepEqual(await readAll(second.repo), want)
  assert.deepEqual(second.repo.snapshotProblems, [])
  assert.deepEqual(second.repo.indexProblems, [])
  assert.equal(second.tally.of('snapshots'), 1)
  assert.equal(second.tally.of('index'), 1)
  assert.equal(second.tally.of('data'), 1)
  await second.repo.close()
  // The entries were written again, whole.
  for (const [type, n] of [['index', index], ['data', pack]] as const) assert.deepEqual(readFileSync(join(dir, type, n)), readFileSync(join(repoDir, type === 'data' ? `data/${n.slice(0, 2)}/${n}` : `${type}/${n}`)))
  assert.deepEqual(bundle(dir).get(snap), readFileSync(join(repoDir, 'snapshots', snap)))
})

test('entries of files that storage no longer lists are evicted', async () => {
  const cacheDir = tempDir('cachedir')
  const { repoDir } = await repoWithHistory(4, cacheDir)
  const first = await openWith(repoDir, cacheDir)
  const all = await readAll(first.repo)
  const dir = first.repo.cacheDir!
  await first.repo.close()
  const packsBefore = entries(dir, 'data')

  // Another machine, without this cache, forgets the oldest two and prunes.
  const other = await Repository.open({ backend: new LocalBackend(repoDir), password: PW, cacheDir: false })
  await other.forgetSnapshots(all.ids.slice(0, 2).map((id) => id))
  await other.prune({ maxUnused: 0, unindexedGraceMs: 0 })
  const indexNow = (await other.index(), other.loadedIndexFiles())
  await other.close()

  const again = await openWith(repoDir, cacheDir)
  const now = await readAll(again.repo)
  await again.repo.close()
  assert.deepEqual(now.ids, all.ids.slice(2))
  assert.deepEqual(entries(dir, 'snapshots').sort(), [...now.ids].sort())
  assert.deepEqual(entries(dir, 'index').sort(), [...indexNow].sort())
  const packsNow = entries(dir, 'data')
  const stored = new Set(readdirSync(join(repoDir, 'data')).flatMap((d) => readdirSync(join(repoDir, 'data', d))))
  assert.ok(packsBefore.some((p) => !stored.has(p)), 'the prune deleted a cached tree pack')
  for (const p of packsNow) assert.ok(stored.has(p), `cached pack ${p} is still stored`)
})

test('a cache that cannot be written warns once and the repository works without it', async () => {
  const root = tempDir('cachedir')
  // A regular file where the cache folder should be.
  writeFileSync(join(root, 'file'), 'not a folder')
  const { repoDir, src } = await repoWithHistory(2, false)
  const warnings: string[] = []
  const { repo, tally } = await openWith(repoDir, join(root, 'file', 'cache'), warnings)
  assert.equal(warnings.length, 1)
  assert.match(warnings[0], /cache .* cannot be used .*--no-cache/)
  assert.deepEqual(repo.openWarnings, warnings)
  assert.equal(repo.cacheDir, undefined)
  writeFileSync(join(src, 'today.md'), 'one more\n')
  await repo.backup([src])
  assert.equal((await readAll(repo)).ids.length, 3)
  assert.ok(tally.of('snapshots') >= 2)
  await repo.close()

  // A cache that breaks after it opened: turned off at the first failed write, with one warning.
  const cacheDir = join(root, 'later')
  const late: string[] = []
  const second = await openWith(repoDir, cacheDir, late)
  assert.deepEqual(late, [])
  const dir = second.repo.cacheDir!
  rmSync(join(dir, 'index'), { recursive: true })
  writeFileSync(join(dir, 'index'), 'not a folder')
  assert.equal((await readAll(second.repo)).ids.length, 3)
  writeFileSync(join(src, 'today.md'), 'and another\n')
  await second.repo.backup([src])
  second.repo.invalidateIndex()
  assert.equal((await readAll(second.repo)).ids.length, 4)
  assert.equal(late.length, 1)
  assert.equal(second.repo.cacheDir, undefined)
  await second.repo.close()
})

test('check reads storage: a good copy in the cache does not hide a damaged file', async () => {
  const cacheDir = tempDir('cachedir')
  const { repoDir } = await repoWithHistory(2, cacheDir)
  const name = readdirSync(join(repoDir, 'snapshots'))[0]
  const path = join(repoDir, 'snapshots', name)
  const b = readFileSync(path)
  b[b.length >> 1] ^= 1
  writeFileSync(path, b)
  const { repo } = await openWith(repoDir, cacheDir)
  assert.equal((await repo.snapshots()).length, 2, 'the cache still serves the good copy')
  const report = await repo.check()
  assert.ok(report.problems.some((p) => p.object.includes(name)), JSON.stringify(report.problems))
  await repo.close()
})

test('the cache folder: the option, SESSION_SYNC_CACHE_DIR, XDG_CACHE_HOME, ~/.cache; off by false or SESSION_SYNC_NO_CACHE', () => {
  assert.equal(cacheBase('/c', {}), '/c')
  assert.equal(cacheBase(undefined, { SESSION_SYNC_CACHE_DIR: '/e', XDG_CACHE_HOME: '/x' }), '/e')
  assert.equal(cacheBase(undefined, { XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/session-sync-cloud')
  assert.equal(cacheBase(undefined, { XDG_CACHE_HOME: 'relative', HOME: '/h' }), '/h/.cache/session-sync-cloud')
  assert.equal(cacheBase(false, { XDG_CACHE_HOME: '/x' }), undefined)
  assert.equal(cacheBase('/c', { SESSION_SYNC_NO_CACHE: '1' }), undefined)
  assert.equal(cacheBase('/c', { SESSION_SYNC_NO_CACHE: '0' }), '/c')
})

// ---- two processes ----------------------------------------------------------------------------------

const CHILD = `
import { LocalBackend, Repository } from './src/index.ts'
const [repoDir, cacheDir, go] = process.argv.slice(1)
const { existsSync, writeFileSync } = await import('node:fs')
writeFileSync(go + '.' + process.pid, '')
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 1))
const warnings = []
const out = []
for (let round = 0; round < 3; round++) {
  const repo = await Repository.open({ backend: new LocalBackend(repoDir), password: '${PW}', cacheDir, onWarning: (m) => warnings.push(m) })
  const snaps = await repo.snapshots()
  await repo.index()
  let files = 0
  for await (const e of repo.ls('latest')) files++
  out.push({ snapshots: snaps.length, problems: repo.snapshotProblems.length + repo.indexProblems.length, files })
  await repo.close()
}
process.stdout.write(JSON.stringify({ warnings, out }))
`

function runChild(args: string[]): Promise<{ warnings: string[]; out: Array<{ snapshots: number; problems: number; files: number }> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, ...args], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d) => (text += d))
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`child exited ${code}`))))
  })
}

test('two processes fill and read one cache at the same time', async () => {
  const cacheDir = tempDir('cachedir')
  const { repoDir } = await repoWithHistory(2, false)
  // Many more snapshot files, written as a backup writes them (same tree), so both processes fill
  // the cold cache with the same entries at the same moment.
  const repo = await Repository.open({ backend: new LocalBackend(repoDir), password: PW, cacheDir: false })
  const latest = await repo.findSnapshot('latest')
  for (let i = 0; i < 600; i++) {
    await repo.saveSnapshot({ time: new Date(Date.UTC(2026, 0, 1) + i * 900_000).toISOString(), host: latest.host, user: latest.user, paths: latest.paths, tags: [], tree: Buffer.from(latest.tree, 'hex'), parents: [], excludes: [] })
  }
  await repo.close()
  // Both start reading at the same moment: each says when it is ready, then both are let go.
  const goDir = tempDir('go')
  const go = join(goDir, 'go')
  const both = Promise.all([runChild([repoDir, cacheDir, go]), runChild([repoDir, cacheDir, go])])
  while (readdirSync(goDir).length < 2) await new Promise((r) => setTimeout(r, 5))
  writeFileSync(go, '')
  for (const r of await both) {
    assert.deepEqual(r.warnings, [])
    for (const o of r.out) assert.deepEqual(o, { snapshots: 602, problems: 0, files: 4 })
  }
  const dir = readdirSync(cacheDir).find((n) => /^[0-9a-f]{64}$/.test(n))!
  assert.equal(bundle(join(cacheDir, dir)).size, 602)
  assert.deepEqual(readdirSync(join(cacheDir, dir)).filter((n) => n.startsWith('.')), [], 'no temporary file left')
  for (const type of ['index', 'data']) for (const n of entries(join(cacheDir, dir), type)) assert.ok(nameMatches(type as CachedType, n, readFileSync(join(cacheDir, dir, type, n))))
})

test("the sync layer keeps its repository's cache under the state root's cache/, apart from the durable state; an old cache inside the workspace's state folder is moved there", async () => {
  const root = tempDir('sync-cache')
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'memory', 'note.md'), 'remember this\n')
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo') }))
  const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }
  const sync = WorkspaceSync.create({ workspace: ws, env })
  await sync.init()
  await sync.syncNow({ trigger: 'manual' })
  const repo = await sync.repository()
  const cacheRoot = join(root, 'state', 'cache', basename(sync.stateDir))
  assert.equal(repo.cacheDir, join(cacheRoot, repo.id))
  assert.equal(bundle(repo.cacheDir!).size, 1)
  assert.ok(!existsSync(join(sync.stateDir, 'cache')), 'nothing cached among the durable state')
  await sync.close()

  // Where an earlier version kept it: moved on the next start, and used.
  renameSync(cacheRoot, join(sync.stateDir, 'cache'))
  const again = WorkspaceSync.create({ workspace: ws, env })
  assert.ok(!existsSync(join(sync.stateDir, 'cache')), 'the old cache folder is gone')
  assert.equal(bundle(join(cacheRoot, repo.id)).size, 1, 'its files were moved, not dropped')
  await again.syncNow({ trigger: 'manual' })
  assert.equal((await again.repository()).cacheDir, join(cacheRoot, repo.id))
  await again.close()
})
