import assert from 'node:assert/strict'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { LocalBackend, Repository, WorkspaceSync, type SessionSyncError, type SyncLogEntry } from '../../src/index.js'
import { cleanup, forgedFile, forgedMeta, forgeSnapshot, tempDir } from '../helpers.js'

after(cleanup)

/** A workspace as OpenClaw lays it out, with things that must never be backed up. */
function makeWorkspace(root: string): string {
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  mkdirSync(join(ws, 'skills', 'weather'), { recursive: true })
  mkdirSync(join(ws, 'node_modules', 'x'), { recursive: true })
  mkdirSync(join(ws, '.openclaw'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
  writeFileSync(join(ws, 'SOUL.md'), 'calm and precise\n')
  writeFileSync(join(ws, 'memory', '2026-12-01.md'), 'first day\n')
  writeFileSync(join(ws, 'memory', '2026-12-02.md'), 'second day\n')
  writeFileSync(join(ws, 'skills', 'weather', 'SKILL.md'), '---\nname: weather\n---\n')
  writeFileSync(join(ws, 'node_modules', 'x', 'index.js'), 'module.exports = 1\n')
  writeFileSync(join(ws, '.openclaw', 'state.json'), '{}')
  writeFileSync(join(ws, 'openclaw-workspace-state.json'), '{}')
  writeFileSync(join(ws, 'memory', '.env'), 'TOKEN=hunter2\n')
  writeFileSync(join(ws, 'random.txt'), 'not memory\n')
  return ws
}

interface Device {
  ws: string
  env: NodeJS.ProcessEnv
  sync: WorkspaceSync
}

function device(root: string, repo: string, opts: { env?: NodeJS.ProcessEnv; agent?: string; config?: Record<string, unknown>; now?: () => Date; ws?: string; onEvent?: (e: SyncLogEntry) => void } = {}): Device {
  const ws = opts.ws ?? makeWorkspace(root)
  writeFileSync(join(ws, 'session-sync-config.json'), `// backups of this agent\n${JSON.stringify({ provider: 'local', path: repo, debounce_seconds: 0, ...opts.config })}\n`)
  const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, ...opts.env }
  return { ws, env, sync: WorkspaceSync.create({ workspace: ws, env, agent: opts.agent, now: opts.now, onEvent: opts.onEvent }) }
}

function listRepo(repo: string): string[] {
  const out: string[] = []
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      if (statSync(p).isDirectory()) walk(p, `${rel}${n}/`)
      else out.push(`${rel}${n}`)
    }
  }
  walk(repo, '')
  return out.sort()
}

async function snapshotFiles(repoDir: string, key: string, id: string): Promise<string[]> {
  const repo = await Repository.open({ backend: new LocalBackend(repoDir), key: Buffer.from(key, 'base64') })
  const out: string[] = []
  for await (const e of repo.ls(id)) if (e.type !== 'dir') out.push(e.path)
  await repo.close()
  return out.sort()
}

