// The sync layer's protected mode, on the Object Lock model (a versioned bucket whose writer may not
// delete). The storage is handed to the sync in place of the configured one: the model has no
// location string. Everything else (config file, state folder, log) is real.
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateOwnerKey, ObjectLockModel, Repository, WorkspaceSync, type Backend, type SessionSyncError } from '../../src/index.js'
import { PROTECTED_FORMAT_VERSION } from '../../src/repository/repofile.js'
import { cleanup, tempDir } from '../helpers.js'

after(cleanup)

function workspace(root: string): string {
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
  writeFileSync(join(ws, 'memory', '2026-12-01.md'), 'first day\n')
  return ws
}

function open(root: string, ws: string, storage: Backend, config: Record<string, unknown>): WorkspaceSync {
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, ...config }))
  const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: Buffer.alloc(32, 7).toString('base64') }
  const sync = WorkspaceSync.create({ workspace: ws, env })
  ;(sync as unknown as { backend: Backend }).backend = storage
  return sync
}

/**
 * A protected workspace (retention 7 days) syncing to `storage` on the test's clock; `trusted` and
 * `ownerKey` as the CLI gives them on the owner's device.
 */
function retentionSync(root: string, ws: string, storage: Backend, clock: () => number, opts: { key: Buffer; trusted: boolean; ownerKey?: string }): WorkspaceSync {
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, protect: true, retention_days: 7 }))
  const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: opts.key.toString('base64') }
  const sync = WorkspaceSync.create({ workspace: ws, env, now: () => new Date(clock()), ...(opts.trusted ? { trusted: true } : {}), ...(opts.ownerKey ? { ownerKey: opts.ownerKey } : {}) })
  ;(sync as unknown as { backend: Backend }).backend = storage
  return sync
}

/** The agent's first sync, and one three weeks later (on the test's clock) with a new note. */
async function syncThreeWeeks(agent: WorkspaceSync, ws: string, advance: (ms: number) => void): Promise<void> {
  await agent.init()
  await agent.syncNow({ trigger: 'manual' })
  advance(20 * 86_400_000)
  writeFileSync(join(ws, 'memory', '2026-11-21.md'), 'three weeks later\n')
  await agent.syncNow({ trigger: 'manual' })
}

