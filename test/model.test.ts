// Model-based test (fast-check): random sequences of source edits, backups (two hosts, with and
// without worker threads), forgets, prunes, and backups and prunes that crash after k writes, run
// against one MemoryBackend repository. The model is the set of snapshots that must exist, each with
// the shape of the source folder when it was taken. After every step: the repository holds exactly
// the model's snapshots, they restore to their recorded shapes (the new one and a random one; all at
// the end of a run), `check({ readData: true })` finds no error (warnings such as pack-unindexed are
// allowed), no lock is left, and after a completed prune the plan of a fresh prune finds no garbage
// beyond what `maxUnused` allows (a share of the whole repository).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import fc from 'fast-check'
import { isWarning, MemoryBackend, Repository, type Backend, type RetentionPolicy } from '../src/index.js'
import { planPrune } from '../src/prune/index.js'
import { cleanup, CrashAfter, FailSaves, FAST_KDF, randomBytesSeeded, SMALL_CHUNKS, shapeOf, tempDir, type TreeShape } from './helpers.js'

after(cleanup)

/** Runs of the property; FC_NUM_RUNS raises it for a longer hunt (a failure prints seed and path). */
const NUM_RUNS = Number(process.env.FC_NUM_RUNS) || 12
const PW = 'model'

// ---- a backend that dies -------------------------------------------------------------------------

// ---- the source folder ---------------------------------------------------------------------------

/** Where files may live in the source: some at the top, some one and two levels down. */
const SLOTS = ['a.bin', 'b.bin', 'c.txt', 'd.bin', 'sub/e.bin', 'sub/f.txt', 'sub/g.bin', 'sub/deep/h.bin', 'sub/deep/i.txt', 'j.bin']
/** A file never grows beyond this, so runs stay small (a few hundred KiB of source at most). */
const MAX_FILE = 160_000

interface Content {
  kind: 'random' | 'text'
  size: number
  seed: number
}

function materialize(c: Content): Buffer {
  if (c.kind === 'random') return randomBytesSeeded(c.size, c.seed)
  const line = `line ${c.seed} of a compressible file\n`
  return Buffer.from(line.repeat(Math.ceil(c.size / line.length) || 0)).subarray(0, c.size)
}

const arbSize = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 2_000 }), weight: 2 }, { arbitrary: fc.integer({ min: 2_000, max: 120_000 }), weight: 3 })
const arbContent: fc.Arbitrary<Content> = fc.record({
  kind: fc.constantFrom('random' as const, 'random' as const, 'text' as const),
  size: arbSize,
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
})

type Edit =
  /** Replace a file's content. */
  | { op: 'write'; file: number; content: Content }
  | { op: 'append'; file: number; content: Content }
  /** Insert bytes in the middle (shifts every chunk boundary after it). */
  | { op: 'insert'; file: number; at: number; content: Content }
  | { op: 'delete'; file: number }
  /** Create (or overwrite) the file at a slot. */
  | { op: 'add'; slot: number; content: Content }
  /** Copy one file over another slot: identical content, to be deduplicated. */
  | { op: 'copy'; file: number; slot: number }

const arbEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('write' as const), file: fc.nat(), content: arbContent }),
  fc.record({ op: fc.constant('append' as const), file: fc.nat(), content: arbContent }),
  fc.record({ op: fc.constant('insert' as const), file: fc.nat(), at: fc.integer({ min: 0, max: 1000 }), content: arbContent }),
  fc.record({ op: fc.constant('delete' as const), file: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), slot: fc.nat({ max: SLOTS.length - 1 }), content: arbContent }),
  fc.record({ op: fc.constant('copy' as const), file: fc.nat(), slot: fc.nat({ max: SLOTS.length - 1 }) }),
)

function presentFiles(src: string): string[] {
  return SLOTS.filter((s) => {
    try {
      return statSync(join(src, s)).isFile()
    } catch {
      return false
    }
  })
}

function writeSlot(src: string, slot: string, data: Buffer): void {
  mkdirSync(dirname(join(src, slot)), { recursive: true })
  writeFileSync(join(src, slot), data.subarray(0, MAX_FILE))
}