describe('WorkspaceSync', () => {
  it('backs up the memory scope only; a second sync with nothing changed writes nothing, log and status page included', async () => {
    const root = tempDir('sync')
    const repo = join(root, 'repo')
    const events: SyncLogEntry[] = []
    const a = device(root, repo, { onEvent: (e) => events.push(e) })
    const init = await a.sync.init()
    assert.equal(init.created, true)
    assert.equal(init.keySource, 'generated')
    assert.ok(init.keyFile)
    assert.equal(lstatSync(init.keyFile).mode & 0o777, 0o600)

    const first = await a.sync.syncNow({ trigger: 'manual' })
    assert.equal(first.result, 'ok')
    assert.equal(first.filesNew, 5)
    const files = await snapshotFiles(repo, a.sync.showKey(), first.snapshot!)
    assert.deepEqual(files, ['workspace/MEMORY.md', 'workspace/SOUL.md', 'workspace/memory/2026-12-01.md', 'workspace/memory/2026-12-02.md', 'workspace/skills/weather/SKILL.md'])
    assert.ok(existsSync(join(a.ws, 'memory', 'sync-log.jsonl')))
    assert.ok(existsSync(join(a.ws, 'memory', 'sync-dashboard.html')))

    const before = listRepo(repo)
    const second = await a.sync.syncNow({ trigger: 'timer' })
    assert.equal(second.result, 'unchanged')
    assert.equal(second.requests.PUT, 0)
    assert.equal(second.snapshot, first.snapshot)
    assert.deepEqual(listRepo(repo), before, 'nothing was written to the repository')
    const third = await a.sync.syncNow({ trigger: 'timer' })
    assert.equal(third.result, 'unchanged')
    assert.equal(third.requests.PUT + third.requests.LIST + third.requests.GET, 0)

    const log = a.sync.log({ limit: 10 })
    assert.ok(log.length >= 3)
    assert.deepEqual(events.map((e) => `${e.kind}:${e.result}`).slice(0, 3), ['sync:ok', 'retention:ok', 'verify:ok'])
    assert.deepEqual(JSON.parse(JSON.stringify(events.at(-1))), log[0], 'the listener gets each log line as written')
    assert.equal(log[0].result, 'unchanged')
    assert.equal(log[0].agent, 'main')
    assert.equal(log[0].device, a.sync.device)

    const status = await a.sync.status()
    assert.equal(status.storageReachable, true)
    assert.deepEqual(status.snapshotsPerDevice, { [a.sync.device]: 1 })
    assert.deepEqual(status.secretsSkipped, ['memory/.env'])
    assert.deepEqual(status.changedSinceLastSnapshot, { new: [], changed: [], removed: [] })
    assert.ok(status.warnings.some((w) => /keep a copy/.test(w)))
    a.sync.confirmKeySaved()
    assert.ok(!(await a.sync.status()).warnings.some((w) => /keep a copy/.test(w)))
    await a.sync.close()
  })

  it('an edit makes one new snapshot; status sees the changes before it', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'))
    await a.sync.init()
    await a.sync.syncNow()
    writeFileSync(join(a.ws, 'memory', '2026-12-03.md'), 'third day\n')
    writeFileSync(join(a.ws, 'MEMORY.md'), '# Memory\n- the user likes green tea\n')
    rmSync(join(a.ws, 'SOUL.md'))
    writeFileSync(join(a.ws, 'random.txt'), 'changed but out of scope\n')
    const status = await a.sync.status()
    assert.deepEqual(status.changedSinceLastSnapshot, { new: ['memory/2026-12-03.md'], changed: ['MEMORY.md'], removed: ['SOUL.md'] })
    const s = await a.sync.syncNow()
    assert.equal(s.result, 'ok')
    assert.equal(s.filesNew, 1)
    assert.equal(s.filesChanged, 1)
    assert.deepEqual((await a.sync.status()).snapshotsPerDevice, { [a.sync.device]: 2 })
    await a.sync.close()
  })

  it('a running schedule skips the walk of an unchanged timer sync, and any change in the scope makes it walk', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'), { config: { interval_minutes: 1440 } })
    await a.sync.init()
    a.sync.start()
    await a.sync.syncNow({ trigger: 'manual' })
    await sleep(50)
    const quiet = await a.sync.syncNow({ trigger: 'timer' })
    assert.equal(quiet.result, 'unchanged')
    assert.equal(quiet.watched, true)
    assert.equal(a.sync.log({ limit: 1 })[0].detail?.watched, true)

    writeFileSync(join(a.ws, 'random.txt'), 'out of scope: no walk needed\n')
    await sleep(100)
    assert.equal((await a.sync.syncNow({ trigger: 'timer' })).watched, true)

    mkdirSync(join(a.ws, 'memory', 'new-folder'))
    writeFileSync(join(a.ws, 'memory', 'new-folder', 'fresh.md'), 'written while the schedule runs\n')
    await sleep(100)
    const changed = await a.sync.syncNow({ trigger: 'timer' })
    assert.equal(changed.watched, undefined)
    assert.equal(changed.result, 'ok')
    assert.equal(changed.filesNew, 1)
    await sleep(50)
    assert.equal((await a.sync.syncNow({ trigger: 'timer' })).watched, true)
    // A manual sync always walks.
    assert.equal((await a.sync.syncNow({ trigger: 'manual' })).watched, undefined)
    await a.sync.stop()
  })

  it('one process runs a workspace\'s schedule: a second start() leaves it to the first, names it in status, and takes over when it stops', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'), { config: { interval_minutes: 0.02 } })
    await a.sync.init()
    await a.sync.syncNow()
    const b = device(root, join(root, 'repo'), { ws: a.ws, config: { interval_minutes: 0.02 } })
    assert.deepEqual(a.sync.start({ owner: 'daemon' }), { scheduled: true })
    const second = b.sync.start({ owner: 'openclaw gateway' })
    assert.equal(second.scheduled, false)
    assert.equal(second.heldBy?.owner, 'daemon')
    assert.equal(second.heldBy?.pid, process.pid)
    const seenByB = (await b.sync.status()).schedule
    assert.equal(seenByB.running, true)
    assert.equal(seenByB.here, false)
    assert.equal(seenByB.owner, 'daemon')
    assert.equal((await a.sync.status()).schedule.here, true)
    assert.equal((await b.sync.status()).nextSyncAt !== undefined, true)

    await a.sync.stop()
    // b retries every interval (here 1.2 s): it takes the schedule over and its timer syncs.
    const before = b.sync.log({ limit: 100 }).filter((e) => e.kind === 'sync' && e.trigger === 'timer').length
    for (let i = 0; i < 100 && !(await b.sync.status()).schedule.here; i++) await sleep(100)
    const taken = (await b.sync.status()).schedule
    assert.equal(taken.here, true, 'the second process took the schedule over')
    assert.equal(taken.owner, 'openclaw gateway')
    for (let i = 0; i < 100 && b.sync.log({ limit: 100 }).filter((e) => e.kind === 'sync' && e.trigger === 'timer').length === before; i++) await sleep(100)
    assert.ok(b.sync.log({ limit: 100 }).filter((e) => e.kind === 'sync' && e.trigger === 'timer').length > before, 'and runs timer syncs')
    await b.sync.stop()
    assert.equal((await b.sync.status()).schedule.running, false, 'stop() gives the lease up')
  })

  it('snapshots() lists the agent\'s snapshots newest first with device and trigger; failures in a row are counted until a sync succeeds', async () => {
    const root = tempDir('sync')
    const repo = join(root, 'repo')
    const a = device(root, repo)
    await a.sync.init()
    await a.sync.syncNow({ trigger: 'manual' })
    writeFileSync(join(a.ws, 'memory', 'second.md'), 'a second note\n')
    const second = await a.sync.syncNow({ trigger: 'wrap-up' })
    const list = await a.sync.snapshots()
    assert.equal(list.length, 2)
    assert.equal(list[0].id, second.snapshot)
    assert.equal(list[0].trigger, 'wrap-up')
    assert.equal(list[1].trigger, 'manual')
    assert.equal(list[0].device, a.sync.device)
    assert.ok(list[0].files! >= 3 && list[0].totalBytes! > 0)
    assert.deepEqual(await a.sync.snapshots({ device: 'elsewhere' }), [])
    assert.equal((await a.sync.snapshots({ limit: 1 })).length, 1)

    await a.sync.close()
    renameSync(repo, `${repo}.away`)
    writeFileSync(join(a.ws, 'memory', 'third.md'), 'written while the storage is away\n')
    for (let i = 1; i <= 2; i++) {
      await assert.rejects(a.sync.syncNow())
      assert.equal(a.sync.failuresInARow(), i)
    }
    const st = await a.sync.status()
    assert.equal(st.failuresInARow, 2)
    assert.match(st.warnings.join('\n'), /the last sync failed \(2 in a row\)/)
    renameSync(`${repo}.away`, repo)
    assert.equal((await a.sync.syncNow()).result, 'ok')
    assert.equal(a.sync.failuresInARow(), 0)
    assert.equal((await a.sync.status()).failuresInARow, 0)
    await a.sync.close()
  })

  it('a failed daily prune (an unreadable snapshot) is named in status until a retention run succeeds', async () => {
    const root = tempDir('sync')
    const repo = join(root, 'repo')
    let now = new Date('2026-10-01T12:00:00Z')
    const a = device(root, repo, { now: () => now, config: { retention_days: 3 } })
    await a.sync.init()
    await a.sync.syncNow()
    writeFileSync(join(a.ws, 'memory', 'later.md'), 'a later note\n')
    now = new Date('2026-10-02T12:00:00Z')
    await a.sync.syncNow()
    // A damaged snapshot file from elsewhere: prune must refuse until it is forgotten.
    const damaged = `${'ab'.repeat(32)}`
    writeFileSync(join(repo, 'snapshots', damaged), Buffer.alloc(200, 7))
    now = new Date('2026-10-20T12:00:00Z')
    writeFileSync(join(a.ws, 'memory', 'much-later.md'), 'much later\n')
    await a.sync.close()
    await assert.rejects(a.sync.applyRetention(), (e: SessionSyncError) => e.code === 'UNREADABLE_SNAPSHOTS')
    const warnings = (await a.sync.status()).warnings.join('\n')
    assert.match(warnings, /the daily retention and prune failed \(UNREADABLE_SNAPSHOTS\)/)
    assert.match(warnings, new RegExp(damaged.slice(0, 8)))
    rmSync(join(repo, 'snapshots', damaged))
    await a.sync.close()
    await a.sync.applyRetention()
    assert.doesNotMatch((await a.sync.status()).warnings.join('\n'), /retention and prune failed/)
    await a.sync.close()
  })

  it('a config change that weakens protection is named in status and, once, in the log', async () => {
    const root = tempDir('sync')
    const repo = join(root, 'repo')
    const a = device(root, repo)
    await a.sync.init()
    await a.sync.syncNow()
    const b = device(root, repo, { ws: a.ws, config: { retention_days: 3, exclude: ['memory/'] } })
    await b.sync.syncNow()
    await b.sync.syncNow()
    const warnings = (await b.sync.status()).warnings.join('\n')
    assert.match(warnings, /config: snapshots are now kept 3 days instead of 30/)
    assert.match(warnings, /config: "exclude" now leaves out memory/)
    const logged = b.sync.log({ limit: 20 }).filter((e) => e.kind === 'config')
    assert.equal(logged.length, 2, JSON.stringify(logged))
    // The config put back: status no longer names the changes.
    const c = device(root, repo, { ws: a.ws })
    await c.sync.syncNow()
    assert.ok(!(await c.sync.status()).warnings.some((w) => w.startsWith('config:')))
    await a.sync.close()
    await b.sync.close()
    await c.sync.close()
  })

  it('calls during a sync cause exactly one more sync after it', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'))
    await a.sync.init()
    const calls = [a.sync.syncNow(), a.sync.syncNow(), a.sync.syncNow(), a.sync.syncNow()]
    const results = await Promise.all(calls)
    assert.equal(results[0].result, 'ok')
    assert.equal(results[1], results[2], 'the calls that arrived during the first sync share one follow-up')
    assert.equal(results[2], results[3])
    assert.equal(results[1].result, 'unchanged')
    assert.equal(a.sync.log({ limit: 10 }).filter((e) => e.kind === 'sync').length, 2)
    await a.sync.close()
  })

  it('a second device restores with the key, and its first sync uploads no data', async () => {
    const root = tempDir('sync')
    const repo = join(root, 'repo')
    const a = device(join(root, 'a'), repo)
    await a.sync.init()
    await a.sync.syncNow()
    const key = a.sync.showKey()

    mkdirSync(join(root, 'b', 'workspace'), { recursive: true })
    const noKey = device(join(root, 'b'), repo, { ws: join(root, 'b', 'workspace') })
    await assert.rejects(noKey.sync.init(), (e: SessionSyncError) => e.code === 'KEY_MISSING' && /never created/.test(e.message))
    assert.deepEqual(readdirSync(join(repo, 'keys')).length, 1, 'no second key was created')

    const b = device(join(root, 'b'), repo, { ws: join(root, 'b', 'workspace'), env: { SESSION_SYNC_KEY: key } })
    const init = await b.sync.init()
    assert.equal(init.created, false)
    assert.notEqual(b.sync.device, a.sync.device)
    const staged = await b.sync.restore({ timestamp: 'latest' })
    assert.equal(staged.inPlace, false)
    assert.deepEqual(staged.diff.added, ['MEMORY.md', 'SOUL.md', 'memory/2026-12-01.md', 'memory/2026-12-02.md', 'skills/weather/SKILL.md'])
    assert.ok(!existsSync(join(b.ws, 'MEMORY.md')), 'a staged restore leaves the workspace alone')
    const placed = await b.sync.restore({ timestamp: 'latest', inPlace: true })
    assert.equal(readFileSync(join(b.ws, 'MEMORY.md'), 'utf8'), readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'))
    assert.equal(placed.applied?.written, 5)
    const sync = await b.sync.syncNow()
    assert.equal(sync.result, 'ok')
    const bRepo = await Repository.open({ backend: new LocalBackend(repo), key: Buffer.from(key, 'base64') })
    const snap = await bRepo.findSnapshot(sync.snapshot!)
    assert.equal(snap.summary?.dataBlobsAdded, 0)
    assert.deepEqual(snap.tags.filter((t) => t.startsWith('device:')), [`device:${b.sync.device}`])
    await bRepo.close()
    await a.sync.close()
    await b.sync.close()
  })

  it('an in-place restore removes in-scope extras, keeps out-of-scope files, and is undone byte for byte; an undo is undone', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'))
    await a.sync.init()
    const first = await a.sync.syncNow()
    writeFileSync(join(a.ws, 'MEMORY.md'), 'rewritten by a confused agent\n')
    writeFileSync(join(a.ws, 'memory', 'extra.md'), 'added later\n')
    mkdirSync(join(a.ws, 'memory', 'deep'))
    writeFileSync(join(a.ws, 'memory', 'deep', 'x.md'), 'deep\n')
    writeFileSync(join(a.ws, 'random.txt'), 'out of scope, edited\n')
    await a.sync.syncNow()
    const edited = readFileSync(join(a.ws, 'MEMORY.md'))

    const r = await a.sync.restore({ timestamp: first.time, inPlace: true })
    assert.equal(r.snapshot, first.snapshot)
    assert.deepEqual(r.diff.changed, ['MEMORY.md'])
    assert.deepEqual(r.diff.removed, ['memory/deep/x.md', 'memory/extra.md'])
    assert.equal(readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes tea\n')
    assert.ok(!existsSync(join(a.ws, 'memory', 'extra.md')))
    assert.ok(!existsSync(join(a.ws, 'memory', 'deep')))
    assert.equal(readFileSync(join(a.ws, 'random.txt'), 'utf8'), 'out of scope, edited\n')
    assert.equal(readFileSync(join(a.ws, 'memory', '.env'), 'utf8'), 'TOKEN=hunter2\n', 'secrets are never touched')
    assert.ok(existsSync(join(a.ws, 'node_modules', 'x', 'index.js')))

    const u = await a.sync.undo(r.id)
    assert.deepEqual(readFileSync(join(a.ws, 'MEMORY.md')), edited)
    assert.equal(readFileSync(join(a.ws, 'memory', 'deep', 'x.md'), 'utf8'), 'deep\n')
    assert.equal(readFileSync(join(a.ws, 'memory', 'extra.md'), 'utf8'), 'added later\n')

    await a.sync.undo(u.id)
    assert.equal(readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes tea\n')
    assert.ok(!existsSync(join(a.ws, 'memory', 'extra.md')))
    assert.deepEqual(
      a.sync.restores().map((x) => x.kind),
      ['undo', 'undo', 'restore'],
    )
    await assert.rejects(a.sync.undo('restore-nope'), (e: SessionSyncError) => e.code === 'RESTORE_NOT_FOUND')
    await a.sync.close()
  })

  it('restores by snapshot id: exactly the one named, even when another shares its time; the steps are reported as it goes', async () => {
    const root = tempDir('sync')
    const at = new Date('2026-12-03T10:00:00Z')
    const a = device(root, join(root, 'repo'), { now: () => at })
    await a.sync.init()
    const first = await a.sync.syncNow()
    writeFileSync(join(a.ws, 'MEMORY.md'), 'second version, same second\n')
    const second = await a.sync.syncNow()
    assert.equal(first.time, second.time)
    writeFileSync(join(a.ws, 'MEMORY.md'), 'third\n')
    // By time, a tie goes to the greater id (time.ts), so one of the two can never be named by time;
    // by id, each is exactly the one named.
    const tieWinner = [first.snapshot!, second.snapshot!].sort().at(-1)
    assert.equal((await a.sync.restore({ timestamp: first.time! })).snapshot, tieWinner)
    const steps: string[] = []
    let lastFetch = { done: 0, total: 0 }
    const other = tieWinner === first.snapshot ? second : first // the one a time cannot reach
    const r = await a.sync.restore({
      snapshot: other.snapshot!.slice(0, 12),
      inPlace: true,
      paths: ['MEMORY.md'],
      onProgress: (p) => {
        if (steps.at(-1) !== p.step) steps.push(p.step)
        if (p.step === 'fetch') lastFetch = p
      },
    })
    assert.equal(r.snapshot, other.snapshot)
    assert.match(r.resolved, /by its id/)
    assert.equal(readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'), other === first ? '# Memory\n- the user likes tea\n' : 'second version, same second\n')
    assert.deepEqual(steps, ['safety', 'fetch', 'compare', 'apply'])
    assert.ok(lastFetch.total > 0 && lastFetch.done === lastFetch.total, JSON.stringify(lastFetch))
    await assert.rejects(a.sync.restore({ snapshot: 'ffffffff' }), (e: SessionSyncError) => e.code === 'SNAPSHOT_NOT_FOUND')
    await assert.rejects(a.sync.restore({ snapshot: '../x' }), (e: SessionSyncError) => e.code === 'INVALID_OPTIONS')
    await assert.rejects(a.sync.restore({ snapshot: first.snapshot!, timestamp: 'latest' }), (e: SessionSyncError) => e.code === 'INVALID_OPTIONS')
    await assert.rejects(a.sync.restore({}), (e: SessionSyncError) => e.code === 'INVALID_OPTIONS')
    await a.sync.close()
  })

  it('restores chosen paths only, and never writes through a symlink in the workspace', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'))
    await a.sync.init()
    const first = await a.sync.syncNow()
    writeFileSync(join(a.ws, 'MEMORY.md'), 'changed\n')
    writeFileSync(join(a.ws, 'memory', '2026-12-01.md'), 'changed too\n')
    await a.sync.restore({ timestamp: 'latest', inPlace: true, paths: ['memory/2026-12-01.md'] })
    assert.equal(readFileSync(join(a.ws, 'memory', '2026-12-01.md'), 'utf8'), 'first day\n')
    assert.equal(readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'), 'changed\n')

    // memory/ replaced by a link to a folder outside: the restore replaces the link, writes nothing there.
    const outside = join(root, 'outside')
    mkdirSync(outside)
    rmSync(join(a.ws, 'memory'), { recursive: true })
    symlinkSync(outside, join(a.ws, 'memory'))
    await a.sync.restore({ timestamp: first.time, inPlace: true })
    assert.deepEqual(readdirSync(outside), [], 'nothing was written through the link')
    assert.ok(lstatSync(join(a.ws, 'memory')).isDirectory())
    assert.equal(readFileSync(join(a.ws, 'memory', '2026-12-02.md'), 'utf8'), 'second day\n')
    await assert.rejects(a.sync.restore({ timestamp: 'latest', paths: ['../etc'] }), (e: SessionSyncError) => e.code === 'INVALID_OPTIONS')
    await a.sync.close()
  })

  it('a malicious snapshot writes nothing outside the workspace: an escaping name fails and rolls back, a planted link is replaced, never written through', async () => {
    const root = tempDir('sync')
    const repoDir = join(root, 'repo')
    const a = device(root, repoDir)
    await a.sync.init()
    const first = await a.sync.syncNow()
    const outside = join(root, 'outside')
    mkdirSync(outside)
    const repo = await Repository.open({ backend: new LocalBackend(repoDir), key: Buffer.from(a.sync.showKey(), 'base64') })
    const tags = ['agent:main', `device:${a.sync.device}`, 'trigger:timer']
    const before = readFileSync(join(a.ws, 'MEMORY.md'), 'utf8')
    // A name that climbs out of the workspace: refused, and the workspace is as it was.
    await forgeSnapshot(
      repo,
      async (content, dirTree) => [{ ...forgedMeta, name: Buffer.from('workspace'), type: 'dir', size: 0, subtree: await dirTree([forgedFile('..', content), forgedFile('MEMORY.md', content)]) }],
      { tags, paths: [a.ws] },
    )
    await assert.rejects(a.sync.restore({ timestamp: 'latest', inPlace: true }), (e: SessionSyncError) => e.code === 'UNSAFE_PATH')
    assert.equal(readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'), before)
    // memory/ as a link to a folder outside, then a snapshot with files in memory/: the link goes.
    await forgeSnapshot(
      repo,
      async (content, dirTree) => [{ ...forgedMeta, name: Buffer.from('workspace'), type: 'dir', size: 0, subtree: await dirTree([{ ...forgedMeta, name: Buffer.from('memory'), type: 'symlink', size: 0, target: Buffer.from(outside) }]) }],
      { tags, paths: [a.ws] },
    )
    await a.sync.restore({ timestamp: 'latest', inPlace: true })
    assert.ok(lstatSync(join(a.ws, 'memory')).isSymbolicLink())
    await a.sync.restore({ timestamp: first.time, inPlace: true })
    assert.ok(lstatSync(join(a.ws, 'memory')).isDirectory())
    assert.deepEqual(readdirSync(outside), [], 'nothing was written outside the workspace')
    assert.equal(readFileSync(join(a.ws, 'memory', '2026-12-01.md'), 'utf8'), 'first day\n')
    await repo.close()
    await a.sync.close()
  })

  it('triggers within the debounce window become one sync', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'), { config: { debounce_seconds: 0.3 } })
    await a.sync.init()
    a.sync.trigger('compaction')
    a.sync.trigger('wrap-up')
    await sleep(100)
    a.sync.trigger('reset')
    const deadline = Date.now() + 10_000
    while (a.sync.log({ limit: 10 }).filter((e) => e.kind === 'sync').length === 0 && Date.now() < deadline) await sleep(50)
    await sleep(600)
    const syncs = a.sync.log({ limit: 10 }).filter((e) => e.kind === 'sync')
    assert.equal(syncs.length, 1)
    assert.equal(syncs[0].trigger, 'compaction')
    await a.sync.stop()
  })

  it('a cancelled in-place restore rolls back to the safety snapshot', async () => {
    const root = tempDir('sync')
    const a = device(root, join(root, 'repo'))
    await a.sync.init()
    await a.sync.syncNow()
    for (let i = 0; i < 50; i++) writeFileSync(join(a.ws, 'memory', `n${i}.md`), `note ${i}\n`)
    writeFileSync(join(a.ws, 'MEMORY.md'), 'current\n')
    await a.sync.syncNow()
    writeFileSync(join(a.ws, 'MEMORY.md'), 'not yet synced\n')
    // The signal turns aborted once the restore has started removing what the older snapshot lacks.
    const ac = new AbortController()
    Object.defineProperty(ac.signal, 'aborted', { get: () => !existsSync(join(a.ws, 'memory', 'n10.md')) })
    await assert.rejects(a.sync.restore({ timestamp: 'latest~1', inPlace: true, signal: ac.signal }), (e: SessionSyncError) => e.code === 'ABORTED')
    assert.equal(readFileSync(join(a.ws, 'MEMORY.md'), 'utf8'), 'not yet synced\n')
    assert.equal(readdirSync(join(a.ws, 'memory')).filter((n) => /^n\d+\.md$/.test(n)).length, 50)
    await a.sync.close()
  })

  it('two agents sharing a repository never see each other in status, restore or retention', async () => {
    const root = tempDir('sync')
    const repo = join(root, 'repo')
    const a = device(join(root, 'a'), repo, { agent: 'alpha' })
    await a.sync.init()
    await a.sync.syncNow()
    const b = device(join(root, 'b'), repo, { agent: 'beta', env: { SESSION_SYNC_KEY: a.sync.showKey() } })
    await b.sync.syncNow()
    writeFileSync(join(b.ws, 'MEMORY.md'), 'beta only\n')
    await b.sync.syncNow()
    assert.equal(Object.values((await a.sync.status()).snapshotsPerDevice).reduce((x, y) => x + y), 1)
    assert.equal(Object.values((await b.sync.status()).snapshotsPerDevice).reduce((x, y) => x + y), 2)
    const staged = await a.sync.restore({ timestamp: 'latest' })
    assert.equal(readFileSync(join(staged.stagingDir!, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes tea\n')
    const ret = await a.sync.applyRetention({ dryRun: true })
    assert.equal(ret.decisions.length, 1)
    await a.sync.close()
    await b.sync.close()
  })

  it('retention over an injected clock forgets old snapshots, keeps each device newest, and the prune frees space', async () => {
    const root = tempDir('sync')
    let now = new Date('2026-10-01T12:00:00Z')
    const a = device(root, join(root, 'repo'), { now: () => now, config: { retention_days: 10 } })
    await a.sync.init()
    for (let day = 0; day < 20; day++) {
      now = new Date(Date.parse('2026-10-01T12:00:00Z') + day * 86_400_000)
      writeFileSync(join(a.ws, 'memory', `day-${day}.md`), Buffer.alloc(20_000, day + 1))
      if (day < 5) rmSync(join(a.ws, 'memory', `day-${day}.md`)) // some data only old snapshots hold
      writeFileSync(join(a.ws, 'memory', 'today.md'), `day ${day}\n${'x'.repeat(day * 1000)}`)
      await a.sync.syncNow()
    }
    const status = await a.sync.status()
    const kept = Object.values(status.snapshotsPerDevice)[0]
    assert.ok(kept >= 10 && kept <= 11, `kept ${kept}`)
    const log = a.sync.log({ limit: 200 }).filter((e) => e.kind === 'retention')
    assert.ok(log.length >= 1)
    assert.ok(log.some((e) => Array.isArray(e.detail?.removed) && (e.detail!.removed as string[]).length > 0))
    assert.ok(log.some((e) => typeof e.detail?.bytesFreed === 'number' && (e.detail.bytesFreed as number) > 0), 'the prune freed the space of the forgotten snapshots')
    const verify = a.sync.log({ limit: 200 }).filter((e) => e.kind === 'verify')
    assert.ok(verify.length >= 1 && verify.every((e) => e.result === 'ok'))
    await a.sync.close()
  })

  it('a bad config, a wrong key and an unconfigured workspace each give one clear error and write nothing', async () => {
    const root = tempDir('sync')
    const ws = makeWorkspace(root)
    writeFileSync(join(ws, 'session-sync-config.json'), '{ "provider": "local", "path": "r", "interval_minutes": "fifteen" }')
    assert.throws(() => WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state') } }), (e: SessionSyncError) => e.code === 'INVALID_CONFIG' && /interval_minutes/.test(e.message))
    rmSync(join(ws, 'session-sync-config.json'))
    const none = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state') } })
    assert.equal((await none.status()).configured, false)
    await assert.rejects(none.syncNow(), (e: SessionSyncError) => e.code === 'NOT_CONFIGURED')

    const repo = join(root, 'repo')
    const a = device(root, repo, { ws })
    await a.sync.init()
    await a.sync.syncNow()
    const before = listRepo(repo)
    const wrong = device(root, repo, { ws, env: { SESSION_SYNC_KEY: Buffer.alloc(32, 7).toString('base64') } })
    await assert.rejects(wrong.sync.syncNow(), (e: SessionSyncError) => e.code === 'WRONG_PASSWORD')
    assert.deepEqual(listRepo(repo), before)
    assert.equal(wrong.sync.log({ limit: 1 })[0].error?.code, 'WRONG_PASSWORD')
    await a.sync.close()
  })
})
