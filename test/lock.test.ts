import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { defaultSettleMs, Lock, listLocks, removeLocks } from '../src/repository/lock.js'
import { LockedError, type FileType, type Handle } from '../src/index.js'
import { cleanup, memoryRepo, PassThrough, tempDir } from './helpers.js'

after(cleanup)

test('shared locks coexist; an exclusive lock excludes every other lock', async () => {
  const { repo } = await memoryRepo()
  const a = await Lock.acquire(repo, { exclusive: false, settleMs: 5 })
  const b = await Lock.acquire(repo, { exclusive: false, settleMs: 5 })
  await assert.rejects(Lock.acquire(repo, { exclusive: true, settleMs: 5 }), LockedError)
  await a.release()
  await b.release()
  const x = await Lock.acquire(repo, { exclusive: true, settleMs: 5 })
  await assert.rejects(Lock.acquire(repo, { exclusive: false, settleMs: 5 }), (e: unknown) => e instanceof LockedError && /exclusively/.test(e.message) && /unlock/.test(e.message))
  await x.release()
  assert.equal((await listLocks(repo)).length, 0)
})

test('a lock of a dead process on this host is stale at once; unlock removes stale locks only', async () => {
  const { repo } = await memoryRepo()
  // pid 2^22+12345 does not exist on Linux (pid_max is at most 2^22).
  await repo.saveFile('locks', 'lock', { v: 1, time: new Date().toISOString(), host: hostname(), pid: 4_206_649, exclusive: true })
  await repo.saveFile('locks', 'lock', { v: 1, time: new Date(Date.now() - 3_600_000).toISOString(), host: 'elsewhere', pid: 1, exclusive: true })
  await repo.saveFile('locks', 'lock', { v: 1, time: new Date().toISOString(), host: 'elsewhere', pid: 1, exclusive: false })
  const locks = await listLocks(repo)
  assert.deepEqual(locks.map((l) => l.stale).sort(), [false, true, true])
  const shared = await Lock.acquire(repo, { exclusive: false, settleMs: 5 })
  await shared.release()
  await assert.rejects(Lock.acquire(repo, { exclusive: true, settleMs: 5 }), LockedError)
  assert.equal((await removeLocks(repo)).length, 2)
  assert.equal((await listLocks(repo)).length, 1)
  assert.equal((await removeLocks(repo, { all: true })).length, 1)
})

test('a held lock refreshes itself: its file is replaced with a newer one', async () => {
  const { repo } = await memoryRepo()
  const l = await Lock.acquire(repo, { exclusive: false, settleMs: 5, refreshMs: 30 })
  const first = (await listLocks(repo))[0]
  await new Promise((r) => setTimeout(r, 120))
  const later = await listLocks(repo)
  assert.equal(later.length, 1)
  assert.notEqual(later[0].id, first.id)
  assert.ok(Date.parse(later[0].time) > Date.parse(first.time))
  await l.release()
  assert.equal((await listLocks(repo)).length, 0)
})