/** Applies one edit; an edit of a file when there is none does nothing. */
function applyEdit(src: string, e: Edit): void {
  const files = presentFiles(src)
  if (e.op === 'add') return writeSlot(src, SLOTS[e.slot], materialize(e.content))
  if (files.length === 0) return
  const f = files[e.file % files.length]
  const p = join(src, f)
  switch (e.op) {
    case 'write':
      return writeSlot(src, f, materialize(e.content))
    case 'append':
      return writeSlot(src, f, Buffer.concat([readFileSync(p), materialize(e.content)]))
    case 'insert': {
      const data = readFileSync(p)
      const at = Math.floor((data.length * e.at) / 1000)
      return writeSlot(src, f, Buffer.concat([data.subarray(0, at), materialize(e.content), data.subarray(at)]))
    }
    case 'delete':
      return rmSync(p)
    case 'copy':
      return writeSlot(src, SLOTS[e.slot], readFileSync(p))
  }
}

// ---- steps -----------------------------------------------------------------------------------------

type Step =
  | { kind: 'edit'; edits: Edit[] }
  /** `advanceMin`: how far the snapshot clock moves before this backup. */
  | { kind: 'backup'; threads: 0 | 2; other: boolean; advanceMin: number }
  | { kind: 'forget'; policy: RetentionPolicy }
  | { kind: 'prune'; maxUnused: number }
  /**
   * Edits first (so there is something to store), then a backup that dies after k writes. `own`: in
   * the long-lived variant, the failure happens in the long-lived instance, which goes on (as a
   * process whose storage failed for a moment); otherwise in another process.
   */
  | { kind: 'crashBackup'; edits: Edit[]; k: number; threads: 0 | 2; other: boolean; advanceMin: number; own: boolean }
  | { kind: 'crashPrune'; k: number; maxUnused: number; own: boolean }

const arbMaxUnused = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 }).map((n) => n / 100))
const arbPolicy: fc.Arbitrary<RetentionPolicy> = fc.oneof(
  { arbitrary: fc.record({ keepLast: fc.integer({ min: 1, max: 3 }) }), weight: 3 },
  { arbitrary: fc.record({ keepWithin: fc.constantFrom('6h', '1d', '2d', '1w') }), weight: 1 },
  { arbitrary: fc.record({ keepDaily: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  { arbitrary: fc.record({ keepHourly: fc.integer({ min: 1, max: 4 }), keepWeekly: fc.integer({ min: 0, max: 2 }) }), weight: 1 },
  { arbitrary: fc.record({ keepLast: fc.integer({ min: 1, max: 2 }), keepWithin: fc.constantFrom('12h', '3d') }), weight: 1 },
)
const arbAdvance = fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 60, max: 3 * 24 * 60 }))
/** How many writes a crashing operation gets through: mostly few, so most of them do crash midway. */
const arbK = (max: number) => fc.oneof({ arbitrary: fc.integer({ min: 0, max: 4 }), weight: 3 }, { arbitrary: fc.integer({ min: 0, max }), weight: 1 })
const arbThreads = fc.constantFrom(0 as const, 2 as const)
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('edit' as const), edits: fc.array(arbEdit, { minLength: 1, maxLength: 4 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('backup' as const), threads: arbThreads, other: fc.boolean(), advanceMin: arbAdvance }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('forget' as const), policy: arbPolicy }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('prune' as const), maxUnused: arbMaxUnused }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('crashBackup' as const), edits: fc.array(arbEdit, { minLength: 1, maxLength: 3 }), k: arbK(10), threads: arbThreads, other: fc.boolean(), advanceMin: arbAdvance, own: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('crashPrune' as const), k: arbK(16), maxUnused: arbMaxUnused, own: fc.boolean() }), weight: 2 },
)

// ---- the run ---------------------------------------------------------------------------------------

/** What the runs did, printed at the end (to see that crashes and prunes really happen). */
const tally: Record<string, number> = {}
const count = (what: string) => void (tally[what] = (tally[what] ?? 0) + 1)

interface Recorded {
  shape: TreeShape
  host: string
  time: number
}

class Run {
  readonly model = new Map<string, Recorded>()
  clock = Date.UTC(2026, 0, 5, 9, 0, 0)
  readonly log: string[] = []

  constructor(
    readonly memory: MemoryBackend,
    /** The storage of `creator`: the memory, with a crash that can be armed. */
    readonly storage: CrashAfter,
    /** The instance that created the repository: kept for every ordinary operation when `longLived`. */
    readonly creator: Repository,
    /** Ordinary operations (backup, forget, prune) go through `creator`, whose cached index ages; else each opens the repository afresh. */
    readonly longLived: boolean,
    readonly base: string,
    readonly src: string,
  ) {}