describe('protected mode in the sync layer', () => {
  it('no automatic prune; status says pruning runs from a trusted device and shows suspicious snapshots', async () => {
    const root = tempDir('psync')
    const ws = workspace(root)
    const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 37 } })
    const sync = open(root, ws, model.backend('writer'), { protect: true })
    assert.equal(sync.config.protect, true)
    await sync.init()
    const s = await sync.syncNow()
    assert.equal(s.result, 'ok')
    assert.equal(sync.log().filter((e) => e.kind === 'retention').length, 0, 'no retention or prune ran after the sync')
    const repo = await sync.repository()
    assert.ok(repo.protected)
    const first = await repo.findSnapshot(s.snapshot!)
    const forged = await repo.saveSnapshot({ time: new Date(Date.now() - 20 * 86_400_000).toISOString(), host: first.host, user: first.user, paths: first.paths, tags: first.tags, tree: Buffer.from(first.tree, 'hex'), parents: [], excludes: [] })
    assert.equal(first.timeGiven, undefined, 'a sync\'s snapshot is dated by the clock, not by the user')
    assert.equal(first.suspicious, false)
    const st = await sync.status()
    assert.equal(st.protected, true)
    assert.match(st.pruning!, /trusted device: "session-sync sync retention --workspace .*" with the owner's credential/)
    assert.deepEqual(st.suspiciousSnapshots, [forged])
    assert.ok(st.warnings.some((w) => /1 snapshot\(s\) whose time does not fit/.test(w)))
    await sync.close()
  })

  it('a weakening config change waits for the owner: the sync keeps the confirmed settings, the writer cannot confirm, the owner can', async () => {
    const root = tempDir('psync')
    const ws = workspace(root)
    const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 37 } })
    const first = open(root, ws, model.backend('writer'), { protect: true })
    await first.init()
    await first.syncNow()
    await first.close()

    // The agent (a prompt-injected one) edits the workspace config.
    const weakened = { protect: false, exclude: ['memory/'], retention_days: 1 }
    const agent = open(root, ws, model.backend('writer'), weakened)
    assert.equal(agent.config.protect, true, 'the confirmed settings stay in force')
    assert.deepEqual(agent.config.exclude, [])
    const pending = agent.pendingConfigChange()
    assert.equal(pending.length, 3, pending.join('\n'))
    const st = await agent.status()
    assert.deepEqual(st.pendingConfigChange, pending)
    assert.ok(st.warnings.some((w) => /waiting for the owner's confirmation.*"protect": false/.test(w)))
    writeFileSync(join(ws, 'memory', '2026-12-02.md'), 'second day\n')
    const s = await agent.syncNow()
    const files: string[] = []
    for await (const e of (await agent.repository()).ls(s.snapshot!)) if (e.type !== 'dir') files.push(e.path)
    assert.ok(files.some((f) => f.endsWith('memory/2026-12-02.md')), 'memory is still backed up')
    await assert.rejects(agent.confirmConfig(), (e: SessionSyncError) => e.code === 'PERMISSION_DENIED' && /not the owner's/.test(e.message))
    assert.equal(agent.pendingConfigChange().length, 3, 'nothing confirmed')
    await agent.close()

    const journal = async () => {
      let n = 0
      for await (const _ of model.backend('owner').list('journal')) n++
      return n
    }
    const before = await journal()
    const owner = open(root, ws, model.backend('owner'), weakened)
    const r = await owner.confirmConfig()
    // On S3 a delete of an unused name leaves a delete marker: named first in the journal, it is no
    // sign of a compromised writer to the agent's daily check.
    assert.equal(await journal(), before + 1, 'the owner\'s probe delete was named in the removal journal first')
    assert.deepEqual(r.confirmed, pending)
    await owner.close()
    const after = open(root, ws, model.backend('writer'), weakened)
    assert.equal(after.config.protect, undefined, 'the config as written, once confirmed')
    assert.deepEqual(after.config.exclude, ['memory/'])
    assert.deepEqual(after.pendingConfigChange(), [])
    await after.close()
  })

  it('changes that do not weaken protection are taken over without confirmation', async () => {
    const root = tempDir('psync')
    const ws = workspace(root)
    const model = new ObjectLockModel({ versioning: 'enabled' })
    const a = open(root, ws, model.backend('writer'), { protect: true })
    await a.init()
    await a.close()
    const b = open(root, ws, model.backend('writer'), { protect: true, interval_minutes: 5, retention_days: 60 })
    assert.deepEqual(b.pendingConfigChange(), [])
    assert.equal(b.config.intervalMinutes, 5)
    assert.equal(b.config.retentionDays, 60)
    await b.close()
    const c = open(root, ws, model.backend('writer'), { protect: true, retention_days: 30 })
    assert.equal(c.pendingConfigChange().length, 1, 'shorter than the confirmed 60 days')
    assert.equal(c.config.retentionDays, 60)
    await c.close()
  })
})

