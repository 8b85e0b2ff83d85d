// Concurrency: several Repository instances (as several processes would) on one LocalBackend folder,
// running backups and prunes at the same time. Locking strategy used here: every operation that may
// meet another one's lock is given `lockWaitMs` (a prune waits for the backups' shared locks, a
// backup for the prune's exclusive lock) instead of failing with LOCKED; one test also checks the
// LOCKED failure of a backup without `lockWaitMs` and its successful retry. Whatever the
// interleaving, both snapshots must exist and restore exactly, `check({ readData: true })` must be
// clean, and a final prune with maxUnused 0 must leave no unused or duplicate blob. The prunes that
// race with backups use `unindexedGraceMs: 0`, so only the locks protect a running backup's packs.
// Some tests stop one operation at an exact request (HookBackend) to force an interleaving: a prune
// between a backup's index load and its lock, or one deleting packs the backup would adopt.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isWarning, LocalBackend, Repository, type Backend, type BackupSummary, type FileType, type Handle, type PruneSummary } from '../src/index.js'
import { planPrune } from '../src/prune/index.js'
import { cleanup, CountingBackend, FailSaves, FAST_KDF, PassThrough, randomBytesSeeded, SMALL_CHUNKS, shapeOf, tempDir, type TreeShape } from './helpers.js'

after(cleanup)

const PW = 'concurrency'
/** Generous: a waiting lock backs off up to ~7.5 s between attempts. */
const WAIT = 60_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---- backends ----------------------------------------------------------------------------------------

interface Hooks {
  /** Awaited before a save or remove reaches storage. */
  beforeWrite?: (op: 'save' | 'remove', h: Handle) => Promise<void> | void
  /** Awaited before a listing starts. */
  beforeList?: (type: FileType) => Promise<void> | void
}

/** Runs hooks before requests: to stop an operation at an exact point while another one runs. */
class HookBackend extends PassThrough {
  constructor(
    inner: Backend,
    readonly hooks: Hooks,
  ) {
    super(inner)
  }
  override async save(h: Handle, d: Uint8Array, o?: { ifAbsent?: boolean }) {
    await this.hooks.beforeWrite?.('save', h)
    return this.inner.save(h, d, o)
  }
  override async remove(h: Handle) {
    await this.hooks.beforeWrite?.('remove', h)
    return this.inner.remove(h)
  }
  override async *list(t: FileType) {
    await this.hooks.beforeList?.(t)
    yield* this.inner.list(t)
  }
}

/** A promise with its resolve function. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

// ---- repository and sources --------------------------------------------------------------------------

interface Env {
  /** The instance that created the repository (its index not loaded yet). */
  creator: Repository
  root: string
  base: string
  /** Storage for one more "process": its own LocalBackend on the folder, slowed down when asked. */
  storage(): Backend
  open(backend?: Backend): Promise<Repository>
}

async function newEnv(saveDelayMs: number): Promise<Env> {
  const base = tempDir('conc')
  const root = join(base, 'repo')
  const creator = await Repository.init({ backend: new LocalBackend(root), password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024 })
  const storage = () => (saveDelayMs > 0 ? new CountingBackend(new LocalBackend(root), saveDelayMs) : new LocalBackend(root))
  return { creator, root, base, storage, open: (backend = storage()) => Repository.open({ backend, password: PW }) }
}

/** A fresh folder `<base>/<name>/data` holding the given files. */
function source(base: string, name: string, files: Record<string, Buffer>): string {
  const src = join(base, name, 'data')
  mkdirSync(src, { recursive: true })
  for (const [f, bytes] of Object.entries(files)) {
    mkdirSync(join(src, f, '..'), { recursive: true })
    writeFileSync(join(src, f), bytes)
  }
  return src
}

const text = (seed: number, n: number) => Buffer.from(`line ${seed} of some text that compresses\n`.repeat(Math.ceil(n / 40))).subarray(0, n)

/** Content shared between the sources and an old snapshot that gets forgotten. */
const X1 = randomBytesSeeded(150_000, 101)
const X2 = randomBytesSeeded(120_000, 102)
const SHARED = randomBytesSeeded(90_000, 103)

/** Plaintext bytes source A's first backup adds once the forgotten snapshot is pruned: at least x1.bin and a1.bin (without a restart: at most a1.bin and a2.txt, 260 kB). */
const A_NEW_BYTES = X1.length + 200_000