  fresh(backend: Backend = this.memory): Promise<Repository> {
    return Repository.open({ backend, password: PW })
  }

  /** Where a crashing operation runs: the long-lived instance (crash armed on its storage) or another process. */
  async crasher(own: boolean, k: number): Promise<{ repo: Repository; crash: CrashAfter; done: () => void; where: string }> {
    if (this.longLived && own) {
      this.storage.arm(k)
      return { repo: this.creator, crash: this.storage, done: () => this.storage.disarm(), where: 'own' }
    }
    const crash = new CrashAfter(this.memory, k)
    return { repo: await this.fresh(crash), crash, done: () => {}, where: 'other' }
  }

  /** The instance for an ordinary operation. */
  async repo(): Promise<Repository> {
    return this.longLived ? this.creator : this.fresh()
  }

  async restoreAndCompare(repo: Repository, id: string, what: string): Promise<void> {
    const want = this.model.get(id)!
    const out = join(this.base, `out-${Math.random().toString(36).slice(2)}`)
    try {
      await repo.restore(id, out)
      assert.deepEqual(shapeOf(join(out, 'src')), want.shape, `${what}: snapshot ${id.slice(0, 8)} restores differently`)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }

  /** The invariants that hold between steps. */
  async verify(restore: string[], what: string): Promise<void> {
    const repo = await this.fresh()
    const ids = (await repo.snapshots()).map((s) => s.id).sort()
    assert.deepEqual(ids, [...this.model.keys()].sort(), `${what}: the repository must hold exactly the model's snapshots`)
    assert.deepEqual(await repo.locks(), [], `${what}: a lock was left behind`)
    const report = await repo.check({ readData: true })
    const errors = report.problems.filter((p) => !isWarning(p.kind))
    assert.deepEqual(errors, [], `${what}: check found errors`)
    assert.equal(report.ok, true)
    for (const id of new Set(restore)) if (this.model.has(id)) await this.restoreAndCompare(repo, id, what)
  }

  /** After a completed prune: garbage left is within what maxUnused allows, and no unindexed pack is left. */
  async verifyPruned(maxUnused: number, what: string): Promise<void> {
    const plan = await planPrune(await this.fresh(), { maxUnused, unindexedGraceMs: 0 })
    assert.deepEqual(plan.unindexedToDelete, [], `${what}: a prune with unindexedGraceMs 0 left unindexed packs`)
    const detail = () => JSON.stringify({ stats: plan.stats, packs: plan.packs.filter((p) => p.unusedBytes > 0) })
    if (maxUnused === 0) {
      assert.equal(plan.stats.unusedBlobs, 0, `${what}: unused blobs after a prune with maxUnused 0: ${detail()}`)
      assert.equal(plan.stats.duplicateBlobs, 0, `${what}: duplicate blobs after a prune with maxUnused 0: ${detail()}`)
    }
    let used = 0
    let unused = 0
    for (const p of plan.packs) {
      assert.ok(p.usedBlobs > 0, `${what}: pack ${p.id.slice(0, 8)} holds nothing used after prune: ${detail()}`)
      used += p.usedBytes
      unused += p.unusedBytes
    }
    // maxUnused bounds the repository's unused share, not each pack's.
    const share = unused / Math.max(1, used + unused)
    assert.ok(share <= maxUnused + 1e-9, `${what}: ${(share * 100).toFixed(1)}% of the repository is unused after a prune with maxUnused ${maxUnused}: ${detail()}`)
  }

  backupOptions(s: { threads: 0 | 2; other: boolean; advanceMin: number }) {
    this.clock += s.advanceMin * 60_000
    return { threads: s.threads, host: s.other ? 'other' : 'main', time: new Date(this.clock) }
  }

  record(id: string, host: string): void {
    assert.ok(!this.model.has(id), 'a new backup must make a new snapshot')
    this.model.set(id, { shape: shapeOf(this.src), host, time: this.clock })
  }

  /** Runs one step, then checks the invariants. `pick` chooses a random snapshot to restore as well. */
  async step(s: Step, i: number, pick: number): Promise<void> {
    const what = `step ${i} (${s.kind}) of [${this.log.join(', ')}]`
    const restore: string[] = []
    const anyId = () => {
      const ids = [...this.model.keys()]
      return ids.length > 0 ? [ids[pick % ids.length]] : []
    }
    switch (s.kind) {
      case 'edit':
        for (const e of s.edits) applyEdit(this.src, e)
        this.log.push('edit')
        return // nothing in the repository changed
      case 'backup': {
        const opts = this.backupOptions(s)
        const r = await (await this.repo()).backup([this.src], opts)
        assert.deepEqual(r.errors, [])
        this.record(r.snapshotId!, opts.host)
        restore.push(r.snapshotId!)
        this.log.push(`backup(${opts.host},t${s.threads})`)
        count('backup')
        break
      }
      case 'forget': {
        const r = await (await this.repo()).forget(s.policy, { now: new Date(this.clock), timeZone: 'UTC' })
        for (const id of r.removedIds) {
          assert.ok(this.model.has(id), `forget removed ${id.slice(0, 8)}, which is not in the model`)
          this.model.delete(id)
        }
        // The newest snapshot of each group (host and paths) stays.
        for (const g of r.groups) assert.ok(g.decisions.some((d) => d.keep), `forget removed every snapshot of group ${g.key}`)
        this.log.push(`forget(${JSON.stringify(s.policy)})=-${r.removedIds.length}`)
        count(r.removedIds.length > 0 ? 'forget (removed some)' : 'forget (removed none)')
        break
      }
      case 'prune': {
        const pr = await (await this.repo()).prune({ maxUnused: s.maxUnused, unindexedGraceMs: 0 })
        count(pr.packsDeleted + pr.packsRepacked + pr.unindexedPacksDeleted > 0 ? 'prune (did work)' : 'prune (nothing to do)')
        this.log.push(`prune(${s.maxUnused})`)
        await this.verifyPruned(s.maxUnused, what)
        break
      }
      case 'crashBackup': {
        for (const e of s.edits) applyEdit(this.src, e)
        const opts = this.backupOptions(s)
        const { repo: r, crash: crashing, done: disarm, where } = await this.crasher(s.own, s.k)
        try {
          const done = await r.backup([this.src], opts)
          this.record(done.snapshotId!, opts.host)
          restore.push(done.snapshotId!)
          this.log.push(`crashBackup(${s.k},${opts.host},t${s.threads},${where})=completed`)
          count('crashing backup (completed)')
        } catch (e) {
          if (!crashing.crashed || !/simulated crash/.test((e as Error).message)) throw e
          this.log.push(`crashBackup(${s.k},${opts.host},t${s.threads},${where})`)
          count(`crashing backup (crashed${s.k > 0 ? ` after ${s.k} writes` : ' at once'})`)
        } finally {
          disarm()
        }
        await (await this.repo()).unlock({ all: true })
        break
      }
      case 'crashPrune': {
        const { repo: r, crash: crashing, done: disarm, where } = await this.crasher(s.own, s.k)
        let completed = false
        try {
          await r.prune({ maxUnused: s.maxUnused, unindexedGraceMs: 0 })
          completed = true
        } catch (e) {
          if (!crashing.crashed || !/simulated crash/.test((e as Error).message)) throw e
        } finally {
          disarm()
        }
        await (await this.repo()).unlock({ all: true })
        this.log.push(`crashPrune(${s.k},${s.maxUnused},${where})${completed ? '=completed' : ''}`)
        count(completed ? 'crashing prune (completed)' : `crashing prune (crashed${s.k > 0 ? ' after some writes' : ' at once'})`)
        if (completed) await this.verifyPruned(s.maxUnused, what)
        break
      }
    }
    await this.verify([...restore, ...anyId()], what)
  }
}

/** One property run per variant: runs of 4–10 steps, each from a fresh source and repository. */
function property(longLived: boolean, numRuns: number, extra: fc.Parameters<unknown> = {}) {
  return async () => {
    const started = performance.now()
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ slot: fc.nat({ max: SLOTS.length - 1 }), content: arbContent }), { minLength: 1, maxLength: 5 }),
          fc.integer({ min: 64, max: 96 }),
          fc.array(fc.tuple(arbStep, fc.nat()), { minLength: 4, maxLength: 10 }),
          async (initial, packKiB, steps) => {
            const base = tempDir('model')
            try {
              const src = join(base, 'src')
              mkdirSync(src)
              for (const f of initial) writeSlot(src, SLOTS[f.slot], materialize(f.content))
              const memory = new MemoryBackend()
              const storage = new CrashAfter(memory, Infinity)
              const creator = await Repository.init({ backend: storage, password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: packKiB * 1024 })
              const run = new Run(memory, storage, creator, longLived, base, src)
              // Every run starts from one snapshot, so forgets and prunes have something to work on.
              await run.step({ kind: 'backup', threads: 0, other: false, advanceMin: 0 }, 0, 0)
              for (const [i, [s, pick]] of steps.entries()) await run.step(s, i + 1, pick)
              // The end: every snapshot still in the model restores.
              const what = `end of [${run.log.join(', ')}]`
              await run.verify([], what)
              const fresh = await run.fresh()
              for (const id of run.model.keys()) await run.restoreAndCompare(fresh, id, what)
            } finally {
              rmSync(base, { recursive: true, force: true })
            }
          },
        ),
        { numRuns, includeErrorInReport: true, ...extra },
      )
    } finally {
      console.log(`model (${longLived ? 'one long-lived instance' : 'a fresh instance per operation'}): ${numRuns} runs in ${Math.round(performance.now() - started)} ms; ${JSON.stringify(tally)}`)
      for (const k of Object.keys(tally)) delete tally[k]
    }
  }
}