describe('the owner\'s retention from a trusted device', () => {
  it('sync retention opened trusted with the owner\'s credential forgets and prunes, journaling each delete; untrusted or with the writer\'s credential it deletes nothing', async () => {
    const root = tempDir('psync-owner')
    const ws = workspace(root)
    let clock = Date.parse('2026-11-01T10:00:00Z')
    const model = new ObjectLockModel({ now: () => clock })
    const make = (storage: Backend, trusted: boolean) => retentionSync(root, ws, storage, () => clock, { key: Buffer.alloc(32, 7), trusted })
    const agent = make(model.backend('writer'), false)
    await syncThreeWeeks(agent, ws, (ms) => (clock += ms))
    await assert.rejects(agent.applyRetention(), (e: SessionSyncError) => e.code === 'PROTECTED_REPOSITORY', 'the agent\'s own sync never deletes')
    await agent.close()

    const writerTrusted = make(model.backend('writer'), true)
    await assert.rejects(writerTrusted.applyRetention(), (e: SessionSyncError) => e.code === 'PERMISSION_DENIED', 'trusted with the writer\'s credential: the storage refuses')
    await writerTrusted.close()

    const owner = make(model.backend('owner'), true)
    const r = await owner.applyRetention()
    assert.equal(r.removed.length, 1, 'the snapshot older than retention_days goes; the device\'s newest stays')
    const journal = []
    for await (const f of model.backend('owner').list('journal')) journal.push(f.name)
    assert.ok(journal.length >= 1, 'its deletes were named in the journal first')
    await owner.close()
  })

  it("sync retention in a repository that records an owner key: refused without the owner key (nothing removed), signed with it", async () => {
    const root = tempDir('psync-owner-key')
    const ws = workspace(root)
    let clock = Date.parse('2026-11-01T10:00:00Z')
    const model = new ObjectLockModel({ now: () => clock })
    const rawKey = Buffer.alloc(32, 9)
    const make = (storage: Backend, trusted: boolean, ownerKey?: string) => retentionSync(root, ws, storage, () => clock, { key: rawKey, trusted, ownerKey })
    const agent = make(model.backend('writer'), false)
    await syncThreeWeeks(agent, ws, (ms) => (clock += ms))
    await agent.close()
    // The owner records a key from the trusted device (key owner --init).
    const owner = generateOwnerKey()
    const repo = await Repository.open({ backend: model.backend('owner'), key: rawKey, cacheDir: false })
    await repo.recordOwnerKey(owner.publicKey)

    const without = make(model.backend('owner'), true)
    await assert.rejects(without.applyRetention(), (e: SessionSyncError) => e.code === 'OWNER_KEY_REQUIRED')
    await without.close()
    assert.equal((await repo.snapshots()).length, 2, 'nothing was removed')
    const signed = make(model.backend('owner'), true, owner.privateKey)
    const r = await signed.applyRetention()
    assert.equal(r.removed.length, 1)
    await signed.close()
    const v = await repo.checkVersions()
    assert.ok(v.signedJournalRecords >= 1 && v.explainedDeletes >= 1, JSON.stringify(v))
    assert.deepEqual(v.forgedJournalRecords, [])
    assert.deepEqual(v.unexplainedDeletes, [])

    // The owner confirms a weakening change with the owner key: the probe's journal record is
    // signed too, so the agent's daily check takes its delete marker for the owner's.
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, protect: true, retention_days: 3 }))
    // Without the owner key: refused before anything is done, the change still waits.
    const unsigned = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: rawKey.toString('base64') }, now: () => new Date(clock), trusted: true })
    ;(unsigned as unknown as { backend: Backend }).backend = model.backend('owner')
    await assert.rejects(unsigned.confirmConfig(), (e: SessionSyncError) => e.code === 'OWNER_KEY_REQUIRED')
    assert.equal(unsigned.pendingConfigChange().length, 1)
    await unsigned.close()
    assert.equal((await repo.checkVersions()).journalRecords, v.journalRecords, 'no journal record written')
    const confirming = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: rawKey.toString('base64') }, now: () => new Date(clock), trusted: true, ownerKey: owner.privateKey })
    ;(confirming as unknown as { backend: Backend }).backend = model.backend('owner')
    assert.equal((await confirming.confirmConfig()).confirmed.length, 1)
    await confirming.close()
    const after = await repo.checkVersions()
    assert.equal(after.signedJournalRecords, v.signedJournalRecords + 1, JSON.stringify(after))
    assert.deepEqual(after.unsignedJournalRecords, [])
    assert.deepEqual(after.forgedJournalRecords, [])
    await repo.close()
  })
})