test('a backup waits for nothing and fails clearly while a prune holds the exclusive lock; it leaves no lock behind', async () => {
  const src = join(tempDir('lock'), 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a'), 'a')
  const { repo } = await memoryRepo()
  const x = await Lock.acquire(repo, { exclusive: true, settleMs: 5 })
  await assert.rejects(repo.backup([src]), (e: unknown) => e instanceof LockedError)
  await x.release()
  await repo.backup([src])
  assert.equal((await listLocks(repo)).length, 0)
  // Nothing to store: no lock is even taken.
  const s = await repo.backup([src], { skipIfUnchanged: true })
  assert.equal(s.requests.PUT, 0)
})

test('with listings that lag writes by up to 180 ms, a backup (no wait) and a prune (the default wait) taking locks at nearly the same time never both get them', async () => {
  const { MemoryBackend, Repository } = await import('../src/index.js')
  const { FAST_KDF } = await import('./helpers.js')
  /** Listings leave out files stored less than `lagMs` ago (storage with eventually consistent listings). */
  class LaggyListings extends PassThrough {
    private readonly savedAt = new Map<string, number>()
    constructor(
      inner: InstanceType<typeof MemoryBackend>,
      readonly lagMs: number,
    ) {
      super(inner)
    }
    override async save(h: Handle, d: Uint8Array, o?: { ifAbsent?: boolean }) {
      await this.inner.save(h, d, o)
      this.savedAt.set(`${h.type}/${h.name}`, Date.now())
    }
    override async *list(type: FileType) {
      for await (const f of this.inner.list(type)) {
        const at = this.savedAt.get(`${type}/${f.name}`)
        if (at === undefined || Date.now() - at >= this.lagMs) yield f
      }
    }
  }
  const backend = new LaggyListings(new MemoryBackend(), 180)
  const repo = await Repository.init({ backend, password: 'pw', argon2: FAST_KDF })
  for (const offset of [0, 30, 90, 170, -30, -90, -170]) {
    const shared = (async () => {
      if (offset > 0) await new Promise((r) => setTimeout(r, offset))
      return Lock.acquire(repo, { exclusive: false })
    })()
    const exclusive = (async () => {
      if (offset < 0) await new Promise((r) => setTimeout(r, -offset))
      return Lock.acquire(repo, { exclusive: true })
    })()
    const [a, b] = await Promise.allSettled([shared, exclusive])
    assert.ok(a.status === 'rejected' || b.status === 'rejected', `offset ${offset} ms: both took their lock`)
    for (const r of [a, b]) if (r.status === 'fulfilled') await r.value.release()
    await new Promise((r) => setTimeout(r, 200)) // let the removals show in listings
  }
})

test('a backup given lockWaitMs waits for a prune\'s exclusive lock, says whose lock it waits for, and runs once it is released', async () => {
  const src = join(tempDir('lock'), 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a'), 'a')
  const { repo } = await memoryRepo()
  const x = await Lock.acquire(repo, { exclusive: true, settleMs: 5 })
  const waits: Array<{ pid: number; exclusive: boolean; host: string }> = []
  const started = Date.now()
  setTimeout(() => void x.release(), 400)
  const s = await repo.backup([src], { lockWaitMs: 10_000, onLockWait: (h) => waits.push({ pid: h.pid, exclusive: h.exclusive, host: h.host }) })
  assert.ok(s.snapshotId)
  assert.ok(Date.now() - started >= 350, 'it waited')
  assert.deepEqual(waits, [{ pid: process.pid, exclusive: true, host: hostname() }], 'told once, naming the holder')
  // Bounded: a lock that stays fails the backup once the wait is over.
  const y = await Lock.acquire(repo, { exclusive: true, settleMs: 5 })
  writeFileSync(join(src, 'b'), 'b')
  const t0 = Date.now()
  await assert.rejects(repo.backup([src], { lockWaitMs: 300, onLockWait: () => {} }), (e: unknown) => e instanceof LockedError)
  assert.ok(Date.now() - t0 < 5_000)
  await y.release()
  assert.equal((await listLocks(repo)).length, 0)
})

test('storage that lists a file once it is saved (a local folder) takes the exclusive lock without waiting; racing takers there still never both get theirs', async () => {
  const { LocalBackend, MemoryBackend, Repository, S3Backend } = await import('../src/index.js')
  const { RetryBackend } = await import('../src/backend/retry.js')
  const { FAST_KDF } = await import('./helpers.js')
  const dir = tempDir('lock-at-once')
  // The default wait, by storage: none where listings show a saved file at once, 400 ms for an
  // exclusive lock elsewhere (S3-compatible storage, or a backend that does not say).
  assert.equal(defaultSettleMs(new LocalBackend(dir), true), 0)
  assert.equal(defaultSettleMs(new MemoryBackend(), true), 0)
  assert.equal(defaultSettleMs(new RetryBackend(new LocalBackend(dir)), true), 0)
  assert.equal(defaultSettleMs(new PassThrough(new LocalBackend(dir)), true), 400)
  const s3 = new S3Backend({ bucket: 'b', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } })
  assert.equal(defaultSettleMs(s3, true), 400)
  assert.equal(defaultSettleMs(s3, false), 0)
  await s3.close?.()
  // And through the decorators a repository puts around the backend it is given.
  const repo = await Repository.init({ backend: new LocalBackend(dir), password: 'pw', argon2: FAST_KDF })
  assert.equal(defaultSettleMs(repo.backend, true), 0)
  // And Lock.acquire waits by it: no settling timer on the local folder, one of 400 ms on storage
  // that does not say it lists at once.
  const settles = async (r: typeof repo) => {
    const waits: number[] = []
    const original = globalThis.setTimeout
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      if (ms !== undefined && ms >= 400) waits.push(ms)
      return original(fn, ms)
    }) as typeof setTimeout
    try {
      await (await Lock.acquire(r, { exclusive: true })).release()
    } finally {
      globalThis.setTimeout = original
    }
    return waits
  }
  assert.deepEqual(await settles(repo), [])
  assert.deepEqual(await settles(await Repository.open({ backend: new PassThrough(new LocalBackend(dir)), password: 'pw' })), [400])
  // Two takers at nearly the same time, one of them exclusive: never both.
  for (let round = 0; round < 40; round++) {
    const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))
    const first = delay(round % 3).then(() => Lock.acquire(repo, { exclusive: true }))
    const second = delay((round >> 1) % 3).then(() => Lock.acquire(repo, { exclusive: round % 2 === 0 }))
    const [a, b] = await Promise.allSettled([first, second])
    assert.ok(a.status === 'rejected' || b.status === 'rejected', `round ${round}: both took their lock`)
    for (const r of [a, b]) {
      if (r.status === 'fulfilled') await r.value.release()
      else assert.ok(r.reason instanceof LockedError, String(r.reason))
    }
    assert.deepEqual(await listLocks(repo), [])
  }
})