test('random sequences of edits, backups, forgets, prunes and crashes never lose a kept snapshot', { timeout: 30 * 60_000 }, property(false, NUM_RUNS))

test(
  'the same, with ordinary operations through the long-lived instance that created the repository',
  {
    timeout: 30 * 60_000,
  },
  // No shrinking: keeps the time down.
  property(true, Math.max(6, Math.round(NUM_RUNS / 2)), { endOnFailure: true }),
)

/** A repository whose storage can refuse saves, holding one backup of a small folder. */
async function backedUpOnce() {
  const memory = new MemoryBackend()
  const storage = new FailSaves(memory)
  const repo = await Repository.init({ backend: storage, password: PW, argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024 })
  const base = tempDir('model')
  const src = join(base, 'src')
  mkdirSync(src)
  writeSlot(src, 'a.bin', randomBytesSeeded(150_000, 7))
  await repo.backup([src], { host: 'main' })
  return { memory, storage, repo, base, src }
}

/** A fresh instance finds no error with check --read-data, and the snapshot restores to `src`. */
async function assertSoundAndRestores(backend: MemoryBackend, snapshotId: string, src: string, base: string): Promise<void> {
  const shape = shapeOf(src)
  const fresh = await Repository.open({ backend, password: PW })
  const report = await fresh.check({ readData: true })
  assert.deepEqual(
    report.problems.filter((p) => !isWarning(p.kind)),
    [],
    'check finds no error',
  )
  const out = join(base, 'out')
  await fresh.restore(snapshotId, out)
  assert.deepEqual(shapeOf(join(out, 'src')), shape)
}