interface Expected {
  id: string
  shape: TreeShape
  what: string
}

/**
 * The repository as one more process finds it afterwards: the expected snapshots exist and restore
 * exactly, check is clean; then a prune with maxUnused 0 leaves no unused or duplicate blob, and
 * everything still restores and checks clean.
 */
async function verifyAll(env: Env, expected: Expected[]): Promise<void> {
  const restoreAll = async (repo: Repository, when: string) => {
    const ids = new Set((await repo.snapshots()).map((s) => s.id))
    for (const e of expected) {
      assert.ok(ids.has(e.id), `${when}: snapshot ${e.id.slice(0, 8)} (${e.what}) is gone`)
      const out = join(env.base, `out-${Math.random().toString(36).slice(2)}`)
      try {
        await repo.restore(e.id, out)
        assert.deepEqual(shapeOf(join(out, 'data')), e.shape, `${when}: snapshot ${e.id.slice(0, 8)} (${e.what}) restores differently`)
      } finally {
        rmSync(out, { recursive: true, force: true })
      }
    }
  }
  const checkClean = async (repo: Repository, when: string) => {
    const report = await repo.check({ readData: true })
    assert.deepEqual(
      report.problems.filter((p) => !isWarning(p.kind)),
      [],
      `${when}: check found errors`,
    )
  }
  const fresh = await Repository.open({ backend: new LocalBackend(env.root), password: PW })
  assert.deepEqual(await fresh.locks(), [], 'no lock is left behind')
  await restoreAll(fresh, 'after the concurrent operations')
  await checkClean(fresh, 'after the concurrent operations')
  await fresh.prune({ maxUnused: 0, unindexedGraceMs: 0 })
  const again = await Repository.open({ backend: new LocalBackend(env.root), password: PW })
  const plan = await planPrune(again, { maxUnused: 0, unindexedGraceMs: 0 })
  assert.equal(plan.stats.unusedBlobs, 0, `unused blobs after the final prune: ${JSON.stringify(plan.stats)}`)
  assert.equal(plan.stats.duplicateBlobs, 0, `duplicate blobs after the final prune: ${JSON.stringify(plan.stats)}`)
  assert.equal(plan.unindexedToDelete.length, 0)
  await checkClean(again, 'after the final prune')
  await restoreAll(again, 'after the final prune')
}

/**
 * An old snapshot (host `seed`) holding X1 and X2, then forgotten: its data is garbage a prune
 * removes, unless a backup running meanwhile relies on it (both sources below hold X1 or X2 again).
 * Also a kept snapshot of source B's first version, so B's backup has a parent.
 */
async function seeded(env: Env) {
  const setup = await env.open(new LocalBackend(env.root))
  const seed = source(env.base, 'seed', { 'x1.bin': X1, 'x2.bin': X2, 'notes.txt': text(1, 30_000) })
  const s0 = await setup.backup([seed], { host: 'seed', time: new Date('2026-01-01T00:00:00Z') })
  const srcB = source(env.base, 'hostB', { 'b1.bin': randomBytesSeeded(140_000, 201), 'shared.bin': SHARED, 'sub/b2.txt': text(2, 50_000) })
  const s1 = await setup.backup([srcB], { host: 'b', time: new Date('2026-01-02T00:00:00Z') })
  const old: Expected = { id: s1.snapshotId!, shape: shapeOf(srcB), what: 'B, first version' }
  await setup.forgetSnapshots([s0.snapshotId!])
  // B changes: a file goes, X2 (only in the forgotten snapshot) and a new file come.
  rmSync(join(srcB, 'sub', 'b2.txt'))
  writeFileSync(join(srcB, 'x2.bin'), X2)
  writeFileSync(join(srcB, 'b3.bin'), randomBytesSeeded(100_000, 202))
  const srcA = source(env.base, 'hostA', { 'x1.bin': X1, 'a1.bin': randomBytesSeeded(200_000, 301), 'shared.bin': SHARED, 'deep/a2.txt': text(3, 60_000) })
  return { srcA, srcB, old }
}

// ---- tests ------------------------------------------------------------------------------------------

/**
 * When the prune starts: `early` (10 or 60 ms after backup A, before B: whoever writes its lock
 * first wins, the others wait), or `locked` (B starts once A holds its shared lock, the prune once
 * both hold theirs: the prune must wait for both to finish).
 */