describe('unexplained version events in the sync layer', () => {
  const make = (root: string, ws: string, storage: Backend, clock: () => number, config: Record<string, unknown> = { protect: true }) => {
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, ...config }))
    const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: Buffer.alloc(32, 7).toString('base64') }
    const sync = WorkspaceSync.create({ workspace: ws, env, now: () => new Date(clock()) })
    ;(sync as unknown as { backend: Backend }).backend = storage
    return sync
  }

  /** A protected workspace synced once by the agent's writer credential, on a clock the test moves. */
  const firstSync = async (label: string) => {
    const root = tempDir(label)
    const ws = workspace(root)
    const clock = { now: Date.parse('2026-11-01T10:00:00Z') }
    const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 37 }, now: () => clock.now })
    const sync = make(root, ws, model.backend('writer'), () => clock.now)
    await sync.init()
    await sync.syncNow({ trigger: 'manual' })
    return { root, ws, clock, model, sync }
  }

  it('a delete marker no journal explains: the daily check after a sync keeps it, status names it and says what to do', async () => {
    const { root, ws, clock, model, sync } = await firstSync('psync-versions')
    const clean = await sync.status()
    assert.equal(clean.versionCheck?.unexplainedDeletes, 0, 'the first sync checked the versions: nothing unexplained')
    assert.equal(clean.versionCheck?.overwrites, 0)
    assert.ok(clean.versionCheck!.versionsListed > 0)
    assert.deepEqual(clean.protection, { versioning: 'enabled', objectLock: true, lockMode: 'GOVERNANCE', lockDays: 37 })
    assert.ok(!clean.warnings.some((w) => /protected history/.test(w)), clean.warnings.join('\n'))

    // A credential with delete rights (a careless policy, a stolen owner key) deletes an index file.
    clock.now += 3_600_000
    const index = [...model.objects.keys()].find((k) => k.startsWith('index/'))!
    await model.backend('deleter').remove({ type: 'index', name: index.slice('index/'.length) })
    writeFileSync(join(ws, 'memory', '2026-11-01.md'), 'later that day\n')
    await sync.syncNow({ trigger: 'manual' })
    assert.equal((await sync.status()).versionCheck?.unexplainedDeletes, 0, 'within a day of the last check: not checked again')
    assert.equal(sync.log().filter((e) => e.kind === 'versions').length, 1)

    clock.now += 86_400_000
    writeFileSync(join(ws, 'memory', '2026-11-02.md'), 'the next day\n')
    await sync.syncNow({ trigger: 'manual' })
    const st = await sync.status()
    assert.equal(st.versionCheck?.unexplainedDeletes, 1)
    assert.deepEqual(st.versionCheck?.events.map((e) => [e.key, e.kind]), [[index, 'delete']])
    assert.equal(st.versionCheck?.events[0].time, new Date(Date.parse('2026-11-01T11:00:00Z')).toISOString())
    const w = st.warnings.find((x) => /protected history: the storage holds 1 delete marker\(s\)/.test(x))
    assert.ok(w, st.warnings.join('\n'))
    assert.match(w, /session-sync check --versions/)
    assert.match(w, /--as-of/)
    assert.ok(w.includes(index))
    const entry = sync.log().find((e) => e.kind === 'versions')!
    assert.equal(entry.result, 'error')
    await sync.close()
  })

  it('a journal record forged with the repository key (not signed by the owner key): the daily check names it, status and the log too', async () => {
    const { root, ws, clock, model, sync } = await firstSync('psync-forged')
    // The owner records an owner key from a trusted device.
    const owner = await Repository.open({ backend: model.backend('owner'), key: Buffer.alloc(32, 7), cacheDir: false })
    await owner.recordOwnerKey(generateOwnerKey().publicKey)
    await owner.close()
    // The agent, which holds the repository key, writes a record that would explain deletes.
    const repo = await sync.repository()
    const snap = [...model.objects.keys()].find((k) => k.startsWith('snapshots/'))!
    await repo.saveFile('journal', 'journal', { v: PROTECTED_FORMAT_VERSION, time: new Date(clock.now).toISOString(), host: 'agent', operation: 'prune', removed: [['snapshots', snap.slice('snapshots/'.length)]] })
    clock.now += 86_400_000 + 60_000
    writeFileSync(join(ws, 'memory', '2026-11-02.md'), 'the next day\n')
    await sync.syncNow({ trigger: 'manual' })
    const st = await sync.status()
    assert.equal(st.versionCheck?.forgedRecords, 1, JSON.stringify(st.versionCheck))
    assert.deepEqual(st.versionCheck?.events.filter((e) => e.kind === 'forged').length, 1)
    assert.ok(st.warnings.some((w) => /1 removal journal record\(s\) not signed by the owner key/.test(w)), st.warnings.join('\n'))
    assert.equal(sync.log().find((e) => e.kind === 'versions')!.result, 'error', 'the newest check')
    await sync.close()
  })

  it('storage that cannot list versions: a note in status, not a failed sync', async () => {
    const root = tempDir('psync-versions')
    const ws = workspace(root)
    const model = new ObjectLockModel({ versioning: 'enabled' })
    const storage = model.backend('writer')
    const sync = make(root, ws, storage, Date.now)
    await sync.init()
    ;(storage as unknown as { listVersions?: unknown }).listVersions = undefined
    const s = await sync.syncNow({ trigger: 'manual' })
    assert.equal(s.result, 'ok')
    const st = await sync.status()
    assert.match(st.versionCheck?.unavailable ?? '', /keeps no old versions/)
    assert.ok(st.warnings.some((w) => /object versions cannot be listed/.test(w)), st.warnings.join('\n'))
    assert.equal(st.lastSync?.result, 'ok')
    await sync.close()
  })

  it('outside protected mode no version check runs', async () => {
    const root = tempDir('psync-versions')
    const ws = workspace(root)
    const model = new ObjectLockModel({ versioning: 'enabled' })
    const sync = make(root, ws, model.backend('owner'), Date.now, {})
    await sync.init()
    await sync.syncNow({ trigger: 'manual' })
    const st = await sync.status()
    assert.equal(st.versionCheck, undefined)
    assert.equal(st.protection, undefined)
    assert.equal(sync.log().filter((e) => e.kind === 'versions').length, 0)
    await sync.close()
  })
})