test('a backup retried in the same instance after its index write failed stores a snapshot that restores', async () => {
  const { memory, storage, repo, base, src } = await backedUpOnce()
  // New data; its packs are stored, then the index file is refused.
  writeSlot(src, 'sub/e.bin', randomBytesSeeded(150_000, 9))
  storage.kinds = ['index']
  await assert.rejects(repo.backup([src], { host: 'main' }), /simulated crash/)
  storage.kinds = []
  // The same process tries again.
  const retry = await repo.backup([src], { host: 'main' })
  await assertSoundAndRestores(memory, retry.snapshotId!, src, base)
})

test(
  'a backup retried in the same instance after writing the index of adopted packs failed stores a snapshot that restores',
  async () => {
    const { memory, storage, repo, base, src } = await backedUpOnce()
    // Another process backs up new data and dies after storing its packs, before any index file.
    writeSlot(src, 'sub/e.bin', randomBytesSeeded(150_000, 9))
    const other = new FailSaves(memory)
    other.kinds = ['index', 'snapshots']
    await assert.rejects((await Repository.open({ backend: other, password: PW })).backup([src], { host: 'main' }), /simulated crash/)
    // This process adopts those packs, but the index file naming them is refused; then it tries again.
    storage.kinds = ['index']
    await assert.rejects(repo.backup([src], { host: 'main' }), /simulated crash/)
    storage.kinds = []
    const retry = await repo.backup([src], { host: 'main' })
    await assertSoundAndRestores(memory, retry.snapshotId!, src, base)
  },
)