const RACES = [
  { delay: 0, start: 'early' },
  { delay: 40, start: 'early' },
  { delay: 150, start: 'locked' },
] as const

for (const { delay, start } of RACES) {
  test(`two concurrent backups from two hosts plus a prune started between them lose nothing (saves take ${delay} ms, prune starts ${start})`, { timeout: 180_000 }, async () => {
    const env = await newEnv(delay)
    const { srcA, srcB, old } = await seeded(env)
    const shapeA = shapeOf(srcA)
    const shapeB = shapeOf(srcB)
    const [a, b, p] = [await env.open(), await env.open(), await env.open()]
    const events: string[] = []
    const t0 = performance.now()
    const stamp = <T>(what: string, op: Promise<T>) => op.then((r) => (events.push(`${what} done at ${Math.round(performance.now() - t0)} ms`), r))
    const prune = () => stamp('prune', p.prune({ maxUnused: 0, unindexedGraceMs: 0, lockWaitMs: WAIT }))
    let done = 0
    const backupA = stamp('backup A', a.backup([srcA], { host: 'a', threads: 2, lockWaitMs: WAIT })).finally(() => done++)
    let pruning: Promise<PruneSummary> | undefined
    if (start === 'early') {
      await sleep(delay > 0 ? 60 : 10)
      pruning = prune()
    }
    const sharedLocks = async (n: number) => {
      while ((await p.locks()).filter((l) => !l.exclusive).length < n) {
        assert.ok(done === 0, 'both backups should hold their locks at the same time (make the storage slower)')
        await sleep(10)
      }
    }
    if (start === 'locked') await sharedLocks(1)
    const backupB = stamp('backup B', b.backup([srcB], { host: 'b', threads: 0, lockWaitMs: WAIT })).finally(() => done++)
    if (start === 'locked') {
      await sharedLocks(2)
      events.push(`both backups hold their locks at ${Math.round(performance.now() - t0)} ms`)
      pruning = prune()
    }
    const [ra, pruned, rb] = await Promise.all([backupA, pruning!, backupB])
    if (start === 'locked') assert.match(events.at(-1)!, /^prune/, 'the prune waited for both backups')
    assert.ok(ra.snapshotId && rb.snapshotId)
    assert.notEqual(ra.snapshotId, rb.snapshotId)
    assert.equal(rb.parent, old.id, "B's backup compares against B's earlier snapshot")
    // Whichever order the locks gave, the forgotten snapshot's data that no backup reuses is gone.
    assert.ok(pruned.packsDeleted + pruned.packsRepacked > 0, JSON.stringify(pruned.plan.stats))
    console.log(`saves ${delay} ms, prune ${start}: ${events.join(', ')}; prune deleted ${pruned.packsDeleted} and repacked ${pruned.packsRepacked} packs`)
    await verifyAll(env, [
      { id: ra.snapshotId, shape: shapeA, what: 'A' },
      { id: rb.snapshotId, shape: shapeB, what: 'B, second version' },
      old,
    ])
  })

}

for (const delay of [0, 40]) {
  test(`while a prune holds the exclusive lock a backup fails with LOCKED, or with lockWaitMs waits and then restarts on the pruned index (saves take ${delay} ms)`, { timeout: 180_000 }, async () => {
    const env = await newEnv(delay)
    const { srcA, old } = await seeded(env)
    const shapeA = shapeOf(srcA)
    // The prune stops at its first write after planning, holding its lock, until released.
    const holding = signal()
    const release = signal()
    const p = await env.open(
      new HookBackend(env.storage(), {
        beforeWrite: async (_op, h) => {
          if (h.type === 'locks') return
          holding.resolve()
          await release.promise
        },
      }),
    )
    const pruning = p.prune({ maxUnused: 0, unindexedGraceMs: 0 })
    await holding.promise
    assert.ok((await p.locks()).some((l) => l.exclusive && !l.stale), 'the prune holds its exclusive lock')

    // Without lockWaitMs: LOCKED at once, nothing written, no lock left.
    const a = await env.open()
    const snapshotsBefore = (await a.snapshots()).length
    await assert.rejects(a.backup([srcA], { host: 'a' }), (e: unknown) => (e as { code?: string }).code === 'LOCKED')
    assert.equal((await a.snapshots()).length, snapshotsBefore)
    assert.deepEqual(
      (await a.locks()).filter((l) => !l.exclusive),
      [],
      'the failed backup removed its lock',
    )

    // With lockWaitMs: waits while the prune holds the lock. It loads the index now, before the sweep.
    const w = await env.open()
    let settled = false
    const waiting = w.backup([srcA], { host: 'a', threads: 2, lockWaitMs: WAIT }).finally(() => (settled = true))
    await sleep(700)
    assert.equal(settled, false, 'the backup waits for the prune')
    release.resolve()
    const pruned = await pruning
    assert.ok(pruned.packsDeleted + pruned.packsRepacked > 0)
    const rw = await waiting
    // x1.bin's blobs were in the index the waiting backup loaded, and the prune deleted them (no
    // kept snapshot had them): the backup noticed, started again and stored them anew.
    assert.ok(rw.bytesAdded >= A_NEW_BYTES, `the waiting backup stored x1.bin again (added ${rw.bytesAdded} bytes)`)

    // The backup that failed with LOCKED succeeds on retry (its instance still has the old index cached).
    const retry = await a.backup([srcA], { host: 'a' })
    assert.equal(retry.parent, rw.snapshotId)
    await verifyAll(env, [
      { id: rw.snapshotId!, shape: shapeA, what: 'A, waited for the prune' },
      { id: retry.snapshotId!, shape: shapeA, what: 'A, retried after LOCKED' },
      old,
    ])
  })
}

for (const threads of [0, 2]) {
  test(`a backup that loaded the index before a prune ran restarts and still produces a snapshot that restores (threads ${threads})`, { timeout: 120_000 }, async () => {
    const env = await newEnv(0)
    const { srcA, old } = await seeded(env)
    const shapeA = shapeOf(srcA)
    const a = await env.open()
    const before = await a.index() // includes the forgotten snapshot's X1 and X2
    assert.ok(before.size > 0)
    // Another process forgets nothing more but prunes: the forgotten snapshot's packs go.
    const other = await env.open()
    const pruned = await other.prune({ maxUnused: 0 })
    assert.ok(pruned.packsDeleted + pruned.packsRepacked > 0)
    const r = await a.backup([srcA], { host: 'a', threads })
    assert.ok(r.bytesAdded >= A_NEW_BYTES, `x1.bin was stored anew, not deduplicated against pruned data (added ${r.bytesAdded} bytes)`)
    await verifyAll(env, [{ id: r.snapshotId!, shape: shapeA, what: 'A' }, old])
  })

  test(`a backup whose index was loaded before another process forgot and pruned the snapshot it deduplicates against (threads ${threads})`, { timeout: 120_000 }, async () => {
    const env = await newEnv(0)
    const { srcA, old } = await seeded(env)
    // Source A is backed up, then loses x1.bin; a second instance loads the index now.
    const setup = await env.open()
    const first = await setup.backup([srcA], { host: 'a', time: new Date('2026-01-03T00:00:00Z') })
    const x1 = join(srcA, 'x1.bin')
    rmSync(x1)
    const second = await setup.backup([srcA], { host: 'a', time: new Date('2026-01-04T00:00:00Z') })
    const a = await env.open()
    await a.index()
    // Elsewhere: the first A snapshot (the last one holding x1.bin) is forgotten and pruned.
    const other = await env.open()
    await other.forgetSnapshots([first.snapshotId!])
    const pruned = await other.prune({ maxUnused: 0 })
    assert.ok(pruned.packsDeleted + pruned.packsRepacked > 0)
    // x1.bin comes back; the backup's loaded index says its blobs are stored.
    writeFileSync(x1, X1)
    const r = await a.backup([srcA], { host: 'a', threads, time: new Date('2026-01-05T00:00:00Z') })
    assert.equal(r.parent, second.snapshotId)
    await verifyAll(env, [{ id: r.snapshotId!, shape: shapeOf(srcA), what: 'A with x1.bin back' }, old])
  })
}

test(
  'a backup that starts while a prune deletes packs, and waits for its lock, does not rely on the packs being deleted',
  {
    timeout: 120_000,
  },
  async () => {
    const env = await newEnv(0)
    const { srcA, old } = await seeded(env)
    const shapeA = shapeOf(srcA)
    const waitingForLock = signal()
    const b = await env.open(
      new HookBackend(env.storage(), {
        beforeList: (t) => {
          if (t === 'locks') waitingForLock.resolve()
        },
      }),
    )
    let backup: Promise<BackupSummary> | undefined
    // The prune has written its new index and deleted the old index files; at its first pack
    // deletion, a backup starts (on another instance) and gets as far as waiting for the lock.
    const p = await env.open(
      new HookBackend(env.storage(), {
        beforeWrite: async (op, h) => {
          if (op !== 'remove' || h.type !== 'data') return
          backup ??= b.backup([srcA], { host: 'a', lockWaitMs: WAIT, threads: 0 })
          await waitingForLock.promise
        },
      }),
    )
    const pruned = await p.prune({ maxUnused: 0 })
    assert.ok(backup, 'the prune deleted packs')
    assert.ok(pruned.packsDeleted > 0)
    const r = await backup
    await verifyAll(env, [{ id: r.snapshotId!, shape: shapeA, what: 'A, started during the prune' }, old])
  },
)

test(
  'a backup that indexed old unindexed packs (in a repository without index files) does not rely on them after a prune deleted them',
  {
    timeout: 120_000,
  },
  async () => {
    const env = await newEnv(0)
    const src = source(env.base, 'host', { 'x1.bin': X1, 'x2.bin': X2, 'c.txt': text(4, 40_000) })
    const shape = shapeOf(src)
    // Two days ago the first backup uploaded its packs and died before writing any index file.
    const crashed = await env.open(new FailSaves(new LocalBackend(env.root), ['index', 'snapshots']))
    await assert.rejects(crashed.backup([src], { host: 'h' }), /simulated crash/)
    const dataDir = join(env.root, 'data')
    const packs = readdirSync(dataDir).flatMap((d) => readdirSync(join(dataDir, d)).map((f) => join(dataDir, d, f)))
    assert.ok(packs.length > 0)
    const twoDaysAgo = new Date(Date.now() - 48 * 3600_000)
    for (const f of packs) utimesSync(f, twoDaysAgo, twoDaysAgo)
    // Now a backup starts and finds those packs; just before it takes its lock, a prune (default
    // grace period of 24 h) runs from another process.
    const p = await env.open()
    let pruned: PruneSummary | undefined
    const b = await env.open(
      new HookBackend(env.storage(), {
        beforeList: async (t) => {
          if (t === 'locks' && !pruned) pruned = await p.prune()
        },
      }),
    )
    const r = await b.backup([src], { host: 'h', lockWaitMs: WAIT })
    assert.ok(pruned && pruned.unindexedPacksDeleted > 0, 'the prune deleted the old unindexed packs')
    await verifyAll(env, [{ id: r.snapshotId!, shape, what: 'the resumed backup' }])
  },
)

for (const parent of ['default', 'none'] as const) {
  test(
    `a long-running instance that created the repository notices a prune by another process before its next backup (parent: ${parent})`,
    {
      timeout: 120_000,
    },
    async () => {
      const env = await newEnv(0)
      // A daemon: the instance that created the repository backs up every day.
      const daemon = env.creator
      const src = source(env.base, 'host', { 'x1.bin': X1, 'a1.bin': randomBytesSeeded(200_000, 401), 'c.txt': text(5, 20_000) })
      await daemon.backup([src], { host: 'd', time: new Date('2026-01-01T00:00:00Z') })
      rmSync(join(src, 'x1.bin'))
      const second = await daemon.backup([src], { host: 'd', time: new Date('2026-01-02T00:00:00Z') })
      const secondShape = shapeOf(src)
      // Another machine applies a policy and prunes: x1.bin's data goes.
      const other = await env.open()
      const forgot = await other.forget({ keepLast: 1 }, { now: new Date('2026-01-02T00:00:00Z'), timeZone: 'UTC' })
      assert.equal(forgot.removed, 1)
      const pruned = await other.prune({ maxUnused: 0 })
      assert.ok(pruned.packsDeleted + pruned.packsRepacked > 0)
      // x1.bin comes back (from a restore, a checkout…); the daemon's next backup.
      writeFileSync(join(src, 'x1.bin'), X1)
      const r = await daemon.backup([src], { host: 'd', time: new Date('2026-01-03T00:00:00Z'), parent: parent === 'none' ? false : undefined })
      await verifyAll(env, [
        { id: second.snapshotId!, shape: secondShape, what: 'the kept snapshot' },
        { id: r.snapshotId!, shape: shapeOf(src), what: "the daemon's backup after the prune" },
      ])
    },
  )
}
